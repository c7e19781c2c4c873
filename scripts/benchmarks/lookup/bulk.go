package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/url"
	"path/filepath"
	"reflect"
	"strings"
	"time"

	"github.com/fanka/fanka/scripts/benchmarks/settleload"
	"github.com/fanka/fanka/server"
	"github.com/fanka/fanka/server/sqlite"
	"github.com/fanka/fanka/shared/money"
)

// bulkTxCards is how many cards bulkOpen writes per SQLite transaction.
const bulkTxCards = 50_000

// bulkOpen opens the cards from, from+1, …, to-1 of a run (settleload's
// CardNo and OpenCardOp) by writing, in large transactions without fsync,
// exactly the rows that server/sqlite's OpenCard writes for each: the
// account, the card with the next card version, the open transaction, its
// two postings (cash to the account) and the request, then the cash
// account's balance and the card version counter. It is for benchmarks
// alone: the store must be closed meanwhile. checkBulk then compares what
// it wrote with what OpenCard wrote for the first cards.
func bulkOpen(ctx context.Context, path string, from, to int, now time.Time) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	uri := (&url.URL{Scheme: "file", Path: abs}).String() + "?_foreign_keys=1&_synchronous=OFF&_txlock=immediate"
	db, err := sql.Open(sqlite.Driver, uri)
	if err != nil {
		return fmt.Errorf("bulk open %s: %w", path, err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	var version uint64
	if err := db.QueryRowContext(ctx, `SELECT value FROM counters WHERE name = 'card_version'`).Scan(&version); err != nil {
		return fmt.Errorf("bulk open: card version: %w", err)
	}
	created := now.UnixMilli()
	for start := from; start < to; start += bulkTxCards {
		end := min(start+bulkTxCards, to)
		if err := bulkOpenTx(ctx, db, start, end, &version, created); err != nil {
			return fmt.Errorf("bulk open cards %d to %d: %w", start, end-1, err)
		}
	}
	return nil
}

// bulkOpenTx opens the cards from to to-1 in one transaction. It gives
// the rows the ids that SQLite would (the largest so far plus one: the
// store is closed, nothing else writes) so that it can insert them many
// per statement.
func bulkOpenTx(ctx context.Context, db *sql.DB, from, to int, version *uint64, created int64) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var account, txID int64
	if err := tx.QueryRowContext(ctx, `SELECT (SELECT MAX(id) FROM accounts), (SELECT COALESCE(MAX(id), 0) FROM transactions)`).Scan(&account, &txID); err != nil {
		return fmt.Errorf("last ids: %w", err)
	}
	var accounts, cards, txs, postings, requests []any
	var deposits money.Fen
	for i := from; i < to; i++ {
		op := settleload.OpenCardOp(i)
		account++
		txID++
		*version++
		accounts = append(accounts, account, op.PersonID, op.Name, int64(op.Deposit), created)
		cards = append(cards, op.CardNo, account, *version, created)
		txs = append(txs, txID, server.RequestOrigin(op.RequestID), created, op.CardNo, op.Operator)
		postings = append(postings, txID, server.CashAccount, -int64(op.Deposit), txID, account, int64(op.Deposit))
		resp, err := json.Marshal(server.OpenedCard{CardNo: op.CardNo, AccountID: account, Balance: op.Deposit})
		if err != nil {
			return err
		}
		fp := op.Fingerprint()
		requests = append(requests, op.RequestID, fp[:], string(resp), op.Operator, created)
		deposits += op.Deposit
	}
	for _, ins := range []struct {
		prefix, row string
		args        []any
	}{
		{`INSERT INTO accounts (id, kind, person_id, name, balance, created) VALUES `, `(?, 'diner', ?, ?, ?, ?)`, accounts},
		{`INSERT INTO cards (card_no, account_id, status, version, created, public_key) VALUES `, `(?, ?, 'active', ?, ?, NULL)`, cards},
		{`INSERT INTO transactions (id, kind, origin, created, card_no, operator) VALUES `, `(?, 'open', ?, ?, ?, ?)`, txs},
		{`INSERT INTO postings (tx_id, account_id, amount) VALUES `, `(?, ?, ?)`, postings},
		{`INSERT INTO requests (request_id, op, fingerprint, response, operator, created) VALUES `, `(?, 'open-card', ?, ?, ?, ?)`, requests},
	} {
		if err := insertMany(ctx, tx, ins.prefix, ins.row, ins.args); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE accounts SET balance = balance - ? WHERE id = ?`, int64(deposits), server.CashAccount); err != nil {
		return fmt.Errorf("cash account: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE counters SET value = ? WHERE name = 'card_version'`, *version); err != nil {
		return fmt.Errorf("card version: %w", err)
	}
	return tx.Commit()
}

// insertMany runs the INSERT that prefix starts with for the rows in
// args, one after the other, each of the placeholders row has, 200 rows
// per statement.
func insertMany(ctx context.Context, tx *sql.Tx, prefix, row string, args []any) error {
	const perStatement = 200
	width := strings.Count(row, "?")
	full := prefix + strings.TrimSuffix(strings.Repeat(row+", ", perStatement), ", ")
	stmt, err := tx.PrepareContext(ctx, full)
	if err != nil {
		return fmt.Errorf("%s…: %w", prefix, err)
	}
	defer stmt.Close()
	for len(args) > 0 {
		n := min(len(args)/width, perStatement)
		if n == perStatement {
			_, err = stmt.ExecContext(ctx, args[:n*width]...)
		} else {
			_, err = tx.ExecContext(ctx, prefix+strings.TrimSuffix(strings.Repeat(row+", ", n), ", "), args[:n*width]...)
		}
		if err != nil {
			return fmt.Errorf("%s…: %w", prefix, err)
		}
		args = args[n*width:]
	}
	return nil
}

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

// checkBulk checks that bulkOpen wrote what OpenCard writes: that every
// table grew by as many rows per card (before: the counts before OpenCard
// opened ref cards; opened: after; now: after bulkOpen opened bulk more),
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
