package storetest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/fanka/fanka/server"
	"github.com/fanka/fanka/server/servertest"
	"github.com/fanka/fanka/shared/journal"
	"github.com/fanka/fanka/shared/money"
)

// enrollNamed creates a register named name in s and enrols r's key.
func enrollNamed(t *testing.T, s server.Store, r *servertest.Register, name string) {
	t.Helper()
	ctx := context.Background()
	code := make([]byte, 16)
	rand.Read(code)
	hash := sha256.Sum256(code)
	term, err := s.CreateTerminal(ctx, name, 0, hash, noon.Add(time.Hour))
	if err != nil {
		t.Fatalf("create register %q: %v", name, err)
	}
	if _, err := s.EnrollTerminal(ctx, hash, r.Public()); err != nil {
		t.Fatalf("enrol register %q: %v", name, err)
	}
	r.ID = term.ID
}

// at returns the time of day h:m on the day of noon.
func at(h, m int) time.Time {
	y, mo, d := noon.Date()
	return time.Date(y, mo, d, h, m, 0, 0, noon.Location())
}

// recordAt records a sale of amount on cardNo made at the register's time t.
func recordAt(t *testing.T, r *servertest.Register, cardNo string, amount money.Fen, when time.Time) []byte {
	t.Helper()
	return r.Record(t, journal.Entry{Kind: journal.KindSale, CardNo: cardNo, Amount: amount, Time: when.UnixMilli()})
}

