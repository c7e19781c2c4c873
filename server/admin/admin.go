// Package admin is the office's JSON API under /api/v1: sign in, open and
// look up cards, create, enrol, list and disable registers, see the
// printers and the alarms, list the sales and watch them live, the daily
// report (JSON and CSV), the audit log of every office action with its
// verification, and read and set the sale rules. The registers' WebSocket endpoint is mounted here too, at GET
// /api/v1/terminal/ws, so that the server has one HTTPS listener.
//
// Amounts are integer fen. Errors are {"error":{"code","message"}} with the
// code's HTTP status (see Status). Every route but login, enrol and the
// registers' endpoint needs "Authorization: Bearer <token>" from login, or
// the web page's session cookie with its CSRF token (see Authenticate).
package admin

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/fanka/fanka/server"
	"github.com/fanka/fanka/server/printer"
)

// Store is what the API needs of the server's store.
type Store interface {
	server.CardStore
	server.OfficeStore
	server.SubsidyStore
	server.UserStore
	// CreateTerminal, MoveTerminal and EnrollTerminal: see server.TerminalStore.
	CreateTerminal(ctx context.Context, name string, canteen int64, codeHash [32]byte, expires time.Time) (server.Terminal, error)
	MoveTerminal(ctx context.Context, id uint32, canteen int64) error
	EnrollTerminal(ctx context.Context, codeHash [32]byte, pub ed25519.PublicKey) (server.Terminal, error)
	// TerminalStatuses: see server.TerminalStatusStore.
	TerminalStatuses(ctx context.Context) (map[uint32]server.TerminalStatus, error)
	// Alarms: see server.AlarmStore.
	Alarms(ctx context.Context, limit int) ([]server.Alarm, error)
	// Terminal and SetTerminalDisabled: see server.TerminalStore.
	Terminal(ctx context.Context, id uint32) (server.Terminal, error)
	SetTerminalDisabled(ctx context.Context, id uint32, disabled bool) error
	// SubscribeCards (see server.CardFeed) wakes the live sale feed early
	// after a commit of this server that changed a card, as most sales do.
	SubscribeCards() (<-chan struct{}, func())
	server.SaleStore
	server.TerminalLister
	server.ReportStore
	server.AuditStore
	// Rules and SetRules: see server.RuleStore.
	server.RuleStore
	server.CanteenStore
}

// Reports is what the office's reports and lists read: the daily report
// (JSON and CSV), the sales list and the audit log. A store's own methods
// serve; so does a reader of a replica (a *mysql.Reports).
type Reports interface {
	server.ReportStore
	// Sales: see server.SaleStore.
	Sales(ctx context.Context, since int64, limit int) ([]server.Sale, error)
	// Audit: see server.AuditStore.
	Audit(ctx context.Context, limit int) ([]server.AuditRecord, error)
}

// Printers is what the API shows of the printers: the print queue's view
// of them (a *printer.Queue).
type Printers interface {
	// Printers returns the state of every printer, by name.
	Printers(ctx context.Context) ([]printer.State, error)
	// Enqueue queues documents to print (slips of office operations,
	// reports).
	Enqueue(ctx context.Context, jobs ...server.PrintJob) ([]int64, error)
}

// Defaults for the Server's fields.
const (
	DefaultTokenTTL     = 12 * time.Hour
	DefaultEnrolCodeTTL = 24 * time.Hour
	// MaxBody bounds a request body.
	MaxBody = 1 << 20
)

