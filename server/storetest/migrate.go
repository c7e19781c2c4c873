package storetest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"fmt"
	"testing"
	"time"

	"github.com/fanka/fanka/server"
	"github.com/fanka/fanka/server/servertest"
	"github.com/fanka/fanka/shared/journal"
	"github.com/fanka/fanka/shared/wire"
)

// MigrationEnv is a store's side of MigrationTest.
type MigrationEnv struct {
	// Latest is the store's schema version: the number of its migrations.
	Latest int
	// At creates a new database whose schema is at version k (the store's
	// first k migrations applied, none for 0) and returns the driver's
	// handle on it, for the test to fill as a server of that version
	// would have, and a function that opens it as the server does, which
	// brings it to Latest.
	At func(t *testing.T, k int) (raw *sql.DB, open func(t *testing.T) server.Store)
}

// fixtures fill a database at each schema version with rows that fit it:
// fixtures[v] runs on a database at version k for every v ≤ k, in order,
// with the register whose one entry fixtures[1] settled. A migration that
// adds no table or column that needs rows of its own needs no fixture:
// the rows of the earlier versions ride up through it.
var fixtures = map[int]func(t *testing.T, raw *sql.DB, r *servertest.Register){
	1: fillVersion1,
	2: fillVersion2,
}

// fixtureBalance is the balance of card fixtureCard after the fixtures.
const (
	fixtureCard    = "04A1"
	fixtureBalance = 10000 - 1250
)

// fillVersion1 writes what schema 1 holds after a short life: an admin
// with a token, a card opened with a deposit by a request, a register
// enrolled with one sale settled, an alarm.
func fillVersion1(t *testing.T, raw *sql.DB, r *servertest.Register) {
	t.Helper()
	now := time.Now()
	ms := now.UnixMilli()
	day := now.Unix() / 86400
	r.ID = 1
	entry := r.Sale(t, fixtureCard, 1250)
	hash := journal.HashBytes(entry)
	var code, token, fingerprint [32]byte
	rand.Read(code[:])
	rand.Read(token[:])
	fingerprint = sha256.Sum256([]byte("open " + fixtureCard))
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`UPDATE counters SET value = 1 WHERE name = 'card_version'`, nil},
		{`UPDATE accounts SET balance = 1250 WHERE id = 1`, nil},
		{`UPDATE accounts SET balance = -10000 WHERE id = 2`, nil},
		{`INSERT INTO accounts (id, kind, person_id, name, balance, created) VALUES (?, ?, ?, ?, ?, ?)`,
			[]any{5, "diner", "P" + fixtureCard, "张三", fixtureBalance, ms}},
		{`INSERT INTO cards (card_no, account_id, status, version, day, today_count, created) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			[]any{fixtureCard, 5, "active", 1, day, 1, ms}},
		{`INSERT INTO terminals (id, name, public_key, enrol_code_hash, enrol_expires, enrolled, last_seq, last_hash, last_seen, disabled, created)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			[]any{1, "till 1", []byte(r.Public()), code[:], ms + 3600_000, ms, 1, hash[:], ms, 0, ms}},
		{`INSERT INTO transactions (id, kind, origin, created, terminal_id, seq, card_no, day, void_of, operator) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			[]any{1, "open", server.RequestOrigin("fixture-open"), ms, nil, nil, fixtureCard, nil, nil, "admin"}},
		{`INSERT INTO transactions (id, kind, origin, created, terminal_id, seq, card_no, day, void_of, operator) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			[]any{2, "sale", server.TerminalOrigin(1, 1), ms, 1, 1, fixtureCard, day, nil, nil}},
		{`INSERT INTO postings (id, tx_id, account_id, amount) VALUES (1, 1, 2, -10000), (2, 1, 5, 10000), (3, 2, 5, -1250), (4, 2, 1, 1250)`, nil},
		{`INSERT INTO entries (terminal_id, seq, hash, raw, tx_id, outcome, note, balance, version, day, today_count, settled_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			[]any{1, 1, hash[:], entry, 2, wire.Settled.String(), "", fixtureBalance, 1, day, 1, ms}},
		{`INSERT INTO users (name, password_hash, role, created) VALUES (?, ?, ?, ?)`,
			[]any{"admin", "$argon2id$v=19$m=65536,t=1,p=4$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g", "admin", ms}},
		{`INSERT INTO tokens (hash, user_name, expires, created) VALUES (?, ?, ?, ?)`, []any{token[:], "admin", ms + 3600_000, ms}},
		{`INSERT INTO requests (request_id, op, fingerprint, response, operator, created) VALUES (?, ?, ?, ?, ?, ?)`,
			[]any{"fixture-open", "open_card", fingerprint[:], `{"card_no":"04A1","account_id":5,"balance":10000}`, "admin", ms}},
		{`INSERT INTO alarms (id, created, terminal_id, code, message) VALUES (?, ?, ?, ?, ?)`, []any{1, ms, 1, "chain", "a fixture's alarm"}},
	} {
		if _, err := raw.Exec(q.sql, q.args...); err != nil {
			t.Fatalf("fill schema version 1: %s: %v", q.sql, err)
		}
	}
}

// fillVersion2 queues a print job.
func fillVersion2(t *testing.T, raw *sql.DB, _ *servertest.Register) {
	t.Helper()
	ms := time.Now().UnixMilli()
	_, err := raw.Exec(`INSERT INTO print_jobs (id, printer, title, doc, created, attempts, clean, next_try, last_error, printed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		1, "office", "receipt 1/1", []byte("\x1b@receipt\n"), ms, 0, 0, ms, "", nil)
	if err != nil {
		t.Fatalf("fill schema version 2: %v", err)
	}
}

