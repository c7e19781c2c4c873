package mysql_test

import (
	"context"
	"database/sql"
	"testing"

	"github.com/fanka/fanka/server"
	"github.com/fanka/fanka/server/mysql"
	"github.com/fanka/fanka/server/servertest"
	"github.com/fanka/fanka/server/storetest"
)

// TestMigrations opens databases of every earlier schema version.
func TestMigrations(t *testing.T) {
	servertest.MustMySQLServer(t)
	storetest.MigrationTest(t, storetest.MigrationEnv{
		Latest: mysql.SchemaVersions,
		At: func(t *testing.T, k int) (*sql.DB, func(t *testing.T) server.Store) {
			dsn := servertest.MustMySQLDSN(t)
			if err := mysql.MigrateTo(context.Background(), dsn, k); err != nil {
				t.Fatalf("create a database at schema version %d: %v", k, err)
			}
			return servertest.MustRawMySQL(t, dsn), func(t *testing.T) server.Store {
				return servertest.MustOpenMySQLAt(t, dsn, nil)
			}
		},
	})
}
