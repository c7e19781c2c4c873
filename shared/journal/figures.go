package journal

import (
	"encoding/binary"
	"fmt"

	"github.com/fanka/fanka/shared/money"
)

// FiguresSize is how much of an entry's encoding Figures needs at most:
// the fields up to the amount, with the longest card number.
const FiguresSize = 1 + 1 + 1 + 4 + 8 + 8 + 1 + MaxCardNo + 8

// Figures returns the kind, the register's time (Unix milliseconds) and
// the amount of an encoded entry, read from their places in the encoding without
// decoding the rest, for reading many stored entries fast (a day's
// report). b may be the whole encoding or its first FiguresSize bytes. It
// checks the version and that the fields are there; Unmarshal checks the
// whole entry.
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
