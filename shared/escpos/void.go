package escpos

import (
	"fmt"
	"strings"
	"time"

	"github.com/fanka/fanka/shared/money"
)

// VoidSlip is what a register prints when a supervisor voids its last
// sale: the diner sees the money back on the card, and the office can
// match the slip with the sale's receipt by the sale's number and
// verification code.
type VoidSlip struct {
	Canteen  string // printed large and centred
	Register string // the register's name, e.g. "二号窗口"
	// Cashier is who made the sale voided; Supervisor who voided it. Either
	// may be empty: its line is left out.
	Cashier, Supervisor string
	// Time is the void's, printed as it is, in its own location: give it
	// in the canteen's time zone.
	Time   time.Time
	CardNo string    // printed masked: 04A1******E5F6
	Amount money.Fen // given back to the card: the sale's amount
	// Balance is the card's balance after the void.
	Balance    money.Fen
	RegisterID uint32
	// Seq and EntryHash are the void's own journal entry: its number and
	// verification code.
	Seq       uint64
	EntryHash [32]byte
	// SaleSeq and SaleHash are the voided sale's entry: the number and
	// verification code its receipt carries.
	SaleSeq  uint64
	SaleHash [32]byte
}

// Labels of the void slip.
const (
	voidTitle      = "作废 VOID"
	labelReturned  = "退还 "
	labelSale      = "原单 "
	labelSaleCode  = "原单校验 "
	voidSlipCaveat = "原消费已撤销"
)

// RenderVoidSlip renders s as ESC/POS bytes for a 58 mm printer: the
// canteen large and centred, 作废 VOID in bold, the register, the sale's
// cashier and the supervisor, the time, the masked card number, the amount
// given back and the balance after it, the voided sale's number and
// verification code, then the void's own; then it feeds and cuts.
//
// Text is never refused (see RenderReceipt). The error wraps ErrInvalid
// if s has no time, register id, sequence number or voided sale, or voids
// a sale that does not come before it.
func RenderVoidSlip(s VoidSlip) ([]byte, error) {
	switch {
	case s.Time.IsZero():
		return nil, fmt.Errorf("%w: void slip without a time", ErrInvalid)
	case s.RegisterID == 0:
		return nil, fmt.Errorf("%w: void slip without a register id", ErrInvalid)
	case s.Seq == 0 || s.SaleSeq == 0:
		return nil, fmt.Errorf("%w: void slip without a sequence number", ErrInvalid)
	case s.SaleSeq >= s.Seq:
		return nil, fmt.Errorf("%w: void %d of a later sale %d", ErrInvalid, s.Seq, s.SaleSeq)
	}
	p := newPage()
	p.title(s.Canteen, voidTitle)
	p.line(labelRegister + s.Register)
	if s.Cashier != "" {
		p.line(labelCashier + s.Cashier)
	}
	if s.Supervisor != "" {
		p.line(labelSupervis + s.Supervisor)
	}
	p.line(labelTime + s.Time.Format(time.DateTime))
	p.line(labelCard + maskCardNo(s.CardNo, Columns-labelColumns))
	p.rule()
	p.line(labelReturned + yuan(s.Amount))
	p.line(labelBalance + yuan(s.Balance))
	p.rule()
	p.entry(labelSale, labelSaleCode, s.RegisterID, s.SaleSeq, s.SaleHash)
	p.line(voidSlipCaveat)
	p.entry(labelNumber, labelCode, s.RegisterID, s.Seq, s.EntryHash)
	p.feed(2)
	p.cut()
	return p.bytes()
}

// entry writes label and the entry number register-seq, never cut (one
// too wide goes on a line of its own), then codeLabel and the entry's
// verification code, the first 4 bytes of its hash h.
func (p *page) entry(label, codeLabel string, register uint32, seq uint64, h [32]byte) {
	no := fmt.Sprintf("%d-%d", register, seq)
	if fits(p, label+no, Columns) {
		p.line(label + no)
	} else {
		p.line(strings.TrimSpace(label))
		p.line(no)
	}
	p.line(fmt.Sprintf("%s%X", codeLabel, h[:4]))
}