// Server is the API, an http.Handler. Create it with New and set its
// fields before it serves.
type Server struct {
	// Logger receives a line per failed request.
	Logger *slog.Logger
	// Now is the server's clock; its location decides what "today" is.
	Now func() time.Time
	// TokenTTL is how long a login token is valid.
	TokenTTL time.Duration
	// EnrolCodeTTL is how long a register's enrolment code is valid.
	EnrolCodeTTL time.Duration
	// Fingerprint is the hex SHA-256 of the server's TLS certificate (DER),
	// given to registers at enrolment so they can pin it.
	Fingerprint string
	// Printers, if not nil, is asked for GET /api/v1/printers; without it
	// the server has no printers.
	Printers Printers
	// Canteen is the name printed at the top of slips.
	Canteen string
	// MealPeriods, if not nil, returns the meal periods the daily report
	// totals by (the rules'); without it, those of server.DefaultRules.
	MealPeriods func(ctx context.Context) ([]server.MealPeriod, error)
	// LivePoll is how often the live sale feed looks for new sales in the
	// store (which other servers on the same database may have settled);
	// DefaultLivePoll if zero. LiveBuffer bounds the messages waiting for
	// one client of the feed; a client that falls further behind is
	// dropped. DefaultLiveBuffer if zero.
	LivePoll   time.Duration
	LiveBuffer int
	// Persons seals and keys the people's personal data. New makes a
	// random one, good for tests only: a server sets the one of its key
	// file (server.LoadPersonCipher), or what it stored cannot be read
	// after a restart.
	Persons *server.PersonCipher
	// Reports, if not nil, answers the reports and lists in place of the
	// store: set it to a replica's reader to keep them off the database
	// that settles. The live sale feed, what office operations read and
	// the audit log's verification stay on the store.
	Reports Reports

	store    Store
	mux      *http.ServeMux
	live     *liveFeed
	throttle throttle
}

// reports returns what the reports and lists read.
func (s *Server) reports() Reports {
	if s.Reports != nil {
		return s.Reports
	}
	return s.store
}

