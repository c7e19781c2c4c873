package sqlops

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/fanka/fanka/server"
)

// AppendAudit appends r (its ID, Prev and Hash are set here) to the audit
// chain in tx, after reading the chain's head with lock appended (" FOR
// UPDATE" where several servers append at once).
func AppendAudit(ctx context.Context, tx Tx, lock string, r *server.AuditRecord) error {
	var head int64
	if err := tx.QueryRowContext(ctx, `SELECT value FROM counters WHERE name = 'audit_head'`+lock).Scan(&head); err != nil {
		return fmt.Errorf("lock chain head: %w", err)
	}
	r.ID, r.Prev = head+1, [32]byte{}
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
	r.Hash = server.AuditHash(*r)
	if _, err := tx.ExecContext(ctx, `INSERT INTO audit (id, time, user, action, detail, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		r.ID, r.Time.UnixMilli(), r.User, r.Action, string(r.Detail), r.Prev[:], r.Hash[:]); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `UPDATE counters SET value = ? WHERE name = 'audit_head'`, r.ID)
	return err
}

const auditColumns = `id, time, user, action, detail, prev_hash, hash`

func scanAudit(row interface{ Scan(...any) error }) (server.AuditRecord, error) {
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

// Audit reads server.AuditStore.Audit.
func Audit(ctx context.Context, q Tx, limit int) ([]server.AuditRecord, error) {
	if limit < 1 || limit > server.MaxAuditPage {
		return nil, server.Errorf(server.EINVALID, "limit %d: want 1 to %d", limit, server.MaxAuditPage)
	}
	rows, err := q.QueryContext(ctx, `SELECT `+auditColumns+` FROM audit ORDER BY id DESC LIMIT ?`, limit)
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

// VerifyAudit runs server.AuditStore.VerifyAudit in tx, one snapshot.
func VerifyAudit(ctx context.Context, tx Tx) (int, int64, error) {
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
