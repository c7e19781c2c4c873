package admin_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/fanka/fanka/server/servertest"
	"github.com/fanka/fanka/shared/wire"
)

// TestTerminalsStatusAPI: GET /api/v1/terminals shows each register's
// link and last status in the documented shape: backlog, offline
// exposure, devices, disk, clock skew; an old status as stale with its
// figures and age; a register that never connected with status null.
func TestTerminalsStatusAPI(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	r := servertest.NewRegister(t)
	servertest.Enroll(t, e.store, r)
	servertest.Enroll(t, e.store, servertest.NewRegister(t)) // never connects

	now := e.clock.Now()
	connected := now.Add(-time.Minute)
	if err := e.store.TerminalConnected(ctx, r.ID, connected); err != nil {
		t.Fatal(err)
	}
	st := wire.Status{Clock: now.Add(1500 * time.Millisecond).UnixMilli(), // the register's clock 1.5 s ahead
		Unsynced: 3, UnsyncedAmount: 3550, OldestUnsynced: now.Add(-2 * time.Hour).UnixMilli(),
		OfflineSales: 2, OfflineAmount: 2350, LimitUnsynced: 50000, LimitHardCount: 1000,
		Reader:       wire.Device{State: wire.DeviceAbsent, Detail: "no reader"},
		Keypad:       wire.Device{State: wire.DeviceOK},
		Display:      wire.Device{State: wire.DeviceOK},
		Printer:      wire.Device{State: wire.DeviceNotConfigured},
		JournalBytes: 1 << 20, FreeBytes: 5 << 30, Software: "fanka-terminal v1"}
	if err := e.store.SetTerminalStatus(ctx, r.ID, st, now); err != nil {
		t.Fatal(err)
	}
	utc := func(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
	want := map[string]any{
		"online": true, "connected_at": utc(connected), "disconnected_at": nil,
		"reported_at": utc(now), "age_seconds": json.Number("0"), "stale": false, "clock_skew_ms": json.Number("1500"),
		"unsynced": json.Number("3"), "unsynced_amount": json.Number("3550"), "oldest_unsynced": utc(now.Add(-2 * time.Hour)),
		"offline_sales": json.Number("2"), "offline_amount": json.Number("2350"),
		"limit_unsynced": json.Number("50000"), "limit_hard_count": json.Number("1000"),
		"devices": map[string]any{
			"reader":  map[string]any{"state": "absent", "detail": "no reader"},
			"keypad":  map[string]any{"state": "ok"},
			"display": map[string]any{"state": "ok"},
			"printer": map[string]any{"state": "not_configured"},
		},
		"journal_bytes": json.Number("1048576"), "free_bytes": json.Number("5368709120"), "software": "fanka-terminal v1",
	}
	statuses := func() []any {
		t.Helper()
		status, out := e.do(t, "GET", "/api/v1/terminals", e.token, nil)
		ts, _ := out["terminals"].([]any)
		if status != 200 || len(ts) != 2 {
			t.Fatalf("registers: %d %v", status, out)
		}
		return []any{ts[0].(map[string]any)["status"], ts[1].(map[string]any)["status"]}
	}
	got := statuses()
	if diff := cmp.Diff(want, got[0]); diff != "" {
		t.Errorf("a register reporting (-want +got):\n%s", diff)
	}
	if got[1] != nil {
		t.Errorf("a register that never connected: status %v, want null", got[1])
	}

	// Three minutes without a status (the register went away without its
	// server noticing): the last figures, stale, with their age.
	e.clock.Add(3 * time.Minute)
	want["online"], want["stale"], want["age_seconds"] = false, true, json.Number("180")
	if diff := cmp.Diff(want, statuses()[0]); diff != "" {
		t.Errorf("a stale status (-want +got):\n%s", diff)
	}

	// Its session's end recorded: offline, and when.
	end := e.clock.Now()
	if err := e.store.TerminalDisconnected(ctx, r.ID, connected, end); err != nil {
		t.Fatal(err)
	}
	want["disconnected_at"] = utc(end)
	if diff := cmp.Diff(want, statuses()[0]); diff != "" {
		t.Errorf("disconnected (-want +got):\n%s", diff)
	}
}
