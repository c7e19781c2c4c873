package server

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/fanka/fanka/shared/journal"
	"github.com/fanka/fanka/shared/money"
)

// The read side of the ledger: what the office page shows of the sales,
// the registers and the days, and the interfaces the stores implement for
// it. Nothing here writes the ledger.

// Bounds on the read side's queries.
const (
	// MaxSalesPage bounds the sales one call of Sales returns.
	MaxSalesPage = 1000
	// MaxSalesIn bounds the ids one call of SalesIn asks about.
	MaxSalesIn = 1000
)

// Sale is a settled register entry that posted money: a sale, or a void
// that reversed one. Its ID is its ledger transaction's, which rises in
// the order the transactions were begun; on a MySQL-compatible store a
// transaction may commit after one with a higher id (see SaleStore).
type Sale struct {
	ID       int64     `json:"id"`
	Terminal uint32    `json:"terminal_id"`
	Seq      uint64    `json:"seq"`
	CardNo   string    `json:"card_no"`
	Amount   money.Fen `json:"amount"`  // > 0: paid (sale) or given back (void)
	Outcome  string    `json:"outcome"` // wire.Outcome's text: settled, settled-overdraft, flagged
	Note     string    `json:"note"`    // why it was flagged
	Kind     TxKind    `json:"kind"`    // TxSale or TxVoid
	Time     time.Time `json:"time"`    // when it counts as made: see SaleTime
	Day      string    `json:"day"`     // the day it counts on, YYYY-MM-DD
}

// DayDate returns the date a day number (see Day) names, as YYYY-MM-DD.
func DayDate(day int32) string {
	return time.Unix(int64(day)*86400, 0).UTC().Format(time.DateOnly)
}

// NewSale returns the Sale of a settled entry: raw is its stored encoding,
// id, kind and settled its transaction's, day the day it counts on,
// outcome and note as stored with it, loc the server's location.
func NewSale(id int64, kind TxKind, raw []byte, settled time.Time, day int32, outcome, note string, loc *time.Location) (Sale, error) {
	e, err := journal.Unmarshal(raw)
	if err != nil {
		return Sale{}, fmt.Errorf("sale %d: stored entry: %w", id, err)
	}
	return Sale{
		ID: id, Terminal: e.Terminal, Seq: e.Seq, CardNo: e.CardNo, Amount: e.Amount,
		Outcome: outcome, Note: note, Kind: kind,
		Time: SaleTime(e.Time, settled).In(loc), Day: DayDate(day),
	}, nil
}

// SaleStore reads the settled sales in the order of their ids, for the
// office's sales list and its live feed.
type SaleStore interface {
	// Sales returns at most limit (1 to MaxSalesPage) sales and voids with
	// an id above since, in id order, as committed when it is called.
	// EINVALID for a limit out of range or a negative since.
	//
	// On a MySQL-compatible store, ids are taken when a transaction
	// inserts its row and several servers commit at once: a sale may
	// become visible after one with a higher id. A reader that must not
	// miss it keeps the ids it skipped and asks SalesIn about them.
	Sales(ctx context.Context, since int64, limit int) ([]Sale, error)
	// SalesIn returns what became of the ledger transactions ids (at most
	// MaxSalesIn): a Sale for each committed sale or void among them, and
	// for each committed transaction of another kind a Sale with only ID
	// and Kind set, in id order. Ids not committed are left out.
	SalesIn(ctx context.Context, ids []int64) ([]Sale, error)
	// LastTransactionID returns the highest ledger transaction id
	// committed, 0 for an empty ledger.
	LastTransactionID(ctx context.Context) (int64, error)
}

// TerminalLister lists the registers.
type TerminalLister interface {
	// Terminals returns every register, in id order.
	Terminals(ctx context.Context) ([]Terminal, error)
}

// OtherPeriod names the time outside every meal period in a report.
const OtherPeriod = "other"

