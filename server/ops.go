package server

import (
	"crypto/sha256"
	"encoding/binary"
	"strings"
	"time"

	"github.com/fanka/fanka/shared/journal"
	"github.com/fanka/fanka/shared/money"
	"github.com/fanka/fanka/shared/wire"
)

// OpKind names an office operation on a card.
type OpKind string

// Office operations on a card. Each is one database transaction,
// idempotent on its request id, decided by CardOp.Plan from the card as it
// stands: the stores only read the state and write the plan.
const (
	OpRecharge OpKind = "recharge" // cash paid in: cash drawer → diner
	OpRefund   OpKind = "refund"   // money paid for meals given back: revenue → diner
	OpFreeze   OpKind = "freeze"   // the office stops the card
	OpUnfreeze OpKind = "unfreeze" // and lets it pay again
	OpLost     OpKind = "lost"     // reported lost: registers keep it
	OpReplace  OpKind = "replace"  // a new card on the same account; the old one stays lost
	OpClose    OpKind = "close"    // the balance paid out in cash, the card closed
	OpEdit     OpKind = "edit"     // the person's name, phone or user class
	OpHold     OpKind = "hold"     // part of the balance held (冻结资金), e.g. during a dispute
	OpRelease  OpKind = "release"  // a hold ended, the money spendable again (解冻资金)
	OpCapture  OpKind = "capture"  // a hold ended, the money kept by the canteen: diner → revenue
)

// Transaction kinds of office operations beyond those of server.go.
const (
	TxCapture TxKind = "capture" // diner → revenue: a fund hold captured
)

// Bounds of office operations.
const (
	// MaxBalance bounds a diner's balance: a recharge or refund that would
	// take it above is refused, so that no balance can overflow.
	MaxBalance = 10 * MaxAmount
	// MaxUserClass bounds a user class name, in bytes.
	MaxUserClass = 32
	// MaxReason bounds the reason given for a hold or a freeze, in bytes.
	MaxReason = 200
	// MaxPhone bounds a phone number, in bytes.
	MaxPhone = 32
)

// Reasons a card is frozen, kept with its status.
const (
	FrozenByOffice    = "office"    // by an operator: only an unfreeze ends it
	FrozenByOverdraft = "overdraft" // by a sale that took the balance below zero: a recharge that covers it ends it
)

// CardOp is an office operation on the card CardNo.
type CardOp struct {
	RequestID string // the caller's idempotency key
	Operator  string // the user who asks
	Kind      OpKind
	CardNo    string
	Amount    money.Fen // recharge, refund, hold: > 0
	// NewCardNo and NewCardPublicKey: replace.
	NewCardNo        string
	NewCardPublicKey []byte
	// Name, PhoneSealed and UserClass: edit; a field left empty is kept.
	// PhoneSealed is the phone number as the server seals personal data
	// (see PersonCipher); stores keep it opaque.
	Name        string
	PhoneSealed []byte
	PhoneKey    string // PersonCipher.Key of the phone: what the fingerprint holds of it
	UserClass   string
	// HoldID: release, capture.
	HoldID int64
	// Canteen: refund, capture: the canteen whose revenue the money comes
	// from or goes to; 0 for FirstCanteen.
	Canteen int64
	// Reason: hold, freeze (optional, shown to the office).
	Reason string
}

