package admin

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/fanka/fanka/server"
	"github.com/fanka/fanka/server/printer"
	"github.com/fanka/fanka/shared/money"
)

// LoginRequest is the body of POST /api/v1/login.
type LoginRequest struct {
	User     string `json:"user"`
	Password string `json:"password"`
}

// LoginResponse answers a successful login.
type LoginResponse struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
}

// dummyHash is checked against when the user does not exist, so that a
// wrong user name takes as long as a wrong password.
var dummyHash = sync.OnceValue(func() string {
	h, _ := server.HashPassword("fanka: no such user")
	return h
})

func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	var req LoginRequest
	if err := decode(w, r, &req); err != nil {
		s.error(w, r, err)
		return
	}
	token, expires, err := s.Login(r, req.User, req.Password)
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.json(w, http.StatusOK, LoginResponse{Token: token, ExpiresAt: expires.UTC().Truncate(time.Second)})
}

// handleLogout ends the request's token or session. It needs no role: a
// request without valid credentials has nothing to end.
func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) {
	if _, err := s.Authenticate(r); err != nil {
		s.error(w, r, err)
		return
	}
	if err := s.Logout(r); err != nil {
		s.error(w, r, err)
		return
	}
	http.SetCookie(w, SessionCookieFor("", time.Time{}))
	w.WriteHeader(http.StatusNoContent)
}

// hashToken is how a bearer token is stored and looked up.
func hashToken(token string) [32]byte { return sha256.Sum256([]byte(token)) }

// OpenCardRequest is the body of POST /api/v1/cards.
type OpenCardRequest struct {
	PersonID  string    `json:"person_id"`
	Name      string    `json:"name"`
	Deposit   money.Fen `json:"deposit"`
	RequestID string    `json:"request_id"`
	CardNo    string    `json:"card_no,omitempty"`
	// CardPublicKey is a fanka card's P-256 public key, base64 (standard
	// encoding) of the uncompressed (65 bytes, as the card's READ IDENTITY
	// returns it) or compressed (33 bytes) point; empty for a uid card.
	CardPublicKey string `json:"card_public_key,omitempty"`
	// Phone and UserClass are optional.
	Phone     string `json:"phone,omitempty"`
	UserClass string `json:"user_class,omitempty"`
}

func (s *Server) handleOpenCard(w http.ResponseWriter, r *http.Request, u server.User) {
	var req OpenCardRequest
	if err := decode(w, r, &req); err != nil {
		s.error(w, r, err)
		return
	}
	var cardKey []byte
	if req.CardPublicKey != "" {
		var err error
		if cardKey, err = server.DecodeCardPublicKey(req.CardPublicKey); err != nil {
			s.error(w, r, err)
			return
		}
	}
	// The store keeps the person id keyed and sealed, never in the clear.
	if err := server.ValidPersonID(req.PersonID); err != nil {
		s.error(w, r, err)
		return
	}
	op := server.OpenCard{
		RequestID: req.RequestID, Operator: u.Name, Name: req.Name, Deposit: req.Deposit, CardNo: req.CardNo,
		CardPublicKey: cardKey, UserClass: req.UserClass,
		PersonID: s.Persons.Key("person", req.PersonID), PersonSealed: s.Persons.Seal("person", req.PersonID),
	}
	if req.Phone != "" {
		if err := server.ValidPhone(req.Phone); err != nil {
			s.error(w, r, err)
			return
		}
		op.PhoneSealed, op.PhoneKey = s.Persons.Seal("phone", req.Phone), s.Persons.Key("phone", req.Phone)
	}
	opened, err := s.store.OpenCard(r.Context(), op)
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.audit(r, u, AuditCardOpen, map[string]any{"request_id": req.RequestID, "card_no": opened.CardNo,
		"account_id": opened.AccountID, "name": req.Name, "deposit": req.Deposit, "fanka_card": len(cardKey) > 0})
	s.json(w, http.StatusCreated, opened)
}

// CreateTerminalRequest is the body of POST /api/v1/terminals.
type CreateTerminalRequest struct {
	Name    string `json:"name"`
	Canteen int64  `json:"canteen_id,omitempty"` // the canteen it sells for; 0 or absent: the first
}

// CreateTerminalResponse answers POST /api/v1/terminals.
type CreateTerminalResponse struct {
	TerminalID uint32    `json:"terminal_id"`
	EnrolCode  string    `json:"enrol_code"`
	ExpiresAt  time.Time `json:"expires_at"`
}

