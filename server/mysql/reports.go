package mysql

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/fanka/fanka/server"
	"github.com/fanka/fanka/server/sqlops"
	"github.com/fanka/fanka/shared/journal"
)

// Reports is the office's reads of reports and lists: the daily report
// (with its parts by meal period and by register, and its CSV), the sales
// list and the audit log. It reads the report database (DB.ReportDSN, a
// replica) when the store has one, the store's own database otherwise;
// every read is a READ ONLY transaction, one snapshot.
//
// A replica applies the primary's commits a moment later (usually well
// under a second; as long as it is stopped or behind, longer): what
// Reports returns is the database as it was that moment ago.
type Reports struct {
	db  *sql.DB
	now func() time.Time
}

// Reports returns the reads of reports and lists on the report database.
func (db *DB) Reports() *Reports {
	if db.reports != nil {
		return &Reports{db: db.reports, now: db.Now}
	}
	return db.primaryReports()
}

// primaryReports returns the reads of reports and lists on the primary:
// what the store's own methods read, whatever ReportDSN says.
func (db *DB) primaryReports() *Reports { return &Reports{db: db.db, now: db.Now} }

// read runs fn in a read-only REPEATABLE READ transaction: one snapshot,
// which takes no lock and so never holds up settlement.
func (r *Reports) read(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := r.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true, Isolation: sql.LevelRepeatableRead})
	if err != nil {
		return err
	}
	defer tx.Rollback()
	return fn(tx)
}

// Sales is server.SaleStore's, on the report database.
func (r *Reports) Sales(ctx context.Context, since int64, limit int) (sales []server.Sale, err error) {
	err = r.read(ctx, func(tx *sql.Tx) error {
		sales, err = sqlops.Sales(ctx, tx, r.now().Location(), since, limit)
		return err
	})
	return sales, err
}

// SalesIn is server.SaleStore's, on the report database.
func (r *Reports) SalesIn(ctx context.Context, ids []int64) (sales []server.Sale, err error) {
	err = r.read(ctx, func(tx *sql.Tx) error {
		sales, err = sqlops.SalesIn(ctx, tx, r.now().Location(), ids)
		return err
	})
	return sales, err
}

// LastTransactionID is server.SaleStore's, on the report database.
func (r *Reports) LastTransactionID(ctx context.Context) (id int64, err error) {
	err = r.read(ctx, func(tx *sql.Tx) error {
		id, err = sqlops.LastTransactionID(ctx, tx)
		return err
	})
	return id, err
}

// Audit is server.AuditStore's, on the report database.
func (r *Reports) Audit(ctx context.Context, limit int) (recs []server.AuditRecord, err error) {
	err = r.read(ctx, func(tx *sql.Tx) error {
		recs, err = sqlops.Audit(ctx, tx, limit)
		return err
	})
	return recs, err
}

// Sales implements server.SaleStore, on the primary: the live sale feed
// reads it (see README, "Reports on a replica").
func (db *DB) Sales(ctx context.Context, since int64, limit int) ([]server.Sale, error) {
	return db.primaryReports().Sales(ctx, since, limit)
}

// SalesIn implements server.SaleStore, on the primary.
func (db *DB) SalesIn(ctx context.Context, ids []int64) ([]server.Sale, error) {
	return db.primaryReports().SalesIn(ctx, ids)
}

// LastTransactionID implements server.SaleStore, on the primary.
func (db *DB) LastTransactionID(ctx context.Context) (int64, error) {
	return db.primaryReports().LastTransactionID(ctx)
}

// Terminals implements server.TerminalLister.
func (db *DB) Terminals(ctx context.Context) ([]server.Terminal, error) {
	rows, err := db.db.QueryContext(ctx, `SELECT `+sqlops.TerminalColumns+` FROM terminals ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("registers: %w", err)
	}
	defer rows.Close()
	out := []server.Terminal{}
	for rows.Next() {
		t, err := sqlops.ScanTerminal(rows)
		if err != nil {
			return nil, fmt.Errorf("registers: %w", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("registers: %w", err)
	}
	return out, nil
}

// DailyReport implements server.ReportStore, on the primary.
func (db *DB) DailyReport(ctx context.Context, q server.DailyQuery) (server.DailyReport, error) {
	return db.primaryReports().DailyReport(ctx, q)
}

// DailyReport is server.ReportStore's, on the report database. It reads
// one snapshot: the day's sales and voids through the transactions_day
// index, each with its entry (for the amount and the register's time);
// then the day's refunds and the registers' names.
func (r *Reports) DailyReport(ctx context.Context, q server.DailyQuery) (rep server.DailyReport, err error) {
	if err := server.ValidateMealPeriods(q.Periods); err != nil {
		return server.DailyReport{}, err
	}
	err = r.read(ctx, func(tx *sql.Tx) error {
		rep, err = dailyReport(ctx, tx, q)
		return err
	})
	if err != nil {
		return server.DailyReport{}, fmt.Errorf("report of %s: %w", q.Date.Format(time.DateOnly), err)
	}
	return rep, nil
}

// dailyReport reads q's day's report in tx.
func dailyReport(ctx context.Context, tx *sql.Tx, q server.DailyQuery) (server.DailyReport, error) {
	tally := server.NewDailyTally(q)
	if err := tallyDay(ctx, tx, q, tally); err != nil {
		return server.DailyReport{}, err
	}
	names, err := sqlops.ReportRegisters(ctx, tx)
	if err != nil {
		return server.DailyReport{}, err
	}
	return tally.Report(names), nil
}

// tallyDay adds q's day's sales, voids and office totals to tally.
func tallyDay(ctx context.Context, tx *sql.Tx, q server.DailyQuery, tally *server.DailyTally) error {
	// The join runs in the database: the day's index gives (terminal_id,
	// seq) in order, so the entries' primary key is walked forward; only
	// the first bytes of each entry, which hold its time and amount, come
	// back.
	rows, err := tx.QueryContext(ctx, `SELECT t.terminal_id, t.seq, t.kind, t.created, SUBSTRING(e.raw, 1, ?), e.outcome = 'flagged'
		FROM transactions t FORCE INDEX (transactions_day)
		JOIN entries e ON e.terminal_id = t.terminal_id AND e.seq = t.seq
		WHERE t.day = ? AND t.kind IN ('sale', 'void')
		ORDER BY t.day, t.terminal_id, t.seq`, journal.FiguresSize, q.Day())
	if err != nil {
		return fmt.Errorf("sales: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var terminal, seq, created int64
		var kind string
		var raw sql.RawBytes
		var flagged bool
		if err := rows.Scan(&terminal, &seq, &kind, &created, &raw, &flagged); err != nil {
			return fmt.Errorf("sales: %w", err)
		}
		e := server.DayEntry{Terminal: uint32(terminal), Seq: uint64(seq), Void: kind == string(server.TxVoid), Settled: time.UnixMilli(created)}
		if err := tally.AddEntry(e, raw, flagged); err != nil {
			return fmt.Errorf("sales: %w", err)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sales: %w", err)
	}

	start, end := q.Bounds()
	return sqlops.OfficeTotals(ctx, tx, ms(start), ms(end), tally)
}
