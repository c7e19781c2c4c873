package sqlops

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/fanka/fanka/server"
	"github.com/fanka/fanka/shared/money"
	"github.com/fanka/fanka/shared/wire"
)

// SetTerminalStatus runs server.TerminalStatusStore.SetTerminalStatus in
// tx. isDuplicate reports a unique key violation.
func SetTerminalStatus(ctx context.Context, tx Tx, id uint32, st wire.Status, at time.Time, isDuplicate func(error) bool) error {
	js, err := json.Marshal(st.Devices())
	if err != nil {
		return fmt.Errorf("status of register %d: %w", id, err)
	}
	err = updateTerminalStatus(ctx, tx, id, isDuplicate, `UPDATE terminal_status SET reported_at = ?, clock = ?,
		unsynced = ?, unsynced_amount = ?, oldest_unsynced = ?, offline_sales = ?, offline_amount = ?,
		limit_unsynced = ?, limit_hard_count = ?, devices = ?, journal_bytes = ?, free_bytes = ?, software = ?
		WHERE terminal_id = ? AND reported_at <= ?`,
		at.UnixMilli(), st.Clock, st.Unsynced, st.UnsyncedAmount, st.OldestUnsynced, st.OfflineSales, st.OfflineAmount,
		st.LimitUnsynced, st.LimitHardCount, string(js), clampInt64(st.JournalBytes), clampInt64(st.FreeBytes), st.Software,
		id, at.UnixMilli())
	if err != nil {
		return fmt.Errorf("status of register %d: %w", id, err)
	}
	return nil
}

// TerminalConnected runs server.TerminalStatusStore.TerminalConnected in
// tx. isDuplicate reports a unique key violation.
func TerminalConnected(ctx context.Context, tx Tx, id uint32, at time.Time, isDuplicate func(error) bool) error {
	err := updateTerminalStatus(ctx, tx, id, isDuplicate,
		`UPDATE terminal_status SET connected = ?, disconnected = 0 WHERE terminal_id = ? AND connected <= ?`,
		at.UnixMilli(), id, at.UnixMilli())
	if err != nil {
		return fmt.Errorf("register %d connected: %w", id, err)
	}
	return nil
}

// TerminalDisconnected runs server.TerminalStatusStore.TerminalDisconnected
// in tx.
func TerminalDisconnected(ctx context.Context, tx Tx, id uint32, connected, at time.Time) error {
	_, err := tx.ExecContext(ctx, `UPDATE terminal_status SET disconnected = ? WHERE terminal_id = ? AND connected = ?`,
		at.UnixMilli(), id, connected.UnixMilli())
	if err != nil {
		return fmt.Errorf("register %d disconnected: %w", id, err)
	}
	return nil
}

// updateTerminalStatus runs an UPDATE of the register's terminal_status
// row, making the row first if it has none: the common case is one
// statement. Both stores count the rows an UPDATE matched, not only those
// it changed.
func updateTerminalStatus(ctx context.Context, tx Tx, id uint32, isDuplicate func(error) bool, query string, args ...any) error {
	res, err := tx.ExecContext(ctx, query, args...)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n > 0 {
		return nil
	}
	err = tx.QueryRowContext(ctx, `SELECT 1 FROM terminal_status WHERE terminal_id = ?`, id).Scan(new(int))
	switch {
	case err == nil:
		return nil // the row is newer than this write
	case !errors.Is(err, sql.ErrNoRows):
		return err
	}
	res, err = tx.ExecContext(ctx, `INSERT INTO terminal_status (terminal_id, devices) SELECT id, '{}' FROM terminals WHERE id = ?`, id)
	if err != nil && !isDuplicate(err) { // another server made it meanwhile
		return err
	}
	if err == nil {
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return server.Errorf(server.ENOTFOUND, "no register %d", id)
		}
	}
	_, err = tx.ExecContext(ctx, query, args...)
	return err
}

// TerminalStatuses runs server.TerminalStatusStore.TerminalStatuses on q.
func TerminalStatuses(ctx context.Context, q Tx) (map[uint32]server.TerminalStatus, error) {
	rows, err := q.QueryContext(ctx, `SELECT terminal_id, reported_at, clock, unsynced, unsynced_amount, oldest_unsynced,
		offline_sales, offline_amount, limit_unsynced, limit_hard_count, devices, journal_bytes, free_bytes, software,
		connected, disconnected FROM terminal_status`)
	if err != nil {
		return nil, fmt.Errorf("registers' status: %w", err)
	}
	defer rows.Close()
	out := map[uint32]server.TerminalStatus{}
	for rows.Next() {
		var s server.TerminalStatus
		var reported, connected, disconnected, journalBytes, freeBytes int64
		var unsynced, offline, amount, offAmount, limit int64
		var hard int64
		var devices string
		st := &s.Status
		if err := rows.Scan(&s.Terminal, &reported, &st.Clock, &unsynced, &amount, &st.OldestUnsynced,
			&offline, &offAmount, &limit, &hard, &devices, &journalBytes, &freeBytes, &st.Software,
			&connected, &disconnected); err != nil {
			return nil, fmt.Errorf("registers' status: %w", err)
		}
		st.Unsynced, st.OfflineSales, st.LimitHardCount = uint32(unsynced), uint32(offline), uint32(hard)
		st.UnsyncedAmount, st.OfflineAmount, st.LimitUnsynced = money.Fen(amount), money.Fen(offAmount), money.Fen(limit)
		st.JournalBytes, st.FreeBytes = uint64(journalBytes), uint64(freeBytes)
		var stored map[string]wire.Device
		if err := json.Unmarshal([]byte(devices), &stored); err != nil {
			return nil, fmt.Errorf("registers' status: register %d: devices: %w", s.Terminal, err)
		}
		st.Reader, st.Keypad, st.Display, st.Printer = stored["reader"], stored["keypad"], stored["display"], stored["printer"]
		s.ReportedAt, s.Connected, s.Disconnected = timeOrZero(reported), timeOrZero(connected), timeOrZero(disconnected)
		out[s.Terminal] = s
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("registers' status: %w", err)
	}
	return out, nil
}

// timeOrZero reads a time in Unix ms where 0 stands for none.
func timeOrZero(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

func clampInt64(n uint64) int64 {
	return int64(min(n, math.MaxInt64))
}
