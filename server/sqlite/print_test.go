package sqlite_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"

	"github.com/fanka/fanka/server"
	"github.com/fanka/fanka/server/sqlite"
	"github.com/fanka/fanka/server/storetest"
)

func TestPrintJobs(t *testing.T) {
	storetest.RunPrintJobs(t, storetest.PrintJobStores{
		Open: func(t *testing.T) server.PrintJobStore {
			return mustOpenOnce(t, filepath.Join(t.TempDir(), "fanka.db"))
		},
		Reopen: func(t *testing.T, s server.PrintJobStore) server.PrintJobStore {
			db := s.(*sqlite.DB)
			if err := db.Close(); err != nil {
				t.Fatalf("close: %v", err)
			}
			return mustOpenOnce(t, db.Path)
		},
	})
}

// mustOpenOnce opens the store at path, and closes it when the test ends
// unless the test closed it.
func mustOpenOnce(t *testing.T, path string) *sqlite.DB {
	t.Helper()
	db := sqlite.New(path)
	if err := db.Open(context.Background()); err != nil {
		t.Fatalf("open: %v", err)
	}
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { db.Close() }) })
	return db
}
