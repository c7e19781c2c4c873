package storetest

import (
	"context"
	"crypto/sha256"
	"strings"
	"testing"

	"github.com/fanka/fanka/server"
	"github.com/fanka/fanka/server/servertest"
	"github.com/fanka/fanka/shared/money"
	"github.com/fanka/fanka/shared/wire"
)

// canteenRevenue returns the revenue to date of canteen id.
func canteenRevenue(t *testing.T, s server.Store, id int64) money.Fen {
	t.Helper()
	cs, err := s.Canteens(context.Background())
	if err != nil {
		t.Fatalf("canteens: %v", err)
	}
	for _, c := range cs {
		if c.ID == id {
			return c.Revenue
		}
	}
	t.Fatalf("no canteen %d in %+v", id, cs)
	return 0
}

// testCanteens: each canteen's registers' sales are its revenue, in an
// account of its own; voids, refunds and captures name the canteen's;
// registers move between canteens; bad names and unknown canteens are
// refused and change nothing.
func testCanteens(t *testing.T, open Open) {
	ctx := context.Background()
	s, first, _ := setup(t, open)
	cs, err := s.Canteens(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 1 || cs[0].ID != server.FirstCanteen || cs[0].RevenueAccount != server.RevenueAccount {
		t.Fatalf("a new store's canteens: %+v, want the first alone, on the revenue account", cs)
	}
	if term, err := s.Terminal(ctx, first.ID); err != nil || term.Canteen != server.FirstCanteen {
		t.Fatalf("a register created without a canteen: %+v (%v), want canteen %d", term, err, server.FirstCanteen)
	}

	east, err := s.CreateCanteen(ctx, "  东区食堂 ")
	if err != nil {
		t.Fatal(err)
	}
	if east.Name != "东区食堂" || east.ID == server.FirstCanteen || east.RevenueAccount == server.RevenueAccount || east.Revenue != 0 {
		t.Fatalf("created %+v", east)
	}
	// What was tried, refused, leaving the canteens as they were.
	for _, name := range []string{"", "   ", strings.Repeat("食", 30), "a\x00b", "line\nbreak"} {
		if _, err := s.CreateCanteen(ctx, name); server.ErrorCode(err) != server.EINVALID {
			t.Errorf("canteen named %q: %v, want %s", name, err, server.EINVALID)
		}
	}
	if _, err := s.CreateCanteen(ctx, "东区食堂"); server.ErrorCode(err) != server.ECONFLICT {
		t.Errorf("a second canteen named 东区食堂: %v, want %s", err, server.ECONFLICT)
	}
	if _, err := s.CreateTerminal(ctx, "till", 99, sha256.Sum256([]byte("x")), noon.Add(1)); server.ErrorCode(err) != server.ENOTFOUND {
		t.Errorf("a register of canteen 99: %v, want %s", err, server.ENOTFOUND)
	}
	if err := s.MoveTerminal(ctx, first.ID, 99); server.ErrorCode(err) != server.ENOTFOUND {
		t.Errorf("a register moved to canteen 99: %v, want %s", err, server.ENOTFOUND)
	}
	if err := s.MoveTerminal(ctx, 9999, east.ID); server.ErrorCode(err) != server.ENOTFOUND {
		t.Errorf("register 9999 moved: %v, want %s", err, server.ENOTFOUND)
	}
	if cs, _ := s.Canteens(ctx); len(cs) != 2 {
		t.Fatalf("after the refusals: %d canteens, want 2", len(cs))
	}
	if rep := verify(t, s); rep.Registers != 1 {
		t.Errorf("after the refusals: %d registers, want 1", rep.Registers)
	}

	// A register of the east canteen, and one of the first.
	code := sha256.Sum256([]byte("east till"))
	if _, err := s.CreateTerminal(ctx, "东区一号", east.ID, code, noon.Add(24*3600e9)); err != nil {
		t.Fatal(err)
	}
	eastReg := servertest.NewRegister(t)
	eastReg.Time = first.Time
	enrolled, err := s.EnrollTerminal(ctx, code, eastReg.Public())
	if err != nil {
		t.Fatal(err)
	}
	eastReg.ID = enrolled.ID
	if enrolled.Canteen != east.ID {
		t.Fatalf("the east register is of canteen %d, want %d", enrolled.Canteen, east.ID)
	}

	servertest.OpenCard(t, s, "04C1", 100*money.Yuan)
	servertest.OpenCard(t, s, "04C2", 100*money.Yuan)
	settle(t, s, first, first.Sale(t, "04C1", 1000), first.Sale(t, "04C2", 500))
	settle(t, s, eastReg, eastReg.Sale(t, "04C1", 700), eastReg.Sale(t, "04C1", 300))
	// A sale on a card no one opened is the canteen's too, owed by suspense.
	if acks := settle(t, s, eastReg, eastReg.Sale(t, "04FFFF", 50)); acks[0].Outcome != wire.Flagged {
		t.Errorf("an unknown card's sale: %v, want flagged", acks[0].Outcome)
	}
	if got := canteenRevenue(t, s, server.FirstCanteen); got != 1500 {
		t.Errorf("the first canteen's revenue %d, want 1500", got)
	}
	if got := canteenRevenue(t, s, east.ID); got != 1050 {
		t.Errorf("the east canteen's revenue %d, want 1050", got)
	}

	// The void of the east register's sale 2 (300) is taken back from the east.
	if acks := settle(t, s, eastReg, eastReg.Void(t, "04C1", 300, 2)); acks[0].Outcome != wire.Settled {
		t.Fatalf("void: %v", acks[0].Outcome)
	}
	if got := canteenRevenue(t, s, east.ID); got != 750 {
		t.Errorf("after the void the east canteen's revenue is %d, want 750", got)
	}

	// A refund names the canteen; it may give back what the card paid
	// that canteen, net, and no more.
	opErr(t, s, server.CardOp{Kind: server.OpRefund, CardNo: "04C1", Amount: 701, Canteen: east.ID}, server.EINVALID)
	opErr(t, s, server.CardOp{Kind: server.OpRefund, CardNo: "04C1", Amount: 1, Canteen: 99}, server.ENOTFOUND)
	opErr(t, s, server.CardOp{Kind: server.OpRefund, CardNo: "04C1", Amount: 1, Canteen: -1}, server.EINVALID)
	opErr(t, s, server.CardOp{Kind: server.OpRecharge, CardNo: "04C1", Amount: 1, Canteen: east.ID}, server.EINVALID)
	if res := op(t, s, server.CardOp{Kind: server.OpRefund, CardNo: "04C1", Amount: 700, Canteen: east.ID}); res.Balance != 100*money.Yuan-1000 {
		t.Errorf("balance after the refund %d, want %d", res.Balance, 100*money.Yuan-1000)
	}
	// 04C2 paid the east nothing.
	opErr(t, s, server.CardOp{Kind: server.OpRefund, CardNo: "04C2", Amount: 1, Canteen: east.ID}, server.EINVALID)
	opErr(t, s, server.CardOp{Kind: server.OpRefund, CardNo: "04C1", Amount: 1, Canteen: east.ID}, server.EINVALID)
	// Without a canteen, a refund is the first canteen's.
	op(t, s, server.CardOp{Kind: server.OpRefund, CardNo: "04C2", Amount: 400})
	if a, b := canteenRevenue(t, s, server.FirstCanteen), canteenRevenue(t, s, east.ID); a != 1100 || b != 50 {
		t.Errorf("after the refunds: revenues %d and %d, want 1100 and 50", a, b)
	}

	// A hold captured for the east canteen is its revenue.
	hold := op(t, s, server.CardOp{Kind: server.OpHold, CardNo: "04C1", Amount: 200})
	op(t, s, server.CardOp{Kind: server.OpCapture, CardNo: "04C1", HoldID: hold.HoldID, Canteen: east.ID})
	if got := canteenRevenue(t, s, east.ID); got != 250 {
		t.Errorf("after the capture the east canteen's revenue is %d, want 250", got)
	}

	// The first register moves east: its sales from then on are the
	// east's, and its earlier ones stay the first canteen's, void included.
	if err := s.MoveTerminal(ctx, first.ID, east.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.MoveTerminal(ctx, first.ID, east.ID); err != nil { // again: nothing to change
		t.Fatalf("moved again to the same canteen: %v", err)
	}
	settle(t, s, first, first.Sale(t, "04C1", 100), first.Void(t, "04C1", 1000, 1))
	if a, b := canteenRevenue(t, s, server.FirstCanteen), canteenRevenue(t, s, east.ID); a != 100 || b != 350 {
		t.Errorf("after the move: revenues %d and %d, want 100 and 350", a, b)
	}
	verify(t, s)
}