func testSales(t *testing.T, open Open) {
	ctx := context.Background()
	clock := servertest.NewClock(at(7, 0))
	s := open(t, clock.Now)
	r := servertest.NewRegister(t)
	r.Time = clock.Now
	enrollNamed(t, s, r, "一号窗口")

	if last, err := s.LastTransactionID(ctx); err != nil || last != 0 {
		t.Fatalf("last transaction id of an empty ledger: %d, %v; want 0", last, err)
	}
	if got, err := s.Sales(ctx, 0, 10); err != nil || len(got) != 0 {
		t.Fatalf("sales of an empty ledger: %+v, %v", got, err)
	}
	servertest.OpenCard(t, s, "C1", 20*money.Yuan)
	openID, err := s.LastTransactionID(ctx)
	if err != nil || openID == 0 {
		t.Fatalf("last transaction id after opening a card: %d, %v", openID, err)
	}
	settle(t, s, r, r.Sale(t, "C1", 1250))
	clock.Add(time.Minute)
	// Apart: within one batch, a store may number a batch's sales before
	// its voids (the MySQL store writes the sales' rows first).
	settle(t, s, r, r.Void(t, "C1", 1250, 1))
	settle(t, s, r, r.Sale(t, "C9", 300)) // C9: no such card
	clock.Add(time.Minute)
	settle(t, s, r, r.Sale(t, "C1", 5000)) // overdraft

	got, err := s.Sales(ctx, 0, server.MaxSalesPage)
	if err != nil {
		t.Fatal(err)
	}
	day := at(0, 0).Format(time.DateOnly)
	want := []server.Sale{
		{Terminal: r.ID, Seq: 1, CardNo: "C1", Amount: 1250, Outcome: "settled", Kind: server.TxSale, Time: at(7, 0), Day: day},
		{Terminal: r.ID, Seq: 2, CardNo: "C1", Amount: 1250, Outcome: "settled", Kind: server.TxVoid, Time: at(7, 1), Day: day},
		{Terminal: r.ID, Seq: 3, CardNo: "C9", Amount: 300, Outcome: "flagged", Note: "unknown card: posted to suspense", Kind: server.TxSale, Time: at(7, 1), Day: day},
		{Terminal: r.ID, Seq: 4, CardNo: "C1", Amount: 5000, Outcome: "settled-overdraft", Kind: server.TxSale, Time: at(7, 2), Day: day},
	}
	if len(got) != len(want) {
		t.Fatalf("sales after 4 settled entries: %+v", got)
	}
	for i := range got {
		if got[i].ID <= openID || (i > 0 && got[i].ID <= got[i-1].ID) {
			t.Errorf("sale %d has id %d: want above the card opening's %d and rising", i, got[i].ID, openID)
		}
		want[i].ID = got[i].ID
		if !got[i].Time.Equal(want[i].Time) {
			t.Errorf("sale %d at %v, want %v", i, got[i].Time, want[i].Time)
		}
		got[i].Time = want[i].Time
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("sales (-want +got):\n%s", diff)
	}

	page, err := s.Sales(ctx, got[1].ID, 2)
	if err != nil || len(page) != 2 || page[0].ID != got[2].ID || page[1].ID != got[3].ID {
		t.Errorf("sales since %d, limit 2: %+v, %v; want sales %d and %d", got[1].ID, page, err, got[2].ID, got[3].ID)
	}
	if page, err := s.Sales(ctx, got[3].ID, 5); err != nil || len(page) != 0 {
		t.Errorf("sales since the last: %+v, %v; want none", page, err)
	}
	if last, err := s.LastTransactionID(ctx); err != nil || last != got[3].ID {
		t.Errorf("last transaction id %d (%v), want the last sale's %d", last, err, got[3].ID)
	}

	in, err := s.SalesIn(ctx, []int64{got[3].ID, openID, got[3].ID + 100, got[0].ID})
	if err != nil {
		t.Fatal(err)
	}
	if len(in) != 3 || in[0].ID != openID || in[0].Kind != server.TxOpen || in[0].CardNo != "" ||
		in[1].ID != got[0].ID || in[1].Amount != 1250 || in[2].ID != got[3].ID || in[2].Amount != 5000 {
		t.Errorf("sales in {last sale, card opening, unknown, first sale}: %+v; want opening, first, last in id order", in)
	}
	if in, err := s.SalesIn(ctx, nil); err != nil || len(in) != 0 {
		t.Errorf("sales in no ids: %+v, %v", in, err)
	}

	for _, bad := range []struct {
		since int64
		limit int
	}{{0, 0}, {0, -1}, {0, server.MaxSalesPage + 1}, {-1, 10}} {
		_, err := s.Sales(ctx, bad.since, bad.limit)
		if server.ErrorCode(err) != server.EINVALID {
			t.Errorf("sales since %d, limit %d: %v; want EINVALID", bad.since, bad.limit, err)
		}
	}
	_, err = s.SalesIn(ctx, make([]int64, server.MaxSalesIn+1))
	if server.ErrorCode(err) != server.EINVALID {
		t.Errorf("sales in %d ids: %v; want EINVALID", server.MaxSalesIn+1, err)
	}
}

