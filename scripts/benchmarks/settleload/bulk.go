package settleload

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/fanka/fanka/server"
	"github.com/fanka/fanka/server/sqlite"
	"github.com/fanka/fanka/shared/money"
)

// bulkTxCards is how many cards BulkOpen writes per SQLite transaction.
const bulkTxCards = 50_000

// BulkOpen opens the cards from, from+1, …, to-1 of a run (settleload's
// CardNo and OpenCardOp) by writing, in large transactions without fsync,
// exactly the rows that server/sqlite's OpenCard writes for each: the
// account, the card with the next card version, the open transaction, its
// two postings (cash to the account) and the request, then the cash
// account's balance and the card version counter. It is for benchmarks
// alone: the store must be closed meanwhile. The lookup suite compares
// what it writes with what OpenCard writes.
func BulkOpen(ctx context.Context, path string, from, to int, now time.Time) error {
	return BulkOpenNamed(ctx, path, from, to, now, CardNo)
}

// BulkOpenNamed is BulkOpen with the i-th card numbered cardNo(i) rather
// than CardNo(i): the register suite numbers them as real cards' UIDs are,
// spread over the key space.
func BulkOpenNamed(ctx context.Context, path string, from, to int, now time.Time, cardNo func(int) string) error {
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
		if err := openTx(ctx, db, start, end, &version, created, cardNo); err != nil {
			return fmt.Errorf("bulk open cards %d to %d: %w", start, end-1, err)
		}
	}
	return nil
}

// openTx opens the cards from to to-1 in one transaction. It gives
// the rows the ids that SQLite would (the largest so far plus one: the
// store is closed, nothing else writes) so that it can insert them many
// per statement.
func openTx(ctx context.Context, db *sql.DB, from, to int, version *uint64, created int64, cardNo func(int) string) error {
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
		op := OpenCardOp(i)
		op.CardNo = cardNo(i)
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
