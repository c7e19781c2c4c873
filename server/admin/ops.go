package admin

import (
	"context"
	"fmt"
	"net/http"
	"reflect"
	"strconv"
	"time"

	"github.com/fanka/fanka/server"
	"github.com/fanka/fanka/shared/escpos"
	"github.com/fanka/fanka/shared/journal"
	"github.com/fanka/fanka/shared/money"
)

// CardResponse is a card as the office sees it: GET /api/v1/cards/{card_no},
// the search, and every operation's answer.
type CardResponse struct {
	CardNo     string            `json:"card_no"`
	AccountID  int64             `json:"account_id"`
	Name       string            `json:"name"`
	Status     server.CardStatus `json:"status"`
	Reason     string            `json:"reason,omitempty"` // why a frozen card is frozen: office, overdraft
	Balance    money.Fen         `json:"balance"`
	Held       money.Fen         `json:"held"`
	Subsidy    money.Fen         `json:"subsidy"`
	Spendable  money.Fen         `json:"spendable"`
	TodayCount int               `json:"today_count"`
	PersonID   string            `json:"person_id"` // masked
	Phone      string            `json:"phone,omitempty"`
	UserClass  string            `json:"user_class,omitempty"`
	// TxID and HoldID: an operation's ledger transaction and hold.
	TxID   int64 `json:"tx_id,omitempty"`
	HoldID int64 `json:"hold_id,omitempty"`
	// PrintError says why a slip asked for was not queued.
	PrintError string `json:"print_error,omitempty"`
}

// slipKinds are the operations that print a slip.
var slipKinds = map[server.OpKind]escpos.SlipKind{
	server.OpRecharge: escpos.Recharge,
	server.OpRefund:   escpos.Refund,
	server.OpClose:    escpos.CloseCard,
}

// checkPrint checks a slip may be printed for kind on printer name.
func (s *Server) checkPrint(ctx context.Context, kind server.OpKind, name string) error {
	if _, ok := slipKinds[kind]; !ok {
		return server.Errorf(server.EINVALID, "only recharges, refunds and closes print a slip")
	}
	return s.printerKnown(ctx, name)
}

// printSlip queues the slip of an operation.
func (s *Server) printSlip(ctx context.Context, kind server.OpKind, printerName string, u server.User, c server.Card, amount money.Fen, res server.CardOpResult) error {
	doc, err := escpos.RenderSlip(escpos.Slip{Kind: slipKinds[kind], Canteen: s.Canteen, Operator: u.Name, Time: s.Now(),
		CardNo: c.CardNo, Name: c.Name, Amount: amount, Balance: c.Balance, TxID: res.TxID})
	if err != nil {
		return err
	}
	_, err = s.Printers.Enqueue(ctx, server.PrintJob{Printer: printerName, Title: fmt.Sprintf("%s slip %d", kind, res.TxID), Doc: doc})
	return err
}

// cardResponse shows c, its personal data opened and masked.
func (s *Server) cardResponse(c server.Card) CardResponse {
	resp := CardResponse{
		CardNo: c.CardNo, AccountID: c.AccountID, Name: c.Name, Status: c.Status, Reason: c.Reason,
		Balance: c.Balance, Held: c.Held, Subsidy: c.Subsidy, Spendable: c.Spendable(), TodayCount: c.CountOn(server.Day(s.Now())),
		UserClass: c.UserClass, PersonID: "********",
	}
	if len(c.PersonSealed) > 0 {
		if id, err := s.Persons.Open("person", c.PersonSealed); err == nil {
			resp.PersonID = server.Mask(id)
		} else {
			s.Logger.Error("api: personal data does not open with this server's key", "card", c.CardNo, "err", err)
		}
	}
	if len(c.PhoneSealed) > 0 {
		if phone, err := s.Persons.Open("phone", c.PhoneSealed); err == nil {
			resp.Phone = server.Mask(phone)
		}
	}
	return resp
}

func (s *Server) handleCard(w http.ResponseWriter, r *http.Request, _ server.User) {
	cardNo, ok := s.cardNo(w, r)
	if !ok {
		return
	}
	c, err := s.store.Card(r.Context(), cardNo)
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.json(w, http.StatusOK, s.cardResponse(c))
}

