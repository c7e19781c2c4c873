package mysql

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/fanka/fanka/server"
	"github.com/fanka/fanka/server/sqlops"
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
		return sqlops.AppendAudit(ctx, tx, ` FOR UPDATE`, &r)
	})
	if err != nil {
		return server.AuditRecord{}, fmt.Errorf("audit %s by %s: %w", action, user, err)
	}
	return r, nil
}

// Audit implements server.AuditStore, on the primary.
func (db *DB) Audit(ctx context.Context, limit int) ([]server.AuditRecord, error) {
	return db.primaryReports().Audit(ctx, limit)
}

// VerifyAudit implements server.AuditStore, in one snapshot (a read-only
// REPEATABLE READ transaction).
func (db *DB) VerifyAudit(ctx context.Context) (int, int64, error) {
	tx, err := db.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true, Isolation: sql.LevelRepeatableRead})
	if err != nil {
		return 0, 0, fmt.Errorf("verify audit log: %w", err)
	}
	defer tx.Rollback()
	return sqlops.VerifyAudit(ctx, tx)
}
