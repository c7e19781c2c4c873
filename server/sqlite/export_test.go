package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/fanka/fanka/server"
)

// SchemaVersions is the number of migrations: the newest schema version.
var SchemaVersions = len(migrations)

// MigrateTo creates the database file at path with its schema at version,
// for tests of the migrations.
func MigrateTo(ctx context.Context, path string, version int) error {
	db, err := openRaw(path, "")
	if err != nil {
		return err
	}
	defer db.Close()
	return migrateTo(ctx, db, version, time.Now())
}

// BeginReport begins a read-only transaction on the store's pool of
// readers, where its reports run, for a test to hold open.
func (db *DB) BeginReport(ctx context.Context) (*sql.Tx, error) {
	return db.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
}

// DailyReportIn runs the daily report's queries in tx (see BeginReport),
// as DailyReport runs them in its own.
func (db *DB) DailyReportIn(ctx context.Context, tx *sql.Tx, q server.DailyQuery) (server.DailyReport, error) {
	return db.dailyReport(ctx, tx, q)
}
