package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/fanka/fanka/server"
	"github.com/fanka/fanka/server/servertest"
	"github.com/fanka/fanka/shared/money"
	"github.com/fanka/fanka/shared/wire"
)

// outcomes settles each sale alone and returns the outcomes.
func outcomes(t *testing.T, s server.Store, r *servertest.Register, clock *servertest.Clock, step time.Duration, card string, amounts ...money.Fen) []wire.Outcome {
	t.Helper()
	var out []wire.Outcome
	for _, a := range amounts {
		out = append(out, settle(t, s, r, r.Sale(t, card, a))[0].Outcome)
		clock.Add(step)
	}
	return out
}

func testRules(t *testing.T, open Open) {
	ctx := context.Background()
	s, r, clock := setup(t, open)
	// A new store has the default rules, version 0.
	fresh := open(t, clock.Now)
	if rules, v, err := fresh.Rules(ctx); err != nil || v != 0 || !cmp.Equal(rules, server.DefaultRules()) {
		t.Errorf("a new store's rules: %+v v%d (%v), want the defaults", rules, v, err)
	}
	rules := server.DefaultRules()
	rules.Classes = map[string]server.ClassRules{"staff": {MaxSalesPerDay: 5, MaxSale: 200 * money.Yuan}}
	v, err := s.SetRules(ctx, rules, "admin")
	if err != nil || v != 2 { // setup set version 1
		t.Fatalf("set rules: v%d %v", v, err)
	}
	if got, gv, err := s.Rules(ctx); err != nil || gv != 2 || !cmp.Equal(got, rules) {
		t.Errorf("rules read back: %+v v%d %v", got, gv, err)
	}
	// Bad rules are refused and change nothing.
	for _, bad := range []server.Rules{
		{MaxSalesPerDay: -1},
		{MaxSale: -5},
		{MaxDay: server.MaxAmount + 1},
		{MinGapSeconds: 99999},
		{Periods: []server.MealPeriod{{Name: "lunch", Start: "14:00", End: "10:30"}}},
		{Periods: []server.MealPeriod{{Name: "lunch", Start: "25:00", End: "26:00"}}},
		{Periods: []server.MealPeriod{{Name: "a", Start: "10:00", End: "12:00"}, {Name: "b", Start: "11:00", End: "13:00"}}},
		{Periods: []server.MealPeriod{{Name: "", Start: "10:00", End: "12:00"}}},
		{Classes: map[string]server.ClassRules{"Bad Class": {}}},
	} {
		if _, err := s.SetRules(ctx, bad, "admin"); server.ErrorCode(err) != server.EINVALID {
			t.Errorf("rules %+v: %v, want EINVALID", bad, err)
		}
	}
	if _, gv, _ := s.Rules(ctx); gv != 2 {
		t.Errorf("refused rules changed the version to %d", gv)
	}
	// The rules take effect within RulesTTL.
	time.Sleep(server.RulesTTL)

	servertest.OpenCard(t, s, "04A1", 1000*money.Yuan)
	gap := 20 * time.Second
	// Three sales a day; the fourth is flagged, settled all the same.
	got := outcomes(t, s, r, clock, gap, "04A1", 1000, 1000, 1000, 1000)
	want := []wire.Outcome{wire.Settled, wire.Settled, wire.Settled, wire.Flagged}
	if !cmp.Equal(got, want) {
		t.Errorf("four sales: %v, want %v", got, want)
	}
	if c := card(t, s, "04A1"); c.Balance != 1000*money.Yuan-4000 || c.TodayCount != 4 {
		t.Errorf("card %+v: the flagged sale must be posted and counted", c)
	}
	// The next day: above 100 yuan a sale, then above 300 a day, then a
	// double tap.
	clock.Add(24 * time.Hour)
	got = outcomes(t, s, r, clock, gap, "04A1", 100*money.Yuan+1, 100*money.Yuan, 100*money.Yuan)
	want = []wire.Outcome{wire.Flagged, wire.Settled, wire.Flagged}
	if !cmp.Equal(got, want) {
		t.Errorf("sales of 100.01, 100 and 100 yuan (300.01 in the day): %v, want %v", got, want)
	}
	clock.Add(24 * time.Hour)
	got = outcomes(t, s, r, clock, 3*time.Second, "04A1", 500, 500)
	if !cmp.Equal(got, []wire.Outcome{wire.Settled, wire.Flagged}) {
		t.Errorf("two sales 3 s apart: %v, want the second flagged as a double tap", got)
	}
	// A void takes a sale back from the day's count.
	clock.Add(24 * time.Hour)
	outcomes(t, s, r, clock, gap, "04A1", 100, 100, 100)
	settle(t, s, r, r.Void(t, "04A1", 100, r.Seq))
	clock.Add(gap)
	if got := outcomes(t, s, r, clock, gap, "04A1", 100); got[0] != wire.Settled {
		t.Errorf("third sale after a void: %v, want settled", got)
	}
	// A user class's own limits.
	servertest.OpenCard(t, s, "05B1", 1000*money.Yuan)
	op(t, s, server.CardOp{Kind: server.OpEdit, CardNo: "05B1", UserClass: "staff"})
	got = outcomes(t, s, r, clock, gap, "05B1", 150*money.Yuan, 100, 100, 100, 100, 100)
	want = []wire.Outcome{wire.Settled, wire.Settled, wire.Settled, wire.Settled, wire.Settled, wire.Flagged}
	if !cmp.Equal(got, want) {
		t.Errorf("staff card: %v, want five sales and 150 yuan allowed", got)
	}
	verify(t, s)
}

