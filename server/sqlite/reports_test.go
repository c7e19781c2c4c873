package sqlite_test

import (
	"database/sql"
	"testing"
	"time"

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

// TestReportReadNeverBlocksSettlement holds a report's read transaction
// open on the store's pool of readers (WAL: readers see a snapshot and
// never wait for the writer, nor it for them) while batches settle.
func TestReportReadNeverBlocksSettlement(t *testing.T) {
	clock := servertest.NewClock(time.Date(2026, 3, 2, 12, 0, 0, 0, time.Local))
	s := servertest.MustOpenSQLite(t, clock.Now)
	storetest.ReportReadNeverBlocksSettlement(t, s, clock, storetest.HeldRead{Begin: s.BeginReport, Report: s.DailyReportIn})
}
