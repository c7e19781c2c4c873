package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"

	"github.com/fanka/fanka/server"
	"github.com/fanka/fanka/server/sqlops"
	"github.com/fanka/fanka/shared/money"
)

// Verify implements server.Verifier. It reads in one REPEATABLE READ
// snapshot, a read-only transaction that locks nothing, so it may run
// while servers settle.
func (db *DB) Verify(ctx context.Context) (server.VerifyReport, error) {
	var rep server.VerifyReport
	tx, err := db.db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	if err != nil {
		return rep, fmt.Errorf("verify: %w", err)
	}
	defer tx.Rollback()
	for _, check := range []func(context.Context, *sql.Tx, *server.VerifyReport) error{
		verifyTransactions, verifyBalances, verifyHolds, verifyOrigins, verifyChains, verifySeals,
	} {
		if err := check(ctx, tx, &rep); err != nil {
			var v *server.Violation
			if errors.As(err, &v) {
				return rep, err
			}
			return rep, fmt.Errorf("verify: %w", err)
		}
	}
	return rep, nil
}

// verifyHolds checks the accounts' held totals (sqlops.VerifyHolds).
func verifyHolds(ctx context.Context, tx *sql.Tx, _ *server.VerifyReport) error {
	return sqlops.VerifyHolds(ctx, tx)
}

// verifySeals checks the ledger's hash chain (sqlops.VerifySeals).
func verifySeals(ctx context.Context, tx *sql.Tx, rep *server.VerifyReport) error {
	return sqlops.VerifySeals(ctx, tx, &rep.Seals)
}

