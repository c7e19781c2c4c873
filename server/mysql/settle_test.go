package mysql_test

import (
	"context"
	"testing"

	"github.com/fanka/fanka/server/servertest"
	"github.com/fanka/fanka/shared/wire"
)

// TestSettleVoidsInOneBatch settles a batch that voids its own sales, one
// of a card and one posted to suspense: Settle writes a batch's
// transactions rows many at a time, and a void must find a sale of its
// own batch all the same.
func TestSettleVoidsInOneBatch(t *testing.T) {
	ctx := context.Background()
	s := servertest.MustOpenMySQL(t, nil)
	servertest.NoLimits(t, s)
	r := servertest.NewRegister(t)
	servertest.Enroll(t, s, r)
	servertest.OpenCard(t, s, "04A1", 10000)
	batch := [][]byte{
		r.Sale(t, "04A1", 1250),    // 1
		r.Sale(t, "0BAD", 300),     // 2: unknown card, to suspense
		r.Void(t, "04A1", 1250, 1), // 3
		r.Sale(t, "04A1", 500),     // 4
		r.Void(t, "0BAD", 300, 2),  // 5
		r.Void(t, "04A1", 1250, 1), // 6: voided already: flagged, nothing posted
	}
	want := []wire.Outcome{wire.Settled, wire.Flagged, wire.Settled, wire.Settled, wire.Settled, wire.Flagged}
	for round, what := range []string{"first", "replay"} {
		acks, err := s.Settle(ctx, r.ID, batch)
		if err != nil {
			t.Fatalf("%s settlement of a batch with sales and their voids: %v", what, err)
		}
		for i, a := range acks {
			if a.Seq != uint64(i+1) || a.Outcome != want[i] {
				t.Errorf("%s settlement: ack %d is seq %d %v, want seq %d %v", what, i, a.Seq, a.Outcome, i+1, want[i])
			}
		}
		c, err := s.Card(ctx, "04A1")
		if err != nil {
			t.Fatal(err)
		}
		if c.Balance != 10000-500 || acks[3].Balance != 10000-500 {
			t.Errorf("after the %s settlement: card balance %d, ack of the last sale %d, want %d", what, c.Balance, acks[3].Balance, 10000-500)
		}
		rep, err := s.Verify(ctx)
		if err != nil {
			t.Fatalf("verify after the %s settlement: %v", what, err)
		}
		// The card's opening, three sales and two voids, whatever the round.
		if rep.Transactions != 6 || rep.Entries != 6 {
			t.Errorf("verify after the %s settlement (round %d): %+v, want 6 transactions and 6 entries", what, round, rep)
		}
	}
}