func testRulesPeriods(t *testing.T, open Open) {
	ctx := context.Background()
	s, r, clock := setup(t, open)
	rules := server.Rules{Periods: []server.MealPeriod{
		{Name: "breakfast", Start: "06:00", End: "10:00", MaxSales: 1},
		{Name: "lunch", Start: "10:30", End: "14:00", MaxSales: 1},
	}}
	if _, err := s.SetRules(ctx, rules, "admin"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(server.RulesTTL)
	servertest.OpenCard(t, s, "04A1", 100*money.Yuan)
	day := time.Date(2026, 3, 3, 0, 0, 0, 0, time.Local)
	at := func(hhmm string) {
		d, _ := time.Parse("15:04", hhmm)
		clock.Set(day.Add(time.Duration(d.Hour())*time.Hour + time.Duration(d.Minute())*time.Minute))
	}
	for _, tc := range []struct {
		at   string
		want wire.Outcome
	}{
		{"07:00", wire.Settled}, // breakfast
		{"07:30", wire.Flagged}, // a second breakfast
		{"11:00", wire.Settled}, // lunch
		{"15:00", wire.Flagged}, // outside the periods
	} {
		at(tc.at)
		if got := settle(t, s, r, r.Sale(t, "04A1", 100))[0].Outcome; got != tc.want {
			t.Errorf("sale at %s: %v, want %v", tc.at, got, tc.want)
		}
	}
	verify(t, s)
}

func testOverdraftFreezes(t *testing.T, open Open) {
	s, r, clock := setup(t, open)
	servertest.OpenCard(t, s, "04A1", 1000)
	ack := settle(t, s, r, r.Sale(t, "04A1", 1500))[0]
	if ack.Outcome != wire.SettledOverdraft || ack.Balance != -500 {
		t.Errorf("overdraft sale: %+v", ack)
	}
	c := card(t, s, "04A1")
	if c.Status != server.CardFrozen || c.Reason != server.FrozenByOverdraft || c.Wire().Status != wire.CardFrozen {
		t.Fatalf("overdrawn card %+v: want frozen by the overdraft", c)
	}
	clock.Add(time.Minute)
	if ack := settle(t, s, r, r.Sale(t, "04A1", 100))[0]; ack.Outcome != wire.Flagged {
		t.Errorf("sale on the frozen card: %+v, want flagged", ack)
	}
	opErr(t, s, server.CardOp{Kind: server.OpUnfreeze, CardNo: "04A1"}, server.EINVALID)
	if res := op(t, s, server.CardOp{Kind: server.OpRecharge, CardNo: "04A1", Amount: 500}); res.Status != server.CardFrozen || res.Balance != -100 {
		t.Errorf("a recharge short of the debt: %+v, want still frozen at -100", res)
	}
	if res := op(t, s, server.CardOp{Kind: server.OpRecharge, CardNo: "04A1", Amount: 100}); res.Status != server.CardActive || res.Balance != 0 {
		t.Errorf("a recharge that covers the debt: %+v, want active at 0", res)
	}
	if c := card(t, s, "04A1"); c.Status != server.CardActive || c.Reason != "" {
		t.Errorf("card %+v after the debt was paid", c)
	}
	// A card the office froze stays frozen when recharged.
	op(t, s, server.CardOp{Kind: server.OpFreeze, CardNo: "04A1"})
	if res := op(t, s, server.CardOp{Kind: server.OpRecharge, CardNo: "04A1", Amount: 100}); res.Status != server.CardFrozen {
		t.Errorf("recharge of a card the office froze: %+v", res)
	}
	verify(t, s)
}
