package card

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/fanka/fanka/shared/journal"
	"github.com/fanka/fanka/shared/money"
)

// The purse record. A fanka card also keeps one fixed-size record that the
// register (or, later, the office) rewrites after each sale: the balance
// after it, the day and the card's sales that day, the sale's time, and a
// sequence number, signed with the writer's Ed25519 key (the key a
// register signs its journal with). An offline register reads it when the
// card comes and so learns what other offline registers sold on the card:
// "3 per day" and the balance hold across registers that cannot reach the
// server. The journal stays the truth; the record is only a hint that
// carries a signature.
//
// The APDUs:
//
//	READ PURSE    80 30 00 00 00
//	              → record (PurseSize bytes) ‖ 90 00
//	              → 6A 88                       (no record written yet)
//	WRITE PURSE   80 32 00 00 84 ‖ record (PurseSize bytes)
//	              → 90 00
//	              → 69 84   the record's sequence is not above the card's:
//	                        the card keeps its record (SWPurseStale)
//	              → 6A 80   not a record for this card (length aside:
//	                        67 00), wrong version, bad padding
//
// The card does not check the signature (it does not know the registers'
// keys); it checks the format, that the record names its own card number,
// and that the sequence goes up, so a record once written cannot be
// replaced by an older one through the card. Readers check the signature.
//
// The record, integers big-endian (PurseSize = 132 bytes):
//
//	version   u8    PurseVersion
//	card no   u8 length n, then n characters [0-9A-Z], zero-padded to journal.MaxCardNo
//	balance   i64   fen, after the sale (may be negative)
//	day       i32   days since 1970-01-01 in the register's local time (as wire.Card.Day)
//	count     u16   the card's sales on day
//	last sale i64   Unix milliseconds
//	sequence  u64   one more than the record it replaces; 1 for the first
//	writer    u32   the register's id; 0 is the office (WriterOffice)
//	signature 64    Ed25519 over PurseMessage: purseContext ‖ the 68 bytes above

// Instruction bytes of the purse record.
const (
	InsReadPurse  = 0x30
	InsWritePurse = 0x32
)

// Status words of the purse instructions.
const (
	SWNoPurse    = 0x6A88 // READ PURSE: no record written yet
	SWPurseStale = 0x6984 // WRITE PURSE: the sequence is not above the card's
)

// PurseVersion is the record format's version.
const PurseVersion = 1

// Sizes of the record.
const (
	purseBodySize = 1 + 1 + journal.MaxCardNo + 8 + 4 + 2 + 8 + 8 + 4
	// PurseSize is the length of a record: the body and its signature.
	PurseSize = purseBodySize + ed25519.SignatureSize
)

// WriterOffice is the writer id of records the office writes.
const WriterOffice = 0

// ReadPurse is the READ PURSE command.
var ReadPurse = []byte{ClaFanka, InsReadPurse, 0x00, 0x00, 0x00}

// Purse is a card's purse record.
type Purse struct {
	CardNo     string
	Balance    money.Fen // after the last sale
	Day        int32     // the day TodayCount counts (days since 1970-01-01, local)
	TodayCount uint16
	LastSale   int64  // Unix milliseconds
	Seq        uint64 // the record's sequence: above every earlier record's
	Writer     uint32 // the register that wrote it; WriterOffice for the office
	Sig        [ed25519.SignatureSize]byte
}

// PurseKeys are the writers whose records a register believes: register id
// (or WriterOffice) to its Ed25519 public key.
type PurseKeys map[uint32]ed25519.PublicKey

// ErrPurse: a purse record is well formed but not to be believed: its
// writer is unknown, its signature does not verify, or it is another
// card's.
var ErrPurse = errors.New("card: purse record not valid")

// purseContext separates purse record signatures from any other use of a
// register's key (journal entries, the uplink's hello).
const purseContext = "fanka/card/purse/v1\x00"

func (p Purse) appendBody(b []byte) []byte {
	b = append(b, PurseVersion, byte(len(p.CardNo)))
	b = append(b, p.CardNo...)
	b = append(b, make([]byte, journal.MaxCardNo-len(p.CardNo))...)
	b = binary.BigEndian.AppendUint64(b, uint64(p.Balance))
	b = binary.BigEndian.AppendUint32(b, uint32(p.Day))
	b = binary.BigEndian.AppendUint16(b, p.TodayCount)
	b = binary.BigEndian.AppendUint64(b, uint64(p.LastSale))
	b = binary.BigEndian.AppendUint64(b, p.Seq)
	return binary.BigEndian.AppendUint32(b, p.Writer)
}