func (s *Server) handleCreateTerminal(w http.ResponseWriter, r *http.Request, u server.User) {
	var req CreateTerminalRequest
	if err := decode(w, r, &req); err != nil {
		s.error(w, r, err)
		return
	}
	code := newEnrolCode()
	expires := s.Now().Add(s.EnrolCodeTTL)
	if req.Canteen < 0 {
		s.error(w, r, server.Errorf(server.EINVALID, "canteen_id must be a canteen's id"))
		return
	}
	t, err := s.store.CreateTerminal(r.Context(), req.Name, req.Canteen, hashEnrolCode(code), expires)
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.audit(r, u, AuditTerminalCreate, map[string]any{"terminal_id": t.ID, "name": t.Name, "canteen_id": t.Canteen,
		"enrol_expires": expires.UTC().Truncate(time.Second)})
	s.Logger.Info("api: register created", "terminal", t.ID, "name", t.Name, "user", u.Name)
	s.json(w, http.StatusCreated, CreateTerminalResponse{TerminalID: t.ID, EnrolCode: code, ExpiresAt: expires.UTC().Truncate(time.Second)})
}

// EnrollRequest is the body of POST /api/v1/enroll.
type EnrollRequest struct {
	Code      string `json:"code"`
	PublicKey string `json:"public_key"` // Ed25519, standard base64
}

// EnrollResponse answers POST /api/v1/enroll.
type EnrollResponse struct {
	TerminalID        uint32 `json:"terminal_id"`
	ServerFingerprint string `json:"server_fingerprint"`
}

func (s *Server) handleEnroll(w http.ResponseWriter, r *http.Request) {
	var req EnrollRequest
	if err := decode(w, r, &req); err != nil {
		s.error(w, r, err)
		return
	}
	pub, err := base64.StdEncoding.DecodeString(req.PublicKey)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		s.error(w, r, server.Errorf(server.EINVALID, "public_key must be %d bytes in standard base64", ed25519.PublicKeySize))
		return
	}
	code := normalizeEnrolCode(req.Code)
	if code == "" {
		s.error(w, r, server.Errorf(server.EINVALID, "code is required"))
		return
	}
	t, err := s.store.EnrollTerminal(r.Context(), hashEnrolCode(code), ed25519.PublicKey(pub))
	if err != nil {
		if server.ErrorCode(err) == server.EUNAUTHORIZED {
			s.Logger.Warn("api: enrolment refused", "remote", r.RemoteAddr, "err", err)
		}
		s.error(w, r, err)
		return
	}
	s.Logger.Info("api: register enrolled", "terminal", t.ID, "name", t.Name, "remote", r.RemoteAddr)
	s.json(w, http.StatusOK, EnrollResponse{TerminalID: t.ID, ServerFingerprint: s.Fingerprint})
}

// enrolCodeEncoding writes enrolment codes in upper-case letters and 2-7,
// easy to read out and type.
var enrolCodeEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// newEnrolCode returns a random one-time code: 80 bits in 16 characters.
func newEnrolCode() string {
	b := make([]byte, 10)
	rand.Read(b)
	return enrolCodeEncoding.EncodeToString(b)
}

// normalizeEnrolCode forgives how a person types a code: case, spaces and
// dashes.
func normalizeEnrolCode(code string) string {
	return strings.Map(func(r rune) rune {
		if r == '-' || r == ' ' {
			return -1
		}
		return r
	}, strings.ToUpper(strings.TrimSpace(code)))
}

// hashEnrolCode is how an enrolment code is stored and looked up.
func hashEnrolCode(code string) [32]byte { return sha256.Sum256([]byte("fanka/enrol/v1\x00" + code)) }

// PrintersResponse answers GET /api/v1/printers: every printer, by name,
// with its condition (ready, paper_out, cover_open, error, offline,
// paper_near_end, unreachable, not_responding or unknown) and the number of
// jobs waiting for it.
type PrintersResponse struct {
	Printers []printer.State `json:"printers"`
}

func (s *Server) handlePrinters(w http.ResponseWriter, r *http.Request, _ server.User) {
	resp := PrintersResponse{Printers: []printer.State{}}
	if s.Printers != nil {
		states, err := s.Printers.Printers(r.Context())
		if err != nil {
			s.error(w, r, err)
			return
		}
		resp.Printers = append(resp.Printers, states...)
	}
	s.json(w, http.StatusOK, resp)
}
