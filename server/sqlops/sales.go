package sqlops

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/fanka/fanka/server"
	"github.com/fanka/fanka/shared/money"
)

// saleColumns are what scanSale reads: a transaction and, for a sale or
// void, its entry (NULLs in a LEFT JOIN for other kinds).
const saleColumns = `t.id, t.kind, t.created, COALESCE(t.day, 0), e.raw, COALESCE(e.outcome, ''), COALESCE(e.note, '')`

// scanSale reads a row of saleColumns: the Sale of a sale or void, or a
// Sale with only ID and Kind for a transaction of another kind.
func scanSale(row interface{ Scan(...any) error }, loc *time.Location) (server.Sale, error) {
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

// Sales reads a page of server.SaleStore.Sales, with times in loc.
func Sales(ctx context.Context, q Tx, loc *time.Location, since int64, limit int) ([]server.Sale, error) {
	if err := server.ValidateSalesPage(since, limit); err != nil {
		return nil, err
	}
	rows, err := q.QueryContext(ctx, `SELECT `+saleColumns+`
		FROM transactions t JOIN entries e ON e.terminal_id = t.terminal_id AND e.seq = t.seq
		WHERE t.id > ? AND t.kind IN ('sale', 'void') ORDER BY t.id LIMIT ?`, since, limit)
	if err != nil {
		return nil, fmt.Errorf("sales since %d: %w", since, err)
	}
	return scanSales(rows, loc, fmt.Sprintf("sales since %d", since))
}

// SalesIn reads server.SaleStore.SalesIn, with times in loc.
func SalesIn(ctx context.Context, q Tx, loc *time.Location, ids []int64) ([]server.Sale, error) {
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
	rows, err := q.QueryContext(ctx, `SELECT `+saleColumns+`
		FROM transactions t LEFT JOIN entries e ON e.terminal_id = t.terminal_id AND e.seq = t.seq
		WHERE t.id IN (`+strings.TrimSuffix(strings.Repeat("?, ", len(ids)), ", ")+`) ORDER BY t.id`, args...)
	if err != nil {
		return nil, fmt.Errorf("sales in %d transactions: %w", len(ids), err)
	}
	return scanSales(rows, loc, fmt.Sprintf("sales in %d transactions", len(ids)))
}

func scanSales(rows *sql.Rows, loc *time.Location, what string) ([]server.Sale, error) {
	defer rows.Close()
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

// LastTransactionID reads server.SaleStore.LastTransactionID.
func LastTransactionID(ctx context.Context, q Tx) (int64, error) {
	var id int64
	if err := q.QueryRowContext(ctx, `SELECT COALESCE(MAX(id), 0) FROM transactions`).Scan(&id); err != nil {
		return 0, fmt.Errorf("last transaction id: %w", err)
	}
	return id, nil
}

// OfficeTotals adds to tally the office's recharges, refunds and closes
// made from start to end (Unix milliseconds, end excluded): how many, and
// what each moved: a recharge and a refund the sum of their postings'
// credits (what the card got), a close what it paid into the cash drawer
// (what the diner took away). The kind's filter lets SQLite use its index
// of the office transactions, which leaves sales and voids out.
func OfficeTotals(ctx context.Context, q Tx, start, end int64, tally *server.DailyTally) error {
	rows, err := q.QueryContext(ctx, `SELECT t.kind, COUNT(DISTINCT t.id), COALESCE(SUM(CASE
			WHEN t.kind = 'close' THEN (CASE WHEN p.account_id = ? THEN p.amount ELSE 0 END)
			WHEN p.amount > 0 THEN p.amount ELSE 0 END), 0)
		FROM transactions t JOIN postings p ON p.tx_id = t.id
		WHERE t.kind IN ('recharge', 'refund', 'close') AND t.kind NOT IN ('sale', 'void') AND t.created >= ? AND t.created < ?
		GROUP BY t.kind`, server.CashAccount, start, end)
	if err != nil {
		return fmt.Errorf("office totals: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var kind string
		var n int64
		var amount money.Fen
		if err := rows.Scan(&kind, &n, &amount); err != nil {
			return fmt.Errorf("office totals: %w", err)
		}
		tally.AddOffice(server.TxKind(kind), n, amount)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("office totals: %w", err)
	}
	return nil
}
