package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/fanka/fanka/server"
	"github.com/fanka/fanka/shared/money"
)

// txRow is a transactions row to insert.
type txRow struct {
	kind     server.TxKind
	origin   string
	created  int64
	terminal uint32 // 0: none
	seq      uint64
	cardNo   string
	day      *int32
	voidOf   int64 // 0: none
	operator string
}

// insertTx inserts a transaction and returns its id.
func insertTx(ctx context.Context, tx *wtx, r txRow) (int64, error) {
	var terminal, seq, voidOf, day sql.NullInt64
	if r.terminal != 0 {
		terminal = sql.NullInt64{Int64: int64(r.terminal), Valid: true}
		seq = sql.NullInt64{Int64: int64(r.seq), Valid: true}
	}
	if r.voidOf != 0 {
		voidOf = sql.NullInt64{Int64: r.voidOf, Valid: true}
	}
	if r.day != nil {
		day = sql.NullInt64{Int64: int64(*r.day), Valid: true}
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO transactions (kind, origin, created, terminal_id, seq, card_no, day, void_of, operator)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		string(r.kind), r.origin, r.created, terminal, seq, nullString(r.cardNo), day, voidOf, nullString(r.operator))
	if err != nil {
		if isConstraint(err) {
			return 0, server.Errorf(server.ECONFLICT, "transaction %s already exists", r.origin)
		}
		return 0, fmt.Errorf("insert transaction %s: %w", r.origin, err)
	}
	return res.LastInsertId()
}

// post inserts a transaction's postings and updates the balances of their
// accounts. The postings must sum to zero.
func post(ctx context.Context, tx *wtx, txID int64, postings []server.Posting) error {
	b := books{tx: tx}
	_, err := b.post(ctx, txID, postings)
	return err
}

// books posts office transactions (settlement has its own, groupBooks).
type books struct {
	tx *wtx
}

// post inserts the postings of transaction txID, applies them to balances
// and returns the new balances of the accounts it updated.
func (b *books) post(ctx context.Context, txID int64, postings []server.Posting) (map[int64]money.Fen, error) {
	var sum money.Fen
	for _, p := range postings {
		var ok bool
		if sum, ok = money.Add(sum, p.Amount); !ok {
			return nil, fmt.Errorf("post transaction %d: amounts overflow", txID)
		}
	}
	if sum != 0 {
		return nil, fmt.Errorf("post transaction %d: postings sum to %d, not 0", txID, sum)
	}
	balances := make(map[int64]money.Fen, len(postings))
	for _, p := range postings {
		if _, err := b.tx.ExecContext(ctx, `INSERT INTO postings (tx_id, account_id, amount) VALUES (?, ?, ?)`,
			txID, p.AccountID, p.Amount); err != nil {
			return nil, fmt.Errorf("post transaction %d: %w", txID, err)
		}
		var bal money.Fen
		if err := b.tx.QueryRowContext(ctx, `UPDATE accounts SET balance = balance + ? WHERE id = ? RETURNING balance`,
			p.Amount, p.AccountID).Scan(&bal); err != nil {
			return nil, fmt.Errorf("post transaction %d to account %d: %w", txID, p.AccountID, err)
		}
		balances[p.AccountID] = bal
	}
	return balances, nil
}