// verifyTransactions checks that every transaction has postings summing to
// zero.
func verifyTransactions(ctx context.Context, tx *sql.Tx, rep *server.VerifyReport) error {
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM transactions`).Scan(&rep.Transactions); err != nil {
		return err
	}
	var id, n int64
	var sum money.Fen
	err := tx.QueryRowContext(ctx, `SELECT t.id, COUNT(p.id), COALESCE(SUM(p.amount), 0)
		FROM transactions t LEFT JOIN postings p ON p.tx_id = t.id
		GROUP BY t.id HAVING COUNT(p.id) < 2 OR COALESCE(SUM(p.amount), 0) <> 0
		ORDER BY t.id LIMIT 1`).Scan(&id, &n, &sum)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil
	case err != nil:
		return err
	case n < 2:
		return &server.Violation{Table: "transactions", Row: strconv.FormatInt(id, 10), Problem: fmt.Sprintf("%d postings, want at least 2", n)}
	}
	return &server.Violation{Table: "transactions", Row: strconv.FormatInt(id, 10), Problem: fmt.Sprintf("postings sum to %d, not 0", sum)}
}

// verifyBalances checks that every balance is the sum of its postings.
func verifyBalances(ctx context.Context, tx *sql.Tx, _ *server.VerifyReport) error {
	var id int64
	var bal, sum money.Fen
	err := tx.QueryRowContext(ctx, `SELECT a.id, a.balance, COALESCE(SUM(p.amount), 0)
		FROM accounts a LEFT JOIN postings p ON p.account_id = a.id
		GROUP BY a.id, a.balance HAVING a.balance <> COALESCE(SUM(p.amount), 0)
		ORDER BY a.id LIMIT 1`).Scan(&id, &bal, &sum)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	return &server.Violation{Table: "accounts", Row: strconv.FormatInt(id, 10), Problem: fmt.Sprintf("balance %d, but its postings sum to %d", bal, sum)}
}

// verifyOrigins checks that origins are unique and that every register
// transaction is the one its entry names.
func verifyOrigins(ctx context.Context, tx *sql.Tx, _ *server.VerifyReport) error {
	var origin string
	var id int64
	err := tx.QueryRowContext(ctx, `SELECT origin, MIN(id) FROM transactions GROUP BY origin HAVING COUNT(*) > 1 ORDER BY MIN(id) LIMIT 1`).Scan(&origin, &id)
	if err == nil {
		return &server.Violation{Table: "transactions", Row: strconv.FormatInt(id, 10), Problem: fmt.Sprintf("origin %s is not unique", origin)}
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return err
	}

	rows, err := tx.QueryContext(ctx, `SELECT id, origin, terminal_id, seq FROM transactions WHERE terminal_id IS NOT NULL OR origin LIKE 'T%' ORDER BY id`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var terminal, seq sql.NullInt64
		if err := rows.Scan(&id, &origin, &terminal, &seq); err != nil {
			return err
		}
		if !terminal.Valid || !seq.Valid || origin != server.TerminalOrigin(uint32(terminal.Int64), uint64(seq.Int64)) {
			return &server.Violation{Table: "transactions", Row: strconv.FormatInt(id, 10), Problem: fmt.Sprintf("origin %s does not name its register entry", origin)}
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}

	// <=> is MySQL's NULL-safe equality.
	var terminal, seq int64
	err = tx.QueryRowContext(ctx, `SELECT e.terminal_id, e.seq, t.id FROM entries e JOIN transactions t ON t.id = e.tx_id
		WHERE NOT (t.terminal_id <=> e.terminal_id) OR NOT (t.seq <=> e.seq) ORDER BY e.terminal_id, e.seq LIMIT 1`).Scan(&terminal, &seq, &id)
	if err == nil {
		return &server.Violation{Table: "entries", Row: fmt.Sprintf("%d/%d", terminal, seq), Problem: fmt.Sprintf("posted as transaction %d, which is another entry's", id)}
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	err = tx.QueryRowContext(ctx, `SELECT t.id FROM transactions t LEFT JOIN entries e ON e.tx_id = t.id
		WHERE t.terminal_id IS NOT NULL AND e.seq IS NULL ORDER BY t.id LIMIT 1`).Scan(&id)
	if err == nil {
		return &server.Violation{Table: "transactions", Row: strconv.FormatInt(id, 10), Problem: "a register transaction without its entry"}
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	return nil
}

// verifyChains checks every register's entries with server.ChainCheck.
func verifyChains(ctx context.Context, tx *sql.Tx, rep *server.VerifyReport) error {
	rows, err := tx.QueryContext(ctx, `SELECT `+sqlops.TerminalColumns+` FROM terminals ORDER BY id`)
	if err != nil {
		return err
	}
	var terminals []server.Terminal
	for rows.Next() {
		t, err := sqlops.ScanTerminal(rows)
		if err != nil {
			rows.Close()
			return err
		}
		terminals = append(terminals, t)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, t := range terminals {
		rep.Registers++
		n, flagged, err := verifyChain(ctx, tx, t)
		rep.Entries += n
		rep.CardSigFlagged += flagged
		if err != nil {
			return err
		}
	}
	return nil
}

// verifyChain checks one register's entries and returns how many it
// checked and how many sales' card signatures are to be reviewed.
func verifyChain(ctx context.Context, tx *sql.Tx, t server.Terminal) (int64, int64, error) {
	check := server.ChainCheck{Terminal: t}
	rows, err := tx.QueryContext(ctx, `SELECT e.seq, e.hash, e.raw, c.public_key FROM entries e
		LEFT JOIN transactions x ON x.id = e.tx_id LEFT JOIN cards c ON c.card_no = x.card_no
		WHERE e.terminal_id = ? ORDER BY e.seq`, t.ID)
	if err != nil {
		return 0, 0, err
	}
	defer rows.Close()
	for rows.Next() {
		var seq uint64
		var hash, raw, cardKey []byte
		if err := rows.Scan(&seq, &hash, &raw, &cardKey); err != nil {
			return check.Entries, check.CardSigFlagged, err
		}
		if err := check.Next(seq, hash, raw, cardKey); err != nil {
			return check.Entries, check.CardSigFlagged, err
		}
	}
	if err := rows.Err(); err != nil {
		return check.Entries, check.CardSigFlagged, err
	}
	return check.Entries, check.CardSigFlagged, check.End()
}
