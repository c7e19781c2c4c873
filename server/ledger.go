package server

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/fanka/fanka/shared/journal"
	"github.com/fanka/fanka/shared/money"
	"github.com/fanka/fanka/shared/wire"
)

// Bounds on office requests.
const (
	// MaxAmount bounds any one movement of money: a deposit, a recharge, a
	// sale. It is far above any real one, so that no sum of them overflows;
	// the rules set the real limits.
	MaxAmount = 1_000_000 * money.Yuan
	// MaxRequestID bounds a request id, in bytes.
	MaxRequestID = 128
	// MaxPersonID bounds a person id, in bytes.
	MaxPersonID = 64
)

// TerminalOrigin is the origin of the ledger transaction posted for a
// register's journal entry.
func TerminalOrigin(terminal uint32, seq uint64) string {
	return fmt.Sprintf("T%d/%d", terminal, seq)
}

// RequestOrigin is the origin of the ledger transaction posted for an office
// request.
func RequestOrigin(requestID string) string { return "R" + requestID }

// Day returns the day number t falls on: days since 1970-01-01 in t's
// location, as registers count them (wire.Card.Day).
func Day(t time.Time) int32 {
	y, m, d := t.Date()
	return int32(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400)
}

// SaleDay returns the day a sale counts on: the day of the register's clock
// at the sale (entryTime, Unix milliseconds), in now's location, but never
// after the server's today, so that a register clock running ahead cannot
// block a card's count for days to come.
func SaleDay(entryTime int64, now time.Time) int32 {
	return Day(SaleTime(entryTime, now))
}

// SaleTime returns when a sale counts: the register's clock at the sale
// (entryTime, Unix milliseconds), but never after now, in now's location.
func SaleTime(entryTime int64, now time.Time) time.Time {
	t := time.UnixMilli(entryTime)
	if t.After(now) {
		t = now
	}
	return t.In(now.Location())
}

// SaleOutcome decides how a sale settled: flagged when the card was not
// active (a rule the register broke offline, or could not know of), settled
// with overdraft when it took the balance below zero, else settled.
func SaleOutcome(status CardStatus, balanceAfter money.Fen) wire.Outcome {
	switch {
	case status != CardActive:
		return wire.Flagged
	case balanceAfter < 0:
		return wire.SettledOverdraft
	}
	return wire.Settled
}

// DecodeBatch decodes a batch of encoded journal entries that register
// terminal sent to be settled, and checks what needs no database: the
// batch's size (EINVALID above wire.MaxBatch), each entry's encoding and
// fields (journal.ErrMalformed, journal.ErrVersion, journal.ErrInvalid),
// that it is the register's own, and that it moves at most MaxAmount
// (journal.ErrInvalid). Errors name the register and the entry.
func DecodeBatch(terminal uint32, raw [][]byte) ([]journal.Entry, error) {
	if len(raw) > wire.MaxBatch {
		return nil, Errorf(EINVALID, "settle register %d: %d entries in a batch, at most %d", terminal, len(raw), wire.MaxBatch)
	}
	entries := make([]journal.Entry, len(raw))
	for i, b := range raw {
		e, err := journal.Unmarshal(b)
		if err != nil {
			return nil, fmt.Errorf("settle register %d: entry %d of the batch: %w", terminal, i+1, err)
		}
		if e.Terminal != terminal {
			return nil, fmt.Errorf("settle %d/%d: %w: the entry is register %d's", terminal, e.Seq, journal.ErrInvalid, e.Terminal)
		}
		if e.Amount > MaxAmount {
			return nil, fmt.Errorf("settle %d/%d: %w: amount %d above %d", terminal, e.Seq, journal.ErrInvalid, e.Amount, MaxAmount)
		}
		entries[i] = e
	}
	return entries, nil
}

// ParseOutcome parses an outcome as wire.Outcome.String writes it, the
// form in which stores keep the ack of each settled entry.
func ParseOutcome(s string) (wire.Outcome, error) {
	for o := wire.Settled; o <= wire.Flagged; o++ {
		if o.String() == s {
			return o, nil
		}
	}
	return 0, fmt.Errorf("unknown outcome %q", s)
}

// Validate checks an OpenCard request: EINVALID with the first problem.
func (op OpenCard) Validate() error {
	switch {
	case !validRequestID(op.RequestID):
		return Errorf(EINVALID, "request_id must be 1 to %d printable ASCII characters", MaxRequestID)
	case !validText(op.PersonID, MaxPersonID):
		return Errorf(EINVALID, "person_id must be 1 to %d bytes of printable text", MaxPersonID)
	case !validText(op.Name, wire.MaxName):
		return Errorf(EINVALID, "name must be 1 to %d bytes of printable text", wire.MaxName)
	case op.Deposit <= 0:
		return Errorf(EINVALID, "deposit must be a positive number of fen")
	case op.Deposit > MaxAmount:
		return Errorf(EINVALID, "deposit above %d fen", MaxAmount)
	case op.CardNo != "" && !journal.ValidCardNo(op.CardNo):
		return Errorf(EINVALID, "card_no must be 1 to %d characters 0-9 and A-Z", journal.MaxCardNo)
	case op.UserClass != "" && !ValidUserClass(op.UserClass):
		return Errorf(EINVALID, "user_class must be 1 to %d characters a-z, 0-9, - and _", MaxUserClass)
	case len(op.CardPublicKey) > 0:
		if _, err := ParseCardPublicKey(op.CardPublicKey); err != nil {
			return err
		}
	}
	return nil
}

// StoredCardPublicKey returns what a store keeps of CardPublicKey in the
// cards' public_key column: the uncompressed point, or nil (NULL) for a
// card without a key. The request must have passed Validate.
func (op OpenCard) StoredCardPublicKey() any {
	if len(op.CardPublicKey) == 0 {
		return nil
	}
	key, err := ParseCardPublicKey(op.CardPublicKey)
	if err != nil {
		return nil
	}
	return key
}

// Fingerprint identifies what the request asks, its RequestID and Operator
// aside: a request id used again with another fingerprint is a conflict.
func (op OpenCard) Fingerprint() [32]byte {
	h := sha256.New()
	for _, s := range []string{"open-card", op.PersonID, op.Name, op.CardNo} {
		h.Write(binary.BigEndian.AppendUint32(nil, uint32(len(s))))
		h.Write([]byte(s))
	}
	h.Write(binary.BigEndian.AppendUint64(nil, uint64(op.Deposit)))
	if len(op.CardPublicKey) > 0 { // requests without a key keep their fingerprint
		h.Write([]byte("card-public-key"))
		h.Write(op.CardPublicKey)
	}
	if op.PhoneKey != "" || op.UserClass != "" { // nor those without these
		for _, s := range []string{"phone-class", op.PhoneKey, op.UserClass} {
			h.Write(binary.BigEndian.AppendUint32(nil, uint32(len(s))))
			h.Write([]byte(s))
		}
	}
	var sum [32]byte
	h.Sum(sum[:0])
	return sum
}

func validRequestID(s string) bool {
	if len(s) == 0 || len(s) > MaxRequestID {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// validText accepts 1 to max bytes of valid UTF-8 without control
// characters and not only spaces.
func validText(s string, max int) bool {
	if len(s) == 0 || len(s) > max || !utf8.ValidString(s) {
		return false
	}
	blank := true
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
		if !unicode.IsSpace(r) {
			blank = false
		}
	}
	return !blank
}
