// Package wire defines the messages between a register and the server,
// carried one per WebSocket binary frame.
//
// Every frame starts with the protocol version and a message type:
//
//	frame = version:u8 type:u8 payload
//
// All integers are big-endian; strings carry a length prefix. Decode checks
// every length against the frame, refuses trailing bytes and never allocates
// more than the frame's size, so a hostile peer can cost at most MaxFrame bytes.
//
// The conversation:
//
//	server → register  Challenge{Nonce, ServerTime}
//	register → server  Hello{Terminal, CardCursor, Sig(HelloMessage(nonce, terminal)), HotlistCursor}
//	server → register  Welcome{LastSeq, LastHash, ServerTime}   or Refused
//	register → server  Entries{…}        (journal entries from LastSeq+1 on, in order)
//	server → register  Acks{…}           (one per entry, after the batch is committed)
//	server → register  Cards{…}          (card deltas since CardCursor, or every card, then as they change)
//	server → register  Rules{…}, RulesV1{…}  (after Welcome, and again whenever the rules change)
//	server → register  Hotlist{…}        (a snapshot or the changes since HotlistCursor, then as it changes)
//	server → register  StatusRequest{}   (after Welcome, from a server that takes Status)
//	register → server  Status{…}         (once asked: at once, on a change, and periodically)
//
// A gap, a broken chain or a bad signature ends the connection with Refused;
// the register resends from the server's LastSeq on the next connection.
package wire

import (
	"crypto/ed25519"
	"errors"
	"fmt"

	"github.com/fanka/fanka/shared/internal/bin"
	"github.com/fanka/fanka/shared/journal"
	"github.com/fanka/fanka/shared/money"
)

// Version is the protocol version this package speaks.
const Version = 1

// Bounds on frames and batches.
const (
	MaxFrame      = 1 << 20 // bytes in one frame
	MaxBatch      = 1000    // entries in one Entries frame
	MaxCards      = 2000    // card deltas in one Cards frame
	MaxName       = 64      // bytes of a card holder's display name
	MaxMessage    = 256     // bytes of a Refused message
	NonceSize     = 32
	helloContext  = "fanka/hello/v1\x00"
	maxEntryFrame = journal.MaxSize
)

// Type identifies a message.
type Type uint8

// Message types.
const (
	TypeChallenge Type = 1
	TypeHello     Type = 2
	TypeWelcome   Type = 3
	TypeEntries   Type = 4
	TypeAcks      Type = 5
	TypeCards     Type = 6
	TypeRefused   Type = 7
	TypeRulesV1   Type = 8 // Rules without presets and offline limits, for registers that predate them
	TypeRules     Type = 9
	TypeHotlist   Type = 10
	TypeStatus    Type = 11
	// TypeStatusRequest is StatusRequest's: a server that takes Status
	// says so with it, as a message older registers skip, rather than
	// with a field of Welcome, whose extra bytes they would refuse.
	TypeStatusRequest Type = 12
)

// Message is one of the message types of this package.
type Message interface {
	Type() Type
	encode(w *bin.Writer) error
}

// Errors from Decode and Encode.
var (
	ErrVersion   = errors.New("wire: unsupported protocol version")
	ErrType      = errors.New("wire: unknown message type")
	ErrMalformed = errors.New("wire: malformed message")
	ErrTooLarge  = errors.New("wire: frame too large")
)

// Challenge opens a connection: the register must sign Nonce.
type Challenge struct {
	Nonce      [NonceSize]byte
	ServerTime int64 // Unix milliseconds
}

// Hello proves the register holds its enrolled key.
//
//	Hello = Terminal:u32 CardCursor:u64 Sig:64 [HotlistCursor:u64]
//
// HotlistCursor came later: a register that sends it (Hotlist true) takes
// Hotlist messages; one that does not (its Hello ends after Sig, as before)
// is sent none, so older registers keep working.
type Hello struct {
	Terminal   uint32
	CardCursor uint64 // the last card change version the register holds; 0 for none
	Sig        [ed25519.SignatureSize]byte
	// Hotlist says that the register takes Hotlist messages, and
	// HotlistCursor is the hotlist version it holds (0 for none).
	Hotlist       bool
	HotlistCursor uint64
}

