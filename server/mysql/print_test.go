package mysql_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fanka/fanka/server"
	"github.com/fanka/fanka/server/mysql"
	"github.com/fanka/fanka/server/servertest"
	"github.com/fanka/fanka/server/storetest"
)

func TestPrintJobs(t *testing.T) {
	storetest.RunPrintJobs(t, storetest.PrintJobStores{
		Open: func(t *testing.T) server.PrintJobStore {
			return servertest.MustOpenMySQL(t, nil)
		},
		Reopen: func(t *testing.T, s server.PrintJobStore) server.PrintJobStore {
			db := s.(*mysql.DB)
			if err := db.Close(); err != nil { // Close may be called again
				t.Fatalf("close: %v", err)
			}
			return servertest.MustOpenMySQLAt(t, db.DSN, nil)
		},
	})
}

// TestPrintJobsTwoServers: servers sharing a database claim a job at once;
// exactly one begins an attempt.
func TestPrintJobsTwoServers(t *testing.T) {
	dsn := servertest.MustMySQLDSN(t)
	stores := []*mysql.DB{servertest.MustOpenMySQLAt(t, dsn, nil), servertest.MustOpenMySQLAt(t, dsn, nil)}
	now := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	if _, err := stores[0].EnqueuePrint(context.Background(), server.PrintJob{Printer: "office", Doc: []byte("x"), Created: now}); err != nil {
		t.Fatal(err)
	}
	var claims atomic.Int32
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			_, ok, err := stores[i%2].ClaimPrintJob(context.Background(), "office", now, now.Add(time.Minute))
			if err != nil {
				t.Error(err)
			}
			if ok {
				claims.Add(1)
			}
		})
	}
	wg.Wait()
	if n := claims.Load(); n != 1 {
		t.Errorf("%d claims of one job, want 1", n)
	}
}
