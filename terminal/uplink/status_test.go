package uplink_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	sj "github.com/fanka/fanka/shared/journal"
	"github.com/fanka/fanka/shared/money"
	"github.com/fanka/fanka/shared/wire"
	"github.com/fanka/fanka/terminal"
	"github.com/fanka/fanka/terminal/uplink"
)

// TestStatusBacklogAndExposure: a register that sold offline (two offline
// sales, one sale before the link dropped) sends, once the server asks,
// a status with that backlog and exposure, its offline limits and its
// devices; a device that comes back and the backlog settling are sent
// again at once, the backlog at 0.
func TestStatusBacklogAndExposure(t *testing.T) {
	r := newRig(t)
	r.server.askStatus = true
	first := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	for i, e := range []sj.Entry{
		{Kind: sj.KindSale, Time: first.UnixMilli(), CardNo: "A1", Amount: 1200},
		{Kind: sj.KindSale, Time: first.Add(time.Minute).UnixMilli(), CardNo: "A1", Amount: 800, Flags: sj.FlagOffline},
		{Kind: sj.KindSale, Time: first.Add(2 * time.Minute).UnixMilli(), CardNo: "A2", Amount: 1550, Flags: sj.FlagOffline},
	} {
		if _, err := r.journal.Record(e); err != nil {
			t.Fatalf("record sale %d: %v", i+1, err)
		}
	}
	var reader terminal.DeviceHealth
	reader.Set(wire.DeviceAbsent, "pcscd: no reader named \"ACS\"")
	printer := &terminal.DeviceHealth{}
	printer.Set(wire.DeviceError, "paper_out")
	src := &terminal.StatusSource{Journal: r.journal, Reader: &reader, Keypad: &terminal.DeviceHealth{}, Printer: printer,
		Limits:   func() terminal.OfflineLimits { return terminal.OfflineLimits{MaxUnsynced: 50000, HardCount: 100} },
		Software: "fanka-terminal test"}
	runStatusUplink(t, r, src, time.Hour)

	waitFor(t, "the first status", func() bool { return len(r.server.received()) > 0 })
	st := r.server.received()[0]
	if st.Unsynced != 3 || st.UnsyncedAmount != 3550 || st.OldestUnsynced != first.UnixMilli() {
		t.Errorf("first status: %d unsynced of %v, oldest %d; want 3 of 35.50, oldest %d (the first sale)",
			st.Unsynced, st.UnsyncedAmount, st.OldestUnsynced, first.UnixMilli())
	}
	if st.OfflineSales != 2 || st.OfflineAmount != 2350 {
		t.Errorf("first status: offline exposure %d sales, %v; want 2 sales, 23.50", st.OfflineSales, st.OfflineAmount)
	}
	if st.LimitUnsynced != 50000 || st.LimitHardCount != 100 {
		t.Errorf("first status: limits %v and %d, want 500.00 and 100", st.LimitUnsynced, st.LimitHardCount)
	}
	want := map[string]wire.Device{
		"reader":  {State: wire.DeviceAbsent, Detail: "pcscd: no reader named \"ACS\""},
		"keypad":  {State: wire.DeviceOK},
		"display": {State: wire.DeviceNotConfigured},
		"printer": {State: wire.DeviceError, Detail: "paper_out"},
	}
	for name, d := range st.Devices() {
		if d != want[name] {
			t.Errorf("first status: %s %+v, want %+v", name, d, want[name])
		}
	}
	if st.JournalBytes == 0 || st.FreeBytes == 0 || st.Software != "fanka-terminal test" {
		t.Errorf("first status: journal %d bytes, %d free, software %q", st.JournalBytes, st.FreeBytes, st.Software)
	}
	if skew := time.Since(time.UnixMilli(st.Clock)); skew < 0 || skew > time.Minute {
		t.Errorf("first status: clock %v, not the register's now", time.UnixMilli(st.Clock))
	}

	// The server settles the held entries once it has the status: the
	// backlog empties, and a status says so without waiting the hour.
	waitFor(t, "a status with the backlog settled", func() bool {
		l := r.server.received()
		last := l[len(l)-1]
		return last.Unsynced == 0 && last.OfflineSales == 0
	})
	l := r.server.received()
	if last := l[len(l)-1]; last.UnsyncedAmount != 0 || last.OfflineAmount != money.Fen(0) || last.OldestUnsynced != 0 {
		t.Errorf("settled: status %+v, want no amount and no oldest time", last)
	}
	if r.journal.Acked() != 3 {
		t.Errorf("journal acked %d, want 3", r.journal.Acked())
	}
	// The reader comes back: sent at once too.
	reader.Set(wire.DeviceOK, "")
	waitFor(t, "a status with the reader back", func() bool {
		l := r.server.received()
		return l[len(l)-1].Reader == wire.Device{State: wire.DeviceOK}
	})
}

// TestNoStatusUnasked: a register never sends its status to a server that
// did not ask (one that predates Status would refuse the frame).
func TestNoStatusUnasked(t *testing.T) {
	r := newRig(t)
	u := runStatusUplink(t, r, &terminal.StatusSource{Journal: r.journal}, time.Millisecond)
	if _, err := r.journal.Record(sj.Entry{Kind: sj.KindSale, Time: time.Now().UnixMilli(), CardNo: "A1", Amount: 100}); err != nil {
		t.Fatal(err)
	}
	u.Wake()
	waitFor(t, "the ack", func() bool { return r.journal.Acked() == 1 })
	// Two of the uplink's looks at the status pass, with a change (the
	// backlog emptied) and the interval long past: a status would have
	// gone out, and the server would have failed the test.
	time.Sleep(2500 * time.Millisecond)
	if n := len(r.server.received()); n != 0 {
		t.Fatalf("%d statuses sent unasked", n)
	}
}

// runStatusUplink starts the rig's server and an uplink that reports
// src's status every interval, until the test ends.
func runStatusUplink(t *testing.T, r *rig, src *terminal.StatusSource, interval time.Duration) *uplink.Uplink {
	pin := r.start()
	u := uplink.New(uplink.Config{URL: "wss://" + r.addr + "/", Terminal: 1, Key: key, Fingerprint: pin, Journal: r.journal,
		Logger: slog.New(slog.DiscardHandler), Status: src.Status, StatusInterval: interval})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { u.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done; r.stop() })
	return u
}
