package escpos

import (
	"fmt"
	"strings"
	"time"
)

// DailyReport is a canteen's day, as the office prints it at the end of
// the day: sales per register and per meal period, and the day's totals.
// The ledger supplies every number; the report prints them as given.
type DailyReport struct {
	Canteen string
	// Date is the day reported; only its date is printed.
	Date time.Time
	// Printed is when the report was made, printed as it is; zero leaves
	// the line out.
	Printed     time.Time
	Registers   []Line // sales net of voids, per register
	MealPeriods []Line // sales net of voids, per meal period
	Sales       Tally  // all sales, net of voids
	Voids       Tally  // sales voided at the register
	Flagged     Tally  // sales settled but flagged for review
	Recharges   Tally
	Refunds     Tally
	Closes      Tally // cards closed, and what was paid out
}

// ZReport closes a meal period (breakfast, lunch, supper): what each
// register took in it. Z reports are numbered without gaps, so that a
// missing one shows.
type ZReport struct {
	Canteen    string
	MealPeriod string // e.g. "午餐"
	No         uint64 // the Z number, from 1
	// From and To bound the period (To excluded), printed as they are.
	From, To  time.Time
	Printed   time.Time // zero leaves the line out
	Registers []Line    // sales net of voids, per register
	Sales     Tally     // all sales in the period, net of voids
	Voids     Tally
	Flagged   Tally
}

// ShiftReport is a cashier's shift on one register, printed when it ends:
// the range of the register's journal it covers, sales per meal period and
// the shift's totals, and lines for the cashier's and the supervisor's
// signatures.
type ShiftReport struct {
	Canteen    string
	Register   string
	RegisterID uint32
	Cashier    string // may be empty: the line is left out
	// Start and End bound the shift, printed as they are.
	Start, End time.Time
	// FirstSeq and LastSeq are the register's first and last journal
	// entries in the shift; both zero for a shift without one.
	FirstSeq, LastSeq uint64
	Printed           time.Time // zero leaves the line out
	MealPeriods       []Line    // sales net of voids, per meal period
	Sales             Tally     // all sales in the shift, net of voids
	Voids             Tally
	Flagged           Tally
}

// More labels.
const (
	labelDate     = "日期 "
	labelPrinted  = "打印 "
	labelFrom     = "开始 "
	labelTo       = "结束 "
	labelEntries  = "流水 "
	labelZ        = "编号 "
	labelSupervis = "主管 "
)

// Column titles and the names of the totals' rows.
const (
	colRegister   = "窗口"
	colMealPeriod = "餐次"
	colTotal      = "合计"
	rowSales      = "消费合计"
	rowVoids      = "撤销"
	rowFlagged    = "待复核"
	rowRecharges  = "充值"
	rowRefunds    = "退款"
	rowCloses     = "消卡退还"
)

// RenderDailyReport renders r as ESC/POS bytes for a 58 mm printer: the
// canteen large and centred, the title and date, a table of sales per
// register, one per meal period, and the totals; then it feeds and cuts.
// An empty table prints its title and "无" (none).
//
// Text is never refused (see RenderReceipt); a name too wide for its
// column gets a line of its own, and numbers are never cut. The error wraps
// ErrInvalid for a report without a date.
func RenderDailyReport(r DailyReport) ([]byte, error) {
	if r.Date.IsZero() {
		return nil, fmt.Errorf("%w: daily report without a date", ErrInvalid)
	}
	p := newPage()
	p.title(r.Canteen, "营业日报")
	p.line(labelDate + r.Date.Format(time.DateOnly))
	p.printed(r.Printed)
	p.table(colRegister, r.Registers)
	p.table(colMealPeriod, r.MealPeriods)
	p.rule()
	p.tableHead(colTotal)
	p.row(rowSales, r.Sales)
	p.row(rowVoids, r.Voids)
	p.row(rowFlagged, r.Flagged)
	p.row(rowRecharges, r.Recharges)
	p.row(rowRefunds, r.Refunds)
	p.row(rowCloses, r.Closes)
	p.feed(2)
	p.cut()
	return p.bytes()
}