// Validate checks what can be checked without the card: EINVALID with the
// first problem.
func (op CardOp) Validate() error {
	if !validRequestID(op.RequestID) {
		return Errorf(EINVALID, "request_id must be 1 to %d printable ASCII characters", MaxRequestID)
	}
	if !journal.ValidCardNo(op.CardNo) {
		return Errorf(EINVALID, "card_no must be 1 to %d characters 0-9 and A-Z", journal.MaxCardNo)
	}
	if op.Reason != "" && !validText(op.Reason, MaxReason) {
		return Errorf(EINVALID, "reason must be at most %d bytes of printable text", MaxReason)
	}
	switch {
	case op.Canteen < 0:
		return Errorf(EINVALID, "canteen must be a canteen's id")
	case op.Canteen != 0 && op.Kind != OpRefund && op.Kind != OpCapture:
		return Errorf(EINVALID, "canteen is for refunds and hold captures only")
	}
	switch op.Kind {
	case OpRecharge, OpRefund, OpHold:
		if op.Amount <= 0 {
			return Errorf(EINVALID, "amount must be a positive number of fen")
		}
		if op.Amount > MaxAmount {
			return Errorf(EINVALID, "amount above %d fen", MaxAmount)
		}
	case OpFreeze, OpUnfreeze, OpLost, OpClose:
	case OpReplace:
		if !journal.ValidCardNo(op.NewCardNo) {
			return Errorf(EINVALID, "new_card_no must be 1 to %d characters 0-9 and A-Z", journal.MaxCardNo)
		}
		if op.NewCardNo == op.CardNo {
			return Errorf(EINVALID, "new_card_no is the card being replaced")
		}
		if len(op.NewCardPublicKey) > 0 {
			if _, err := ParseCardPublicKey(op.NewCardPublicKey); err != nil {
				return err
			}
		}
	case OpEdit:
		switch {
		case op.Name == "" && len(op.PhoneSealed) == 0 && op.UserClass == "":
			return Errorf(EINVALID, "edit: give at least one of name, phone and user_class")
		case op.Name != "" && !validText(op.Name, wire.MaxName):
			return Errorf(EINVALID, "name must be 1 to %d bytes of printable text", wire.MaxName)
		case op.UserClass != "" && !ValidUserClass(op.UserClass):
			return Errorf(EINVALID, "user_class must be 1 to %d characters a-z, 0-9, - and _", MaxUserClass)
		}
	case OpRelease, OpCapture:
		if op.HoldID <= 0 {
			return Errorf(EINVALID, "hold id must be a positive number")
		}
	default:
		return Errorf(EINVALID, "unknown card operation %q", op.Kind)
	}
	return nil
}

