package mysql

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/fanka/fanka/server"
)

// AppendAudit implements server.AuditStore. It locks the chain's head, the
// audit_head row of counters, to the commit, so that appends of every
// server on the database take their turns and the chain never forks.
func (db *DB) AppendAudit(ctx context.Context, user, action string, detail any) (server.AuditRecord, error) {
	d, err := server.NewAuditDetail(user, action, detail)
	if err != nil {
		return server.AuditRecord{}, err
	}
	var r server.AuditRecord
	err = db.inTx(ctx, func(tx *sql.Tx) error {
		r = server.AuditRecord{Time: db.Now().Truncate(time.Millisecond), User: user, Action: action, Detail: d}
		var head int64
		if err := tx.QueryRowContext(ctx, `SELECT value FROM counters WHERE name = 'audit_head' FOR UPDATE`).Scan(&head); err != nil {
			return fmt.Errorf("lock chain head: %w", err)
		}
		r.ID = head + 1
		if head > 0 {
			var prev []byte
			err := tx.QueryRowContext(ctx, `SELECT hash FROM audit WHERE id = ?`, head).Scan(&prev)
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("the chain's head, record %d, is missing", head)
			}
			if err != nil {
				return fmt.Errorf("record %d: %w", head, err)
			}
			copy(r.Prev[:], prev)
		}
		r.Hash = server.AuditHash(r)
		if _, err := tx.ExecContext(ctx, `INSERT INTO audit (id, time, user, action, detail, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			r.ID, ms(r.Time), r.User, r.Action, string(r.Detail), r.Prev[:], r.Hash[:]); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE counters SET value = ? WHERE name = 'audit_head'`, r.ID)
		return err
	})
	if err != nil {
		return server.AuditRecord{}, fmt.Errorf("audit %s by %s: %w", action, user, err)
	}
	return r, nil
}

const auditColumns = `id, time, user, action, detail, prev_hash, hash`

func scanAudit(row scanner) (server.AuditRecord, error) {
	var r server.AuditRecord
	var t int64
	var detail string
	var prev, hash []byte
	if err := row.Scan(&r.ID, &t, &r.User, &r.Action, &detail, &prev, &hash); err != nil {
		return r, err
	}
	r.Time, r.Detail = time.UnixMilli(t), json.RawMessage(detail)
	copy(r.Prev[:], prev)
	copy(r.Hash[:], hash)
	if len(prev) != 32 || len(hash) != 32 {
		// A hash of another length can never verify: keep it visibly wrong.
		r.Hash[0] ^= 0xff
	}
	return r, nil
}

// Audit implements server.AuditStore.
func (db *DB) Audit(ctx context.Context, limit int) ([]server.AuditRecord, error) {
	if limit < 1 || limit > server.MaxAuditPage {
		return nil, server.Errorf(server.EINVALID, "limit %d: want 1 to %d", limit, server.MaxAuditPage)
	}
	rows, err := db.db.QueryContext(ctx, `SELECT `+auditColumns+` FROM audit ORDER BY id DESC LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	defer rows.Close()
	out := []server.AuditRecord{}
	for rows.Next() {
		r, err := scanAudit(rows)
		if err != nil {
			return nil, fmt.Errorf("audit log: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	return out, nil
}

// VerifyAudit implements server.AuditStore, in one snapshot (a read-only
// REPEATABLE READ transaction).
func (db *DB) VerifyAudit(ctx context.Context) (int, int64, error) {
	tx, err := db.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true, Isolation: sql.LevelRepeatableRead})
	if err != nil {
		return 0, 0, fmt.Errorf("verify audit log: %w", err)
	}
	defer tx.Rollback()
	var head int64
	if err := tx.QueryRowContext(ctx, `SELECT value FROM counters WHERE name = 'audit_head'`).Scan(&head); err != nil {
		return 0, 0, fmt.Errorf("verify audit log: chain head: %w", err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT `+auditColumns+` FROM audit ORDER BY id`)
	if err != nil {
		return 0, 0, fmt.Errorf("verify audit log: %w", err)
	}
	defer rows.Close()
	c := server.NewAuditChecker()
	for rows.Next() {
		r, err := scanAudit(rows)
		if err != nil {
			return c.Checked(), 0, fmt.Errorf("verify audit log: %w", err)
		}
		if err := c.Check(r); err != nil {
			return c.Checked(), r.ID, err
		}
	}
	if err := rows.Err(); err != nil {
		return c.Checked(), 0, fmt.Errorf("verify audit log: %w", err)
	}
	return c.End(head)
}
