package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fanka/fanka/server"
	"github.com/fanka/fanka/server/servertest"
	"github.com/fanka/fanka/server/sqlite"
	"github.com/fanka/fanka/server/storetest"
	"github.com/fanka/fanka/shared/money"
	"github.com/fanka/fanka/shared/wire"
)

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T, now func() time.Time) server.Store {
		return servertest.MustOpenSQLite(t, now)
	})
}

func TestPragmas(t *testing.T) {
	db := servertest.MustOpenSQLite(t, nil)
	raw := mustRawDB(t, db.Path)
	var mode string
	if err := raw.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal mode %q (%v), want wal", mode, err)
	}
	v, err := db.SchemaVersion(context.Background())
	if err != nil || v != sqlite.LatestSchema() {
		t.Errorf("schema version %d (%v), want %d", v, err, sqlite.LatestSchema())
	}
}

func TestReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "fanka.db")
	db := sqlite.New(path)
	if err := db.Open(ctx); err != nil {
		t.Fatal(err)
	}
	c := servertest.OpenCard(t, db, "04A1", 500)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = sqlite.New(path)
	if err := db.Open(ctx); err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer db.Close()
	if got, err := db.Card(ctx, c.CardNo); err != nil || got.Balance != 500 {
		t.Errorf("card after reopening: %+v, %v", got, err)
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "fanka.db")
	db := sqlite.New(path)
	if err := db.Open(ctx); err != nil {
		t.Fatal(err)
	}
	db.Close()
	raw := mustRawDB(t, path)
	if _, err := raw.Exec(`INSERT INTO schema_version (version, applied) VALUES (99, 0)`); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	db = sqlite.New(path)
	if err := db.Open(ctx); err == nil || !strings.Contains(err.Error(), "newer") {
		db.Close()
		t.Fatalf("open: %v, want a refusal of a newer schema", err)
	}
}