// cardNo is the path's card number; if it is malformed, it answers the
// request and returns false.
func (s *Server) cardNo(w http.ResponseWriter, r *http.Request) (string, bool) {
	cardNo := r.PathValue("card_no")
	if !journal.ValidCardNo(cardNo) {
		s.error(w, r, server.Errorf(server.EINVALID, "card number must be 1 to %d characters 0-9 and A-Z", journal.MaxCardNo))
		return "", false
	}
	return cardNo, true
}

// SearchResponse answers GET /api/v1/cards?q=&limit=.
type SearchResponse struct {
	Cards []CardResponse `json:"cards"`
}

// DefaultSearch is the number of cards a search returns without a limit.
const DefaultSearch = 50

func (s *Server) handleSearch(w http.ResponseWriter, r *http.Request, _ server.User) {
	q := r.URL.Query().Get("q")
	limit := DefaultSearch
	if l := r.URL.Query().Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > server.MaxSearch {
			s.error(w, r, server.Errorf(server.EINVALID, "limit must be a number from 1 to %d", server.MaxSearch))
			return
		}
		limit = n
	}
	if q == "" || len(q) > 64 {
		s.error(w, r, server.Errorf(server.EINVALID, "q must be 1 to 64 bytes: a card number, a name, or a person id"))
		return
	}
	query := server.CardQuery{Text: q, Limit: limit}
	if server.ValidPersonID(q) == nil {
		query.PersonID = s.Persons.Key("person", q)
	}
	cards, err := s.store.SearchCards(r.Context(), query)
	if err != nil {
		s.error(w, r, err)
		return
	}
	resp := SearchResponse{Cards: make([]CardResponse, len(cards))}
	for i, c := range cards {
		resp.Cards[i] = s.cardResponse(c)
	}
	s.json(w, http.StatusOK, resp)
}

// CardOpRequest is the body of POST /api/v1/cards/{card_no}/{operation}:
// request_id always; amount for recharge, refund and holds; new_card_no
// (and card_public_key for a fanka card) for replace; name, phone and
// user_class for edit; reason for freeze and holds.
type CardOpRequest struct {
	RequestID     string    `json:"request_id"`
	Amount        money.Fen `json:"amount,omitempty"`
	NewCardNo     string    `json:"new_card_no,omitempty"`
	CardPublicKey string    `json:"card_public_key,omitempty"`
	Name          string    `json:"name,omitempty"`
	Phone         string    `json:"phone,omitempty"`
	UserClass     string    `json:"user_class,omitempty"`
	Reason        string    `json:"reason,omitempty"`
	// Canteen names the canteen a refund is taken from, or a captured
	// hold paid to; absent: the first.
	Canteen int64 `json:"canteen_id,omitempty"`
	// Print names a printer to print the slip of a recharge, refund or
	// close on (the diner's copy; refunds and closes have a line for the
	// diner's signature). Sent again with a replay, the slip is printed
	// again.
	Print string `json:"print,omitempty"`
}

