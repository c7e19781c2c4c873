package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/fanka/fanka/server"
	"github.com/fanka/fanka/server/sqlite"
	"github.com/fanka/fanka/server/storetest"
)

// TestMigrations opens databases of every earlier schema version.
func TestMigrations(t *testing.T) {
	storetest.MigrationTest(t, storetest.MigrationEnv{
		Latest: sqlite.SchemaVersions,
		At: func(t *testing.T, k int) (*sql.DB, func(t *testing.T) server.Store) {
			path := filepath.Join(t.TempDir(), "fanka.db")
			if err := sqlite.MigrateTo(context.Background(), path, k); err != nil {
				t.Fatalf("create a database at schema version %d: %v", k, err)
			}
			raw := mustRawDB(t, path)
			return raw, func(t *testing.T) server.Store {
				db := sqlite.New(path)
				if err := db.Open(context.Background()); err != nil {
					t.Fatalf("open a database of schema version %d: %v", k, err)
				}
				t.Cleanup(func() { db.Close() })
				return db
			}
		},
	})
}