// fixtureTables are the tables the fixtures fill, by the version that
// created them.
var fixtureTables = map[int][]string{
	1: {"counters", "accounts", "cards", "terminals", "transactions", "postings", "entries", "users", "tokens", "requests", "alarms"},
	2: {"print_jobs"},
}

// MigrationTest checks that a database of every earlier schema version
// migrates to the newest with its data: for each k below env.Latest it
// builds a database at version k, fills it with rows that fit version k,
// opens it as the server does, and checks that every row is still there,
// that Verify passes, that the card, register, user and print job read
// back, and that the register's next sale settles on top.
func MigrationTest(t *testing.T, env MigrationEnv) {
	if env.Latest < 1 {
		t.Fatalf("no migrations (Latest %d)", env.Latest)
	}
	for k := 0; k < env.Latest; k++ {
		t.Run(fmtVersion(k), func(t *testing.T) {
			ctx := context.Background()
			raw, open := env.At(t, k)
			r := servertest.NewRegister(t)
			var tables []string
			for v := 1; v <= k; v++ {
				if fill := fixtures[v]; fill != nil {
					fill(t, raw, r)
				}
				tables = append(tables, fixtureTables[v]...)
			}
			if k >= 1 {
				// A card reported lost before the hotlist existed: the
				// migration that makes it lists the card.
				if _, err := raw.Exec(`UPDATE cards SET status = 'lost' WHERE card_no = ?`, fixtureCard); err != nil {
					t.Fatal(err)
				}
			}
			if k >= 9 {
				// From version 9 on, a server lists the card as it
				// reports it lost.
				if _, err := raw.Exec(`INSERT INTO hotlist (card_no, status, version) SELECT card_no, status, version FROM cards WHERE card_no = ?`, fixtureCard); err != nil {
					t.Fatal(err)
				}
			}
			before := map[string]int64{}
			for _, tb := range tables {
				before[tb] = countRows(t, raw, tb)
			}

			store := open(t)
			if sv, ok := store.(interface {
				SchemaVersion(context.Context) (int, error)
			}); ok {
				if v, err := sv.SchemaVersion(ctx); err != nil || v != env.Latest {
					t.Fatalf("schema version after Open: %d (%v), want %d", v, err, env.Latest)
				}
			}
			for _, tb := range tables {
				if n := countRows(t, raw, tb); n < before[tb] {
					t.Errorf("table %s: %d rows before the migration, %d after", tb, before[tb], n)
				}
			}
			rep, err := store.Verify(ctx)
			if err != nil {
				t.Fatalf("verify after migrating from version %d: %v", k, err)
			}
			if k == 0 {
				if rep.Transactions != 0 || rep.Entries != 0 {
					t.Errorf("verify of a new database: %+v", rep)
				}
				return
			}
			if rep.Transactions != 2 || rep.Entries != 1 || rep.Registers != 1 {
				t.Errorf("verify: %+v; want 2 transactions, 1 entry, 1 register", rep)
			}
			card, err := store.Card(ctx, fixtureCard)
			if err != nil || card.Balance != fixtureBalance {
				t.Errorf("card %s after the migration: %+v, %v; want balance %d", fixtureCard, card, err, fixtureBalance)
			}
			if u, err := store.User(ctx, "admin"); err != nil || u.Role != server.RoleAdmin {
				t.Errorf("user admin after the migration: %+v, %v", u, err)
			}
			if k >= 2 {
				if q, err := store.QueuedPrintJobs(ctx); err != nil || q["office"] != 1 {
					t.Errorf("queued print jobs after the migration: %v, %v; want office: 1", q, err)
				}
			}
			hot, err := store.HotlistSnapshot(ctx, "", 10)
			if err != nil || len(hot) != 1 || hot[0] != (wire.HotlistEntry{Version: card.Version, CardNo: fixtureCard, Status: wire.CardLost}) {
				t.Errorf("hotlist after the migration: %+v, %v; want %s lost at version %d", hot, err, fixtureCard, card.Version)
			}
			// The register's status is kept from the first after it.
			st := sampleStatus(time.Now())
			if err := store.SetTerminalStatus(ctx, r.ID, st, time.Now()); err != nil {
				t.Errorf("the register's status after the migration: %v", err)
			} else if all, err := store.TerminalStatuses(ctx); err != nil || all[r.ID].Status != st {
				t.Errorf("the register's status after the migration: %+v, %v; want %+v", all[r.ID].Status, err, st)
			}
			acks, err := store.Settle(ctx, r.ID, [][]byte{r.Sale(t, fixtureCard, 100)})
			if err != nil || len(acks) != 1 || acks[0].Seq != 2 || acks[0].Balance != fixtureBalance-100 {
				t.Fatalf("the register's next sale after the migration: %+v, %v; want seq 2, balance %d", acks, err, fixtureBalance-100)
			}
			if _, err := store.Verify(ctx); err != nil {
				t.Errorf("verify after a sale on the migrated database: %v", err)
			}
		})
	}
}

func fmtVersion(k int) string { return fmt.Sprintf("from_version_%d", k) }

func countRows(t *testing.T, raw *sql.DB, table string) int64 {
	t.Helper()
	var n int64
	if err := raw.QueryRow(`SELECT COUNT(*) FROM ` + table).Scan(&n); err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}
