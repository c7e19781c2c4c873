package storetest

import (
	"context"
	"database/sql"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/fanka/fanka/server"
	"github.com/fanka/fanka/server/servertest"
	"github.com/fanka/fanka/shared/money"
)

// HeldRead is a report read that a test holds open on a store's database:
// Begin begins a read-only transaction as the store's reports do, and
// Report runs the daily report's queries in it.
type HeldRead struct {
	Begin  func(ctx context.Context) (*sql.Tx, error)
	Report func(ctx context.Context, tx *sql.Tx, q server.DailyQuery) (server.DailyReport, error)
}

// heldReadWait bounds the wait for one batch to commit while the read is
// open: a liveness check (a batch commits in milliseconds), not a speed
// bar; a settlement that waits for the reader waits forever, or for the
// database's lock timeout.
const heldReadWait = 60 * time.Second

// ReportReadNeverBlocksSettlement settles sales on s (opened with
// clock.Now, empty), then begins a report read with h, runs the daily
// report in it and keeps it open while it settles batch after batch on
// the same register, card and day: each batch must commit while the read
// is open. The open read must then still see its snapshot (the report as
// it was), and once it ends a new report must count every sale.
func ReportReadNeverBlocksSettlement(t *testing.T, s server.Store, clock *servertest.Clock, h HeldRead) {
	ctx := context.Background()
	servertest.NoLimits(t, s)
	servertest.OpenCard(t, s, "R1", 1_000_000)
	reg := servertest.NewRegister(t)
	reg.Time = clock.Now
	servertest.Enroll(t, s, reg)
	const first, batches, perBatch = 10, 20, 5
	var sales [][]byte
	for range first {
		sales = append(sales, reg.Sale(t, "R1", 100))
	}
	settle(t, s, reg, sales...)
	q := server.DailyQuery{Date: clock.Now()}
	before, err := s.DailyReport(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if before.Sales != first || before.Amount != first*100 {
		t.Fatalf("report before: %d sales of %d fen, want %d of %d", before.Sales, before.Amount, first, first*100)
	}

	tx, err := h.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	held, err := h.Report(ctx, tx, q)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, held); diff != "" {
		t.Fatalf("report in the held read (-store +held):\n%s", diff)
	}

	for b := range batches {
		batch := make([][]byte, perBatch)
		for i := range batch {
			batch[i] = reg.Sale(t, "R1", 100)
		}
		done := make(chan error, 1)
		go func() {
			acks, err := s.Settle(ctx, reg.ID, batch)
			if err == nil && len(acks) != len(batch) {
				err = fmt.Errorf("%d acks for %d entries", len(acks), len(batch))
			}
			done <- err
		}()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("batch %d, settled while a report read is open: %v", b+1, err)
			}
		case <-time.After(heldReadWait):
			t.Fatalf("batch %d did not commit within %v while a report read was open: settlement waits for the report", b+1, heldReadWait)
		}
	}
	settled := first + batches*perBatch
	if c := card(t, s, "R1"); c.Balance != 1_000_000-money.Fen(settled)*100 {
		t.Fatalf("balance %d after %d sales of 100 fen on 1,000,000", c.Balance, settled)
	}

	again, err := h.Report(ctx, tx, q)
	if err != nil {
		t.Fatalf("the held read, after the batches: %v", err)
	}
	if diff := cmp.Diff(before, again); diff != "" {
		t.Errorf("the held read lost its snapshot (-before +again):\n%s", diff)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatalf("end the held read: %v", err)
	}
	after, err := s.DailyReport(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if after.Sales != int64(settled) || after.Amount != money.Fen(settled)*100 {
		t.Errorf("report after: %d sales of %d fen, want %d of %d", after.Sales, after.Amount, settled, settled*100)
	}
}
