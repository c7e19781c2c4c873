package journal

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/fanka/fanka/shared/money"
	"github.com/fanka/fanka/shared/wire"
)

// The card cache holds up to millions of cards (DESIGN §10: a register's
// resident memory stays within 64 MiB with 1,000,000 of them), so each is
// stored compactly, under its card number:
//
//	0xC2                 the record format
//	uvarint  Version
//	u8       Status
//	varint   Balance (fen)
//	varint   Day
//	uvarint  TodayCount
//	uvarint  len(Name), Name
//
// Records written before this format are one-card wire.Cards frames
// (starting with wire.Version, 1); they are still read.
const cardFormat = 0xC2

// errCard is wrapped by errors about stored card records.
var errCard = errors.New("journal: stored card malformed")

// encodeCard returns c's record.
func encodeCard(c *wire.Card) []byte {
	b := make([]byte, 0, 1+4*binary.MaxVarintLen64+1+binary.MaxVarintLen16+1+len(c.Name))
	b = append(b, cardFormat)
	b = binary.AppendUvarint(b, c.Version)
	b = append(b, byte(c.Status))
	b = binary.AppendVarint(b, int64(c.Balance))
	b = binary.AppendVarint(b, int64(c.Day))
	b = binary.AppendUvarint(b, uint64(c.TodayCount))
	b = binary.AppendUvarint(b, uint64(len(c.Name)))
	return append(b, c.Name...)
}

// decodeCard reads the record b of card cardNo into c.
func decodeCard(cardNo string, b []byte, c *wire.Card) error {
	if len(b) == 0 {
		return fmt.Errorf("%w: card %q: empty", errCard, cardNo)
	}
	if b[0] != cardFormat {
		return decodeWireCard(cardNo, b, c)
	}
	r := cardReader{b: b[1:]}
	*c = wire.Card{CardNo: cardNo}
	c.Version = r.uvarint(^uint64(0))
	c.Status = wire.CardStatus(r.byte())
	c.Balance = money.Fen(r.varint())
	c.Day = int32(r.varint())
	c.TodayCount = uint16(r.uvarint(0xFFFF))
	n := r.uvarint(wire.MaxName)
	c.Name = string(r.take(int(n)))
	if r.err || len(r.b) != 0 || c.Status < wire.CardActive || c.Status > wire.CardClosed {
		return fmt.Errorf("%w: card %q: % X", errCard, cardNo, b)
	}
	return nil
}

// cardReader reads a card record's fields; after the first fault, err is
// set and every read returns zero.
type cardReader struct {
	b   []byte
	err bool
}

func (r *cardReader) byte() byte {
	if r.err || len(r.b) == 0 {
		r.err = true
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *cardReader) uvarint(max uint64) uint64 {
	v, n := binary.Uvarint(r.b)
	if r.err || n <= 0 || v > max {
		r.err = true
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *cardReader) varint() int64 {
	v, n := binary.Varint(r.b)
	if r.err || n <= 0 {
		r.err = true
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *cardReader) take(n int) []byte {
	if r.err || n > len(r.b) {
		r.err = true
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

// decodeWireCard reads a record of the first format: a one-card
// wire.Cards frame.
func decodeWireCard(cardNo string, b []byte, c *wire.Card) error {
	m, err := wire.Decode(b)
	if err != nil {
		return fmt.Errorf("%w: card %q: %w", errCard, cardNo, err)
	}
	cs, ok := m.(*wire.Cards)
	if !ok || len(cs.Cards) != 1 || cs.Cards[0].CardNo != cardNo {
		return fmt.Errorf("%w: card %q: unexpected %T", errCard, cardNo, m)
	}
	*c = cs.Cards[0]
	return nil
}
