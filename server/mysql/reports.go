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

// Sales implements server.SaleStore.
func (db *DB) Sales(ctx context.Context, since int64, limit int) ([]server.Sale, error) {
	return sqlops.Sales(ctx, db.db, db.Now().Location(), since, limit)
}

// SalesIn implements server.SaleStore.
func (db *DB) SalesIn(ctx context.Context, ids []int64) ([]server.Sale, error) {
	return sqlops.SalesIn(ctx, db.db, db.Now().Location(), ids)
}

// LastTransactionID implements server.SaleStore.
func (db *DB) LastTransactionID(ctx context.Context) (int64, error) {
	return sqlops.LastTransactionID(ctx, db.db)
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

// DailyReport implements server.ReportStore. It reads one snapshot (a
// read-only REPEATABLE READ transaction): the day's sales and voids
// through the transactions_day index, each with its entry (for the amount
// and the register's time); then the day's refunds and the registers'
// names.
func (db *DB) DailyReport(ctx context.Context, q server.DailyQuery) (server.DailyReport, error) {
	if err := server.ValidateMealPeriods(q.Periods); err != nil {
		return server.DailyReport{}, err
	}
	date := q.Date.Format(time.DateOnly)
	tx, err := db.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true, Isolation: sql.LevelRepeatableRead})
	if err != nil {
		return server.DailyReport{}, fmt.Errorf("report of %s: %w", date, err)
	}
	defer tx.Rollback()
	tally := server.NewDailyTally(q)
	if err := tallyDay(ctx, tx, q, tally); err != nil {
		return server.DailyReport{}, fmt.Errorf("report of %s: %w", date, err)
	}
	names, err := sqlops.ReportRegisters(ctx, tx)
	if err != nil {
		return server.DailyReport{}, fmt.Errorf("report of %s: %w", date, err)
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
