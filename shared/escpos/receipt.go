package escpos

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/fanka/fanka/shared/money"
)

// ErrInvalid is returned for a document that cannot be printed as asked:
// a receipt without a time, a register id or a sequence number.
var ErrInvalid = errors.New("escpos: invalid document")

// Receipt is the slip a diner may take after a sale.
type Receipt struct {
	Canteen  string // printed large and centred
	Register string // the register's name, e.g. "二号窗口"
	Cashier  string // may be empty: the line is left out
	// Time is printed as it is, in its own location: give it in the
	// canteen's time zone.
	Time       time.Time
	CardNo     string    // printed masked: 04A1******E5F6
	Amount     money.Fen // paid; zero and negative amounts print too
	Balance    money.Fen // after the sale; negative is an overdraft
	Seq        uint64    // the sale's journal sequence number on its register
	RegisterID uint32
	// EntryHash is the SHA-256 of the sale's journal entry; its first four
	// bytes are printed as a verification code the office can look up.
	EntryHash [32]byte
}

// Labels, two Chinese characters each so the values line up.
const (
	labelRegister = "窗口 "
	labelCashier  = "收银 "
	labelTime     = "时间 "
	labelCard     = "卡号 "
	labelAmount   = "消费 "
	labelBalance  = "余额 "
	labelNumber   = "单号 "
	labelCode     = "校验 "
	labelColumns  = 5
)

// RenderReceipt renders r as ESC/POS bytes for a 58 mm printer: the canteen
// large and centred, the register, cashier, time and masked card number, the
// amount and the balance after it, the receipt number (register id and
// sequence number) and a verification code; then it feeds and cuts.
//
// Text is never refused: characters the printer cannot show become '?' and
// text wider than the paper is cut and ends in "…". The error wraps
// ErrInvalid if r has no time, register id or sequence number.
func RenderReceipt(r Receipt) ([]byte, error) {
	switch {
	case r.Time.IsZero():
		return nil, fmt.Errorf("%w: receipt without a time", ErrInvalid)
	case r.RegisterID == 0:
		return nil, fmt.Errorf("%w: receipt without a register id", ErrInvalid)
	case r.Seq == 0:
		return nil, fmt.Errorf("%w: receipt without a sequence number", ErrInvalid)
	}
	p := newPage()
	p.align(alignCenter)
	p.size(2, 2)
	p.line(r.Canteen)
	p.size(1, 1)
	p.align(alignLeft)
	p.line(labelRegister + r.Register)
	if r.Cashier != "" {
		p.line(labelCashier + r.Cashier)
	}
	p.line(labelTime + r.Time.Format(time.DateTime))
	p.line(labelCard + maskCardNo(r.CardNo, Columns-labelColumns))
	p.rule()
	p.line(labelAmount + yuan(r.Amount))
	p.line(labelBalance + yuan(r.Balance))
	p.rule()
	p.entry(labelNumber, labelCode, r.RegisterID, r.Seq, r.EntryHash)
	p.feed(2)
	p.cut()
	return p.bytes()
}

// yuan formats f with the full-width yuan sign, which GBK has (U+00A5 ¥ it
// has not): "￥12.50", "-￥1.50".
func yuan(f money.Fen) string {
	s := f.String()
	if rest, neg := strings.CutPrefix(s, "-"); neg {
		return "-￥" + rest
	}
	return "￥" + s
}

// maskCardNo shows the first four and last four characters of a card number
// and stars for the rest, at most cols wide; a number of 5 to 8 characters
// shows only its last four, a shorter one all of it. Anything but 0-9 and
// A-Z (lower case is raised) becomes '?'.
func maskCardNo(s string, cols int) string {
	no := make([]byte, 0, len(s))
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9', r >= 'A' && r <= 'Z':
			no = append(no, byte(r))
		case r >= 'a' && r <= 'z':
			no = append(no, byte(r-'a'+'A'))
		default:
			no = append(no, '?')
		}
	}
	switch n := len(no); {
	case n <= 4:
		return string(no)
	case n <= 8:
		return strings.Repeat("*", n-4) + string(no[n-4:])
	default:
		stars := min(n-8, cols-8)
		return string(no[:4]) + strings.Repeat("*", stars) + string(no[n-4:])
	}
}
