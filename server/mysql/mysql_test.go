package mysql_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/fanka/fanka/server"
	"github.com/fanka/fanka/server/mysql"
	"github.com/fanka/fanka/server/servertest"
	"github.com/fanka/fanka/server/storetest"
	"github.com/fanka/fanka/shared/money"
	"github.com/fanka/fanka/shared/wire"
)

// The tests below that need a database run on a fresh one each, on the
// server FANKA_MYSQL_DSN names (see servertest.MustMySQLDSN).

func TestStore(t *testing.T) {
	servertest.MustMySQLServer(t)
	storetest.Run(t, func(t *testing.T, now func() time.Time) server.Store {
		return servertest.MustOpenMySQL(t, now)
	})
}

func TestParseDSN(t *testing.T) {
	cfg, err := mysql.ParseDSN("mysql://fanka:p%40ss%3Aw%2Frd@db.example:3307/canteen?tls=true&innodb_lock_wait_timeout=5")
	if err != nil {
		t.Fatal(err)
	}
	got := []any{cfg.User, cfg.Passwd, cfg.Net, cfg.Addr, cfg.DBName, cfg.TLSConfig, cfg.Params["innodb_lock_wait_timeout"],
		cfg.ParseTime, cfg.ClientFoundRows, cfg.InterpolateParams, cfg.Timeout, cfg.Params["sql_mode"] != ""}
	want := []any{"fanka", "p@ss:w/rd", "tcp", "db.example:3307", "canteen", "true", "5",
		true, true, true, 10 * time.Second, true}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}

	cfg, err = mysql.ParseDSN("mysql://root@127.0.0.1/test?interpolateParams=false&parseTime=false&timeout=2s")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != "127.0.0.1:3306" || cfg.Passwd != "" || cfg.InterpolateParams || cfg.ParseTime || cfg.Timeout != 2*time.Second {
		t.Errorf("defaults and overrides: %+v", cfg)
	}

	for _, dsn := range []string{
		"postgres://u:secret@h/db",
		"mysql://u:secret@h",
		"mysql://u:secret@h/",
		"mysql://u:secret@h/a/b",
		"mysql:///db",
		"mysql://u:secret@h/db?timeout=soon",
		"mysql://u:secret@h:port/db%",
	} {
		_, err := mysql.ParseDSN(dsn)
		if err == nil {
			t.Errorf("%s: no error", dsn)
			continue
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("%s: the error shows the password: %v", dsn, err)
		}
	}
	if got := mysql.Redact("mysql://u:secret@h/db"); strings.Contains(got, "secret") {
		t.Errorf("redacted: %s", got)
	}
}

func TestSchema(t *testing.T) {
	ctx := context.Background()
	dsn := servertest.MustMySQLDSN(t)

	// Two servers starting at once on an empty database: one migrates, the
	// other waits and finds the schema done.
	var wg sync.WaitGroup
	dbs := make([]*mysql.DB, 3)
	errs := make([]error, len(dbs))
	for i := range dbs {
		dbs[i] = mysql.New(dsn)
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = dbs[i].Open(ctx)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		t.Cleanup(func() { dbs[i].Close() }) // Close may be called again
	}
	if v, err := dbs[0].SchemaVersion(ctx); err != nil || v != mysql.LatestSchema() {
		t.Errorf("schema version %d (%v), want %d", v, err, mysql.LatestSchema())
	}
	raw := servertest.MustRawMySQL(t, dsn)
	var rows int
	if err := raw.QueryRow(`SELECT COUNT(*) FROM schema_version`).Scan(&rows); err != nil || rows != mysql.LatestSchema() {
		t.Errorf("%d schema_version rows (%v), want %d", rows, err, mysql.LatestSchema())
	}
	var engines int
	if err := raw.QueryRow(`SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND engine <> 'InnoDB'`).Scan(&engines); err != nil || engines != 0 {
		t.Errorf("%d tables not InnoDB (%v)", engines, err)
	}

	// Data survives a restart.
	c := servertest.OpenCard(t, dbs[0], "04A1", 500)
	for _, db := range dbs {
		db.Close()
	}
	db := servertest.MustOpenMySQLAt(t, dsn, nil)
	if got, err := db.Card(ctx, c.CardNo); err != nil || got.Balance != 500 || got.Name != "张三" {
		t.Errorf("card after reopening: %+v, %v", got, err)
	}

	// A schema from a newer server is refused.
	if _, err := raw.Exec(`INSERT INTO schema_version (version, applied) VALUES (99, 0)`); err != nil {
		t.Fatal(err)
	}
	newer := mysql.New(dsn)
	if err := newer.Open(ctx); err == nil || !strings.Contains(err.Error(), "newer") {
		newer.Close()
		t.Fatalf("open: %v, want a refusal of a newer schema", err)
	}
}