// PurseMessage is what the writer signs: the context string and every
// field of the record but the signature, the card number among them.
func PurseMessage(p Purse) []byte {
	return p.appendBody(append(make([]byte, 0, len(purseContext)+purseBodySize), purseContext...))
}

// SignPurse returns p signed by the writer with key key. It fails for a
// card number that is not valid (journal.ValidCardNo).
func SignPurse(p Purse, key ed25519.PrivateKey) (Purse, error) {
	if !journal.ValidCardNo(p.CardNo) {
		return Purse{}, fmt.Errorf("card: purse record for card number %q", p.CardNo)
	}
	copy(p.Sig[:], ed25519.Sign(key, PurseMessage(p)))
	return p, nil
}

// Marshal returns the record's PurseSize bytes. The card number must be
// valid (SignPurse checks it).
func (p Purse) Marshal() []byte {
	return append(p.appendBody(make([]byte, 0, PurseSize)), p.Sig[:]...)
}

// ParsePurse reads a record's bytes, checking its form but not its
// signature (VerifyPurse does).
func ParsePurse(b []byte) (Purse, error) {
	if len(b) != PurseSize {
		return Purse{}, fmt.Errorf("%w: purse record of %d bytes", ErrResponse, len(b))
	}
	if b[0] != PurseVersion {
		return Purse{}, fmt.Errorf("%w: purse record version %d", ErrResponse, b[0])
	}
	n := int(b[1])
	if n > journal.MaxCardNo {
		return Purse{}, fmt.Errorf("%w: purse record card number of %d bytes", ErrResponse, n)
	}
	field := b[2 : 2+journal.MaxCardNo]
	no := string(field[:n])
	if !journal.ValidCardNo(no) || !allZero(field[n:]) {
		return Purse{}, fmt.Errorf("%w: purse record card number %q", ErrResponse, no)
	}
	r := b[2+journal.MaxCardNo:]
	p := Purse{
		CardNo:     no,
		Balance:    money.Fen(binary.BigEndian.Uint64(r)),
		Day:        int32(binary.BigEndian.Uint32(r[8:])),
		TodayCount: binary.BigEndian.Uint16(r[12:]),
		LastSale:   int64(binary.BigEndian.Uint64(r[14:])),
		Seq:        binary.BigEndian.Uint64(r[22:]),
		Writer:     binary.BigEndian.Uint32(r[30:]),
	}
	copy(p.Sig[:], r[34:])
	return p, nil
}

func allZero(b []byte) bool { return len(bytes.Trim(b, "\x00")) == 0 }

// VerifyPurse checks that p is card cardNo's and that its writer, whose key
// keys must hold, signed it. Errors wrap ErrPurse.
func VerifyPurse(p Purse, cardNo string, keys PurseKeys) error {
	if p.CardNo != cardNo {
		return fmt.Errorf("%w: record of card %s read from card %s", ErrPurse, p.CardNo, cardNo)
	}
	pub, ok := keys[p.Writer]
	if !ok || len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("%w: card %s: writer %d unknown", ErrPurse, cardNo, p.Writer)
	}
	if !ed25519.Verify(pub, PurseMessage(p), p.Sig[:]) {
		return fmt.Errorf("%w: card %s: signature of writer %d, seq %d", ErrPurse, cardNo, p.Writer, p.Seq)
	}
	return nil
}

// OpenPurse reads record b, read from card cardNo, and verifies it:
// ParsePurse, then VerifyPurse.
func OpenPurse(b []byte, cardNo string, keys PurseKeys) (Purse, error) {
	p, err := ParsePurse(b)
	if err != nil {
		return Purse{}, err
	}
	return p, VerifyPurse(p, cardNo, keys)
}

// WritePurse returns the WRITE PURSE command for record p.
func WritePurse(p Purse) []byte {
	return append([]byte{ClaFanka, InsWritePurse, 0x00, 0x00, PurseSize}, p.Marshal()...)
}

// ParseReadPurse reads the answer to ReadPurse: the record, unverified, or
// false when the card has none yet (6A 88).
func ParseReadPurse(resp []byte) (Purse, bool, error) {
	data, err := okData(resp)
	var se *StatusError
	if errors.As(err, &se) && se.SW == SWNoPurse {
		return Purse{}, false, nil
	}
	if err != nil {
		return Purse{}, false, err
	}
	p, err := ParsePurse(data)
	return p, err == nil, err
}

// ParseWritePurse reads the answer to WritePurse: nil for 90 00, a
// *StatusError otherwise (SWPurseStale: the card holds a newer record).
func ParseWritePurse(resp []byte) error {
	data, err := okData(resp)
	if err != nil {
		return err
	}
	if len(data) != 0 {
		return fmt.Errorf("%w: WRITE PURSE answered %d bytes", ErrResponse, len(data))
	}
	return nil
}
