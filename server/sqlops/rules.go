package sqlops

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/fanka/fanka/server"
)

// ReadRules reads the rules in force and their version; DefaultRules and
// 0 if none were set. Rules stored before the offline limits existed (no
// "offline" key) get server.DefaultOfflineLimits.
func ReadRules(ctx context.Context, q Tx) (server.Rules, uint64, error) {
	var value string
	var version uint64
	err := q.QueryRowContext(ctx, `SELECT value, version FROM settings WHERE name = 'rules'`).Scan(&value, &version)
	if errors.Is(err, sql.ErrNoRows) {
		return server.DefaultRules(), 0, nil
	}
	if err != nil {
		return server.Rules{}, 0, fmt.Errorf("read rules: %w", err)
	}
	var stored struct {
		server.Rules
		Offline *server.OfflineLimits `json:"offline"` // shadows Rules.Offline: nil when absent
	}
	if err := json.Unmarshal([]byte(value), &stored); err != nil {
		return server.Rules{}, 0, fmt.Errorf("read rules version %d: %w", version, err)
	}
	r := stored.Rules
	r.Offline = server.DefaultOfflineLimits()
	if stored.Offline != nil {
		r.Offline = *stored.Offline
	}
	return r, version, nil
}

// WriteRules replaces the rules in tx and returns their new version.
func WriteRules(ctx context.Context, tx Tx, r server.Rules, operator string, now int64) (uint64, error) {
	if err := r.Validate(); err != nil {
		return 0, err
	}
	value, err := json.Marshal(r)
	if err != nil {
		return 0, err
	}
	_, version, err := ReadRules(ctx, tx)
	if err != nil {
		return 0, err
	}
	version++
	var res sql.Result
	if version == 1 {
		res, err = tx.ExecContext(ctx, `INSERT INTO settings (name, value, version, updated, operator) VALUES ('rules', ?, ?, ?, ?)`,
			string(value), version, now, operator)
	} else {
		res, err = tx.ExecContext(ctx, `UPDATE settings SET value = ?, version = ?, updated = ?, operator = ? WHERE name = 'rules' AND version = ?`,
			string(value), version, now, operator, version-1)
	}
	if err != nil {
		return 0, fmt.Errorf("write rules: %w", err)
	}
	if version > 1 {
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return 0, server.Errorf(server.ECONFLICT, "the rules were changed by someone else meanwhile: look at them again")
		}
	}
	return version, nil
}
