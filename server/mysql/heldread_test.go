package mysql_test

import (
	"context"
	"database/sql"
	"testing"

	"github.com/fanka/fanka/server/mysql"
	"github.com/fanka/fanka/server/servertest"
	"github.com/fanka/fanka/server/storetest"
)

// TestReportReadNeverBlocksSettlement holds a report's read-only
// transaction open on the primary (the shared MariaDB) while batches
// settle on the same register, card and day.
func TestReportReadNeverBlocksSettlement(t *testing.T) {
	clock := servertest.NewClock(noon)
	dsn := servertest.MustMySQLDSN(t)
	s := servertest.MustOpenMySQLAt(t, dsn, clock.Now)
	raw := servertest.MustRawMySQL(t, dsn)
	storetest.ReportReadNeverBlocksSettlement(t, s, clock, storetest.HeldRead{
		Begin: func(ctx context.Context) (*sql.Tx, error) {
			return raw.BeginTx(ctx, &sql.TxOptions{ReadOnly: true, Isolation: sql.LevelRepeatableRead})
		},
		Report: mysql.DailyReportIn,
	})
}