// ValidateMealPeriods checks the meal periods a report totals by, as
// Rules.Validate does, and that none is named OtherPeriod. EINVALID with
// the first problem.
func ValidateMealPeriods(periods []MealPeriod) error {
	for _, p := range periods {
		if p.Name == OtherPeriod {
			return Errorf(EINVALID, "meal period %q: the name is the report's for sales outside every period", p.Name)
		}
	}
	return Rules{Periods: periods}.Validate()
}

// DailyQuery asks for one day's report.
type DailyQuery struct {
	// Date is the day, any time on it, in the location whose days count
	// (the server's: see Day).
	Date time.Time
	// Periods are the meal periods to total by; nil: those of
	// DefaultRules.
	Periods []MealPeriod
}

// Day returns the day number of the query's date.
func (q DailyQuery) Day() int32 { return Day(q.Date) }

// Bounds returns the first instant of the query's day and the first of the
// next, in its location.
func (q DailyQuery) Bounds() (start, end time.Time) {
	y, m, d := q.Date.Date()
	loc := q.Date.Location()
	return time.Date(y, m, d, 0, 0, 0, 0, loc), time.Date(y, m, d+1, 0, 0, 0, 0, loc)
}

// DailyReport is one day's takings. Sales count sales net of voids (as a
// card's daily count does) and Amount is net of voids; a void counts on
// the day, hour, minute and period of its own time, against the register
// and cashier that made it. A sale's meal period is found from its time
// with the periods the report is asked with (the rules' as they are now):
// it is not stored with the sale.
type DailyReport struct {
	Date           string          `json:"date"` // YYYY-MM-DD
	Totals                         // the day's sales, voids and flagged sales
	Refunds        int64           `json:"refunds"`       // office refunds made that day
	RefundAmount   money.Fen       `json:"refund_amount"` // what they paid back
	Recharges      int64           `json:"recharges"`     // office recharges made that day
	RechargeAmount money.Fen       `json:"recharge_amount"`
	Closes         int64           `json:"closes"`       // cards closed that day
	CloseAmount    money.Fen       `json:"close_amount"` // what was paid out
	ByRegister     []RegisterTotal `json:"by_register"`  // registers with a sale or void, in id order
	// ByCanteen totals ByRegister by the canteen each register sells for
	// now, in canteen id order (a register moved during the day counts
	// its day with its new canteen; the ledger keeps each sale with the
	// canteen it was made for: see GET /api/v1/canteens).
	ByCanteen []CanteenTotal `json:"by_canteen"`
	ByPeriod  []PeriodTotal  `json:"by_period"` // every meal period, in order, then "other"
	ByHour    []HourTotal    `json:"by_hour"`   // the 24 hours of the day
	// ByMinute is the 1440 minutes of the day, 0 the one from 00:00; the
	// API serves it on its own (GET /api/v1/reports/minutes).
	ByMinute []MinuteTotal `json:"-"`
}

// RegisterTotal is a register's part of a day.
type RegisterTotal struct {
	Terminal uint32 `json:"terminal_id"`
	Name     string `json:"name"`
	// Canteen and CanteenName: the canteen the register sells for now.
	Canteen     int64  `json:"canteen_id"`
	CanteenName string `json:"canteen"`
	Totals
	// FirstSeq and LastSeq are the register's first and last journal
	// entries counted on the day.
	FirstSeq  uint64         `json:"first_seq"`
	LastSeq   uint64         `json:"last_seq"`
	ByPeriod  []PeriodTotal  `json:"by_period"`  // as the report's ByPeriod
	ByCashier []CashierTotal `json:"by_cashier"` // the cashiers the entries name, in order of their ids ("": none signed in)
}

// PeriodTotal is a meal period's part of a day: its sales net of voids,
// and the voids and flagged sales among them.
type PeriodTotal struct {
	Period string `json:"period"`
	Totals
}

