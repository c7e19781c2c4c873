package terminal

import (
	"fmt"
	"strconv"
	"time"

	"github.com/fanka/fanka/shared/escpos"
	"github.com/fanka/fanka/shared/journal"
	"github.com/fanka/fanka/shared/money"
)

// ShiftJob is a cashier's shift on the register, queued at sign-out for
// its shift report (escpos.RenderShiftReport). The report's numbers are
// counted from the journal's entries FirstSeq to LastSeq when it prints,
// so that they are the journal's, not a tally kept beside it.
type ShiftJob struct {
	Register uint32 `json:"register"`
	Cashier  string `json:"cashier"`
	// Start and End are the sign-in and the sign-out.
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// FirstSeq and LastSeq are the journal's first and last entries made
	// in the shift; both zero for a shift without any.
	FirstSeq uint64 `json:"first_seq"`
	LastSeq  uint64 `json:"last_seq"`
	// Meals are the meal periods in force at sign-out: the report counts
	// the sales of each.
	Meals []MealPeriod `json:"meals"`
}

// ShiftJournal is a Journal that also keeps the signed-in cashier's shift
// (terminal/journal does), so that a shift the register did not see end,
// because it stopped, still gets its report: NewRegister queues it.
type ShiftJournal interface {
	// BeginShift records s, a shift just begun (End zero, LastSeq zero),
	// as the open shift, replacing any.
	BeginShift(s ShiftJob) error
	// OpenShift returns the open shift, and false when there is none.
	// ReceiptQueue.QueueShift ends it.
	OpenShift() (ShiftJob, bool, error)
}

// ReceiptID names a document in the register's print queue: the receipt
// or void slip of entry Seq (Shift 0), or the Shift-th shift report, which
// ended after entry Seq and prints after that entry's document.
type ReceiptID struct {
	Seq   uint64
	Shift uint64
}

// String writes the id for logs: "12", or "12/shift 3".
func (id ReceiptID) String() string {
	if id.Shift == 0 {
		return strconv.FormatUint(id.Seq, 10)
	}
	return fmt.Sprintf("%d/shift %d", id.Seq, id.Shift)
}

// mealOther names the sales made outside every meal period in a shift
// report.
const mealOther = "其他"

// shiftReport counts the shift's entries (the journal's FirstSeq to
// LastSeq) into its report: sales net of voids per meal period, in the
// order of job.Meals, then those outside every period; all sales net of
// voids; and the voids. A void counts in the meal period of the sale it
// voids when that sale is in the shift, else in its own. Flagged stays
// zero: the server flags sales, the register does not know which.
func shiftReport(job ShiftJob, entries []journal.Entry, canteen, register string) escpos.ShiftReport {
	rules := Rules{Meals: job.Meals}
	meal := func(ms int64) string {
		if m, ok := rules.Meal(time.UnixMilli(ms).In(job.End.Location())); ok {
			return m.Name
		}
		return mealOther
	}
	saleMeal := map[uint64]string{} // seq → its meal period, for the voids
	tallies := map[string]*escpos.Tally{}
	var order []string
	add := func(name string, count int64, amount money.Fen) {
		t, ok := tallies[name]
		if !ok {
			t = &escpos.Tally{}
			tallies[name] = t
			order = append(order, name)
		}
		t.Count += count
		t.Amount += amount
	}
	r := escpos.ShiftReport{
		Canteen: canteen, Register: register, RegisterID: job.Register, Cashier: job.Cashier,
		Start: job.Start, End: job.End, FirstSeq: job.FirstSeq, LastSeq: job.LastSeq,
	}
	for _, e := range entries {
		switch e.Kind {
		case journal.KindSale:
			m := meal(e.Time)
			saleMeal[e.Seq] = m
			add(m, 1, e.Amount)
			r.Sales.Count++
			r.Sales.Amount += e.Amount
		case journal.KindVoid:
			m, ok := saleMeal[e.VoidSeq]
			if !ok {
				m = meal(e.Time)
			}
			add(m, -1, -e.Amount)
			r.Sales.Count--
			r.Sales.Amount -= e.Amount
			r.Voids.Count++
			r.Voids.Amount += e.Amount
		}
	}
	for _, m := range job.Meals { // the rules' order, then 其他
		if t, ok := tallies[m.Name]; ok {
			r.MealPeriods = append(r.MealPeriods, escpos.Line{Name: m.Name, Tally: *t})
			delete(tallies, m.Name)
		}
	}
	for _, name := range order {
		if t, ok := tallies[name]; ok {
			r.MealPeriods = append(r.MealPeriods, escpos.Line{Name: name, Tally: *t})
		}
	}
	return r
}