// HelloMessage is what a register signs to answer a challenge.
func HelloMessage(nonce [NonceSize]byte, terminal uint32) []byte {
	w := bin.Writer{B: append([]byte(helloContext), nonce[:]...)}
	w.U32(terminal)
	return w.B
}

// Welcome accepts the register and says where its stream resumes.
type Welcome struct {
	LastSeq    uint64       // the last seq the server has settled for this register
	LastHash   journal.Hash // that entry's hash (zero when LastSeq is 0)
	ServerTime int64
}

// Entries carries encoded journal entries, in seq order, with no gaps.
type Entries struct {
	Entries [][]byte
}

// Outcome is how the server settled an entry.
type Outcome uint8

// Settlement outcomes.
const (
	Settled          Outcome = 1 // posted as recorded
	SettledOverdraft Outcome = 2 // posted; the balance went below zero
	Flagged          Outcome = 3 // posted, and flagged for review (a rule was broken offline)
)

func (o Outcome) String() string {
	switch o {
	case Settled:
		return "settled"
	case SettledOverdraft:
		return "settled-overdraft"
	case Flagged:
		return "flagged"
	}
	return fmt.Sprintf("outcome(%d)", uint8(o))
}

// Ack reports that the entry Seq is settled, durably.
type Ack struct {
	Seq     uint64
	Outcome Outcome
	CardNo  string
	Balance money.Fen // the card's balance after the entry
	// Version is the card's change version (see Card) after the entry, so
	// that a register can order acks and card deltas: it keeps whichever
	// state of a card has the higher version.
	Version uint64
	// Day and TodayCount: the card's sale count on the server's day after
	// the entry (see Card).
	Day        int32
	TodayCount uint16
}

// Acks carries one Ack per settled entry.
type Acks struct {
	Acks []Ack
}

// CardStatus is an account's status as registers need it.
type CardStatus uint8

// Card statuses.
const (
	CardActive CardStatus = 1
	CardFrozen CardStatus = 2
	CardLost   CardStatus = 3
	CardClosed CardStatus = 4
)

func (s CardStatus) String() string {
	switch s {
	case CardActive:
		return "active"
	case CardFrozen:
		return "frozen"
	case CardLost:
		return "lost"
	case CardClosed:
		return "closed"
	}
	return fmt.Sprintf("status(%d)", uint8(s))
}

// ParseCardStatus is the inverse of CardStatus.String.
func ParseCardStatus(s string) (CardStatus, bool) {
	for st := CardActive; st <= CardClosed; st++ {
		if st.String() == s {
			return st, true
		}
	}
	return 0, false
}

// Card is a card's state as the server last knew it.
type Card struct {
	Version    uint64 // server-wide change counter; strictly increasing per change
	CardNo     string
	Name       string // display name (the register shows its first character)
	Status     CardStatus
	Balance    money.Fen
	Day        int32  // the server's day (days since 1970-01-01, local) TodayCount counts
	TodayCount uint16 // sales on the card on Day
}

// Cards carries card changes in Version order. Cursor is the highest Version
// the register may now record as held.
//
// A register with no cursor is sent every card, in card number order, in
// frames with Cursor 0 (nothing to record yet) but the last, whose Cursor
// is the card version the list was begun at: a list cut short leaves the
// register without a cursor, and it is sent again.
type Cards struct {
	Cursor uint64
	Cards  []Card
}

// RefuseCode says why the server refused or closed the stream.
type RefuseCode uint16

// Refusal codes.
const (
	RefuseUnknownTerminal RefuseCode = 1
	RefuseBadSignature    RefuseCode = 2
	RefuseChain           RefuseCode = 3 // a gap or a broken chain: the stream stops, an alarm is raised
	RefuseMalformed       RefuseCode = 4
	RefuseDisabled        RefuseCode = 5
	RefuseInternal        RefuseCode = 6
)

// Refused ends a connection with a reason.
type Refused struct {
	Code    RefuseCode
	Message string
}

