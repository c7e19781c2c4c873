package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/fanka/fanka/server"
	"github.com/fanka/fanka/server/servertest"
	"github.com/fanka/fanka/shared/wire"
)

// sampleStatus is a register's status with something in every field.
func sampleStatus(clock time.Time) wire.Status {
	return wire.Status{Clock: clock.UnixMilli(), Unsynced: 4, UnsyncedAmount: 4100, OldestUnsynced: clock.Add(-2 * time.Hour).UnixMilli(),
		OfflineSales: 3, OfflineAmount: 3600, LimitUnsynced: 50000, LimitHardCount: 1000,
		Reader:       wire.Device{State: wire.DeviceAbsent, Detail: "pcscd: no reader named \"ACS\""},
		Keypad:       wire.Device{State: wire.DeviceOK},
		Display:      wire.Device{State: wire.DeviceError, Detail: "写入失败 <&>"},
		Printer:      wire.Device{State: wire.DeviceNotConfigured},
		JournalBytes: 1 << 40, FreeBytes: 1 << 62, Software: "fanka-terminal v1"}
}

// testTerminalStatus: a register's link and last status are kept as the
// gateway writes them: an older status does not replace a newer one, and
// a session's end counts only if no later session began.
func testTerminalStatus(t *testing.T, open Open) {
	ctx := context.Background()
	s := open(t, time.Now)
	r := servertest.NewRegister(t)
	servertest.Enroll(t, s, r)
	now := time.Now().Truncate(time.Millisecond)

	if all, err := s.TerminalStatuses(ctx); err != nil || len(all) != 0 {
		t.Fatalf("statuses before any: %+v, %v", all, err)
	}
	if err := s.SetTerminalStatus(ctx, r.ID+1, sampleStatus(now), now); server.ErrorCode(err) != server.ENOTFOUND {
		t.Errorf("status of an unknown register: %v, want ENOTFOUND", err)
	}
	if err := s.TerminalConnected(ctx, r.ID+1, now); server.ErrorCode(err) != server.ENOTFOUND {
		t.Errorf("unknown register connected: %v, want ENOTFOUND", err)
	}

	if err := s.TerminalConnected(ctx, r.ID, now); err != nil {
		t.Fatal(err)
	}
	st := sampleStatus(now)
	if err := s.SetTerminalStatus(ctx, r.ID, st, now.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	// A status reported before it, written late (another server's): kept out.
	older := st
	older.Unsynced = 9
	if err := s.SetTerminalStatus(ctx, r.ID, older, now.Add(500*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	want := server.TerminalStatus{Terminal: r.ID, ReportedAt: now.Add(time.Second), Status: st, Connected: now}
	checkStatus(t, s, "after a status", want)

	// The register connects again (another server) before the first
	// session's end is recorded: that end does not count.
	again := now.Add(2 * time.Second)
	if err := s.TerminalConnected(ctx, r.ID, again); err != nil {
		t.Fatal(err)
	}
	if err := s.TerminalDisconnected(ctx, r.ID, now, now.Add(3*time.Second)); err != nil {
		t.Fatal(err)
	}
	want.Connected = again
	checkStatus(t, s, "after the first session's late end", want)
	if err := s.TerminalDisconnected(ctx, r.ID, again, now.Add(4*time.Second)); err != nil {
		t.Fatal(err)
	}
	want.Disconnected = now.Add(4 * time.Second)
	checkStatus(t, s, "after the second session's end", want)
	// A status settled to nothing replaces it whole.
	empty := wire.Status{Clock: now.Add(5 * time.Second).UnixMilli(), Reader: wire.Device{State: wire.DeviceOK},
		Keypad: wire.Device{State: wire.DeviceOK}, Display: wire.Device{State: wire.DeviceOK}, Printer: wire.Device{State: wire.DeviceOK}}
	if err := s.SetTerminalStatus(ctx, r.ID, empty, now.Add(5*time.Second)); err != nil {
		t.Fatal(err)
	}
	want.Status, want.ReportedAt = empty, now.Add(5*time.Second)
	checkStatus(t, s, "after an empty status", want)
}

// checkStatus fails the test unless s holds want for its register, alone.
func checkStatus(t *testing.T, s server.TerminalStatusStore, when string, want server.TerminalStatus) {
	t.Helper()
	all, err := s.TerminalStatuses(context.Background())
	if err != nil {
		t.Fatalf("%s: %v", when, err)
	}
	got, ok := all[want.Terminal]
	if len(all) != 1 || !ok {
		t.Fatalf("%s: statuses of %d registers, want register %d's alone: %+v", when, len(all), want.Terminal, all)
	}
	if got.Status != want.Status || !got.ReportedAt.Equal(want.ReportedAt) || !got.Connected.Equal(want.Connected) || !got.Disconnected.Equal(want.Disconnected) {
		t.Errorf("%s:\ngot  %+v\nwant %+v", when, got, want)
	}
}
