package sqlite

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/fanka/fanka/server"
	"github.com/fanka/fanka/server/sqlops"
	"github.com/fanka/fanka/shared/wire"
)

// terminalIn reads a register inside a transaction.
func terminalIn(ctx context.Context, q interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}, id uint32) (server.Terminal, error) {
	t, err := sqlops.ScanTerminal(q.QueryRowContext(ctx, `SELECT `+sqlops.TerminalColumns+` FROM terminals WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return server.Terminal{}, server.Errorf(server.ENOTFOUND, "no register %d", id)
	}
	if err != nil {
		return server.Terminal{}, fmt.Errorf("terminal %d: %w", id, err)
	}
	return t, nil
}

// CreateTerminal implements server.TerminalStore.
func (db *DB) CreateTerminal(ctx context.Context, name string, canteen int64, codeHash [32]byte, expires time.Time) (server.Terminal, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 64 {
		return server.Terminal{}, server.Errorf(server.EINVALID, "a register's name must be 1 to 64 bytes")
	}
	var t server.Terminal
	if canteen == 0 {
		canteen = server.FirstCanteen
	}
	err := db.inTx(ctx, func(tx *wtx) error {
		if err := sqlops.CheckCanteen(ctx, tx, canteen); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO terminals (name, enrol_code_hash, enrol_expires, created, canteen_id) VALUES (?, ?, ?, ?, ?)`,
			name, codeHash[:], ms(expires), ms(db.Now()), canteen)
		if err != nil {
			return err
		}
		id, err := res.LastInsertId()
		if err != nil {
			return err
		}
		if id <= 0 || id > 1<<32-1 {
			return fmt.Errorf("register id %d out of range", id)
		}
		t, err = terminalIn(ctx, tx, uint32(id))
		return err
	})
	if err != nil {
		return server.Terminal{}, fmt.Errorf("create register %q: %w", name, err)
	}
	return t, nil
}

// MoveTerminal implements server.TerminalStore.
func (db *DB) MoveTerminal(ctx context.Context, id uint32, canteen int64) error {
	return db.inTx(ctx, func(tx *wtx) error { return sqlops.MoveTerminal(ctx, tx, id, canteen) })
}

// CreateCanteen implements server.CanteenStore.
func (db *DB) CreateCanteen(ctx context.Context, name string) (server.Canteen, error) {
	var c server.Canteen
	err := db.inTx(ctx, func(tx *wtx) error {
		var err error
		c, err = sqlops.CreateCanteen(ctx, tx, name, db.Now(), isConstraint)
		return err
	})
	return c, err
}

// Canteens implements server.CanteenStore.
func (db *DB) Canteens(ctx context.Context) ([]server.Canteen, error) {
	return sqlops.Canteens(ctx, db.read)
}

// EnrollTerminal implements server.TerminalStore.
func (db *DB) EnrollTerminal(ctx context.Context, codeHash [32]byte, pub ed25519.PublicKey) (server.Terminal, error) {
	if len(pub) != ed25519.PublicKeySize {
		return server.Terminal{}, server.Errorf(server.EINVALID, "public key must be %d bytes", ed25519.PublicKeySize)
	}
	var t server.Terminal
	err := db.inTx(ctx, func(tx *wtx) error {
		now := ms(db.Now())
		var id uint32
		err := tx.QueryRowContext(ctx, `UPDATE terminals SET public_key = ?, enrolled = ?
			WHERE enrol_code_hash = ? AND enrolled IS NULL AND enrol_expires > ? RETURNING id`,
			[]byte(pub), now, codeHash[:], now).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return server.Errorf(server.EUNAUTHORIZED, "unknown, used or expired enrolment code")
		}
		if err != nil {
			return err
		}
		t, err = terminalIn(ctx, tx, id)
		return err
	})
	if err != nil {
		return server.Terminal{}, fmt.Errorf("enrol register: %w", err)
	}
	return t, nil
}

// Terminal implements server.TerminalStore.
func (db *DB) Terminal(ctx context.Context, id uint32) (server.Terminal, error) {
	return terminalIn(ctx, db.read, id)
}