// TestTwoServers runs two stores on one database, as two servers behind a
// load balancer, and has both settle the same registers' streams at once,
// in batches cut differently, while both open cards with the same request
// ids: every entry and every request is posted exactly once, and both
// servers give the same ack for each entry.
func TestTwoServers(t *testing.T) {
	ctx := context.Background()
	dsn := servertest.MustMySQLDSN(t)
	servers := []*mysql.DB{servertest.MustOpenMySQLAt(t, dsn, nil), servertest.MustOpenMySQLAt(t, dsn, nil)}
	batchSize := []int{7, 11}

	const registers, cards, perRegister = 3, 4, 120
	const deposit = 100 * money.Yuan
	for i := range cards {
		servertest.OpenCard(t, servers[i%2], fmt.Sprintf("0C%02d", i), deposit)
	}
	type stream struct {
		id      uint32
		entries [][]byte
	}
	var streams []stream
	var spent money.Fen
	voids := 0
	for i := range registers {
		r := servertest.NewRegister(t)
		servertest.Enroll(t, servers[i%2], r)
		s := stream{id: r.ID}
		for j := 1; j <= perRegister; j++ {
			card := fmt.Sprintf("0C%02d", (i+j)%cards)
			if j%10 == 0 { // void the sale before, on the card before
				s.entries = append(s.entries, r.Void(t, fmt.Sprintf("0C%02d", (i+j-1)%cards), money.Fen(j-1), uint64(j-1)))
				spent -= money.Fen(j - 1)
				voids++
				continue
			}
			s.entries = append(s.entries, r.Sale(t, card, money.Fen(j)))
			spent += money.Fen(j)
		}
		streams = append(streams, s)
	}

	// acks[register][server] is what that server answered for each entry.
	acks := make([][][]wire.Ack, registers)
	errs := make(chan error, 2*registers+2)
	var wg sync.WaitGroup
	for i, s := range streams {
		acks[i] = make([][]wire.Ack, len(servers))
		for k, db := range servers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for from := 0; from < len(s.entries); from += batchSize[k] {
					batch := s.entries[from:min(from+batchSize[k], len(s.entries))]
					got, err := db.Settle(ctx, s.id, batch)
					if err != nil {
						errs <- fmt.Errorf("server %d, register %d, entries from %d: %w", k, s.id, from+1, err)
						return
					}
					acks[i][k] = append(acks[i][k], got...)
				}
			}()
		}
	}
	const requests = 10
	opened := make([][]server.OpenedCard, len(servers))
	for k, db := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range requests {
				o, err := db.OpenCard(ctx, server.OpenCard{RequestID: fmt.Sprint("req-", j), Operator: "op", PersonID: fmt.Sprint("p", j), Name: "李四", Deposit: 100})
				if err != nil {
					errs <- fmt.Errorf("server %d, request %d: %w", k, j, err)
					return
				}
				opened[k] = append(opened[k], o)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	for i := range streams {
		if len(acks[i][0]) != perRegister {
			t.Fatalf("register %d: %d acks, want %d", i, len(acks[i][0]), perRegister)
		}
		if diff := cmp.Diff(acks[i][0], acks[i][1]); diff != "" {
			t.Errorf("register %d: the servers' acks differ (-first +second):\n%s", i, diff)
		}
	}
	if diff := cmp.Diff(opened[0], opened[1]); diff != "" {
		t.Errorf("the servers opened different cards for the same requests (-first +second):\n%s", diff)
	}

	rep, err := servers[0].Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := server.VerifyReport{
		Transactions: cards + requests + registers*perRegister,
		Entries:      registers * perRegister,
		Registers:    registers,
		Seals:        server.SealReport{Unsealed: cards + requests + registers*perRegister}, // younger than mysql.SealDelay
	}
	if rep != want {
		t.Errorf("verify: %+v, want %+v", rep, want)
	}
	var total money.Fen
	for i := range cards {
		c, err := servers[1].Card(ctx, fmt.Sprintf("0C%02d", i))
		if err != nil {
			t.Fatal(err)
		}
		total += c.Balance
	}
	if want := cards*deposit - spent; total != want {
		t.Errorf("cards hold %d in all, want %d", total, want)
	}
	raw := servertest.MustRawMySQL(t, dsn)
	var revenue money.Fen
	if err := raw.QueryRow(`SELECT balance FROM accounts WHERE id = ?`, server.RevenueAccount).Scan(&revenue); err != nil || revenue != spent {
		t.Errorf("revenue %d (%v), want %d", revenue, err, spent)
	}
}

