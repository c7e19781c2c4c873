package mysql

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"slices"
	"strings"

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
func insertTx(ctx context.Context, tx *sql.Tx, r txRow) (int64, error) {
	var terminal, voidOf, day sql.NullInt64
	var seq any // NULL, or the uint64 as it is
	if r.terminal != 0 {
		terminal = sql.NullInt64{Int64: int64(r.terminal), Valid: true}
		seq = r.seq
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
		if isDuplicate(err) {
			return 0, server.Errorf(server.ECONFLICT, "transaction %s already exists", r.origin)
		}
		return 0, fmt.Errorf("insert transaction %s: %w", r.origin, err)
	}
	return res.LastInsertId()
}

// books posts transactions within one database transaction, and writes
// them at its end (flush): the postings in one statement, and each
// balance once, however many postings changed it. A batch of sales then
// writes the revenue row once, as late as it can, so that the lock on it
// is held the shortest time.
//
// Balances of diner accounts that the transaction has locked (lock) are
// kept here; the canteen's own accounts (revenue, cash, subsidy, suspense)
// are only changed, never read. Any other account is updated at once.
type books struct {
	tx       *sql.Tx
	known    map[int64]money.Fen        // locked accounts: balance as posted so far
	delta    map[int64]money.Fen        // change not yet written, by account
	posted   map[int64][]server.Posting // postings of this transaction, by tx id
	postings []any                      // rows not yet inserted: tx_id, account_id, amount
	revenue  []int64                    // canteens' revenue accounts taken as own, beside the first
}

// newBooks returns books for tx; revenue names canteens' revenue accounts
// to treat as the canteen's own, beside the first.
func newBooks(tx *sql.Tx, revenue ...int64) *books {
	return &books{tx: tx, known: map[int64]money.Fen{}, delta: map[int64]money.Fen{}, posted: map[int64][]server.Posting{},
		revenue: revenue}
}

// lock records the balance of an account the transaction has locked.
func (b *books) lock(account int64, balance money.Fen) { b.known[account] = balance }

// own reports whether account is one of the canteen's own.
func (b *books) own(account int64) bool {
	return account == server.RevenueAccount || account == server.CashAccount ||
		account == server.SubsidyAccount || account == server.SuspenseAccount || slices.Contains(b.revenue, account)
}

// post posts transaction txID and returns the new balances of the diner
// accounts it changed. The postings must sum to zero.
func (b *books) post(ctx context.Context, txID int64, postings []server.Posting) (map[int64]money.Fen, error) {
	if len(postings) < 2 {
		return nil, fmt.Errorf("post transaction %d: %d postings, want at least 2", txID, len(postings))
	}
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
		switch bal, locked := b.known[p.AccountID]; {
		case b.own(p.AccountID) || locked:
			d, ok := money.Add(b.delta[p.AccountID], p.Amount)
			if !ok {
				return nil, fmt.Errorf("post transaction %d: account %d overflows", txID, p.AccountID)
			}
			b.delta[p.AccountID] = d
			if locked {
				if bal, ok = money.Add(bal, p.Amount); !ok {
					return nil, fmt.Errorf("post transaction %d: account %d overflows", txID, p.AccountID)
				}
				b.known[p.AccountID] = bal
				balances[p.AccountID] = bal
			}
		default:
			// Not locked before: the UPDATE locks it to the commit, so the
			// balance read after it is the one this transaction made.
			if _, err := b.tx.ExecContext(ctx, `UPDATE accounts SET balance = balance + ? WHERE id = ?`, int64(p.Amount), p.AccountID); err != nil {
				return nil, fmt.Errorf("post transaction %d to account %d: %w", txID, p.AccountID, err)
			}
			if err := b.tx.QueryRowContext(ctx, `SELECT balance FROM accounts WHERE id = ?`, p.AccountID).Scan(&bal); err != nil {
				return nil, fmt.Errorf("post transaction %d to account %d: %w", txID, p.AccountID, err)
			}
			balances[p.AccountID] = bal
		}
		b.postings = append(b.postings, txID, p.AccountID, int64(p.Amount))
	}
	b.posted[txID] = postings
	return balances, nil
}

// postingsOf returns the postings of transaction txID if this transaction
// posted it.
func (b *books) postingsOf(txID int64) ([]server.Posting, bool) {
	p, ok := b.posted[txID]
	return p, ok
}

// flush writes what post kept back: the balance changes, in one
// statement, then the postings. The diners' rows are locked already (by
// the caller), so the canteen's own accounts are the last rows the
// transaction locks, in id order.
func (b *books) flush(ctx context.Context) error {
	var changes []any
	for _, account := range slices.Sorted(maps.Keys(b.delta)) {
		if d := b.delta[account]; d != 0 {
			changes = append(changes, account, int64(d))
		}
	}
	clear(b.delta)
	if err := updateRows(ctx, b.tx, "accounts", "id", []string{"balance = balance + "}, changes); err != nil {
		return fmt.Errorf("update balances: %w", err)
	}
	// After the balances: their rows are locked for update before the
	// foreign keys of the postings would take a shared lock on them.
	if err := insertRows(ctx, b.tx, `INSERT INTO postings (tx_id, account_id, amount) VALUES `, 3, b.postings); err != nil {
		return fmt.Errorf("insert postings: %w", err)
	}
	b.postings = b.postings[:0]
	return nil
}

// updateRows updates many rows of table by its key column in one
// statement: rows holds, one row after the other, the key and a value for
// each of sets ("column = " or "column = column + "), each the start of an
// assignment that a CASE on the key completes.
func updateRows(ctx context.Context, tx *sql.Tx, table, key string, sets []string, rows []any) error {
	width := 1 + len(sets)
	for len(rows) > 0 {
		n := min(len(rows)/width, maxRowsPerStatement)
		var q strings.Builder
		args := make([]any, 0, n*(2*len(sets)+1))
		q.WriteString("UPDATE " + table + " SET ")
		for j, set := range sets {
			if j > 0 {
				q.WriteString(", ")
			}
			q.WriteString(set + "CASE " + key)
			for i := range n {
				q.WriteString(" WHEN ? THEN ?")
				args = append(args, rows[i*width], rows[i*width+1+j])
			}
			q.WriteString(" END")
		}
		q.WriteString(" WHERE " + key + " IN (" + strings.TrimSuffix(strings.Repeat("?, ", n), ", ") + ")")
		for i := range n {
			args = append(args, rows[i*width])
		}
		if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
			return err
		}
		rows = rows[n*width:]
	}
	return nil
}

// maxRowsPerStatement bounds the rows one statement writes or names, well
// within the 65,535 placeholders of a prepared statement and
// max_allowed_packet.
const maxRowsPerStatement = 500

// insertRows runs the INSERT that prefix starts with, whose rows have
// columns values each, for args holding the rows one after the other.
func insertRows(ctx context.Context, tx *sql.Tx, prefix string, columns int, args []any) error {
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", columns), ", ") + ")"
	for len(args) > 0 {
		n := min(len(args)/columns, maxRowsPerStatement)
		query := prefix + strings.TrimSuffix(strings.Repeat(row+", ", n), ", ")
		if _, err := tx.ExecContext(ctx, query, args[:n*columns]...); err != nil {
			return err
		}
		args = args[n*columns:]
	}
	return nil
}