// handleCardOp runs the operation kind on the path's card.
func (s *Server) handleCardOp(kind server.OpKind) func(http.ResponseWriter, *http.Request, server.User) {
	return func(w http.ResponseWriter, r *http.Request, u server.User) {
		cardNo, ok := s.cardNo(w, r)
		if !ok {
			return
		}
		var req CardOpRequest
		if err := decode(w, r, &req); err != nil {
			s.error(w, r, err)
			return
		}
		op := server.CardOp{RequestID: req.RequestID, Operator: u.Name, Kind: kind, CardNo: cardNo, Amount: req.Amount,
			NewCardNo: req.NewCardNo, Name: req.Name, UserClass: req.UserClass, Reason: req.Reason, Canteen: req.Canteen}
		if req.CardPublicKey != "" {
			key, err := server.DecodeCardPublicKey(req.CardPublicKey)
			if err != nil {
				s.error(w, r, err)
				return
			}
			op.NewCardPublicKey = key
		}
		if req.Phone != "" {
			if err := server.ValidPhone(req.Phone); err != nil {
				s.error(w, r, err)
				return
			}
			op.PhoneSealed, op.PhoneKey = s.Persons.Seal("phone", req.Phone), s.Persons.Key("phone", req.Phone)
		}
		if id := r.PathValue("hold_id"); id != "" {
			n, err := strconv.ParseInt(id, 10, 64)
			if err != nil || n <= 0 {
				s.error(w, r, server.Errorf(server.EINVALID, "hold id must be a positive number"))
				return
			}
			op.HoldID = n
		}
		var before server.Card
		if req.Print != "" {
			if err := s.checkPrint(r.Context(), kind, req.Print); err != nil {
				s.error(w, r, err)
				return
			}
			var err error
			if before, err = s.store.Card(r.Context(), cardNo); err != nil {
				s.error(w, r, err)
				return
			}
		}
		res, err := s.store.CardOp(r.Context(), op)
		if err != nil {
			s.error(w, r, err)
			return
		}
		c, err := s.store.Card(r.Context(), res.CardNo)
		if err != nil {
			s.error(w, r, err)
			return
		}
		resp := s.cardResponse(c)
		resp.TxID, resp.HoldID = res.TxID, res.HoldID
		detail := map[string]any{"request_id": op.RequestID, "card_no": cardNo, "tx_id": res.TxID, "status": res.Status, "balance": res.Balance}
		for k, v := range map[string]any{"amount": op.Amount, "new_card_no": op.NewCardNo, "hold_id": res.HoldID, "reason": op.Reason,
			"name": op.Name, "user_class": op.UserClass, "phone_changed": len(op.PhoneSealed) > 0} {
			if v != reflect.Zero(reflect.TypeOf(v)).Interface() {
				detail[k] = v
			}
		}
		s.audit(r, u, "card."+string(kind), detail)
		if req.Print != "" && res.TxID != 0 {
			amount := op.Amount
			if kind == server.OpClose {
				amount = before.Balance
			}
			if err := s.printSlip(r.Context(), kind, req.Print, u, c, amount, res); err != nil {
				// The money moved: the answer says so, and the log why
				// the slip did not print.
				s.Logger.Error("api: slip not queued", "card", c.CardNo, "tx", res.TxID, "err", err)
				resp.PrintError = server.ErrorMessage(err)
			}
		}
		s.json(w, http.StatusOK, resp)
	}
}

// HoldsResponse answers GET /api/v1/cards/{card_no}/holds.
type HoldsResponse struct {
	Holds []server.Hold `json:"holds"`
}

func (s *Server) handleHolds(w http.ResponseWriter, r *http.Request, _ server.User) {
	cardNo, ok := s.cardNo(w, r)
	if !ok {
		return
	}
	holds, err := s.store.Holds(r.Context(), cardNo)
	if err != nil {
		s.error(w, r, err)
		return
	}
	if holds == nil {
		holds = []server.Hold{}
	}
	for i := range holds {
		holds[i].Created = holds[i].Created.In(time.Local)
	}
	s.json(w, http.StatusOK, HoldsResponse{Holds: holds})
}

// SchedulesResponse answers GET /api/v1/subsidies.
type SchedulesResponse struct {
	Schedules []server.SubsidySchedule `json:"schedules"`
}

func (s *Server) handleSchedules(w http.ResponseWriter, r *http.Request, _ server.User) {
	scs, err := s.store.Schedules(r.Context())
	if err != nil {
		s.error(w, r, err)
		return
	}
	if scs == nil {
		scs = []server.SubsidySchedule{}
	}
	s.json(w, http.StatusOK, SchedulesResponse{Schedules: scs})
}

func (s *Server) handleAddSchedule(w http.ResponseWriter, r *http.Request, u server.User) {
	var req server.SubsidySchedule
	if err := decode(w, r, &req); err != nil {
		s.error(w, r, err)
		return
	}
	if req.ID != 0 {
		s.error(w, r, server.Errorf(server.EINVALID, "id is given by the server"))
		return
	}
	sc, err := s.store.AddSchedule(r.Context(), req, u.Name)
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.audit(r, u, "subsidy.schedule", sc)
	s.json(w, http.StatusCreated, sc)
}