func (m *Challenge) Type() Type { return TypeChallenge }
func (m *Hello) Type() Type     { return TypeHello }
func (m *Welcome) Type() Type   { return TypeWelcome }
func (m *Entries) Type() Type   { return TypeEntries }
func (m *Acks) Type() Type      { return TypeAcks }
func (m *Cards) Type() Type     { return TypeCards }
func (m *Refused) Type() Type   { return TypeRefused }
func (m *Rules) Type() Type     { return TypeRules }
func (m *RulesV1) Type() Type   { return TypeRulesV1 }

func (m *Challenge) encode(w *bin.Writer) error {
	w.Raw(m.Nonce[:])
	w.I64(m.ServerTime)
	return nil
}

func (m *Hello) encode(w *bin.Writer) error {
	w.U32(m.Terminal)
	w.U64(m.CardCursor)
	w.Raw(m.Sig[:])
	if m.Hotlist {
		w.U64(m.HotlistCursor)
	} else if m.HotlistCursor != 0 {
		return fmt.Errorf("%w: hello: a hotlist cursor without Hotlist", ErrMalformed)
	}
	return nil
}

func (m *Welcome) encode(w *bin.Writer) error {
	w.U64(m.LastSeq)
	w.Raw(m.LastHash[:])
	w.I64(m.ServerTime)
	return nil
}

func (m *Entries) encode(w *bin.Writer) error {
	if len(m.Entries) > MaxBatch {
		return fmt.Errorf("%w: %d entries in a batch", ErrTooLarge, len(m.Entries))
	}
	w.U16(uint16(len(m.Entries)))
	for _, e := range m.Entries {
		if len(e) > maxEntryFrame {
			return fmt.Errorf("%w: entry of %d bytes", ErrTooLarge, len(e))
		}
		w.Bytes16(e)
	}
	return nil
}

func (m *Acks) encode(w *bin.Writer) error {
	if len(m.Acks) > MaxBatch {
		return fmt.Errorf("%w: %d acks", ErrTooLarge, len(m.Acks))
	}
	w.U16(uint16(len(m.Acks)))
	for _, a := range m.Acks {
		if len(a.CardNo) > journal.MaxCardNo {
			return fmt.Errorf("%w: card number %q", ErrMalformed, a.CardNo)
		}
		w.U64(a.Seq)
		w.U8(uint8(a.Outcome))
		w.Bytes8([]byte(a.CardNo))
		w.I64(int64(a.Balance))
		w.U64(a.Version)
		w.U32(uint32(a.Day))
		w.U16(a.TodayCount)
	}
	return nil
}

func (m *Cards) encode(w *bin.Writer) error {
	if len(m.Cards) > MaxCards {
		return fmt.Errorf("%w: %d cards", ErrTooLarge, len(m.Cards))
	}
	w.U64(m.Cursor)
	w.U16(uint16(len(m.Cards)))
	for _, c := range m.Cards {
		if len(c.CardNo) > journal.MaxCardNo || len(c.Name) > MaxName {
			return fmt.Errorf("%w: card %q", ErrMalformed, c.CardNo)
		}
		w.U64(c.Version)
		w.Bytes8([]byte(c.CardNo))
		w.Bytes8([]byte(c.Name))
		w.U8(uint8(c.Status))
		w.I64(int64(c.Balance))
		w.U32(uint32(c.Day))
		w.U16(c.TodayCount)
	}
	return nil
}

func (m *Refused) encode(w *bin.Writer) error {
	msg := m.Message
	if len(msg) > MaxMessage {
		msg = msg[:MaxMessage]
	}
	w.U16(uint16(m.Code))
	w.Bytes8([]byte(msg))
	return nil
}

// Encode returns the frame for m.
func Encode(m Message) ([]byte, error) {
	w := bin.Writer{B: make([]byte, 0, 64)}
	w.U8(Version)
	w.U8(uint8(m.Type()))
	if err := m.encode(&w); err != nil {
		return nil, err
	}
	if len(w.B) > MaxFrame {
		return nil, fmt.Errorf("%w: %d bytes", ErrTooLarge, len(w.B))
	}
	return w.B, nil
}

