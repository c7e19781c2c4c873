package mysql

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/fanka/fanka/server"
	"github.com/fanka/fanka/shared/journal"
	"github.com/fanka/fanka/shared/money"
)

// saleColumns are what scanSale reads: a transaction and, for a sale or
// void, its entry (NULLs in a LEFT JOIN for other kinds).
const saleColumns = `t.id, t.kind, t.created, COALESCE(t.day, 0), e.raw, COALESCE(e.outcome, ''), COALESCE(e.note, '')`

// scanSale reads a row of saleColumns: the Sale of a sale or void, or a
// Sale with only ID and Kind for a transaction of another kind.
func scanSale(row scanner, loc *time.Location) (server.Sale, error) {
	var id, created int64
	var day int32
	var kind, outcome, note string
	var raw []byte
	if err := row.Scan(&id, &kind, &created, &day, &raw, &outcome, &note); err != nil {
		return server.Sale{}, err
	}
	k := server.TxKind(kind)
	if (k != server.TxSale && k != server.TxVoid) || raw == nil {
		return server.Sale{ID: id, Kind: k}, nil
	}
	return server.NewSale(id, k, raw, time.UnixMilli(created), day, outcome, note, loc)
}

// Sales implements server.SaleStore.
func (db *DB) Sales(ctx context.Context, since int64, limit int) ([]server.Sale, error) {
	if err := server.ValidateSalesPage(since, limit); err != nil {
		return nil, err
	}
	rows, err := db.db.QueryContext(ctx, `SELECT `+saleColumns+`
		FROM transactions t JOIN entries e ON e.terminal_id = t.terminal_id AND e.seq = t.seq
		WHERE t.id > ? AND t.kind IN ('sale', 'void') ORDER BY t.id LIMIT ?`, since, limit)
	if err != nil {
		return nil, fmt.Errorf("sales since %d: %w", since, err)
	}
	return db.scanSales(rows, fmt.Sprintf("sales since %d", since))
}

// SalesIn implements server.SaleStore.
func (db *DB) SalesIn(ctx context.Context, ids []int64) ([]server.Sale, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	if len(ids) > server.MaxSalesIn {
		return nil, server.Errorf(server.EINVALID, "%d transaction ids asked about, at most %d", len(ids), server.MaxSalesIn)
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	rows, err := db.db.QueryContext(ctx, `SELECT `+saleColumns+`
		FROM transactions t LEFT JOIN entries e ON e.terminal_id = t.terminal_id AND e.seq = t.seq
		WHERE t.id IN (`+strings.TrimSuffix(strings.Repeat("?, ", len(ids)), ", ")+`) ORDER BY t.id`, args...)
	if err != nil {
		return nil, fmt.Errorf("sales in %d transactions: %w", len(ids), err)
	}
	return db.scanSales(rows, fmt.Sprintf("sales in %d transactions", len(ids)))
}

func (db *DB) scanSales(rows *sql.Rows, what string) ([]server.Sale, error) {
	defer rows.Close()
	loc := db.Now().Location()
	out := []server.Sale{}
	for rows.Next() {
		s, err := scanSale(rows, loc)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

// LastTransactionID implements server.SaleStore.
func (db *DB) LastTransactionID(ctx context.Context) (int64, error) {
	var id int64
	if err := db.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(id), 0) FROM transactions`).Scan(&id); err != nil {
		return 0, fmt.Errorf("last transaction id: %w", err)
	}
	return id, nil
}

// Terminals implements server.TerminalLister.
func (db *DB) Terminals(ctx context.Context) ([]server.Terminal, error) {
	rows, err := db.db.QueryContext(ctx, `SELECT `+terminalColumns+` FROM terminals ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("registers: %w", err)
	}
	defer rows.Close()
	out := []server.Terminal{}
	for rows.Next() {
		t, err := scanTerminal(rows)
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
	names, err := terminalNames(ctx, tx)
	if err != nil {
		return server.DailyReport{}, fmt.Errorf("report of %s: %w", date, err)
	}
	return tally.Report(names), nil
}

// tallyDay adds q's day's sales, voids and refunds to tally.
func tallyDay(ctx context.Context, tx *sql.Tx, q server.DailyQuery, tally *server.DailyTally) error {
	// The join runs in the database: the day's index gives (terminal_id,
	// seq) in order, so the entries' primary key is walked forward; only
	// the first bytes of each entry, which hold its time and amount, come
	// back.
	rows, err := tx.QueryContext(ctx, `SELECT t.terminal_id, t.seq, t.kind, t.created, SUBSTRING(e.raw, 1, ?)
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
		if err := rows.Scan(&terminal, &seq, &kind, &created, &raw); err != nil {
			return fmt.Errorf("sales: %w", err)
		}
		e := server.DayEntry{Terminal: uint32(terminal), Seq: uint64(seq), Void: kind == string(server.TxVoid), Settled: time.UnixMilli(created)}
		if err := tally.AddEntry(e, raw); err != nil {
			return fmt.Errorf("sales: %w", err)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sales: %w", err)
	}

	start, end := q.Bounds()
	var n int64
	var paid money.Fen
	// What a refund paid back: the sum of its postings' credits, whichever
	// accounts it moved money between.
	err = tx.QueryRowContext(ctx, `SELECT COUNT(DISTINCT t.id), COALESCE(SUM(CASE WHEN p.amount > 0 THEN p.amount ELSE 0 END), 0)
		FROM transactions t JOIN postings p ON p.tx_id = t.id
		WHERE t.kind = 'refund' AND t.created >= ? AND t.created < ?`, ms(start), ms(end)).Scan(&n, &paid)
	if err != nil {
		return fmt.Errorf("refunds: %w", err)
	}
	tally.AddRefunds(n, paid)
	return nil
}

// terminalNames returns every register's name, by id.
func terminalNames(ctx context.Context, tx *sql.Tx) (map[uint32]string, error) {
	rows, err := tx.QueryContext(ctx, `SELECT id, name FROM terminals`)
	if err != nil {
		return nil, fmt.Errorf("register names: %w", err)
	}
	defer rows.Close()
	names := map[uint32]string{}
	for rows.Next() {
		var id uint32
		var name string
		if err := rows.Scan(&id, &name); err != nil {
			return nil, fmt.Errorf("register names: %w", err)
		}
		names[id] = name
	}
	return names, rows.Err()
}
