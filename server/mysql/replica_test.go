package mysql_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/fanka/fanka/server"
	"github.com/fanka/fanka/server/mysql"
	"github.com/fanka/fanka/server/servertest"
)

// noon is a day's lunch, the clock of the tests below.
var noon = time.Date(2026, 3, 2, 12, 0, 0, 0, time.Local)

// TestReportsReadReplica starts a primary and an asynchronous replica of
// it (two local mariadbd processes, GTID replication) and a store on the
// primary whose ReportDSN is the replica. Sales settled on the primary
// reach the reports once the replica has them: the same daily report,
// sales list and audit log as the primary's. With the replica's SQL
// thread stopped, the reports lag (the primary's report counts the new
// sales, the replica's does not) — so the reports do read the replica —
// and catch up when it starts again. With the replica down, settlement
// goes on and the reports fail with an error.
func TestReportsReadReplica(t *testing.T) {
	ctx := context.Background()
	primary, replica := servertest.MustReplicatedMariaDB(t)
	clock := servertest.NewClock(noon)
	s := mysql.New(primary.DSN("fanka"))
	s.Now = clock.Now
	s.ReportDSN = replica.DSN("fanka")
	if err := s.Open(ctx); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	reports := s.Reports()
	servertest.NoLimits(t, s)
	servertest.OpenCard(t, s, "R1", 1_000_000)
	reg := servertest.NewRegister(t)
	reg.Time = clock.Now
	servertest.Enroll(t, s, reg)
	settleSales := func(n int) {
		t.Helper()
		batch := make([][]byte, n)
		for i := range batch {
			batch[i] = reg.Sale(t, "R1", 100)
		}
		if _, err := s.Settle(ctx, reg.ID, batch); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.AppendAudit(ctx, "admin", "test.replica", map[string]string{"why": "the audit list reads the replica"}); err != nil {
		t.Fatal(err)
	}
	q := server.DailyQuery{Date: noon}
	// same checks that the replica's reports equal the primary's and
	// count sales.
	same := func(sales int64) {
		t.Helper()
		want, err := s.DailyReport(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		got, err := reports.DailyReport(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if want.Sales != sales {
			t.Fatalf("primary's report: %d sales, want %d", want.Sales, sales)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("daily report (-primary +replica):\n%s", diff)
		}
		wantSales, err := s.Sales(ctx, 0, server.MaxSalesPage)
		if err != nil {
			t.Fatal(err)
		}
		gotSales, err := reports.Sales(ctx, 0, server.MaxSalesPage)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(wantSales, gotSales); diff != "" {
			t.Fatalf("sales list (-primary +replica):\n%s", diff)
		}
		wantAudit, err := s.Audit(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		gotAudit, err := reports.Audit(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(wantAudit, gotAudit); diff != "" || len(gotAudit) != 1 {
			t.Fatalf("audit log (%d records; -primary +replica):\n%s", len(gotAudit), diff)
		}
	}

	settleSales(20)
	if err := replica.CatchUp(ctx, primary, 60*time.Second); err != nil {
		t.Fatal(err)
	}
	same(20)

	// The replica stops applying: the reports lag.
	if err := replica.Exec(ctx, "STOP SLAVE SQL_THREAD"); err != nil {
		t.Fatal(err)
	}
	settleSales(5)
	onPrimary, err := s.DailyReport(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	onReplica, err := reports.DailyReport(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if onPrimary.Sales != 25 || onReplica.Sales != 20 {
		t.Fatalf("with the replica stopped: the primary's report counts %d sales (want 25), the replica's %d (want 20, as before)", onPrimary.Sales, onReplica.Sales)
	}
	last, err := s.LastTransactionID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if page, err := reports.Sales(ctx, 0, server.MaxSalesPage); err != nil || len(page) != 20 || page[len(page)-1].ID >= last {
		t.Fatalf("sales list on the stopped replica: %d sales (%v), want the 20 before it stopped", len(page), err)
	}

	if err := replica.Exec(ctx, "START SLAVE SQL_THREAD"); err != nil {
		t.Fatal(err)
	}
	if err := replica.CatchUp(ctx, primary, 60*time.Second); err != nil {
		t.Fatal(err)
	}
	same(25)

	// The replica dies: settlement does not notice; the reports fail.
	replica.Kill()
	settleSales(5)
	if c, err := s.Card(ctx, "R1"); err != nil || c.Balance != 1_000_000-30*100 {
		t.Fatalf("balance %d (%v) after 30 sales of 100 fen", c.Balance, err)
	}
	if _, err := reports.DailyReport(ctx, q); err == nil {
		t.Fatal("a report on a dead replica: no error")
	}
	if _, err := s.Verify(ctx); err != nil {
		t.Fatal(err)
	}
}