// Decode parses one frame.
func Decode(b []byte) (Message, error) {
	if len(b) > MaxFrame {
		return nil, fmt.Errorf("%w: %d bytes", ErrTooLarge, len(b))
	}
	r := bin.Reader{B: b}
	v, t := r.U8(), Type(r.U8())
	if r.Err() != nil {
		return nil, fmt.Errorf("%w: no header", ErrMalformed)
	}
	if v != Version {
		return nil, fmt.Errorf("%w: %d", ErrVersion, v)
	}
	var m Message
	switch t {
	case TypeChallenge:
		c := &Challenge{}
		r.Fixed(c.Nonce[:])
		c.ServerTime = r.I64()
		m = c
	case TypeHello:
		h := &Hello{Terminal: r.U32(), CardCursor: r.U64()}
		r.Fixed(h.Sig[:])
		if r.Err() == nil && r.Len() > 0 {
			h.Hotlist, h.HotlistCursor = true, r.U64()
		}
		m = h
	case TypeWelcome:
		w := &Welcome{LastSeq: r.U64()}
		r.Fixed(w.LastHash[:])
		w.ServerTime = r.I64()
		m = w
	case TypeEntries:
		n := int(r.U16())
		if n > MaxBatch {
			return nil, fmt.Errorf("%w: %d entries in a batch", ErrTooLarge, n)
		}
		e := &Entries{}
		for i := 0; i < n && r.Err() == nil; i++ {
			if b := r.Bytes16(maxEntryFrame); r.Err() == nil {
				e.Entries = append(e.Entries, b)
			}
		}
		m = e
	case TypeAcks:
		n := int(r.U16())
		if n > MaxBatch {
			return nil, fmt.Errorf("%w: %d acks", ErrTooLarge, n)
		}
		a := &Acks{}
		for i := 0; i < n && r.Err() == nil; i++ {
			ack := Ack{Seq: r.U64(), Outcome: Outcome(r.U8()), CardNo: string(r.Bytes8(journal.MaxCardNo)), Balance: money.Fen(r.I64()), Version: r.U64(), Day: int32(r.U32()), TodayCount: r.U16()}
			if r.Err() == nil && (ack.Outcome < Settled || ack.Outcome > Flagged) {
				r.Fail(fmt.Errorf("outcome %d", ack.Outcome))
			}
			a.Acks = append(a.Acks, ack)
		}
		m = a
	case TypeCards:
		c := &Cards{Cursor: r.U64()}
		n := int(r.U16())
		if n > MaxCards {
			return nil, fmt.Errorf("%w: %d cards", ErrTooLarge, n)
		}
		for i := 0; i < n && r.Err() == nil; i++ {
			card := Card{Version: r.U64(), CardNo: string(r.Bytes8(journal.MaxCardNo)), Name: string(r.Bytes8(MaxName)),
				Status: CardStatus(r.U8()), Balance: money.Fen(r.I64()), Day: int32(r.U32()), TodayCount: r.U16()}
			if r.Err() == nil && (card.Status < CardActive || card.Status > CardClosed) {
				r.Fail(fmt.Errorf("card status %d", card.Status))
			}
			c.Cards = append(c.Cards, card)
		}
		m = c
	case TypeRefused:
		m = &Refused{Code: RefuseCode(r.U16()), Message: string(r.Bytes8(MaxMessage))}
	case TypeStatus:
		s, err := decodeStatus(&r)
		if err != nil {
			return nil, err
		}
		m = s
	case TypeStatusRequest:
		m = &StatusRequest{}
	case TypeHotlist:
		h, err := decodeHotlist(&r)
		if err != nil {
			return nil, err
		}
		m = h
	case TypeRules, TypeRulesV1:
		rules, err := decodeRules(&r, t == TypeRules)
		if err != nil {
			return nil, err
		}
		m = rules
		if t == TypeRulesV1 {
			m = &RulesV1{Rules: *rules}
		}
	default:
		return nil, fmt.Errorf("%w: %d", ErrType, t)
	}
	if r.Err() != nil {
		return nil, fmt.Errorf("%w: type %d: %v", ErrMalformed, t, r.Err())
	}
	if r.Len() != 0 {
		return nil, fmt.Errorf("%w: type %d: %d trailing bytes", ErrMalformed, t, r.Len())
	}
	return m, nil
}
