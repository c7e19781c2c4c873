package mysql_test

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"testing"

	"github.com/fanka/fanka/server"
	"github.com/fanka/fanka/server/mysql"
	"github.com/fanka/fanka/server/servertest"
	"github.com/fanka/fanka/server/storetest"
)

func TestAuditFindsTampering(t *testing.T) {
	storetest.RunAuditTampering(t, func(t *testing.T) (server.Store, *sql.DB) {
		dsn := servertest.MustMySQLDSN(t)
		return servertest.MustOpenMySQLAt(t, dsn, nil), servertest.MustRawMySQL(t, dsn)
	})
}

// TestAuditAcrossServers appends from two servers on one database at once:
// the chain's head row, locked by each append, keeps one chain.
func TestAuditAcrossServers(t *testing.T) {
	ctx := context.Background()
	dsn := servertest.MustMySQLDSN(t)
	dbs := []*mysql.DB{servertest.MustOpenMySQLAt(t, dsn, nil), servertest.MustOpenMySQLAt(t, dsn, nil)}
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i, db := range dbs {
		for g := range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for n := range 10 {
					if _, err := db.AppendAudit(ctx, fmt.Sprintf("server%d", i), "card.open", map[string]int{"worker": g, "n": n}); err != nil {
						errs <- err
					}
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("append: %v", err)
	}
	for i, db := range dbs {
		if n, bad, err := db.VerifyAudit(ctx); n != 60 || bad != 0 || err != nil {
			t.Errorf("server %d verifies %d records, first bad %d, %v; want 60, 0, nil", i, n, bad, err)
		}
	}
}