func testTerminalList(t *testing.T, open Open) {
	ctx := context.Background()
	clock := servertest.NewClock(noon)
	s := open(t, clock.Now)
	if got, err := s.Terminals(ctx); err != nil || len(got) != 0 {
		t.Fatalf("registers of an empty store: %+v, %v", got, err)
	}
	r := servertest.NewRegister(t)
	r.Time = clock.Now
	enrollNamed(t, s, r, "一号窗口")
	if _, err := s.CreateTerminal(ctx, "二号窗口", 0, sha256.Sum256([]byte("two")), noon.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	servertest.OpenCard(t, s, "C1", 100*money.Yuan)
	settle(t, s, r, r.Sale(t, "C1", 100), r.Sale(t, "C1", 200))
	if err := s.SetTerminalDisabled(ctx, r.ID, true); err != nil {
		t.Fatal(err)
	}
	got, err := s.Terminals(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("registers: %+v, want 2", got)
	}
	one, two := got[0], got[1]
	if one.ID != r.ID || one.Name != "一号窗口" || !one.Enrolled() || !one.Disabled || one.LastSeq != 2 || !one.LastSeen.Equal(noon) {
		t.Errorf("first register: %+v; want %d 一号窗口, enrolled, disabled, at seq 2, seen at %v", one, r.ID, noon)
	}
	if two.ID <= one.ID || two.Name != "二号窗口" || two.Enrolled() || two.Disabled || two.LastSeq != 0 || !two.LastSeen.IsZero() {
		t.Errorf("second register: %+v; want 二号窗口, not enrolled, never seen", two)
	}
}

func testDailyReport(t *testing.T, open Open) {
	ctx := context.Background()
	clock := servertest.NewClock(at(7, 0))
	s := open(t, clock.Now)
	r1, r2 := servertest.NewRegister(t), servertest.NewRegister(t)
	r1.Time, r2.Time = clock.Now, clock.Now
	enrollNamed(t, s, r1, "一号窗口")
	enrollNamed(t, s, r2, "二号窗口")
	east, err := s.CreateCanteen(ctx, "东区")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.MoveTerminal(ctx, r2.ID, east.ID); err != nil {
		t.Fatal(err)
	}
	servertest.OpenCard(t, s, "C1", 1000*money.Yuan)
	servertest.OpenCard(t, s, "C2", 1000*money.Yuan)

	settle(t, s, r1, r1.Sale(t, "C1", 500)) // 07:00 breakfast
	clock.Set(at(12, 0))
	settle(t, s, r1, r1.Sale(t, "C1", 800)) // 12:00 lunch, voided below
	settle(t, s, r2, r2.Sale(t, "C2", 300)) // 12:00 lunch
	clock.Set(at(12, 1))
	settle(t, s, r1, r1.Void(t, "C1", 800, 2))
	clock.Set(at(15, 0))
	settle(t, s, r2,
		r2.Sale(t, "C2", 200), // 15:00: no meal
		// made offline yesterday at 19:00 (dinner), settled today: yesterday's
		recordAt(t, r2, "C1", 400, at(19, 0).AddDate(0, 0, -1)),
		// a register clock running ahead to tomorrow 09:00: counts now, today
		recordAt(t, r2, "C2", 100, at(9, 0).AddDate(0, 0, 1)),
	)

	// An office refund of part of C2's sales, and one tomorrow.
	clock.Set(at(16, 0))
	op(t, s, server.CardOp{Kind: server.OpRefund, CardNo: "C2", Amount: 250, Canteen: east.ID}) // C2 paid at the east canteen
	clock.Set(at(0, 1).AddDate(0, 0, 1))
	op(t, s, server.CardOp{Kind: server.OpRefund, CardNo: "C2", Amount: 50, Canteen: east.ID}) // C2 paid at the east canteen

	got, err := s.DailyReport(ctx, server.DailyQuery{Date: at(18, 0)})
	if err != nil {
		t.Fatal(err)
	}
	hours := make([]server.HourTotal, 24)
	for h := range hours {
		hours[h].Hour = h
	}
	hours[7] = server.HourTotal{Hour: 7, Sales: 1, Amount: 500}
	hours[12] = server.HourTotal{Hour: 12, Sales: 1, Amount: 300} // 800 + 300 - 800
	hours[15] = server.HourTotal{Hour: 15, Sales: 2, Amount: 300}
	want := server.DailyReport{
		Date: at(0, 0).Format(time.DateOnly), Totals: server.Totals{Sales: 4, Amount: 1100, Voids: 1, VoidAmount: 800}, Refunds: 1, RefundAmount: 250,
		ByRegister: []server.RegisterTotal{
			{Terminal: r1.ID, Name: "一号窗口", Canteen: server.FirstCanteen, CanteenName: "食堂", Totals: server.Totals{Sales: 1, Amount: 500, Voids: 1, VoidAmount: 800}, FirstSeq: 1, LastSeq: 3,
				ByPeriod: []server.PeriodTotal{{Period: "breakfast", Totals: server.Totals{Sales: 1, Amount: 500}}, {Period: "lunch", Totals: server.Totals{Voids: 1, VoidAmount: 800}},
					{Period: "dinner"}, {Period: "other"}},
				ByCashier: []server.CashierTotal{{Cashier: "", Sales: 1, Amount: 500}}},
			// seq 3 was made yesterday
			{Terminal: r2.ID, Name: "二号窗口", Canteen: east.ID, CanteenName: "东区", Totals: server.Totals{Sales: 3, Amount: 600}, FirstSeq: 1, LastSeq: 4,
				ByPeriod:  []server.PeriodTotal{{Period: "breakfast"}, {Period: "lunch", Totals: server.Totals{Sales: 1, Amount: 300}}, {Period: "dinner"}, {Period: "other", Totals: server.Totals{Sales: 2, Amount: 300}}},
				ByCashier: []server.CashierTotal{{Cashier: "", Sales: 3, Amount: 600}}},
		},
		ByCanteen: []server.CanteenTotal{
			{Canteen: server.FirstCanteen, Name: "食堂", Registers: 1, Totals: server.Totals{Sales: 1, Amount: 500, Voids: 1, VoidAmount: 800}},
			{Canteen: east.ID, Name: "东区", Registers: 1, Totals: server.Totals{Sales: 3, Amount: 600}},
		},
		ByPeriod: []server.PeriodTotal{
			{Period: "breakfast", Totals: server.Totals{Sales: 1, Amount: 500}},
			{Period: "lunch", Totals: server.Totals{Sales: 1, Amount: 300, Voids: 1, VoidAmount: 800}},
			{Period: "dinner"},
			{Period: "other", Totals: server.Totals{Sales: 2, Amount: 300}},
		},
		ByHour: hours,
	}
	minutes := make([]server.MinuteTotal, 24*60)
	minutes[7*60] = server.MinuteTotal{Sales: 1, Amount: 500}
	minutes[12*60] = server.MinuteTotal{Sales: 2, Amount: 1100}
	minutes[12*60+1] = server.MinuteTotal{Sales: -1, Amount: -800}
	minutes[15*60] = server.MinuteTotal{Sales: 2, Amount: 300}
	want.ByMinute = minutes
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("today's report (-want +got):\n%s", diff)
	}

	yesterday, err := s.DailyReport(ctx, server.DailyQuery{Date: at(0, 0).AddDate(0, 0, -1)})
	if err != nil {
		t.Fatal(err)
	}
	if yesterday.Sales != 1 || yesterday.Amount != 400 || len(yesterday.ByRegister) != 1 || yesterday.ByRegister[0].Terminal != r2.ID ||
		yesterday.ByPeriod[2] != (server.PeriodTotal{Period: "dinner", Totals: server.Totals{Sales: 1, Amount: 400}}) || yesterday.ByHour[19].Sales != 1 {
		t.Errorf("yesterday's report: %+v; want the offline sale of 400 at 19:00, dinner, on 二号窗口", yesterday)
	}

	// Meal periods are the caller's: one long lunch takes the 15:00 sale.
	custom, err := s.DailyReport(ctx, server.DailyQuery{Date: at(0, 0), Periods: []server.MealPeriod{
		{Name: "lunch", Start: "11:00", End: "16:00"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	wantPeriods := []server.PeriodTotal{{Period: "lunch", Totals: server.Totals{Sales: 3, Amount: 600, Voids: 1, VoidAmount: 800}}, {Period: "other", Totals: server.Totals{Sales: 1, Amount: 500}}}
	if diff := cmp.Diff(wantPeriods, custom.ByPeriod); diff != "" {
		t.Errorf("periods with lunch 11:00-16:00 (-want +got):\n%s", diff)
	}

	// Two days on: a sale on a frozen card, made offline by cashier C07,
	// settles flagged; a recharge and a close in the office.
	clock.Set(at(11, 0).AddDate(0, 0, 2))
	op(t, s, server.CardOp{Kind: server.OpFreeze, CardNo: "C1"})
	settle(t, s, r1, r1.Record(t, journal.Entry{Kind: journal.KindSale, CardNo: "C1", Amount: 700, Cashier: "C07"}))
	op(t, s, server.CardOp{Kind: server.OpRecharge, CardNo: "C2", Amount: 1000})
	c2, err := s.Card(ctx, "C2")
	if err != nil {
		t.Fatal(err)
	}
	op(t, s, server.CardOp{Kind: server.OpClose, CardNo: "C2"})
	later, err := s.DailyReport(ctx, server.DailyQuery{Date: clock.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if later.Sales != 1 || later.Flagged != 1 || later.FlaggedAmount != 700 || later.Recharges != 1 || later.RechargeAmount != 1000 ||
		later.Closes != 1 || later.CloseAmount != c2.Balance || later.Refunds != 0 {
		t.Errorf("report of a flagged sale, a recharge and a close of C2 (balance %d): %+v", c2.Balance, later)
	}
	wantReg := []server.RegisterTotal{{Terminal: r1.ID, Name: "一号窗口", Canteen: server.FirstCanteen, CanteenName: "食堂", Totals: server.Totals{Sales: 1, Amount: 700, Flagged: 1, FlaggedAmount: 700}, FirstSeq: 4, LastSeq: 4,
		ByPeriod:  []server.PeriodTotal{{Period: "breakfast"}, {Period: "lunch", Totals: server.Totals{Sales: 1, Amount: 700, Flagged: 1, FlaggedAmount: 700}}, {Period: "dinner"}, {Period: "other"}},
		ByCashier: []server.CashierTotal{{Cashier: "C07", Sales: 1, Amount: 700}}}}
	if diff := cmp.Diff(wantReg, later.ByRegister); diff != "" {
		t.Errorf("registers two days on (-want +got):\n%s", diff)
	}

	empty, err := s.DailyReport(ctx, server.DailyQuery{Date: at(0, 0).AddDate(0, 0, 7)})
	if err != nil {
		t.Fatal(err)
	}
	if empty.Sales != 0 || empty.Amount != 0 || empty.Voids != 0 || len(empty.ByRegister) != 0 || len(empty.ByHour) != 24 || len(empty.ByPeriod) != 4 {
		t.Errorf("a day without sales: %+v", empty)
	}

	for _, bad := range [][]server.MealPeriod{
		{{Name: "", Start: "00:00", End: "01:00"}},
		{{Name: "other", Start: "00:00", End: "01:00"}},
		{{Name: "lunch", Start: "02:00", End: "01:00"}},
		{{Name: "late", Start: "23:00", End: "25:00"}},
		{{Name: "a", Start: "00:00", End: "02:00"}, {Name: "b", Start: "01:00", End: "03:00"}},
	} {
		_, err := s.DailyReport(ctx, server.DailyQuery{Date: noon, Periods: bad})
		if server.ErrorCode(err) != server.EINVALID {
			t.Errorf("report with meal periods %+v: %v; want EINVALID", bad, err)
		}
	}
}

// testDailyReportSparse has a register whose sales of a day are far
// apart in its journal, with many sales of another day between them: the
// report reads them one by one rather than the whole range.
func testDailyReportSparse(t *testing.T, open Open) {
	ctx := context.Background()
	clock := servertest.NewClock(at(12, 0))
	s := open(t, clock.Now)
	r := servertest.NewRegister(t)
	r.Time = clock.Now
	enrollNamed(t, s, r, "一号窗口")
	servertest.OpenCard(t, s, "C1", 1000*money.Yuan)
	settle(t, s, r, r.Sale(t, "C1", 100))
	yesterday := at(12, 0).AddDate(0, 0, -1)
	for range 3 {
		batch := make([][]byte, 0, 500)
		for range 500 {
			batch = append(batch, recordAt(t, r, "C1", 1, yesterday))
		}
		settle(t, s, r, batch...)
	}
	settle(t, s, r, r.Sale(t, "C1", 200))
	got, err := s.DailyReport(ctx, server.DailyQuery{Date: at(0, 0)})
	if err != nil {
		t.Fatal(err)
	}
	if got.Sales != 2 || got.Amount != 300 || len(got.ByRegister) != 1 || got.ByRegister[0].Amount != 300 {
		t.Errorf("today's report: %+v; want the 2 sales of 100 and 200", got)
	}
	before, err := s.DailyReport(ctx, server.DailyQuery{Date: yesterday})
	if err != nil {
		t.Fatal(err)
	}
	if before.Sales != 1500 || before.Amount != 1500 || before.ByHour[12].Sales != 1500 {
		t.Errorf("yesterday's report: %d sales of %d; want 1500 of 1500 at 12:00", before.Sales, before.Amount)
	}
}

func testAudit(t *testing.T, open Open) {
	ctx := context.Background()
	clock := servertest.NewClock(noon)
	s := open(t, clock.Now)
	if n, bad, err := s.VerifyAudit(ctx); n != 0 || bad != 0 || err != nil {
		t.Errorf("verify an empty audit log: %d, %d, %v; want 0, 0, nil", n, bad, err)
	}
	if got, err := s.Audit(ctx, 10); err != nil || len(got) != 0 {
		t.Errorf("an empty audit log: %+v, %v", got, err)
	}
	var appended []server.AuditRecord
	for i, a := range []struct {
		user, action string
		detail       any
	}{
		{"admin", "terminal.create", map[string]any{"terminal_id": 1, "name": "一号窗口"}},
		{"op", "card.open", struct {
			CardNo  string `json:"card_no"`
			Deposit int64  `json:"deposit"`
		}{"C1", 5000}},
		{"admin", "terminal.disable", nil},
	} {
		clock.Add(time.Second)
		rec, err := s.AppendAudit(ctx, a.user, a.action, a.detail)
		if err != nil {
			t.Fatalf("append %s: %v", a.action, err)
		}
		if rec.ID != int64(i+1) || rec.User != a.user || rec.Action != a.action || !rec.Time.Equal(clock.Now()) || rec.Hash != server.AuditHash(rec) {
			t.Errorf("appended %+v; want id %d by %s, %s, at %v, hashed", rec, i+1, a.user, a.action, clock.Now())
		}
		if i > 0 && rec.Prev != appended[i-1].Hash {
			t.Errorf("record %d does not chain to record %d", rec.ID, i)
		}
		appended = append(appended, rec)
	}
	if string(appended[1].Detail) != `{"card_no":"C1","deposit":5000}` || string(appended[2].Detail) != `{}` {
		t.Errorf("details stored %s and %s", appended[1].Detail, appended[2].Detail)
	}

	got, err := s.Audit(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	want := []server.AuditRecord{appended[2], appended[1]}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); diff != "" {
		t.Errorf("the last 2 records, newest first (-want +got):\n%s", diff)
	}
	if n, bad, err := s.VerifyAudit(ctx); n != 3 || bad != 0 || err != nil {
		t.Errorf("verify 3 records: %d, %d, %v; want 3, 0, nil", n, bad, err)
	}

	for _, bad := range []struct {
		user, action string
		detail       any
	}{
		{"", "card.open", nil},
		{"admin", "", nil},
		{"admin", string(make([]byte, server.MaxAuditAction+1)), nil},
		{"admin", "card.open", make(chan int)},
		{"admin", "card.open", map[string]string{"big": string(make([]byte, server.MaxAuditDetail))}},
	} {
		_, err := s.AppendAudit(ctx, bad.user, bad.action, bad.detail)
		if server.ErrorCode(err) != server.EINVALID {
			t.Errorf("append by %q of action of %d bytes: %v; want EINVALID", bad.user, len(bad.action), err)
		}
	}
	for _, limit := range []int{0, -1, server.MaxAuditPage + 1} {
		if _, err := s.Audit(ctx, limit); server.ErrorCode(err) != server.EINVALID {
			t.Errorf("audit log, limit %d: %v; want EINVALID", limit, err)
		}
	}

	// Appends at the same time make one chain.
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 10 {
				if _, err := s.AppendAudit(ctx, fmt.Sprintf("user%d", g), "card.open", map[string]int{"n": i}); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent append: %v", err)
	}
	if n, bad, err := s.VerifyAudit(ctx); n != 43 || bad != 0 || err != nil {
		t.Errorf("verify after 40 concurrent appends: %d, %d, %v; want 43, 0, nil", n, bad, err)
	}
	latest, err := s.Audit(ctx, 1)
	if err != nil || len(latest) != 1 || latest[0].ID != 43 || !json.Valid(latest[0].Detail) {
		t.Errorf("latest record: %+v, %v; want record 43", latest, err)
	}
}

// OpenRaw returns an empty, open store and a connection to its database
// that goes behind the store's back, both closed when the test ends.
type OpenRaw func(t *testing.T) (server.Store, *sql.DB)

// RunAuditTampering edits the audit table of a log of five records by
// hand, as a careless or dishonest person with access to the database
// could, in each way a test here names, and expects VerifyAudit to name
// the first record that no longer holds.
func RunAuditTampering(t *testing.T, open OpenRaw) {
	rehash := func(r server.AuditRecord) []byte { h := server.AuditHash(r); return h[:] }
	tests := []struct {
		name     string
		sql      string
		args     func(recs []server.AuditRecord) []any
		firstBad int64
	}{
		{"detail edited", `UPDATE audit SET detail = '{"card_no":"C9","deposit":5000}' WHERE id = 2`, nil, 2},
		{"user edited", `UPDATE audit SET user = 'mallory' WHERE id = 3`, nil, 3},
		{"time edited", `UPDATE audit SET time = time + 1 WHERE id = 4`, nil, 4},
		{"hash edited", `UPDATE audit SET hash = prev_hash WHERE id = 5`, nil, 5},
		{"detail edited and its hash made again", `UPDATE audit SET detail = ?, hash = ? WHERE id = 2`, func(recs []server.AuditRecord) []any {
			r := recs[1]
			r.Detail = []byte(`{"card_no":"C9","deposit":5000}`)
			return []any{string(r.Detail), rehash(r)}
		}, 3},
		{"record removed", `DELETE FROM audit WHERE id = 2`, nil, 3},
		{"last record removed", `DELETE FROM audit WHERE id = 5`, nil, 5},
		{"record added at the end", `INSERT INTO audit (id, time, user, action, detail, prev_hash, hash) VALUES (6, ?, 'mallory', 'card.open', '{}', ?, ?)`,
			func(recs []server.AuditRecord) []any {
				r := server.AuditRecord{ID: 6, Time: recs[4].Time, User: "mallory", Action: "card.open", Detail: []byte(`{}`), Prev: recs[4].Hash}
				return []any{r.Time.UnixMilli(), r.Prev[:], rehash(r)}
			}, 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			s, raw := open(t)
			var recs []server.AuditRecord
			for i := range 5 {
				rec, err := s.AppendAudit(ctx, "op", "card.open", map[string]any{"card_no": fmt.Sprintf("C%d", i+1), "deposit": 5000})
				if err != nil {
					t.Fatal(err)
				}
				recs = append(recs, rec)
			}
			if n, bad, err := s.VerifyAudit(ctx); n != 5 || bad != 0 || err != nil {
				t.Fatalf("verify before tampering: %d, %d, %v", n, bad, err)
			}
			var args []any
			if tt.args != nil {
				args = tt.args(recs)
			}
			if _, err := raw.ExecContext(ctx, tt.sql, args...); err != nil {
				t.Fatalf("tamper: %s: %v", tt.sql, err)
			}
			n, bad, err := s.VerifyAudit(ctx)
			var v *server.Violation
			if !errors.As(err, &v) {
				t.Fatalf("verify after %s: %d, %d, %v; want a violation", tt.sql, n, bad, err)
			}
			t.Log(v)
			if bad != tt.firstBad || v.Table != "audit" || v.Row != fmt.Sprint(tt.firstBad) {
				t.Errorf("after %s: first bad record %d (%v), want %d", tt.sql, bad, v, tt.firstBad)
			}
		})
	}
}