// Totals are sales net of voids (Sales; Amount their takings, net), the
// voids and the sales flagged for review, with their amounts: a day's,
// a register's, a meal period's or a canteen's.
type Totals struct {
	Sales         int64     `json:"sales"`
	Amount        money.Fen `json:"amount"`
	Voids         int64     `json:"voids"`
	VoidAmount    money.Fen `json:"void_amount"`
	Flagged       int64     `json:"flagged"`
	FlaggedAmount money.Fen `json:"flagged_amount"`
}

// count counts the sale or void c.
func (t *Totals) count(c Counted) {
	if c.Void {
		t.Sales--
		t.Amount -= c.Amount
		t.Voids++
		t.VoidAmount += c.Amount
		return
	}
	t.Sales++
	t.Amount += c.Amount
	if c.Flagged {
		t.Flagged++
		t.FlaggedAmount += c.Amount
	}
}

// merge adds o to t.
func (t *Totals) merge(o Totals) {
	t.Sales += o.Sales
	t.Amount += o.Amount
	t.Voids += o.Voids
	t.VoidAmount += o.VoidAmount
	t.Flagged += o.Flagged
	t.FlaggedAmount += o.FlaggedAmount
}

// CanteenTotal is a canteen's part of a day: its registers' totals.
type CanteenTotal struct {
	Canteen   int64  `json:"canteen_id"`
	Name      string `json:"name"`
	Registers int    `json:"registers"` // its registers with a sale or void
	Totals
}

// ReportRegister is what a report shows of a register beside its totals.
type ReportRegister struct {
	Name        string
	Canteen     int64
	CanteenName string
}

// CashierTotal is a cashier's part of a register's day.
type CashierTotal struct {
	Cashier string    `json:"cashier"`
	Sales   int64     `json:"sales"`
	Amount  money.Fen `json:"amount"`
}

// HourTotal is an hour's part of a day.
type HourTotal struct {
	Hour   int       `json:"hour"` // 0 to 23, local time
	Sales  int64     `json:"sales"`
	Amount money.Fen `json:"amount"`
}

// MinuteTotal is a minute's part of a day.
type MinuteTotal struct {
	Sales  int64     `json:"sales"`
	Amount money.Fen `json:"amount"`
}

// ReportStore totals the ledger for the office.
type ReportStore interface {
	// DailyReport returns the report of q's day: its sales and voids (those
	// whose Day is the day, so an offline sale settled later counts on the
	// day it was made), its office recharges, refunds and closes (by when
	// they were made), the names of its registers. It reads only the day's
	// rows. EINVALID for meal periods that ValidateMealPeriods refuses.
	DailyReport(ctx context.Context, q DailyQuery) (DailyReport, error)
}

// DailyTally adds up a day's sales into its report. Stores feed it the
// day's rows; it needs no database.
type DailyTally struct {
	loc      *time.Location
	periods  Rules // their Periods
	report   DailyReport
	register map[uint32]int // index in report.ByRegister
	cashier  []map[string]int
}

// NewDailyTally returns an empty tally for q, which must have passed
// ValidateMealPeriods (nil periods: the defaults).
func NewDailyTally(q DailyQuery) *DailyTally {
	periods := q.Periods
	if periods == nil {
		periods = DefaultRules().Periods
	}
	t := &DailyTally{loc: q.Date.Location(), periods: Rules{Periods: periods}, register: map[uint32]int{}}
	t.report.Date = q.Date.Format(time.DateOnly)
	t.report.ByRegister = []RegisterTotal{}
	t.report.ByPeriod = t.newPeriods()
	for h := range 24 {
		t.report.ByHour = append(t.report.ByHour, HourTotal{Hour: h})
	}
	t.report.ByMinute = make([]MinuteTotal, 24*60)
	return t
}

// newPeriods returns a zero total of every period, then of "other".
func (t *DailyTally) newPeriods() []PeriodTotal {
	out := make([]PeriodTotal, 0, len(t.periods.Periods)+1)
	for _, p := range t.periods.Periods {
		out = append(out, PeriodTotal{Period: p.Name})
	}
	return append(out, PeriodTotal{Period: OtherPeriod})
}