// RenderZReport renders r as ESC/POS bytes for a 58 mm printer: the
// canteen large and centred, the title with the meal period, the Z number
// and the period, a table of sales per register and the totals; then it
// feeds and cuts.
//
// Text is never refused (see RenderDailyReport). The error wraps
// ErrInvalid for a report without a Z number, or a period that is not one
// (a missing time, an end before the start).
func RenderZReport(r ZReport) ([]byte, error) {
	switch {
	case r.No == 0:
		return nil, fmt.Errorf("%w: Z report without a number", ErrInvalid)
	case r.From.IsZero() || r.To.IsZero():
		return nil, fmt.Errorf("%w: Z report without a period", ErrInvalid)
	case r.To.Before(r.From):
		return nil, fmt.Errorf("%w: Z report period ends before it starts", ErrInvalid)
	}
	p := newPage()
	p.title(r.Canteen, "Z报表 "+r.MealPeriod)
	p.line(fmt.Sprintf("%sZ%d", labelZ, r.No))
	p.line(labelFrom + r.From.Format(time.DateTime))
	p.line(labelTo + r.To.Format(time.DateTime))
	p.printed(r.Printed)
	p.table(colRegister, r.Registers)
	p.rule()
	p.tableHead(colTotal)
	p.row(rowSales, r.Sales)
	p.row(rowVoids, r.Voids)
	p.row(rowFlagged, r.Flagged)
	p.feed(2)
	p.cut()
	return p.bytes()
}

// RenderShiftReport renders r as ESC/POS bytes for a 58 mm printer: the
// canteen large and centred, the title, the register and cashier, the
// shift's times and journal range, a table of sales per meal period, the
// totals, and lines for the cashier's and the supervisor's signatures;
// then it feeds and cuts.
//
// Text is never refused (see RenderDailyReport). The error wraps
// ErrInvalid for a report without a register id, a shift that is not one
// (a missing time, an end before the start), or a journal range that is
// not one (a last entry before the first, only one of them zero).
func RenderShiftReport(r ShiftReport) ([]byte, error) {
	switch {
	case r.RegisterID == 0:
		return nil, fmt.Errorf("%w: shift report without a register id", ErrInvalid)
	case r.Start.IsZero() || r.End.IsZero():
		return nil, fmt.Errorf("%w: shift report without a start or an end", ErrInvalid)
	case r.End.Before(r.Start):
		return nil, fmt.Errorf("%w: shift ends before it starts", ErrInvalid)
	case (r.FirstSeq == 0) != (r.LastSeq == 0) || r.LastSeq < r.FirstSeq:
		return nil, fmt.Errorf("%w: shift report of entries %d to %d", ErrInvalid, r.FirstSeq, r.LastSeq)
	}
	p := newPage()
	p.title(r.Canteen, "交班报表")
	p.line(labelRegister + r.Register)
	if r.Cashier != "" {
		p.line(labelCashier + r.Cashier)
	}
	p.line(labelFrom + r.Start.Format(time.DateTime))
	p.line(labelTo + r.End.Format(time.DateTime))
	// The journal range is never cut: one too wide goes on lines of its own.
	entries := "无"
	if r.FirstSeq != 0 {
		entries = fmt.Sprintf("%d-%d 至 %d-%d", r.RegisterID, r.FirstSeq, r.RegisterID, r.LastSeq)
	}
	if fits(p, labelEntries+entries, Columns) {
		p.line(labelEntries + entries)
	} else {
		p.line(strings.TrimSpace(labelEntries))
		p.line(fmt.Sprintf("%d-%d", r.RegisterID, r.FirstSeq))
		p.line("至")
		p.line(fmt.Sprintf("%d-%d", r.RegisterID, r.LastSeq))
	}
	p.printed(r.Printed)
	p.table(colMealPeriod, r.MealPeriods)
	p.rule()
	p.tableHead(colTotal)
	p.row(rowSales, r.Sales)
	p.row(rowVoids, r.Voids)
	p.row(rowFlagged, r.Flagged)
	p.feed(2)
	p.line(labelCashier + underline)
	p.feed(1)
	p.line(labelSupervis + underline)
	p.feed(2)
	p.cut()
	return p.bytes()
}

// title writes the canteen large and centred, then the document's title in
// bold, and leaves the page left-aligned at 1×1.
func (p *page) title(canteen, title string) {
	p.align(alignCenter)
	p.size(2, 2)
	p.line(canteen)
	p.size(1, 1)
	p.bold(true)
	p.line(title)
	p.bold(false)
	p.align(alignLeft)
}

// printed writes when the document was made, unless t is zero.
func (p *page) printed(t time.Time) {
	if !t.IsZero() {
		p.line(labelPrinted + t.Format(time.DateTime))
	}
}

// table writes a rule, the column titles (name the first), and a row per
// line; "无" (none) if there are none.
func (p *page) table(name string, lines []Line) {
	p.rule()
	p.tableHead(name)
	if len(lines) == 0 {
		p.line("无")
		return
	}
	for _, l := range lines {
		p.row(l.Name, l.Tally)
	}
}