// New returns the API over store, with the registers' endpoint terminal
// (nil for none).
func New(store Store, terminal http.Handler, logger *slog.Logger) *Server {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		Logger:       logger,
		Now:          time.Now,
		TokenTTL:     DefaultTokenTTL,
		EnrolCodeTTL: DefaultEnrolCodeTTL,
		Canteen:      "饭卡食堂",
		store:        store,
		mux:          http.NewServeMux(),
	}
	s.live = newLiveFeed(s)
	key := make([]byte, 64)
	rand.Read(key)
	s.Persons, _ = server.NewPersonCipher(key)
	s.mux.HandleFunc("POST /api/v1/login", s.handleLogin)
	s.mux.HandleFunc("POST /api/v1/logout", s.handleLogout)
	s.mux.HandleFunc("POST /api/v1/enroll", s.handleEnroll)
	if terminal != nil {
		s.mux.Handle("GET /api/v1/terminal/ws", terminal)
	}
	s.mux.Handle("POST /api/v1/cards", s.auth(s.handleOpenCard, server.RoleAdmin, server.RoleOperator))
	s.mux.Handle("GET /api/v1/cards/{card_no}", s.auth(s.handleCard, server.RoleAdmin, server.RoleOperator, server.RoleAuditor))
	s.mux.Handle("GET /api/v1/cards", s.auth(s.handleSearch, server.RoleAdmin, server.RoleOperator, server.RoleAuditor))
	s.mux.Handle("GET /api/v1/cards/{card_no}/holds", s.auth(s.handleHolds, server.RoleAdmin, server.RoleOperator, server.RoleAuditor))
	for _, kind := range []server.OpKind{server.OpRecharge, server.OpRefund, server.OpFreeze, server.OpUnfreeze,
		server.OpLost, server.OpReplace, server.OpClose, server.OpEdit} {
		s.mux.Handle("POST /api/v1/cards/{card_no}/"+string(kind), s.auth(s.handleCardOp(kind), server.RoleAdmin, server.RoleOperator))
	}
	s.mux.Handle("GET /api/v1/subsidies", s.auth(s.handleSchedules, server.RoleAdmin, server.RoleOperator, server.RoleAuditor))
	s.mux.Handle("POST /api/v1/subsidies", s.auth(s.handleAddSchedule, server.RoleAdmin))
	s.mux.Handle("POST /api/v1/cards/{card_no}/holds", s.auth(s.handleCardOp(server.OpHold), server.RoleAdmin, server.RoleOperator))
	s.mux.Handle("POST /api/v1/cards/{card_no}/holds/{hold_id}/release", s.auth(s.handleCardOp(server.OpRelease), server.RoleAdmin, server.RoleOperator))
	s.mux.Handle("POST /api/v1/cards/{card_no}/holds/{hold_id}/capture", s.auth(s.handleCardOp(server.OpCapture), server.RoleAdmin, server.RoleOperator))
	s.mux.Handle("POST /api/v1/terminals", s.auth(s.handleCreateTerminal, server.RoleAdmin))
	s.mux.Handle("GET /api/v1/terminals", s.auth(s.handleTerminals, server.RoleAdmin, server.RoleOperator, server.RoleAuditor))
	s.mux.Handle("POST /api/v1/terminals/{id}/disable", s.auth(s.handleSetDisabled(true), server.RoleAdmin))
	s.mux.Handle("POST /api/v1/terminals/{id}/enable", s.auth(s.handleSetDisabled(false), server.RoleAdmin))
	s.mux.Handle("POST /api/v1/terminals/{id}/move", s.auth(s.handleMoveTerminal, server.RoleAdmin))
	s.mux.Handle("GET /api/v1/canteens", s.auth(s.handleCanteens, server.RoleAdmin, server.RoleOperator, server.RoleAuditor))
	s.mux.Handle("POST /api/v1/canteens", s.auth(s.handleCreateCanteen, server.RoleAdmin))
	s.mux.Handle("GET /api/v1/sales", s.auth(s.handleSales, server.RoleAdmin, server.RoleOperator, server.RoleAuditor))
	s.mux.Handle("GET /api/v1/sales/live", s.auth(s.handleLive, server.RoleAdmin, server.RoleOperator, server.RoleAuditor))
	s.mux.Handle("GET /api/v1/reports/daily", s.auth(s.handleDailyReport, server.RoleAdmin, server.RoleOperator, server.RoleAuditor))
	s.mux.Handle("GET /api/v1/reports/daily.csv", s.auth(s.handleDailyCSV, server.RoleAdmin, server.RoleOperator, server.RoleAuditor))
	s.mux.Handle("GET /api/v1/reports/periods", s.auth(s.handlePeriods, server.RoleAdmin, server.RoleOperator, server.RoleAuditor))
	s.mux.Handle("GET /api/v1/reports/periods.csv", s.auth(s.handlePeriodsCSV, server.RoleAdmin, server.RoleOperator, server.RoleAuditor))
	s.mux.Handle("GET /api/v1/reports/registers", s.auth(s.handleRegisters, server.RoleAdmin, server.RoleOperator, server.RoleAuditor))
	s.mux.Handle("GET /api/v1/reports/registers.csv", s.auth(s.handleRegistersCSV, server.RoleAdmin, server.RoleOperator, server.RoleAuditor))
	s.mux.Handle("GET /api/v1/reports/minutes", s.auth(s.handleMinutes, server.RoleAdmin, server.RoleOperator, server.RoleAuditor))
	// An auditor may print what an auditor may read and download: a
	// report moves no money and changes nothing but the print queue, and
	// the audit log keeps who printed what.
	s.mux.Handle("POST /api/v1/reports/print", s.auth(s.handlePrintReport, server.RoleAdmin, server.RoleOperator, server.RoleAuditor))
	s.mux.Handle("GET /api/v1/audit", s.auth(s.handleAudit, server.RoleAdmin, server.RoleOperator, server.RoleAuditor))
	s.mux.Handle("POST /api/v1/audit/verify", s.auth(s.handleAuditVerify, server.RoleAdmin, server.RoleOperator, server.RoleAuditor))
	s.mux.Handle("GET /api/v1/printers", s.auth(s.handlePrinters, server.RoleAdmin, server.RoleOperator, server.RoleAuditor))
	s.mux.Handle("GET /api/v1/alarms", s.auth(s.handleAlarms, server.RoleAdmin, server.RoleAuditor))
	s.mux.Handle("GET /api/v1/rules", s.auth(s.handleRules, server.RoleAdmin, server.RoleOperator, server.RoleAuditor))
	s.mux.Handle("PUT /api/v1/rules", s.auth(s.handleSetRules, server.RoleAdmin))
	s.mux.Handle("POST /api/v1/users", s.auth(s.handleCreateUser, server.RoleAdmin))
	s.mux.Handle("GET /api/v1/users", s.auth(s.handleUsers, server.RoleAdmin, server.RoleAuditor))
	s.mux.Handle("/api/v1/", s.auth(func(w http.ResponseWriter, r *http.Request, _ server.User) {
		s.error(w, r, server.Errorf(server.ENOTFOUND, "no such API: %s %s", r.Method, r.URL.Path))
	}, server.RoleAdmin, server.RoleOperator, server.RoleAuditor))
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mux.ServeHTTP(w, r)
}