// TouchTerminal implements server.TerminalStore.
func (db *DB) TouchTerminal(ctx context.Context, id uint32, seen time.Time) error {
	return db.inTx(ctx, func(tx *wtx) error {
		res, err := tx.ExecContext(ctx, `UPDATE terminals SET last_seen = MAX(COALESCE(last_seen, 0), ?) WHERE id = ?`, ms(seen), id)
		if err != nil {
			return fmt.Errorf("touch register %d: %w", id, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("touch register %d: %w", id, err)
		} else if n == 0 {
			return server.Errorf(server.ENOTFOUND, "no register %d", id)
		}
		return nil
	})
}

// SetTerminalDisabled implements server.TerminalStore.
func (db *DB) SetTerminalDisabled(ctx context.Context, id uint32, disabled bool) error {
	return db.inTx(ctx, func(tx *wtx) error {
		res, err := tx.ExecContext(ctx, `UPDATE terminals SET disabled = ? WHERE id = ?`, disabled, id)
		if err != nil {
			return fmt.Errorf("disable register %d: %w", id, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return server.Errorf(server.ENOTFOUND, "no register %d", id)
		}
		return nil
	})
}

// RaiseAlarm implements server.AlarmStore.
func (db *DB) RaiseAlarm(ctx context.Context, a server.Alarm) (server.Alarm, error) {
	a.Created = db.Now()
	var terminal sql.NullInt64
	if a.Terminal != 0 {
		terminal = sql.NullInt64{Int64: int64(a.Terminal), Valid: true}
	}
	err := db.inTx(ctx, func(tx *wtx) error {
		return tx.QueryRowContext(ctx, `INSERT INTO alarms (created, terminal_id, code, message) VALUES (?, ?, ?, ?) RETURNING id`,
			ms(a.Created), terminal, a.Code, a.Message).Scan(&a.ID)
	})
	if err != nil {
		return server.Alarm{}, fmt.Errorf("raise alarm %s: %w", a.Code, err)
	}
	return a, nil
}

// Alarms implements server.AlarmStore.
func (db *DB) Alarms(ctx context.Context, limit int) ([]server.Alarm, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT id, created, COALESCE(terminal_id, 0), code, message FROM alarms ORDER BY id DESC LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("alarms: %w", err)
	}
	defer rows.Close()
	var out []server.Alarm
	for rows.Next() {
		var a server.Alarm
		var created int64
		if err := rows.Scan(&a.ID, &created, &a.Terminal, &a.Code, &a.Message); err != nil {
			return nil, fmt.Errorf("alarms: %w", err)
		}
		a.Created = time.UnixMilli(created)
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("alarms: %w", err)
	}
	return out, nil
}

// SetTerminalStatus implements server.TerminalStatusStore. It writes
// nothing the settler caches, so the settler's cache outlives it.
func (db *DB) SetTerminalStatus(ctx context.Context, id uint32, st wire.Status, at time.Time) error {
	return db.writeTx(ctx, false, func(tx *wtx) error { return sqlops.SetTerminalStatus(ctx, tx, id, st, at, isConstraint) })
}

// TerminalConnected implements server.TerminalStatusStore.
func (db *DB) TerminalConnected(ctx context.Context, id uint32, at time.Time) error {
	return db.writeTx(ctx, false, func(tx *wtx) error { return sqlops.TerminalConnected(ctx, tx, id, at, isConstraint) })
}

// TerminalDisconnected implements server.TerminalStatusStore.
func (db *DB) TerminalDisconnected(ctx context.Context, id uint32, connected, at time.Time) error {
	return db.writeTx(ctx, false, func(tx *wtx) error { return sqlops.TerminalDisconnected(ctx, tx, id, connected, at) })
}

// TerminalStatuses implements server.TerminalStatusStore.
func (db *DB) TerminalStatuses(ctx context.Context) (map[uint32]server.TerminalStatus, error) {
	return sqlops.TerminalStatuses(ctx, db.read)
}