// registerAt returns register terminal's total, added if it has none.
func (t *DailyTally) registerAt(terminal uint32) *RegisterTotal {
	i, ok := t.register[terminal]
	if !ok {
		i = len(t.report.ByRegister)
		t.register[terminal] = i
		t.report.ByRegister = append(t.report.ByRegister, RegisterTotal{Terminal: terminal, ByPeriod: t.newPeriods(), ByCashier: []CashierTotal{}})
		t.cashier = append(t.cashier, map[string]int{})
	}
	return &t.report.ByRegister[i]
}

// cashierAt returns the total of cashier on register reg (an index in
// ByRegister), added if it has none.
func (t *DailyTally) cashierAt(reg int, cashier string) *CashierTotal {
	r := &t.report.ByRegister[reg]
	i, ok := t.cashier[reg][cashier]
	if !ok {
		i = len(r.ByCashier)
		t.cashier[reg][cashier] = i
		r.ByCashier = append(r.ByCashier, CashierTotal{Cashier: cashier})
	}
	return &r.ByCashier[i]
}

// Counted is a sale or void as a tally counts it.
type Counted struct {
	Terminal uint32
	Seq      uint64
	Void     bool
	Flagged  bool // settled, flagged for review
	Amount   money.Fen
	At       time.Time // when it counts as made (see SaleTime)
	Cashier  string
}

// Add counts a sale (void false) or a void of amount, made at the time at
// register terminal.
func (t *DailyTally) Add(terminal uint32, void bool, amount money.Fen, at time.Time) {
	t.Count(Counted{Terminal: terminal, Void: void, Amount: amount, At: at})
}

// Count counts c.
func (t *DailyTally) Count(c Counted) {
	n, a := int64(1), c.Amount
	if c.Void {
		n, a = -1, -c.Amount
	}
	t.report.count(c)
	reg := t.registerAt(c.Terminal)
	reg.count(c)
	if c.Seq != 0 {
		if reg.FirstSeq == 0 || c.Seq < reg.FirstSeq {
			reg.FirstSeq = c.Seq
		}
		reg.LastSeq = max(reg.LastSeq, c.Seq)
	}
	cashier := t.cashierAt(t.register[c.Terminal], c.Cashier)
	cashier.Sales += n
	cashier.Amount += a

	at := c.At.In(t.loc)
	h := at.Hour()
	t.report.ByHour[h].Sales += n
	t.report.ByHour[h].Amount += a
	m := h*60 + at.Minute()
	t.report.ByMinute[m].Sales += n
	t.report.ByMinute[m].Amount += a
	p := t.periods.Period(at) - 1
	if p < 0 {
		p = len(t.periods.Periods) // other
	}
	t.report.ByPeriod[p].count(c)
	reg.ByPeriod[p].count(c)
}

// Office kinds of transaction a day's report totals.
var reportOfficeKinds = []TxKind{TxRecharge, TxRefund, TxClose}

// ReportOfficeKinds returns the kinds of office transaction a day's
// report totals: recharges, refunds and closes.
func ReportOfficeKinds() []TxKind { return slices.Clone(reportOfficeKinds) }

// AddOffice counts n office transactions of kind (a recharge, refund or
// close) moving amount in all; other kinds are not counted.
func (t *DailyTally) AddOffice(kind TxKind, n int64, amount money.Fen) {
	switch kind {
	case TxRecharge:
		t.report.Recharges += n
		t.report.RechargeAmount += amount
	case TxRefund:
		t.report.Refunds += n
		t.report.RefundAmount += amount
	case TxClose:
		t.report.Closes += n
		t.report.CloseAmount += amount
	}
}

// AddRefunds counts n office refunds paying back amount in all.
func (t *DailyTally) AddRefunds(n int64, amount money.Fen) { t.AddOffice(TxRefund, n, amount) }