// Status returns the HTTP status for an error code.
func Status(code string) int {
	switch code {
	case server.ECONFLICT:
		return http.StatusConflict
	case server.EFORBIDDEN:
		return http.StatusForbidden
	case server.EINVALID:
		return http.StatusBadRequest
	case server.ENOTFOUND:
		return http.StatusNotFound
	case server.EUNAUTHORIZED:
		return http.StatusUnauthorized
	}
	return http.StatusInternalServerError
}

// errorBody is the JSON of every error response.
type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Field   string `json:"field,omitempty"` // the request field at fault, if one is
	} `json:"error"`
}

// error writes err as an error response. Internal errors are logged in
// full and shown to the client only as "internal error".
func (s *Server) error(w http.ResponseWriter, r *http.Request, err error) {
	status, code := errorStatus(w, err)
	if code == server.EINTERNAL {
		s.Logger.Error("api: internal error", "method", r.Method, "path", r.URL.Path, "err", err)
	} else {
		s.Logger.Info("api: request failed", "method", r.Method, "path", r.URL.Path, "status", status, "err", err)
	}
	if code == server.EUNAUTHORIZED {
		w.Header().Set("WWW-Authenticate", `Bearer realm="fanka"`)
	}
	var body errorBody
	body.Error.Code, body.Error.Message = code, server.ErrorMessage(err)
	if code != server.EINTERNAL {
		body.Error.Field = server.ErrorField(err)
	}
	var th *ThrottledError
	if errors.As(err, &th) {
		body.Error.Message = th.Error()
	}
	s.json(w, status, body)
}

// json writes v as a JSON response.
func (s *Server) json(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		s.Logger.Error("api: encode response", "err", err)
		http.Error(w, `{"error":{"code":"EINTERNAL","message":"internal error"}}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// decode reads a request body of at most MaxBody bytes holding exactly one
// JSON object with no unknown fields into v. Its errors are EINVALID.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	r.Body = http.MaxBytesReader(w, r.Body, MaxBody)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return bodyError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		if err != nil {
			return bodyError(err)
		}
		return server.Errorf(server.EINVALID, "request body holds more than one JSON value")
	}
	return nil
}

func bodyError(err error) error {
	var tooBig *http.MaxBytesError
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &tooBig):
		return server.Errorf(server.EINVALID, "request body larger than %d bytes", tooBig.Limit)
	case errors.Is(err, io.EOF):
		return server.Errorf(server.EINVALID, "empty request body: want a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return server.Errorf(server.EINVALID, "malformed JSON: unexpected end of the body")
	case errors.As(err, &syntax):
		return server.Errorf(server.EINVALID, "malformed JSON at byte %d: %v", syntax.Offset, err)
	case errors.As(err, &typ):
		if typ.Field == "" {
			return server.Errorf(server.EINVALID, "the body must be a JSON object")
		}
		return server.Errorf(server.EINVALID, "field %q must be %s", typ.Field, jsonType(typ.Type.Kind().String()))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return server.Errorf(server.EINVALID, "unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
	}
	return fmt.Errorf("read request body: %w", err)
}

func jsonType(kind string) string {
	switch {
	case strings.HasPrefix(kind, "int"), strings.HasPrefix(kind, "uint"):
		return "an integer"
	case kind == "string":
		return "a string"
	}
	return "a " + kind
}

// auth wraps h to require a user with one of roles, by bearer token or
// session cookie (see Authenticate).
func (s *Server) auth(h func(http.ResponseWriter, *http.Request, server.User), roles ...server.Role) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sess, err := s.Authenticate(r)
		if err != nil {
			s.error(w, r, err)
			return
		}
		u := sess.User
		for _, role := range roles {
			if u.Role == role {
				h(w, r, u)
				return
			}
		}
		s.error(w, r, server.Errorf(server.EFORBIDDEN, "user %s (%s) may not %s %s", u.Name, u.Role, r.Method, r.URL.Path))
	})
}
