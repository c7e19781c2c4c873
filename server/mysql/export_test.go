package mysql

import (
	"context"
	"database/sql"
	"time"

	"github.com/fanka/fanka/server"
)

// SchemaVersions is the number of migrations: the newest schema version.
var SchemaVersions = len(migrations)

// MigrateTo brings the empty database dsn names to schema version, for
// tests of the migrations.
func MigrateTo(ctx context.Context, dsn string, version int) error {
	db, err := OpenRaw(dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return migrateTo(ctx, conn, version, time.Now())
}

// DailyReportIn runs the daily report's queries in tx, a transaction the
// test holds open, as Reports.DailyReport runs them in its own.
func DailyReportIn(ctx context.Context, tx *sql.Tx, q server.DailyQuery) (server.DailyReport, error) {
	return dailyReport(ctx, tx, q)
}