// ValidUserClass reports whether s can name a user class: 1 to
// MaxUserClass characters a-z, 0-9, '-' and '_'.
func ValidUserClass(s string) bool {
	if len(s) == 0 || len(s) > MaxUserClass {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// Fingerprint identifies what the request asks, its RequestID and Operator
// aside: a request id used again with another fingerprint is a conflict.
func (op CardOp) Fingerprint() [32]byte {
	h := sha256.New()
	for _, s := range []string{"card-op", string(op.Kind), op.CardNo, op.NewCardNo, string(op.NewCardPublicKey),
		op.Name, op.PhoneKey, op.UserClass, op.Reason} {
		h.Write(binary.BigEndian.AppendUint32(nil, uint32(len(s))))
		h.Write([]byte(s))
	}
	h.Write(binary.BigEndian.AppendUint64(nil, uint64(op.Amount)))
	h.Write(binary.BigEndian.AppendUint64(nil, uint64(op.HoldID)))
	if op.Canteen != 0 && op.Canteen != FirstCanteen { // requests before canteens keep their fingerprint
		h.Write(binary.BigEndian.AppendUint64(nil, uint64(op.Canteen)))
	}
	var sum [32]byte
	h.Sum(sum[:0])
	return sum
}

// HoldState is where a fund hold stands.
type HoldState string

// Hold states.
const (
	HoldHeld     HoldState = "held"
	HoldReleased HoldState = "released"
	HoldCaptured HoldState = "captured"
)

// Hold is part of a diner's balance held by the office: it cannot be spent
// until it is released, or it is captured (paid to the canteen).
type Hold struct {
	ID        int64     `json:"id"`
	AccountID int64     `json:"account_id"`
	CardNo    string    `json:"card_no"`
	Amount    money.Fen `json:"amount"`
	Reason    string    `json:"reason"`
	State     HoldState `json:"state"`
	Created   time.Time `json:"created"`
	Ended     time.Time `json:"ended,omitzero"`
}

// CardState is what a store reads, in the operation's transaction, for
// CardOp.Plan.
type CardState struct {
	// Card is the card named by the operation, with its account's balance
	// and holds; Reason is why it is frozen, if it is.
	Card   Card
	Reason string
	// Successor is a card of the same account that is active or frozen,
	// other than Card: a lost card with one has been replaced.
	Successor string
	// Revenue is the revenue account of the operation's canteen (refund,
	// capture).
	Revenue int64
	// Paid is what the account's cards paid that canteen, net: sales and
	// captures less voids and refunds. Read for refunds only.
	Paid money.Fen
	// Hold is the hold named by a release or capture, if it is the
	// account's (ID 0: no such hold).
	Hold Hold
	// NewCardTaken: a replace's new card number exists already.
	NewCardTaken bool
}

// CardChange is a card row a plan writes: a new status (and frozen
// reason), or a new card.
type CardChange struct {
	CardNo    string
	Status    CardStatus
	Reason    string // FrozenByOffice, FrozenByOverdraft; "" unless frozen
	New       bool   // insert the card, on the account
	PublicKey []byte // a new fanka card's key (uncompressed point)
}

// Plan is what an office operation writes, in one transaction.
type Plan struct {
	// Tx and Postings: the ledger transaction, if money moves.
	Tx       TxKind
	Postings []Posting
	// Cards whose status changes, or that are new. Every card named here
	// and the operation's card get a new version (registers refetch them).
	Cards []CardChange
	// NewHold: a hold to insert (its ID is given by the store).
	NewHold *Hold
	// EndHold: the hold to move to EndState.
	EndHold  int64
	EndState HoldState
	// Held is the account's held total after the operation.
	Held money.Fen
	// Edit: the account's name, sealed phone and user class to set
	// (empty: kept).
	Edit bool
	// CloseAccount: the account is closed; its person may open a new one.
	CloseAccount bool
	// Result is the answer, but for the ids the store assigns (TxID,
	// HoldID) and the card's balance after the postings.
	Result CardOpResult
}

// CardOpResult is the answer to an office operation, as first given: a
// replay returns it again.
type CardOpResult struct {
	CardNo  string     `json:"card_no"` // the card the operation leaves in use: the new one for a replace
	Status  CardStatus `json:"status"`
	Balance money.Fen  `json:"balance"`
	Held    money.Fen  `json:"held"`
	TxID    int64      `json:"tx_id,omitempty"`
	HoldID  int64      `json:"hold_id,omitempty"`
}

// Plan decides the operation on the card as it stands: what to post and
// write, or an *Error: ENOTFOUND for an unknown hold, ECONFLICT for an
// operation the card's status does not allow (recharge a closed card,
// unfreeze a lost one) or a taken card number, EINVALID for an amount the
// balance does not allow (refund above what was paid, hold above the
// spendable balance, close with money held or owed). The operation must
// have passed Validate.
func (op CardOp) Plan(st CardState) (Plan, error) {
	c := st.Card
	p := Plan{Held: c.Held, Result: CardOpResult{CardNo: c.CardNo, Status: c.Status, Balance: c.Balance, Held: c.Held}}
	status, reason := c.Status, st.Reason
	refuse := func(allowed ...CardStatus) error {
		for _, s := range allowed {
			if c.Status == s {
				return nil
			}
		}
		names := make([]string, len(allowed))
		for i, s := range allowed {
			names[i] = string(s)
		}
		return Errorf(ECONFLICT, "cannot %s card %s: it is %s (allowed when %s)", op.Kind, c.CardNo, c.Status, strings.Join(names, " or "))
	}
	moneyIn := func(kind TxKind, from int64) error {
		if err := refuse(CardActive, CardFrozen); err != nil {
			return err
		}
		after, ok := money.Add(c.Balance, op.Amount)
		if !ok || after > MaxBalance {
			return Errorf(EINVALID, "card %s: the balance would be above %d fen", c.CardNo, MaxBalance)
		}
		p.Tx = kind
		p.Postings = []Posting{{AccountID: from, Amount: -op.Amount}, {AccountID: c.AccountID, Amount: op.Amount}}
		p.Result.Balance = after
		// A card frozen by an overdraft is active again once the money
		// covers what it owes.
		if c.Status == CardFrozen && reason == FrozenByOverdraft && after+c.Subsidy-c.Held >= 0 {
			status, reason = CardActive, ""
		}
		return nil
	}
	switch op.Kind {
	case OpRecharge:
		if err := moneyIn(TxRecharge, CashAccount); err != nil {
			return Plan{}, err
		}
	case OpRefund:
		if err := refuse(CardActive, CardFrozen); err != nil {
			return Plan{}, err
		}
		if op.Amount > st.Paid {
			return Plan{}, Errorf(EINVALID, "card %s: refund of %d fen is above the %d fen paid and not yet refunded", c.CardNo, op.Amount, max(st.Paid, 0))
		}
		if err := moneyIn(TxRefund, st.Revenue); err != nil {
			return Plan{}, err
		}
	case OpFreeze:
		if err := refuse(CardActive); err != nil {
			return Plan{}, err
		}
		status, reason = CardFrozen, FrozenByOffice
	case OpUnfreeze:
		if err := refuse(CardFrozen); err != nil {
			return Plan{}, err
		}
		if c.Spendable() < 0 {
			return Plan{}, Errorf(EINVALID, "card %s owes %d fen: recharge it first", c.CardNo, -c.Spendable())
		}
		status, reason = CardActive, ""
	case OpLost:
		if err := refuse(CardActive, CardFrozen); err != nil {
			return Plan{}, err
		}
		status, reason = CardLost, ""
	case OpReplace:
		if err := refuse(CardActive, CardFrozen, CardLost); err != nil {
			return Plan{}, err
		}
		if st.Successor != "" {
			return Plan{}, Errorf(ECONFLICT, "card %s was replaced by card %s already", c.CardNo, st.Successor)
		}
		if st.NewCardTaken {
			return Plan{}, Errorf(ECONFLICT, "card %s already exists", op.NewCardNo)
		}
		newStatus, newReason := CardActive, ""
		if c.Status == CardFrozen {
			newStatus, newReason = CardFrozen, reason
		}
		var key []byte
		if len(op.NewCardPublicKey) > 0 {
			key, _ = ParseCardPublicKey(op.NewCardPublicKey)
		}
		p.Cards = append(p.Cards, CardChange{CardNo: op.NewCardNo, Status: newStatus, Reason: newReason, New: true, PublicKey: key})
		status, reason = CardLost, ""
		p.Result.CardNo, p.Result.Status = op.NewCardNo, newStatus
	case OpClose:
		if err := refuse(CardActive, CardFrozen, CardLost); err != nil {
			return Plan{}, err
		}
		switch {
		case st.Successor != "":
			return Plan{}, Errorf(ECONFLICT, "card %s was replaced by card %s: close that one", c.CardNo, st.Successor)
		case c.Held != 0:
			return Plan{}, Errorf(EINVALID, "card %s has %d fen held: release or capture the holds first", c.CardNo, c.Held)
		case c.Balance < 0:
			return Plan{}, Errorf(EINVALID, "card %s owes %d fen: recharge it before closing", c.CardNo, -c.Balance)
		}
		if c.Balance > 0 {
			p.Tx = TxClose
			p.Postings = []Posting{{AccountID: c.AccountID, Amount: -c.Balance}, {AccountID: CashAccount, Amount: c.Balance}}
			p.Result.Balance = 0
		}
		if c.Subsidy > 0 { // what is left of the subsidies goes back to the fund
			p.Tx = TxClose
			p.Postings = append(p.Postings, Posting{AccountID: c.SubsidyAccount, Amount: -c.Subsidy}, Posting{AccountID: SubsidyAccount, Amount: c.Subsidy})
		}
		status, reason = CardClosed, ""
		p.CloseAccount = true
	case OpEdit:
		if err := refuse(CardActive, CardFrozen, CardLost); err != nil {
			return Plan{}, err
		}
		p.Edit = true
	case OpHold:
		if err := refuse(CardActive, CardFrozen); err != nil {
			return Plan{}, err
		}
		if op.Amount > c.Balance-c.Held {
			return Plan{}, Errorf(EINVALID, "card %s: hold of %d fen is above the %d fen spendable", c.CardNo, op.Amount, max(c.Balance-c.Held, 0))
		}
		p.NewHold = &Hold{AccountID: c.AccountID, CardNo: c.CardNo, Amount: op.Amount, Reason: op.Reason, State: HoldHeld}
		p.Held = c.Held + op.Amount
	case OpRelease, OpCapture:
		h := st.Hold
		switch {
		case h.ID == 0:
			return Plan{}, Errorf(ENOTFOUND, "card %s has no hold %d", c.CardNo, op.HoldID)
		case h.State != HoldHeld:
			return Plan{}, Errorf(ECONFLICT, "hold %d was %s already", h.ID, h.State)
		}
		p.EndHold, p.Held = h.ID, c.Held-h.Amount
		p.EndState = HoldReleased
		if op.Kind == OpCapture {
			p.EndState = HoldCaptured
			p.Tx = TxCapture
			p.Postings = []Posting{{AccountID: c.AccountID, Amount: -h.Amount}, {AccountID: st.Revenue, Amount: h.Amount}}
			p.Result.Balance = c.Balance - h.Amount
		}
	}
	if status != c.Status || reason != st.Reason {
		p.Cards = append(p.Cards, CardChange{CardNo: c.CardNo, Status: status, Reason: reason})
		if op.Kind != OpReplace {
			p.Result.Status = status
		}
	}
	p.Result.Held = p.Held
	return p, nil
}
