package main

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"database/sql"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/fanka/fanka/server"
	"github.com/fanka/fanka/server/servertest"
	"github.com/fanka/fanka/server/sqlite"
)

// TestLoaderWritesWhatSettlementWrites loads a small ledger with the
// benchmark's loader, settles the same sales (the same signed entries, at
// the same times) through the real store's settlement into another
// database, and compares the two: every day's report, and the rows the
// sales left in the ledger (transactions, postings, journal entries with
// their acks, the cards' counters, the balances, the registers' cursors)
// and the indexes. Sales that break the default rules (a second lunch on a
// card, a double tap) are among them: settlement flags them, and so must
// the loader.
func TestLoaderWritesWhatSettlementWrites(t *testing.T) {
	ctx := context.Background()
	cfg := config{Sales: 450, PerDay: 150, Peak: 150, Cards: 120, Registers: 3}
	g, err := newGenerator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	loadedPath := filepath.Join(dir, "loaded.db")
	var days [][]generated
	led, err := load(ctx, g, loadedPath, func(sales []generated) error {
		days = append(days, slices.Clone(sales))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if led.Sales != cfg.Sales || len(days) != 3 {
		t.Fatalf("loaded %d sales in %d days, want %d in 3", led.Sales, len(days), cfg.Sales)
	}

	// The same registers and cards, then the same sales, through the store.
	clock := servertest.NewClock(g.opened())
	settledPath := filepath.Join(dir, "settled.db")
	st := sqlite.New(settledPath)
	st.Now = clock.Now
	if err := st.Open(ctx); err != nil {
		t.Fatal(err)
	}
	for _, r := range g.regs {
		code := sha256.Sum256([]byte(fmt.Sprint("code", r.id)))
		term, err := st.CreateTerminal(ctx, fmt.Sprintf("%d号窗口", r.id), 0, code, clock.Now().Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.EnrollTerminal(ctx, code, r.key.Public().(ed25519.PublicKey)); err != nil || term.ID != r.id {
			t.Fatalf("register %d: enrolled as %d: %v", r.id, term.ID, err)
		}
	}
	for i := range cfg.Cards {
		servertest.OpenCard(t, st, cardNo(i), deposit)
	}
	flagged := 0
	for _, sales := range days {
		for _, s := range sales {
			clock.Set(s.at.Add(30 * time.Millisecond))
			if _, err := st.Settle(ctx, g.regs[s.terminal].id, [][]byte{s.raw}); err != nil {
				t.Fatalf("settle %d/%d: %v", g.regs[s.terminal].id, s.seq, err)
			}
			if s.outcome == "flagged" {
				flagged++
			}
		}
	}
	if flagged == 0 {
		t.Errorf("no sale broke a rule: the test does not show that the loader flags as settlement does")
	}

	// Every day's report is the same.
	loadedStore := sqlite.New(loadedPath)
	if err := loadedStore.Open(ctx); err != nil {
		t.Fatal(err)
	}
	defer loadedStore.Close()
	for d := range days {
		q := server.DailyQuery{Date: g.first.AddDate(0, 0, d)}
		want, err := st.DailyReport(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		got, err := loadedStore.DailyReport(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if want.Sales != int64(len(days[d])) {
			t.Errorf("settled report of day %d: %d sales, want %d", d, want.Sales, len(days[d]))
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("report of day %d (-settled +loaded):\n%s", d, diff)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	// The rows.
	settled, loaded := openRead(t, settledPath), openRead(t, loadedPath)
	for _, q := range []string{
		`SELECT id, kind, origin, created, terminal_id, seq, card_no, day, void_of, operator FROM transactions WHERE kind = 'sale' ORDER BY id`,
		`SELECT p.tx_id, p.account_id, p.amount FROM postings p JOIN transactions t ON t.id = p.tx_id WHERE t.kind = 'sale' ORDER BY p.tx_id, p.amount`,
		`SELECT terminal_id, seq, hash, raw, tx_id, outcome, note, balance, version, day, today_count, settled_at FROM entries ORDER BY terminal_id, seq`,
		`SELECT card_no, account_id, status, reason, version, day, today_count, day_amount, last_sale, period, period_count FROM cards ORDER BY card_no`,
		`SELECT id, kind, balance, held FROM accounts ORDER BY id`,
		`SELECT id, name, last_seq, last_hash, disabled FROM terminals ORDER BY id`,
		`SELECT value FROM counters WHERE name = 'card_version'`,
		`SELECT name, tbl_name, sql FROM sqlite_master WHERE type = 'index' ORDER BY name`,
	} {
		want, got := rowsOf(t, settled, q), rowsOf(t, loaded, q)
		if len(want) == 0 {
			t.Errorf("%s: no rows in the settled ledger", q)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s (-settled +loaded):\n%s", q, diff)
		}
	}
}

func openRead(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open(sqlite.Driver, "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// rowsOf returns the rows of q, each value as the driver gives it.
func rowsOf(t *testing.T, db *sql.DB, q string) [][]any {
	t.Helper()
	rows, err := db.Query(q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	var out [][]any
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		out = append(out, vals)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
