package mysql_test

import (
	"context"
	"os"
	"sync"
	"testing"

	"github.com/fanka/fanka/server/mysql"
	"github.com/fanka/fanka/server/mysql/galera"
	"github.com/fanka/fanka/server/servertest"
)

// TestGaleraConflictsRetried runs two stores on two nodes of a real Galera
// cluster (three local mariadbd processes) and has both settle sales on one
// card at once, one sale per transaction: the node that commits second
// fails certification (error 1213, "Deadlock found … WSREP") and the store
// runs the transaction again. Every sale settles once, the balance is right
// and verify passes; the test checks that the cluster did refuse some
// commits, so the retry was exercised.
func TestGaleraConflictsRetried(t *testing.T) {
	if err := galera.Available(); err != nil {
		t.Skipf("no Galera cluster can run here: %v", err)
	}
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "fanka-galera-test-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	c, err := galera.Start(ctx, dir, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	admin := servertest.MustRawMySQL(t, c.DSN(0, "mysql"))
	if _, err := admin.Exec("CREATE DATABASE fanka CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"); err != nil {
		t.Fatal(err)
	}
	a := servertest.MustOpenMySQLAt(t, c.DSN(0, "fanka"), nil)
	b := servertest.MustOpenMySQLAt(t, c.DSN(1, "fanka"), nil)
	servertest.NoLimits(t, a)
	servertest.OpenCard(t, a, "04A1", 1_000_000)
	ra, rb := servertest.NewRegister(t), servertest.NewRegister(t)
	ta, tb := servertest.Enroll(t, a, ra), servertest.Enroll(t, b, rb)

	conflicts := func() (n int64) {
		for i := range c.Nodes {
			raw := servertest.MustRawMySQL(t, c.DSN(i, "mysql"))
			for _, name := range []string{"wsrep_local_cert_failures", "wsrep_local_bf_aborts"} {
				var k string
				var v int64
				if err := raw.QueryRow("SHOW GLOBAL STATUS LIKE '"+name+"'").Scan(&k, &v); err != nil {
					t.Fatal(err)
				}
				n += v
			}
		}
		return n
	}
	before := conflicts()

	const perRegister = 150
	var wg sync.WaitGroup
	for _, p := range []struct {
		db  *mysql.DB
		id  uint32
		reg *servertest.Register
	}{{a, ta.ID, ra}, {b, tb.ID, rb}} {
		sales := make([][]byte, perRegister)
		for i := range sales {
			sales[i] = p.reg.Sale(t, "04A1", 1)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i, sale := range sales {
				if _, err := p.db.Settle(ctx, p.id, [][]byte{sale}); err != nil {
					t.Errorf("register %d sale %d: %v", p.id, i+1, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	refused := conflicts() - before
	t.Logf("commits the cluster refused or aborted for a conflict: %d", refused)
	if refused == 0 {
		t.Error("no certification conflict happened: the retry was not exercised")
	}
	for _, s := range []*mysql.DB{a, b} {
		card, err := s.Card(ctx, "04A1")
		if err != nil || card.Balance != 1_000_000-2*perRegister {
			t.Fatalf("balance %d (%v), want %d", card.Balance, err, 1_000_000-2*perRegister)
		}
	}
	if _, err := b.Verify(ctx); err != nil {
		t.Fatal(err)
	}
}