// TestConcurrentSettle settles from several registers at once, with office
// requests in between: the single writer keeps every invariant.
func TestConcurrentSettle(t *testing.T) {
	ctx := context.Background()
	db := servertest.MustOpenSQLite(t, nil)
	const registers, batches, perBatch = 4, 10, 20
	for i := range registers {
		servertest.OpenCard(t, db, fmt.Sprintf("0C%02d", i), 100*money.Yuan)
	}
	regs := make([]*servertest.Register, registers)
	for i := range regs {
		regs[i] = servertest.NewRegister(t)
		servertest.Enroll(t, db, regs[i])
	}
	var wg sync.WaitGroup
	errs := make(chan error, registers+1)
	for i, r := range regs {
		// Make the entries here: the register helper is not safe for
		// concurrent use and t.Fatal must run on the test's goroutine.
		var all [][][]byte
		for range batches {
			var batch [][]byte
			for range perBatch {
				batch = append(batch, r.Sale(t, fmt.Sprintf("0C%02d", (i+len(batch))%registers), 10))
			}
			all = append(all, batch)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, b := range all {
				if _, err := db.Settle(ctx, r.ID, b); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range 20 {
			if _, err := db.OpenCard(ctx, server.OpenCard{RequestID: fmt.Sprint("c", i), PersonID: fmt.Sprint("p", i), Name: "n", Deposit: 1}); err != nil {
				errs <- err
				return
			}
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	rep, err := db.Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Entries != registers*batches*perBatch || rep.Registers != registers {
		t.Errorf("verify: %+v", rep)
	}
	var total money.Fen
	for i := range registers {
		c, _ := db.Card(ctx, fmt.Sprintf("0C%02d", i))
		total += c.Balance
	}
	if want := money.Fen(registers*100*money.Yuan - registers*batches*perBatch*10); total != want {
		t.Errorf("cards hold %d in all, want %d", total, want)
	}
}

// TestVerifyFindsTampering edits the database by hand, as a careless or
// dishonest person could, and expects verify to name the row.
func TestVerifyFindsTampering(t *testing.T) {
	tests := []struct {
		name  string
		sql   string
		table string
		row   string
	}{
		{"sealed amount moved, balances fixed", `UPDATE postings SET amount = amount + 100 WHERE tx_id = {sale} AND account_id = 1;
			UPDATE postings SET amount = amount - 100 WHERE tx_id = {sale} AND account_id = {account};
			UPDATE accounts SET balance = balance + 100 WHERE id = 1;
			UPDATE accounts SET balance = balance - 100 WHERE id = {account}`, "transactions", "{sale}"},
		{"sealed kind", `UPDATE transactions SET kind = 'refund' WHERE id = {sale}`, "transactions", "{sale}"},
		{"sealed time", `UPDATE transactions SET created = created - 1 WHERE id = {sale}`, "transactions", "{sale}"},
		{"seal hash", `UPDATE seals SET hash = zeroblob(32) WHERE seq = 1`, "seals", "1"},
		{"seal removed", `DELETE FROM seals WHERE seq = 1`, "seals", "2"},
		{"posting amount", `UPDATE postings SET amount = amount + 100 WHERE tx_id = {sale} AND account_id = 1`, "transactions", "{sale}"},
		{"balance", `UPDATE accounts SET balance = balance + 1 WHERE id = {account}`, "accounts", "{account}"},
		{"both sides of a posting", `UPDATE postings SET amount = -amount WHERE tx_id = {sale}`, "accounts", "1"},
		{"entry bytes", `UPDATE entries SET raw = CAST(raw || x'00' AS BLOB), hash = {rehash} WHERE seq = 2`, "entries", "{term}/2"},
		{"entry hash", `UPDATE entries SET hash = zeroblob(32) WHERE seq = 2`, "entries", "{term}/2"},
		{"posted entry removed", `DELETE FROM entries WHERE seq = 2`, "transactions", "{sale}"},
		{"unposted entry removed", `DELETE FROM entries WHERE seq = 4`, "entries", "{term}/5"},
		{"register cursor", `UPDATE terminals SET last_seq = 2`, "terminals", "{term}"},
		{"origin", `UPDATE transactions SET origin = 'T{term}/9' WHERE id = {sale}`, "transactions", "{sale}"},
		{"entry posted twice", `UPDATE entries SET tx_id = {sale} WHERE seq = 3`, "entries", "{term}/3"},
		{"transaction without postings", `INSERT INTO transactions (kind, origin, created) VALUES ('recharge', 'Rx', 0)`, "transactions", "{next}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			db := servertest.MustOpenSQLite(t, nil)
			opened := servertest.OpenCard(t, db, "04A1", 10000)
			mustSeal(t, db, 1)
			r := servertest.NewRegister(t)
			servertest.Enroll(t, db, r)
			// Seq 4 voids seq 1 again: flagged, nothing posted.
			if _, err := db.Settle(ctx, r.ID, [][]byte{r.Sale(t, "04A1", 100), r.Sale(t, "04A1", 200), r.Void(t, "04A1", 100, 1),
				r.Void(t, "04A1", 100, 1), r.Sale(t, "04A1", 50)}); err != nil {
				t.Fatal(err)
			}
			mustSeal(t, db, 4)
			if rep, err := db.Verify(ctx); err != nil || rep.Seals.Seals != 2 || rep.Seals.Sealed != 5 || rep.Seals.Unsealed != 0 {
				t.Fatalf("verify before tampering: %+v, %v", rep, err)
			}
			raw := mustRawDB(t, db.Path)
			var sale, next int64
			if err := raw.QueryRow(`SELECT id FROM transactions WHERE origin = ?`, server.TerminalOrigin(r.ID, 2)).Scan(&sale); err != nil {
				t.Fatal(err)
			}
			if err := raw.QueryRow(`SELECT MAX(id) + 1 FROM transactions`).Scan(&next); err != nil {
				t.Fatal(err)
			}
			expand := strings.NewReplacer("{sale}", fmt.Sprint(sale), "{account}", fmt.Sprint(opened.AccountID),
				"{term}", fmt.Sprint(r.ID), "{next}", fmt.Sprint(next),
				"{rehash}", `(SELECT hash FROM entries WHERE seq = 2)`)
			for _, stmt := range strings.Split(expand.Replace(tt.sql), ";") {
				if _, err := raw.Exec(stmt); err != nil {
					t.Fatalf("tamper: %s: %v", stmt, err)
				}
			}
			_, err := db.Verify(ctx)
			var v *server.Violation
			if !errors.As(err, &v) {
				t.Fatalf("verify after tampering: %v, want a violation", err)
			}
			t.Log(v)
			want := &server.Violation{Table: tt.table, Row: expand.Replace(tt.row)}
			if v.Table != want.Table || v.Row != want.Row {
				t.Errorf("violation %q, want one in %s row %s", v, want.Table, want.Row)
			}
		})
	}
}

// TestSettleSeesOtherWriters checks that the settler, which keeps cards
// between its transactions, reads them again after another connection
// changed the file.
func TestSettleSeesOtherWriters(t *testing.T) {
	ctx := context.Background()
	db := servertest.MustOpenSQLite(t, nil)
	r := servertest.NewRegister(t)
	servertest.Enroll(t, db, r)
	servertest.OpenCard(t, db, "04A1", 1000)
	if _, err := db.Settle(ctx, r.ID, [][]byte{r.Sale(t, "04A1", 100)}); err != nil {
		t.Fatal(err)
	}
	raw := mustRawDB(t, db.Path)
	if _, err := raw.Exec(`UPDATE cards SET status = 'frozen' WHERE card_no = '04A1'`); err != nil {
		t.Fatal(err)
	}
	acks, err := db.Settle(ctx, r.ID, [][]byte{r.Sale(t, "04A1", 100)})
	if err != nil {
		t.Fatal(err)
	}
	if acks[0].Outcome != wire.Flagged || acks[0].Balance != 800 {
		t.Errorf("sale on a card frozen behind the store's back: %+v, want flagged at 800", acks[0])
	}
}

func mustRawDB(t *testing.T, path string) *sql.DB { return servertest.MustRawSQLite(t, path) }

// BenchmarkSettle settles batches of 100 sales from one register over 100
// cards: one transaction per batch (no other register to group it with),
// each batch authenticated by its chain and its last signature.
func BenchmarkSettle(b *testing.B) {
	ctx := context.Background()
	db := servertest.MustOpenSQLite(b, nil)
	for i := range 100 {
		servertest.OpenCard(b, db, fmt.Sprintf("0B%03d", i), 1000*money.Yuan)
	}
	r := servertest.NewRegister(b)
	servertest.Enroll(b, db, r)
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		batch := make([][]byte, 100)
		for i := range batch {
			batch[i] = r.Sale(b, fmt.Sprintf("0B%03d", i), 1)
		}
		b.StartTimer()
		if _, err := db.Settle(ctx, r.ID, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "sales/s")
}

// mustSeal seals the ledger and fails unless it sealed n transactions.
func mustSeal(t *testing.T, db interface {
	Seal(context.Context) (int, error)
}, n int) {
	t.Helper()
	got, err := db.Seal(context.Background())
	if err != nil || got != n {
		t.Fatalf("seal: %d transactions (%v), want %d", got, err, n)
	}
}

// TestModel runs the randomized model test of the ledger (storetest.RunModel).
func TestModel(t *testing.T) {
	storetest.RunModel(t, func(t *testing.T, now func() time.Time) server.Store { return servertest.MustOpenSQLite(t, now) },
		storetest.ModelOps(t), storetest.ModelSeed(t))
}