// Report returns the report, with the registers named as registers says
// and put in id order, each one's cashiers in order of their ids, and
// totalled by canteen.
func (t *DailyTally) Report(registers map[uint32]ReportRegister) DailyReport {
	r := t.report
	regs := make([]RegisterTotal, len(r.ByRegister))
	copy(regs, r.ByRegister)
	canteens := map[int64]*CanteenTotal{}
	for i := range regs {
		info := registers[regs[i].Terminal]
		regs[i].Name, regs[i].Canteen, regs[i].CanteenName = info.Name, info.Canteen, info.CanteenName
		c := canteens[info.Canteen]
		if c == nil {
			c = &CanteenTotal{Canteen: info.Canteen, Name: info.CanteenName}
			canteens[info.Canteen] = c
		}
		c.Registers++
		c.merge(regs[i].Totals)
		regs[i].ByPeriod = slices.Clone(regs[i].ByPeriod)
		regs[i].ByCashier = slices.Clone(regs[i].ByCashier)
		slices.SortFunc(regs[i].ByCashier, func(a, b CashierTotal) int { return cmp.Compare(a.Cashier, b.Cashier) })
	}
	slices.SortFunc(regs, func(a, b RegisterTotal) int { return cmp.Compare(a.Terminal, b.Terminal) })
	r.ByRegister = regs
	r.ByCanteen = make([]CanteenTotal, 0, len(canteens))
	for _, c := range canteens {
		r.ByCanteen = append(r.ByCanteen, *c)
	}
	slices.SortFunc(r.ByCanteen, func(a, b CanteenTotal) int { return cmp.Compare(a.Canteen, b.Canteen) })
	r.ByPeriod = slices.Clone(r.ByPeriod)
	r.ByHour = slices.Clone(r.ByHour)
	r.ByMinute = slices.Clone(r.ByMinute)
	return r
}

// ValidateSalesPage checks the arguments of SaleStore.Sales.
func ValidateSalesPage(since int64, limit int) error {
	switch {
	case since < 0:
		return Errorf(EINVALID, "since_id %d: want 0 or more", since)
	case limit < 1 || limit > MaxSalesPage:
		return Errorf(EINVALID, "limit %d: want 1 to %d", limit, MaxSalesPage)
	}
	return nil
}

// DayEntry is a sale or void of a day as a store finds it in its index of
// the day: which register entry it is, and when it settled.
type DayEntry struct {
	Terminal uint32
	Seq      uint64
	Void     bool
	Settled  time.Time
}

// EntryRun is one register's entries of a day, in seq order: a store
// reads their stored entries from From to To, a range of the entries'
// primary key, rather than one by one.
type EntryRun struct {
	Terminal uint32
	From, To uint64
	Entries  []DayEntry
}

// Dense reports whether reading the range From to To reads few entries
// besides the run's own (at most as many again, and 1000): a register's
// entries of a day follow one another, but for sales made offline and
// settled on a later day.
func (r EntryRun) Dense() bool {
	return r.To-r.From+1 <= 2*uint64(len(r.Entries))+1000
}

// EntryRuns cuts a day's entries, in (terminal, seq) order, into one run
// per register.
func EntryRuns(day []DayEntry) []EntryRun {
	var runs []EntryRun
	for i := 0; i < len(day); {
		j := i
		for j < len(day) && day[j].Terminal == day[i].Terminal {
			j++
		}
		runs = append(runs, EntryRun{Terminal: day[i].Terminal, From: day[i].Seq, To: day[j-1].Seq, Entries: day[i:j]})
		i = j
	}
	return runs
}

// AddEntry counts the day's entry e, whose stored encoding, or its first
// journal.FiguresSize bytes, is raw; flagged if it settled flagged for
// review.
func (t *DailyTally) AddEntry(e DayEntry, raw []byte, flagged bool) error {
	f, err := journal.ReadFigures(raw)
	if err != nil {
		return fmt.Errorf("entry %d/%d: %w", e.Terminal, e.Seq, err)
	}
	t.Count(Counted{Terminal: e.Terminal, Seq: e.Seq, Void: e.Void, Flagged: flagged, Amount: f.Amount,
		At: SaleTime(f.Time, e.Settled), Cashier: f.Cashier})
	return nil
}

