// Package journal defines the register's journal entry: what a register
// records for each sale or void, its one canonical binary encoding, the
// SHA-256 chain that links each entry to the one before it, and the Ed25519
// signature by the register's key.
//
// The register and the server must agree on these bytes to the bit: the
// register signs them, stores them in bbolt and sends them; the server checks
// the chain and the signature and keeps the bytes forever as the audit record.
package journal

import (
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/fanka/fanka/shared/internal/bin"
	"github.com/fanka/fanka/shared/money"
)

// Version is the encoding version written by Marshal.
const Version = 1

// Kind says what an entry records.
type Kind uint8

// Entry kinds.
const (
	KindSale Kind = 1 // the diner paid Amount
	KindVoid Kind = 2 // reverses the sale VoidSeq of the same register
)

func (k Kind) String() string {
	switch k {
	case KindSale:
		return "sale"
	case KindVoid:
		return "void"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Flags qualify how the register decided.
type Flags uint8

// Entry flags.
const (
	// FlagOffline: the register decided without a live server connection.
	FlagOffline Flags = 1 << iota
)

// Limits on variable-length fields.
const (
	MaxCardNo  = 32
	MaxCashier = 16
	MaxCardSig = 160
	// MaxSize bounds an encoded entry.
	MaxSize = 1 + 1 + 4 + 8 + 8 + 1 + 1 + MaxCardNo + 8 + 8 + 1 + MaxCashier + 8 + 1 + MaxCardSig + 32 + ed25519.SignatureSize
)

// Hash is a SHA-256 digest of an encoded entry.
type Hash [sha256.Size]byte

func (h Hash) String() string { return fmt.Sprintf("%x", h[:]) }

// Entry is one record of a register's journal.
type Entry struct {
	Kind     Kind
	Flags    Flags
	Terminal uint32    // register id given by the server at enrolment
	Seq      uint64    // 1, 2, 3, … with no gaps, per register
	Time     int64     // register clock, Unix milliseconds
	CardNo   string    // as read from the card: [0-9A-Z], 1–32 characters
	Amount   money.Fen // fen, > 0: paid (sale) or given back (void)
	// Balance is the diner's available balance as the register knew it just
	// before this entry (cache minus its own unsettled sales).
	Balance money.Fen
	Cashier string // cashier id, may be empty
	VoidSeq uint64 // for KindVoid: the seq of the sale it reverses; else 0
	CardSig []byte // the card's signature over the sale (fanka cards); may be empty
	Prev    Hash   // Hash of the previous entry; zero for Seq 1
	Sig     [ed25519.SignatureSize]byte
}

// Errors from Unmarshal, Validate and Verify.
var (
	ErrVersion   = errors.New("journal: unknown entry version")
	ErrMalformed = errors.New("journal: malformed entry")
	ErrInvalid   = errors.New("journal: invalid entry")
	ErrSignature = errors.New("journal: bad signature")
	ErrChain     = errors.New("journal: entry does not follow the previous one")
)

// signContext separates journal signatures from every other use of the key.
const signContext = "fanka/journal/v1\x00"

// Validate checks the fields' ranges and the relations between them.
func (e *Entry) Validate() error {
	switch {
	case e.Kind != KindSale && e.Kind != KindVoid:
		return fmt.Errorf("%w: kind %d", ErrInvalid, e.Kind)
	case e.Flags&^FlagOffline != 0:
		return fmt.Errorf("%w: unknown flags %#x", ErrInvalid, uint8(e.Flags))
	case e.Terminal == 0:
		return fmt.Errorf("%w: terminal 0", ErrInvalid)
	case e.Seq == 0:
		return fmt.Errorf("%w: seq 0", ErrInvalid)
	case !ValidCardNo(e.CardNo):
		return fmt.Errorf("%w: card number %q", ErrInvalid, e.CardNo)
	case e.Amount <= 0:
		return fmt.Errorf("%w: amount %d", ErrInvalid, e.Amount)
	case len(e.Cashier) > MaxCashier:
		return fmt.Errorf("%w: cashier id longer than %d", ErrInvalid, MaxCashier)
	case len(e.CardSig) > MaxCardSig:
		return fmt.Errorf("%w: card signature longer than %d", ErrInvalid, MaxCardSig)
	case e.Kind == KindVoid && (e.VoidSeq == 0 || e.VoidSeq >= e.Seq):
		return fmt.Errorf("%w: void of seq %d at seq %d", ErrInvalid, e.VoidSeq, e.Seq)
	case e.Kind == KindSale && e.VoidSeq != 0:
		return fmt.Errorf("%w: sale with void seq", ErrInvalid)
	case e.Seq == 1 && e.Prev != (Hash{}):
		return fmt.Errorf("%w: first entry with a previous hash", ErrInvalid)
	}
	return nil
}

// ValidCardNo reports whether s is a well-formed card number: 1 to 32
// characters of 0-9 and A-Z (a UID in upper-case hex, or an issued number).
func ValidCardNo(s string) bool {
	if len(s) == 0 || len(s) > MaxCardNo {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'A' || c > 'Z') {
			return false
		}
	}
	return true
}

// body appends the signed part of the encoding.
func (e *Entry) body(w *bin.Writer) {
	w.U8(Version)
	w.U8(uint8(e.Kind))
	w.U8(uint8(e.Flags))
	w.U32(e.Terminal)
	w.U64(e.Seq)
	w.I64(e.Time)
	w.Bytes8([]byte(e.CardNo))
	w.I64(int64(e.Amount))
	w.I64(int64(e.Balance))
	w.Bytes8([]byte(e.Cashier))
	w.U64(e.VoidSeq)
	w.Bytes8(e.CardSig)
	w.Raw(e.Prev[:])
}

// Marshal returns the canonical encoding: the signed body followed by the
// 64-byte signature. It fails only if the entry is not valid.
func (e *Entry) Marshal() ([]byte, error) {
	if err := e.Validate(); err != nil {
		return nil, err
	}
	w := bin.Writer{B: make([]byte, 0, 160+len(e.CardNo)+len(e.CardSig))}
	e.body(&w)
	w.Raw(e.Sig[:])
	return w.B, nil
}

// Unmarshal decodes a canonical encoding. It refuses trailing bytes and any
// entry that Validate refuses, so that each entry has exactly one encoding.
func Unmarshal(b []byte) (Entry, error) {
	var e Entry
	if len(b) > MaxSize {
		return e, fmt.Errorf("%w: %d bytes", ErrMalformed, len(b))
	}
	r := bin.Reader{B: b}
	if v := r.U8(); r.Err() == nil && v != Version {
		return e, fmt.Errorf("%w: %d", ErrVersion, v)
	}
	e.Kind = Kind(r.U8())
	e.Flags = Flags(r.U8())
	e.Terminal = r.U32()
	e.Seq = r.U64()
	e.Time = r.I64()
	e.CardNo = string(r.Bytes8(MaxCardNo))
	e.Amount = money.Fen(r.I64())
	e.Balance = money.Fen(r.I64())
	e.Cashier = string(r.Bytes8(MaxCashier))
	e.VoidSeq = r.U64()
	if sig := r.Bytes8(MaxCardSig); len(sig) > 0 {
		e.CardSig = append([]byte(nil), sig...)
	}
	r.Fixed(e.Prev[:])
	r.Fixed(e.Sig[:])
	if r.Err() != nil {
		return Entry{}, fmt.Errorf("%w: %v", ErrMalformed, r.Err())
	}
	if r.Len() != 0 {
		return Entry{}, fmt.Errorf("%w: %d trailing bytes", ErrMalformed, r.Len())
	}
	if err := e.Validate(); err != nil {
		return Entry{}, err
	}
	return e, nil
}

func (e *Entry) signed() []byte {
	w := bin.Writer{B: append(make([]byte, 0, 200), signContext...)}
	e.body(&w)
	return w.B
}

// Sign sets Sig to the register key's signature over the entry.
func (e *Entry) Sign(key ed25519.PrivateKey) error {
	if err := e.Validate(); err != nil {
		return err
	}
	copy(e.Sig[:], ed25519.Sign(key, e.signed()))
	return nil
}

// Verify checks the signature with the register's public key.
func (e *Entry) Verify(pub ed25519.PublicKey) error {
	if len(pub) != ed25519.PublicKeySize || !ed25519.Verify(pub, e.signed(), e.Sig[:]) {
		return fmt.Errorf("%w: terminal %d seq %d", ErrSignature, e.Terminal, e.Seq)
	}
	return nil
}

// Hash returns the SHA-256 of the canonical encoding, signature included:
// the value the next entry's Prev must hold.
func (e *Entry) Hash() (Hash, error) {
	b, err := e.Marshal()
	if err != nil {
		return Hash{}, err
	}
	return sha256.Sum256(b), nil
}

// HashBytes returns the hash of an already encoded entry.
func HashBytes(encoded []byte) Hash { return sha256.Sum256(encoded) }

// Follows checks that e is the entry right after the one with seq prevSeq
// and hash prevHash (prevSeq 0 and a zero hash for the first entry).
func (e *Entry) Follows(prevSeq uint64, prevHash Hash) error {
	if e.Seq != prevSeq+1 {
		return fmt.Errorf("%w: terminal %d: seq %d after %d", ErrChain, e.Terminal, e.Seq, prevSeq)
	}
	if e.Prev != prevHash {
		return fmt.Errorf("%w: terminal %d seq %d: previous hash %s, want %s", ErrChain, e.Terminal, e.Seq, e.Prev, prevHash)
	}
	return nil
}
