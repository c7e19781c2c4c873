package sqlops

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/fanka/fanka/server"
)

// TerminalColumns and ScanTerminal read a register's row (terminals).
const TerminalColumns = `id, name, public_key, last_seq, last_hash, last_seen, disabled, created, canteen_id`

// Scanner is a row to scan: *sql.Row or *sql.Rows.
type Scanner interface{ Scan(dest ...any) error }

// ScanTerminal scans TerminalColumns.
func ScanTerminal(row Scanner) (server.Terminal, error) {
	var t server.Terminal
	var pub, hash []byte
	var seen sql.NullInt64
	var created int64
	if err := row.Scan(&t.ID, &t.Name, &pub, &t.LastSeq, &hash, &seen, &t.Disabled, &created, &t.Canteen); err != nil {
		return server.Terminal{}, err
	}
	if len(pub) > 0 {
		t.PublicKey = ed25519.PublicKey(pub)
	}
	if len(hash) != len(t.LastHash) {
		return server.Terminal{}, fmt.Errorf("terminal %d: last hash of %d bytes", t.ID, len(hash))
	}
	copy(t.LastHash[:], hash)
	if seen.Valid {
		t.LastSeen = time.UnixMilli(seen.Int64)
	}
	t.Created = time.UnixMilli(created)
	return t, nil
}

// CanteenColumns and ScanCanteen read a canteen's row (canteens n) and
// its revenue account's balance (accounts a).
const CanteenColumns = `n.id, n.name, n.revenue_account, a.balance, n.created`

// ScanCanteen scans CanteenColumns.
func ScanCanteen(row Scanner) (server.Canteen, error) {
	var c server.Canteen
	var created int64
	if err := row.Scan(&c.ID, &c.Name, &c.RevenueAccount, &c.Revenue, &created); err != nil {
		return server.Canteen{}, err
	}
	c.Created = time.UnixMilli(created)
	return c, nil
}

// CheckCanteen returns ENOTFOUND unless canteen is one, in q.
func CheckCanteen(ctx context.Context, q Tx, canteen int64) error {
	err := q.QueryRowContext(ctx, `SELECT 1 FROM canteens WHERE id = ?`, canteen).Scan(new(int))
	if errors.Is(err, sql.ErrNoRows) {
		return server.Errorf(server.ENOTFOUND, "no canteen %d", canteen)
	}
	if err != nil {
		return fmt.Errorf("canteen %d: %w", canteen, err)
	}
	return nil
}

// MoveTerminal runs server.TerminalStore.MoveTerminal in tx.
func MoveTerminal(ctx context.Context, tx Tx, id uint32, canteen int64) error {
	if err := CheckCanteen(ctx, tx, canteen); err != nil {
		return err
	}
	res, err := tx.ExecContext(ctx, `UPDATE terminals SET canteen_id = ? WHERE id = ?`, canteen, id)
	if err != nil {
		return fmt.Errorf("move register %d: %w", id, err)
	}
	// MariaDB counts rows changed, not matched: a register already in the
	// canteen is found by looking.
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("move register %d: %w", id, err)
	} else if n == 0 {
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM terminals WHERE id = ?`, id).Scan(new(int))
		if errors.Is(err, sql.ErrNoRows) {
			return server.Errorf(server.ENOTFOUND, "no register %d", id)
		}
		if err != nil {
			return fmt.Errorf("move register %d: %w", id, err)
		}
	}
	return nil
}

// CreateCanteen runs server.CanteenStore.CreateCanteen in tx: the
// revenue account, then the canteen. isDuplicate reports a unique key
// violation.
func CreateCanteen(ctx context.Context, tx Tx, name string, now time.Time, isDuplicate func(error) bool) (server.Canteen, error) {
	name, err := server.CheckCanteenName(name)
	if err != nil {
		return server.Canteen{}, err
	}
	at := now.UnixMilli()
	res, err := tx.ExecContext(ctx, `INSERT INTO accounts (kind, name, created) VALUES ('revenue', ?, ?)`, name+" revenue", at)
	if err != nil {
		return server.Canteen{}, fmt.Errorf("create canteen %q: %w", name, err)
	}
	account, err := res.LastInsertId()
	if err != nil {
		return server.Canteen{}, fmt.Errorf("create canteen %q: %w", name, err)
	}
	res, err = tx.ExecContext(ctx, `INSERT INTO canteens (name, revenue_account, created) VALUES (?, ?, ?)`, name, account, at)
	if err != nil {
		if isDuplicate(err) {
			return server.Canteen{}, server.Errorf(server.ECONFLICT, "a canteen is named %q already", name)
		}
		return server.Canteen{}, fmt.Errorf("create canteen %q: %w", name, err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return server.Canteen{}, fmt.Errorf("create canteen %q: %w", name, err)
	}
	return server.Canteen{ID: id, Name: name, RevenueAccount: account, Created: time.UnixMilli(at)}, nil
}

// Canteens runs server.CanteenStore.Canteens on q.
func Canteens(ctx context.Context, q Tx) ([]server.Canteen, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+CanteenColumns+` FROM canteens n JOIN accounts a ON a.id = n.revenue_account ORDER BY n.id`)
	if err != nil {
		return nil, fmt.Errorf("canteens: %w", err)
	}
	defer rows.Close()
	var out []server.Canteen
	for rows.Next() {
		c, err := ScanCanteen(rows)
		if err != nil {
			return nil, fmt.Errorf("canteens: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("canteens: %w", err)
	}
	return out, nil
}

// Revenues maps canteens to their revenue accounts, which never change
// once made: settlement reads each once per store, and does not lock the
// canteen's row, which every register of the canteen would wait on.
type Revenues struct {
	mu sync.Mutex
	m  map[int64]int64
}

// Account returns canteen's revenue account, read with q the first time.
func (r *Revenues) Account(ctx context.Context, q Tx, canteen int64) (int64, error) {
	r.mu.Lock()
	account, ok := r.m[canteen]
	r.mu.Unlock()
	if ok {
		return account, nil
	}
	err := q.QueryRowContext(ctx, `SELECT revenue_account FROM canteens WHERE id = ?`, canteen).Scan(&account)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, server.Errorf(server.ENOTFOUND, "no canteen %d", canteen)
	}
	if err != nil {
		return 0, fmt.Errorf("canteen %d: %w", canteen, err)
	}
	r.mu.Lock()
	if r.m == nil {
		r.m = map[int64]int64{}
	}
	r.m[canteen] = account
	r.mu.Unlock()
	return account, nil
}

// ReportRegisters returns what a day's report shows of every register: its
// name and its canteen's, by id.
func ReportRegisters(ctx context.Context, q Tx) (map[uint32]server.ReportRegister, error) {
	rows, err := q.QueryContext(ctx, `SELECT t.id, t.name, t.canteen_id, c.name FROM terminals t JOIN canteens c ON c.id = t.canteen_id`)
	if err != nil {
		return nil, fmt.Errorf("registers: %w", err)
	}
	defer rows.Close()
	out := map[uint32]server.ReportRegister{}
	for rows.Next() {
		var id uint32
		var r server.ReportRegister
		if err := rows.Scan(&id, &r.Name, &r.Canteen, &r.CanteenName); err != nil {
			return nil, fmt.Errorf("registers: %w", err)
		}
		out[id] = r
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("registers: %w", err)
	}
	return out, nil
}
