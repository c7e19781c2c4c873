package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/fanka/fanka/server"
	"github.com/fanka/fanka/server/sqlops"
)

// AppendAudit implements server.AuditStore. The single writer serializes
// appends; the head in counters names the last record, so that records
// deleted at the end show.
func (db *DB) AppendAudit(ctx context.Context, user, action string, detail any) (server.AuditRecord, error) {
	d, err := server.NewAuditDetail(user, action, detail)
	if err != nil {
		return server.AuditRecord{}, err
	}
	r := server.AuditRecord{Time: db.Now().Truncate(time.Millisecond), User: user, Action: action, Detail: d}
	err = db.inTx(ctx, func(tx *wtx) error { return sqlops.AppendAudit(ctx, tx, "", &r) })
	if err != nil {
		return server.AuditRecord{}, fmt.Errorf("audit %s by %s: %w", action, user, err)
	}
	return r, nil
}

// Audit implements server.AuditStore.
func (db *DB) Audit(ctx context.Context, limit int) ([]server.AuditRecord, error) {
	return sqlops.Audit(ctx, readTx{db}, limit)
}

// VerifyAudit implements server.AuditStore, in one snapshot.
func (db *DB) VerifyAudit(ctx context.Context) (int, int64, error) {
	tx, err := db.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return 0, 0, fmt.Errorf("verify audit log: %w", err)
	}
	defer tx.Rollback()
	return sqlops.VerifyAudit(ctx, tx)
}
