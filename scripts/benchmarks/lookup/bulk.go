package main

import (
	"context"
	"database/sql"
	"fmt"
	"reflect"

	"github.com/fanka/fanka/scripts/benchmarks/settleload"
)

// tableCounts returns the number of rows of every table of the database.
func tableCounts(ctx context.Context, db *sql.DB) (map[string]int64, error) {
	rows, err := db.QueryContext(ctx, `SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`)
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	var tables []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			rows.Close()
			return nil, err
		}
		tables = append(tables, t)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	counts := map[string]int64{}
	for _, t := range tables {
		var n int64
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM "`+t+`"`).Scan(&n); err != nil {
			return nil, fmt.Errorf("count %s: %w", t, err)
		}
		counts[t] = n
	}
	return counts, nil
}

// perCard are the columns whose values differ from card to card; every
// other column of a bulk-opened card's rows must equal OpenCard's.
var perCard = map[string]bool{"id": true, "account_id": true, "person_id": true, "card_no": true, "version": true,
	"origin": true, "tx_id": true, "request_id": true, "fingerprint": true, "response": true, "created": true}

// cardRows selects the rows that opening card i wrote, table by table.
var cardRows = []struct{ table, query string }{
	{"accounts", `SELECT * FROM accounts WHERE id = (SELECT account_id FROM cards WHERE card_no = ?1)`},
	{"cards", `SELECT * FROM cards WHERE card_no = ?1`},
	{"transactions", `SELECT * FROM transactions WHERE card_no = ?1 AND kind = 'open'`},
	{"postings", `SELECT * FROM postings WHERE tx_id = (SELECT id FROM transactions WHERE card_no = ?1 AND kind = 'open') ORDER BY id`},
	{"requests", `SELECT * FROM requests WHERE request_id = ?2`},
}

// checkBulk checks that settleload.BulkOpen wrote what OpenCard writes: that every
// table grew by as many rows per card (before: the counts before OpenCard
// opened ref cards; opened: after; now: after settleload.BulkOpen opened bulk more),
// and that the rows of card ref (the first bulk-opened one) are those of
// card 0 (opened by OpenCard) column by column, but for the columns that
// are each card's own, which must be set or NULL alike.
func checkBulk(ctx context.Context, db *sql.DB, before, opened, now map[string]int64, ref, bulk int) error {
	for t, n := range now {
		want := opened[t] + (opened[t]-before[t])*int64(bulk)/int64(ref)
		if n != want {
			return fmt.Errorf("the bulk loader is out of date: table %s has %d rows after it opened %d cards, want %d as OpenCard writes",
				t, n, bulk, want)
		}
	}
	for _, q := range cardRows {
		a, err := queryRows(ctx, db, q.query, settleload.CardNo(0), settleload.OpenCardOp(0).RequestID)
		if err != nil {
			return fmt.Errorf("rows of card 0 in %s: %w", q.table, err)
		}
		b, err := queryRows(ctx, db, q.query, settleload.CardNo(ref), settleload.OpenCardOp(ref).RequestID)
		if err != nil {
			return fmt.Errorf("rows of card %d in %s: %w", ref, q.table, err)
		}
		if len(a) == 0 || len(a) != len(b) {
			return fmt.Errorf("the bulk loader is out of date: %d rows of %s for a card OpenCard opened, %d for one it opened", len(a), q.table, len(b))
		}
		for i := range a {
			for col, va := range a[i] {
				vb := b[i][col]
				if perCard[col] && (va == nil) == (vb == nil) || !perCard[col] && reflect.DeepEqual(va, vb) {
					continue
				}
				return fmt.Errorf("the bulk loader is out of date: %s.%s is %v for a card OpenCard opened, %v for one it opened", q.table, col, va, vb)
			}
		}
	}
	return nil
}

// queryRows returns the rows a query selects, each as its columns' values.
func queryRows(ctx context.Context, db *sql.DB, query string, args ...any) ([]map[string]any, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	var out []map[string]any
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		row := map[string]any{}
		for i, c := range cols {
			row[c] = vals[i]
		}
		out = append(out, row)
	}
	return out, rows.Err()
}
