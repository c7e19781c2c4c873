package storetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/fanka/fanka/server"
	"github.com/fanka/fanka/server/servertest"
	"github.com/fanka/fanka/shared/money"
	"github.com/fanka/fanka/shared/wire"
)

func testSubsidies(t *testing.T, open Open) {
	ctx := context.Background()
	s, r, clock := setup(t, open)
	servertest.OpenCard(t, s, "04A1", 100*money.Yuan)
	servertest.OpenCard(t, s, "04B2", 100*money.Yuan)
	op(t, s, server.CardOp{Kind: server.OpEdit, CardNo: "04A1", UserClass: "staff"})
	op(t, s, server.CardOp{Kind: server.OpEdit, CardNo: "04B2", UserClass: "student"})
	for _, bad := range []server.SubsidySchedule{
		{UserClass: "Staff", Amount: 100, Day: 1},
		{UserClass: "staff", Amount: 0, Day: 1},
		{UserClass: "staff", Amount: -5, Day: 1},
		{UserClass: "staff", Amount: server.MaxAmount + 1, Day: 1},
		{UserClass: "staff", Amount: 100, Day: 29},
		{UserClass: "staff", Amount: 100, Day: 0},
	} {
		if _, err := s.AddSchedule(ctx, bad, "admin"); server.ErrorCode(err) != server.EINVALID {
			t.Errorf("schedule %+v: %v, want EINVALID", bad, err)
		}
	}
	sc, err := s.AddSchedule(ctx, server.SubsidySchedule{UserClass: "staff", Amount: 50 * money.Yuan, Day: 1, Expires: true}, "admin")
	if err != nil || sc.ID == 0 {
		t.Fatalf("add schedule: %+v %v", sc, err)
	}
	if got, err := s.Schedules(ctx); err != nil || len(got) != 1 || got[0] != sc {
		t.Errorf("schedules: %+v %v", got, err)
	}
	// March: the credit runs once, whoever asks and however often.
	var wg sync.WaitGroup
	jobs := make([][]server.SubsidyJob, 3)
	for i := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			if jobs[i], err = s.RunSubsidies(ctx, clock.Now()); err != nil {
				t.Errorf("run subsidies: %v", err)
			}
		}()
	}
	wg.Wait()
	if again, err := s.RunSubsidies(ctx, clock.Now()); err != nil || len(again) != 0 {
		t.Errorf("subsidies run again: %+v %v, want nothing to do", again, err)
	}
	a := card(t, s, "04A1")
	if a.Subsidy != 50*money.Yuan || a.Balance != 100*money.Yuan || a.Spendable() != 150*money.Yuan {
		t.Errorf("staff card after the credit: %+v, want 50 yuan of subsidy beside 100 of cash", a)
	}
	if b := card(t, s, "04B2"); b.Subsidy != 0 || b.Spendable() != 100*money.Yuan {
		t.Errorf("student card: %+v, want no subsidy", b)
	}
	// Subsidy is spent before cash.
	ack := settle(t, s, r, r.Sale(t, "04A1", 30*money.Yuan))[0]
	clock.Add(time.Minute)
	if a := card(t, s, "04A1"); a.Subsidy != 20*money.Yuan || a.Balance != 100*money.Yuan || ack.Balance != 120*money.Yuan {
		t.Errorf("after a 30-yuan sale: %+v, ack %+v", a, ack)
	}
	settle(t, s, r, r.Sale(t, "04A1", 30*money.Yuan))
	clock.Add(time.Minute)
	if a := card(t, s, "04A1"); a.Subsidy != 0 || a.Balance != 90*money.Yuan {
		t.Errorf("after a second: %+v, want the subsidy gone and 10 yuan of cash", a)
	}
	// A void gives back what the sale took, where it took it from.
	if ack := settle(t, s, r, r.Void(t, "04A1", 30*money.Yuan, r.Seq))[0]; ack.Outcome != wire.Settled {
		t.Errorf("void: %+v", ack)
	}
	if a := card(t, s, "04A1"); a.Subsidy != 20*money.Yuan || a.Balance != 100*money.Yuan {
		t.Errorf("after the void: %+v", a)
	}
	// April: what is left of March's expires, then April's is credited; the
	// cash is untouched.
	clock.Set(time.Date(2026, 4, 1, 0, 0, 1, 0, time.Local))
	jobs2, err := s.RunSubsidies(ctx, clock.Now())
	if err != nil || len(jobs2) != 2 || jobs2[0].Key != server.ExpireKey("2026-03") || jobs2[0].Amount != 20*money.Yuan ||
		jobs2[1].Key != server.CreditKey(sc.ID, "2026-04") || jobs2[1].Accounts != 1 {
		t.Errorf("April's jobs: %+v %v", jobs2, err)
	}
	if a := card(t, s, "04A1"); a.Subsidy != 50*money.Yuan || a.Balance != 100*money.Yuan {
		t.Errorf("in April: %+v, want 50 yuan of new subsidy and the cash as it was", a)
	}
	// Closing pays the cash out and gives the subsidy back to the fund.
	if res := op(t, s, server.CardOp{Kind: server.OpClose, CardNo: "04A1"}); res.Balance != 0 || res.Status != server.CardClosed {
		t.Errorf("close: %+v", res)
	}
	if a := card(t, s, "04A1"); a.Subsidy != 0 || a.Balance != 0 {
		t.Errorf("closed card %+v", a)
	}
	verify(t, s)
}