// TestCardFeedAcrossServers: a sale settled by one server wakes the card
// subscribers of another on the same database.
func TestCardFeedAcrossServers(t *testing.T) {
	dsn := servertest.MustMySQLDSN(t)
	a := servertest.MustOpenMySQLAt(t, dsn, nil)
	b := mysql.New(dsn)
	b.CardPoll = 50 * time.Millisecond
	if err := b.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ch, stop := b.SubscribeCards()
	defer stop()
	servertest.OpenCard(t, a, "04A1", 1000)
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatal("no wake-up on the other server")
	}
}

// TestLockWaitRetried holds the lock on a register's row from another
// connection for longer than the store's lock wait: the store's settlement
// times out, rolls back and runs again until the lock is free.
func TestLockWaitRetried(t *testing.T) {
	ctx := context.Background()
	dsn := servertest.MustMySQLDSN(t)
	u, _ := url.Parse(dsn)
	u.RawQuery = "innodb_lock_wait_timeout=1"
	short := u.String()
	db := servertest.MustOpenMySQLAt(t, short, nil)
	servertest.OpenCard(t, db, "04A1", 1000)
	r := servertest.NewRegister(t)
	servertest.Enroll(t, db, r)

	hold := func(d time.Duration) {
		raw := servertest.MustRawMySQL(t, dsn)
		tx, err := raw.Begin()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(`SELECT id FROM terminals WHERE id = ? FOR UPDATE`, r.ID); err != nil {
			t.Fatal(err)
		}
		time.AfterFunc(d, func() { tx.Commit() })
	}

	hold(1500 * time.Millisecond)
	start := time.Now()
	acks, err := db.Settle(ctx, r.ID, [][]byte{r.Sale(t, "04A1", 100)})
	if err != nil || acks[0].Balance != 900 {
		t.Fatalf("settle: %v, %v", acks, err)
	}
	if d := time.Since(start); d < time.Second {
		t.Errorf("settled after %v: the lock was not held", d)
	}

	// With one attempt the timeout is the answer.
	once := mysql.New(short)
	once.MaxAttempts = 1
	if err := once.Open(ctx); err != nil {
		t.Fatal(err)
	}
	defer once.Close()
	hold(2500 * time.Millisecond)
	_, err = once.Settle(ctx, r.ID, [][]byte{r.Sale(t, "04A1", 100)})
	if err == nil || !strings.Contains(err.Error(), "1205") {
		t.Errorf("settle with one attempt: %v, want a lock wait timeout", err)
	}
	if c, _ := db.Card(ctx, "04A1"); c.Balance != 900 {
		t.Errorf("balance %d, want 900", c.Balance)
	}
	if _, err := db.Verify(ctx); err != nil {
		t.Error(err)
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
		{"seal hash", `UPDATE seals SET hash = UNHEX(REPEAT('00', 32)) WHERE seq = 1`, "seals", "1"},
		{"seal removed", `DELETE FROM seals WHERE seq = 1`, "seals", "2"},
		{"posting amount", `UPDATE postings SET amount = amount + 100 WHERE tx_id = {sale} AND account_id = 1`, "transactions", "{sale}"},
		{"posting added", `INSERT INTO postings (tx_id, account_id, amount) VALUES ({sale}, {account}, 1)`, "transactions", "{sale}"},
		{"balance", `UPDATE accounts SET balance = balance + 1 WHERE id = {account}`, "accounts", "{account}"},
		{"both sides of a posting", `UPDATE postings SET amount = -amount WHERE tx_id = {sale}`, "accounts", "1"},
		{"entry bytes", `UPDATE entries SET raw = CONCAT(raw, x'00') WHERE seq = 2`, "entries", "{term}/2"},
		{"entry bytes rehashed", `UPDATE entries SET hash = UNHEX(SHA2(CONCAT(raw, x'00'), 256)), raw = CONCAT(raw, x'00') WHERE seq = 2`, "entries", "{term}/2"},
		{"entry hash", `UPDATE entries SET hash = UNHEX(REPEAT('00', 32)) WHERE seq = 2`, "entries", "{term}/2"},
		{"posted entry removed", `DELETE FROM entries WHERE seq = 2`, "transactions", "{sale}"},
		{"unposted entry removed", `DELETE FROM entries WHERE seq = 4`, "entries", "{term}/5"},
		{"register cursor", `UPDATE terminals SET last_seq = 2`, "terminals", "{term}"},
		{"origin", `UPDATE transactions SET origin = 'T{term}/9' WHERE id = {sale}`, "transactions", "{sale}"},
		{"entry posted twice", `UPDATE entries SET tx_id = {sale} WHERE seq = 3`, "entries", "{term}/3"},
		{"transaction without postings", `INSERT INTO transactions (kind, origin, created) VALUES ('recharge', 'Rx', 0)`, "transactions", "{inserted}"},
	}
	servertest.MustMySQLServer(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			dsn := servertest.MustMySQLDSN(t)
			db := servertest.MustOpenMySQLAt(t, dsn, nil)
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
			raw := servertest.MustRawMySQL(t, dsn)
			var sale int64
			if err := raw.QueryRow(`SELECT id FROM transactions WHERE origin = ?`, server.TerminalOrigin(r.ID, 2)).Scan(&sale); err != nil {
				t.Fatal(err)
			}
			expand := strings.NewReplacer("{sale}", fmt.Sprint(sale), "{account}", fmt.Sprint(opened.AccountID), "{term}", fmt.Sprint(r.ID))
			var inserted int64
			for _, stmt := range strings.Split(expand.Replace(tt.sql), ";") {
				res, err := raw.Exec(stmt)
				if err != nil {
					t.Fatalf("tamper: %s: %v", stmt, err)
				}
				inserted, _ = res.LastInsertId()
			}
			_, err := db.Verify(ctx)
			var v *server.Violation
			if !errors.As(err, &v) {
				t.Fatalf("verify after tampering: %v, want a violation", err)
			}
			t.Log(v)
			row := strings.ReplaceAll(expand.Replace(tt.row), "{inserted}", fmt.Sprint(inserted))
			if v.Table != tt.table || v.Row != row {
				t.Errorf("violation %q, want one in %s row %s", v, tt.table, row)
			}
		})
	}
}

// BenchmarkSettle settles batches of 100 sales from one register over 100
// cards: one transaction per batch, every signature verified.
func BenchmarkSettle(b *testing.B) {
	ctx := context.Background()
	db := servertest.MustOpenMySQL(b, nil)
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

// mustSeal seals the ledger, with the store's clock past mysql.SealDelay,
// and fails unless it sealed n transactions.
func mustSeal(t *testing.T, db *mysql.DB, n int) {
	t.Helper()
	now := db.Now
	db.Now = func() time.Time { return now().Add(mysql.SealDelay) }
	got, err := db.Seal(context.Background())
	db.Now = now
	if err != nil || got != n {
		t.Fatalf("seal: %d transactions (%v), want %d", got, err, n)
	}
}

// TestModel runs the randomized model test of the ledger (storetest.RunModel).
func TestModel(t *testing.T) {
	servertest.MustMySQLServer(t)
	storetest.RunModel(t, func(t *testing.T, now func() time.Time) server.Store {
		return servertest.MustOpenMySQLAt(t, servertest.MustMySQLDSN(t), now)
	}, storetest.ModelOps(t), storetest.ModelSeed(t))
}
