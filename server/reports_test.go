package server_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/fanka/fanka/server"
)

func TestAuditHashCanonical(t *testing.T) {
	base := server.AuditRecord{ID: 7, Time: time.UnixMilli(1764000000000), User: "ab", Action: "c", Detail: []byte(`{}`)}
	h := server.AuditHash(base)
	for name, change := range map[string]func(r *server.AuditRecord){
		"id":                      func(r *server.AuditRecord) { r.ID = 8 },
		"time":                    func(r *server.AuditRecord) { r.Time = r.Time.Add(time.Millisecond) },
		"user and action shifted": func(r *server.AuditRecord) { r.User, r.Action = "a", "bc" },
		"detail":                  func(r *server.AuditRecord) { r.Detail = []byte(`{ }`) },
		"prev":                    func(r *server.AuditRecord) { r.Prev[31] = 1 },
	} {
		r := base
		change(&r)
		if server.AuditHash(r) == h {
			t.Errorf("%s changed: same hash", name)
		}
	}
	if server.AuditHash(base) != h {
		t.Errorf("the same record hashes differently")
	}
	r := base
	r.Time = r.Time.Add(999 * time.Microsecond) // below the stored millisecond
	if server.AuditHash(r) != h {
		t.Errorf("a time below the millisecond changed the hash: the stored record would not verify")
	}
}

func TestDailyTallyPeriods(t *testing.T) {
	loc := time.FixedZone("CST", 8*3600)
	q := server.DailyQuery{Date: time.Date(2026, 3, 2, 0, 0, 0, 0, loc)}
	tally := server.NewDailyTally(q)
	for _, c := range []struct {
		h, m int
		void bool
	}{{5, 59, false}, {6, 0, false}, {9, 59, false}, {10, 0, false}, {10, 30, false}, {13, 59, false}, {14, 0, false}, {16, 30, false}, {19, 59, true}, {20, 0, false}} {
		// Times given in UTC count in the query's location.
		tally.Add(1, c.void, 100, time.Date(2026, 3, 2, c.h, c.m, 0, 0, loc).UTC())
	}
	tally.Add(2, false, 250, time.Date(2026, 3, 2, 12, 0, 0, 0, loc))
	tally.Add(3, false, 50, time.Date(2026, 3, 2, 12, 0, 0, 0, loc))
	rep := tally.Report(map[uint32]server.ReportRegister{1: {Name: "一号窗口", Canteen: 1, CanteenName: "食堂"},
		2: {Name: "东一", Canteen: 2, CanteenName: "东区"}, 3: {Name: "二号窗口", Canteen: 1, CanteenName: "食堂"}})
	wantCanteens := []server.CanteenTotal{{Canteen: 1, Name: "食堂", Registers: 2, Totals: server.Totals{Sales: 9, Amount: 850, Voids: 1, VoidAmount: 100}},
		{Canteen: 2, Name: "东区", Registers: 1, Totals: server.Totals{Sales: 1, Amount: 250}}}
	if diff := cmp.Diff(wantCanteens, rep.ByCanteen); diff != "" {
		t.Errorf("by canteen (-want +got):\n%s", diff)
	}
	if rep.ByRegister[1].Canteen != 2 || rep.ByRegister[1].CanteenName != "东区" {
		t.Errorf("register 2 in %d %q, want 2 东区", rep.ByRegister[1].Canteen, rep.ByRegister[1].CanteenName)
	}
	want := map[string]int64{"breakfast": 2, "lunch": 4, "dinner": 0, "other": 4} // dinner: a sale and its void
	for _, p := range rep.ByPeriod {
		if p.Sales != want[p.Period] {
			t.Errorf("period %s: %d sales, want %d", p.Period, p.Sales, want[p.Period])
		}
	}
	if rep.Sales != 10 || rep.Amount != 1100 || rep.Voids != 1 || rep.ByHour[19].Sales != -1 || rep.ByHour[6].Sales != 1 || rep.ByRegister[0].Name != "一号窗口" {
		t.Errorf("report %+v", rep)
	}
}
