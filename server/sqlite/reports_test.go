package sqlite_test

import (
	"database/sql"
	"testing"

	"github.com/fanka/fanka/server"
	"github.com/fanka/fanka/server/servertest"
	"github.com/fanka/fanka/server/storetest"
)

func TestAuditFindsTampering(t *testing.T) {
	storetest.RunAuditTampering(t, func(t *testing.T) (server.Store, *sql.DB) {
		db := servertest.MustOpenSQLite(t, nil)
		return db, mustRawDB(t, db.Path)
	})
}
