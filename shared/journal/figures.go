package journal

import (
	"encoding/binary"
	"fmt"

	"github.com/fanka/fanka/shared/money"
)

// FiguresSize is how much of an entry's encoding ReadFigures needs at
// most: the fields up to the cashier, with the longest card number and
// cashier.
const FiguresSize = 1 + 1 + 1 + 4 + 8 + 8 + 1 + MaxCardNo + 8 + 8 + 1 + MaxCashier

// EntryFigures are what a report needs of an entry.
type EntryFigures struct {
	Kind    Kind
	Seq     uint64
	Time    int64 // the register's, Unix milliseconds
	Amount  money.Fen
	Cashier string
}

// ReadFigures returns an encoded entry's figures, read from their places
// in the encoding without decoding the rest, for reading many stored
// entries fast (a day's report). b may be the whole encoding or its first
// FiguresSize bytes. It checks the version and that the fields are there;
// Unmarshal checks the whole entry.
func ReadFigures(b []byte) (EntryFigures, error) {
	kind, time, amount, err := Figures(b)
	if err != nil {
		return EntryFigures{}, err
	}
	const cardAt = 1 + 1 + 1 + 4 + 8 + 8
	cashierAt := cardAt + 1 + int(b[cardAt]) + 8 + 8
	if len(b) < cashierAt+1 || int(b[cashierAt]) > MaxCashier || len(b) < cashierAt+1+int(b[cashierAt]) {
		return EntryFigures{}, fmt.Errorf("%w: no cashier in %d bytes", ErrMalformed, len(b))
	}
	return EntryFigures{Kind: kind, Seq: binary.BigEndian.Uint64(b[7:15]), Time: time, Amount: amount,
		Cashier: string(b[cashierAt+1 : cashierAt+1+int(b[cashierAt])])}, nil
}

// Figures returns the kind, the register's time (Unix milliseconds) and
// the amount of an encoded entry, as ReadFigures does; b may be shorter,
// ending after the amount.
func Figures(b []byte) (kind Kind, time int64, amount money.Fen, err error) {
	const cardAt = 1 + 1 + 1 + 4 + 8 + 8 // version, kind, flags, terminal, seq, time
	if len(b) < cardAt+1 {
		return 0, 0, 0, fmt.Errorf("%w: %d bytes", ErrMalformed, len(b))
	}
	if b[0] != Version {
		return 0, 0, 0, fmt.Errorf("%w: %d", ErrVersion, b[0])
	}
	n := int(b[cardAt])
	if n > MaxCardNo || len(b) < cardAt+1+n+8 {
		return 0, 0, 0, fmt.Errorf("%w: card number of %d bytes in %d", ErrMalformed, n, len(b))
	}
	time = int64(binary.BigEndian.Uint64(b[cardAt-8 : cardAt]))
	amount = money.Fen(int64(binary.BigEndian.Uint64(b[cardAt+1+n:])))
	return Kind(b[1]), time, amount, nil
}
