package escpos

import (
	"fmt"
	"strings"
	"time"

	"github.com/fanka/fanka/shared/money"
)

// SlipKind says which office operation a slip records.
type SlipKind int

// Slip kinds.
const (
	// Recharge: cash paid in at the office and credited to the card.
	Recharge SlipKind = iota + 1
	// Refund: money given back to the card from the canteen's revenue.
	Refund
	// CloseCard (消卡): the card closed and the rest paid out in cash.
	CloseCard
)

// Slip is what the office prints for a diner after a recharge, a refund or
// closing a card: the diner takes one and, for a refund or a closed card,
// signs another for the office.
type Slip struct {
	Kind     SlipKind
	Canteen  string // printed large and centred
	Office   string // where it was done, e.g. "管理中心"; may be empty
	Operator string // the office user; may be empty
	// Time is printed as it is, in its own location: give it in the
	// canteen's time zone.
	Time   time.Time
	CardNo string // printed masked: 04A1******E5F6
	// Name is the card holder's; printed with all but its first character
	// masked (王**). May be empty.
	Name string
	// Amount is what the operation moved: recharged, refunded or paid out.
	Amount  money.Fen
	Balance money.Fen // the card's balance after it
	// TxID is the ledger transaction's id, printed as the slip's number.
	TxID int64
}

// slipText is what a slip says for each kind: its title, the label of its
// amount, and whether the diner signs.
var slipText = map[SlipKind]struct {
	title, amount string
	sign          bool
}{
	Recharge:  {"充值凭证", "充值 ", false},
	Refund:    {"退款凭证", "退款 ", true},
	CloseCard: {"消卡凭证", "退还 ", true},
}

// More labels, as wide as the receipt's.
const (
	labelOffice   = "地点 "
	labelOperator = "经办 "
	labelName     = "姓名 "
	labelSign     = "签字 "
)

// underline is the space left for a signature after a label.
var underline = strings.Repeat("_", Columns-labelColumns)

// RenderSlip renders s as ESC/POS bytes for a 58 mm printer: the canteen
// large and centred, the slip's title, where and by whom, the time, the
// masked card number and holder, the amount and the balance after it, the
// slip number (the ledger transaction), and for a refund or a closed card
// a line for the diner's signature; then it feeds and cuts.
//
// Text is never refused (see RenderReceipt). The error wraps ErrInvalid
// for an unknown kind, or a slip without a time or a transaction id.
func RenderSlip(s Slip) ([]byte, error) {
	text, ok := slipText[s.Kind]
	switch {
	case !ok:
		return nil, fmt.Errorf("%w: slip of kind %d", ErrInvalid, s.Kind)
	case s.Time.IsZero():
		return nil, fmt.Errorf("%w: slip without a time", ErrInvalid)
	case s.TxID <= 0:
		return nil, fmt.Errorf("%w: slip with transaction id %d", ErrInvalid, s.TxID)
	}
	p := newPage()
	p.title(s.Canteen, text.title)
	if s.Office != "" {
		p.line(labelOffice + s.Office)
	}
	if s.Operator != "" {
		p.line(labelOperator + s.Operator)
	}
	p.line(labelTime + s.Time.Format(time.DateTime))
	p.line(labelCard + maskCardNo(s.CardNo, Columns-labelColumns))
	if s.Name != "" {
		p.line(labelName + maskName(s.Name))
	}
	p.rule()
	p.line(text.amount + yuan(s.Amount))
	p.line(labelBalance + yuan(s.Balance))
	p.rule()
	p.line(fmt.Sprintf("%s%d", labelNumber, s.TxID))
	if text.sign {
		p.feed(2)
		p.line(labelSign + underline)
	}
	p.feed(2)
	p.cut()
	return p.bytes()
}

// maskName keeps the first character of a name and masks the others with
// '*', one for each.
func maskName(name string) string {
	var b strings.Builder
	for i, r := range []rune(name) {
		if i == 0 {
			b.WriteRune(r)
		} else {
			b.WriteByte('*')
		}
	}
	return b.String()
}