// AddFigures counts an entry of register terminal known to be the day's,
// a sale or a void as its encoding says, settled at settled, flagged for
// review or not; raw is its stored encoding, or its first
// journal.FiguresSize bytes.
func (t *DailyTally) AddFigures(terminal uint32, raw []byte, settled time.Time, flagged bool) error {
	f, err := journal.ReadFigures(raw)
	if err != nil {
		return fmt.Errorf("entry of register %d: %w", terminal, err)
	}
	if f.Kind != journal.KindSale && f.Kind != journal.KindVoid {
		return fmt.Errorf("entry of register %d: %w: kind %v", terminal, journal.ErrInvalid, f.Kind)
	}
	t.Count(Counted{Terminal: terminal, Seq: f.Seq, Void: f.Kind == journal.KindVoid, Flagged: flagged, Amount: f.Amount,
		At: SaleTime(f.Time, settled), Cashier: f.Cashier})
	return nil
}

// Merge adds what o counted, a tally of the same query, to t.
func (t *DailyTally) Merge(o *DailyTally) {
	r := &t.report
	r.merge(o.report.Totals)
	r.Refunds += o.report.Refunds
	r.RefundAmount += o.report.RefundAmount
	r.Recharges += o.report.Recharges
	r.RechargeAmount += o.report.RechargeAmount
	r.Closes += o.report.Closes
	r.CloseAmount += o.report.CloseAmount
	for _, reg := range o.report.ByRegister {
		mine := t.registerAt(reg.Terminal)
		mine.merge(reg.Totals)
		if reg.FirstSeq != 0 && (mine.FirstSeq == 0 || reg.FirstSeq < mine.FirstSeq) {
			mine.FirstSeq = reg.FirstSeq
		}
		mine.LastSeq = max(mine.LastSeq, reg.LastSeq)
		addTotals(mine.ByPeriod, reg.ByPeriod)
		i := t.register[reg.Terminal]
		for _, c := range reg.ByCashier {
			mc := t.cashierAt(i, c.Cashier)
			mc.Sales += c.Sales
			mc.Amount += c.Amount
		}
	}
	addTotals(r.ByPeriod, o.report.ByPeriod)
	for i, h := range o.report.ByHour {
		r.ByHour[i].Sales += h.Sales
		r.ByHour[i].Amount += h.Amount
	}
	for i, m := range o.report.ByMinute {
		r.ByMinute[i].Sales += m.Sales
		r.ByMinute[i].Amount += m.Amount
	}
}

// addTotals adds the periods' totals of from to those of to, the same
// periods in the same order.
func addTotals(to, from []PeriodTotal) {
	for i, p := range from {
		to[i].merge(p.Totals)
	}
}

// RunReader tallies a run from the register's stored entries read in seq
// order: Next takes each, skipping those not in the run.
type RunReader struct {
	tally *DailyTally
	run   EntryRun
	i     int
}

// NewRunReader returns a reader of run into t.
func (t *DailyTally) NewRunReader(run EntryRun) *RunReader { return &RunReader{tally: t, run: run} }

// Next takes the stored entry seq, raw, flagged for review or not. An
// entry of the run that is missing is an error.
func (r *RunReader) Next(seq uint64, raw []byte, flagged bool) error {
	if r.i < len(r.run.Entries) && r.run.Entries[r.i].Seq < seq {
		return fmt.Errorf("entry %d/%d of the day is not stored", r.run.Terminal, r.run.Entries[r.i].Seq)
	}
	if r.i < len(r.run.Entries) && r.run.Entries[r.i].Seq == seq {
		r.i++
		return r.tally.AddEntry(r.run.Entries[r.i-1], raw, flagged)
	}
	return nil
}

// Done reports an error if an entry of the run was not read.
func (r *RunReader) Done() error {
	if r.i < len(r.run.Entries) {
		return fmt.Errorf("entry %d/%d of the day is not stored", r.run.Terminal, r.run.Entries[r.i].Seq)
	}
	return nil
}
