package gateway_test

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/fanka/fanka/server"
	"github.com/fanka/fanka/server/gateway"
	"github.com/fanka/fanka/server/servertest"
	"github.com/fanka/fanka/shared/wire"
)

// recordingStore is a real store that also keeps every status the
// gateway writes, in order, so that a test sees which were throttled.
type recordingStore struct {
	gateway.Store
	mu      sync.Mutex
	written []wire.Status
}

func (s *recordingStore) SetTerminalStatus(ctx context.Context, id uint32, st wire.Status, at time.Time) error {
	s.mu.Lock()
	s.written = append(s.written, st)
	s.mu.Unlock()
	return s.Store.SetTerminalStatus(ctx, id, st, at)
}

func (s *recordingStore) writes() []wire.Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]wire.Status(nil), s.written...)
}

// registerStatus is a register that sold offline: two sales wait, one
// of them offline, and its printer is out of paper.
func registerStatus(clock time.Time) wire.Status {
	return wire.Status{Clock: clock.UnixMilli(), Unsynced: 2, UnsyncedAmount: 2250, OldestUnsynced: clock.Add(-time.Hour).UnixMilli(),
		OfflineSales: 1, OfflineAmount: 1000, LimitUnsynced: 50000, LimitHardCount: 1000,
		Reader: wire.Device{State: wire.DeviceOK}, Keypad: wire.Device{State: wire.DeviceOK}, Display: wire.Device{State: wire.DeviceOK},
		Printer:      wire.Device{State: wire.DeviceError, Detail: "paper_out"},
		JournalBytes: 65536, FreeBytes: 1 << 30, Software: "fanka-terminal test"}
}

// waitStatus waits until store holds a status of register id for which
// ok holds, and returns it.
func waitStatus(t *testing.T, store server.TerminalStatusStore, id uint32, what string, ok func(server.TerminalStatus) bool) server.TerminalStatus {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		all, err := store.TerminalStatuses(context.Background())
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if s, found := all[id]; found && ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s: register %d: %+v", what, id, all[id])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestStatusStored: the gateway asks a welcomed register for its status
// and stores what it sends with the server's time, a session's start and
// end; statuses with nothing new for the office are written at most every
// StatusWriteInterval, a device's change at once.
func TestStatusStored(t *testing.T) {
	e := newEnv(t)
	rec := &recordingStore{Store: e.store}
	now := time.Now()
	var clockMu sync.Mutex
	clock := func() time.Time { clockMu.Lock(); defer clockMu.Unlock(); return now }
	advance := func(d time.Duration) { clockMu.Lock(); now = now.Add(d); clockMu.Unlock() }
	gw := gateway.New(rec, slog.New(slog.NewTextHandler(e.logs, nil)))
	gw.Now = clock
	url, tlsConf := serve(t, gw)
	r := e.register(t)
	servertest.OpenCard(t, e.store, "04S1", 10000)
	c := servertest.Dial(t, url, tlsConf)
	c.Handshake(t, r, 0) // fails unless the status request follows the rules

	sent := registerStatus(clock())
	if err := c.Send(&sent); err != nil {
		t.Fatal(err)
	}
	got := waitStatus(t, e.store, r.ID, "the first status", func(s server.TerminalStatus) bool { return !s.ReportedAt.IsZero() })
	if got.Status != sent {
		t.Errorf("stored %+v\nsent   %+v", got.Status, sent)
	}
	if !got.ReportedAt.Equal(clock().Truncate(time.Millisecond)) || !got.Connected.Equal(got.ReportedAt) || !got.Disconnected.IsZero() {
		t.Errorf("reported at %v, connected %v, disconnected %v; want the server's now %v, connected then, not disconnected",
			got.ReportedAt, got.Connected, got.Disconnected, clock())
	}

	// One more entry waiting, 5 s later: nothing the office needs now.
	more := sent
	more.Unsynced, more.UnsyncedAmount, more.Clock = 3, 3000, sent.Clock+5000
	// The printer gets paper, a second later: written at once.
	paper := more
	paper.Printer, paper.Clock = wire.Device{State: wire.DeviceOK}, more.Clock+1000
	// 31 s after that, the same: written, the interval having passed.
	later := paper
	later.Clock = paper.Clock + 31000
	for _, st := range []wire.Status{more, paper, later} {
		advance(time.UnixMilli(st.Clock).Sub(clock()))
		if err := c.Send(&st); err != nil {
			t.Fatal(err)
		}
		// A sale and its ack after each: the session read the status
		// before the entries, and the writer had it by then.
		if err := c.Send(&wire.Entries{Entries: [][]byte{r.Sale(t, "04S1", 100)}}); err != nil {
			t.Fatal(err)
		}
		servertest.Expect[*wire.Acks](t, c)
	}
	waitStatus(t, e.store, r.ID, "the last status", func(s server.TerminalStatus) bool { return s.Status.Clock == later.Clock })
	var clocks []int64
	for _, st := range rec.writes() {
		clocks = append(clocks, st.Clock)
	}
	if want := []int64{sent.Clock, paper.Clock, later.Clock}; !equalInts(clocks, want) {
		t.Errorf("statuses written (by their clock) %v, want %v: the first, the printer's change, the one after the interval", clocks, want)
	}

	// The session ends: its end is recorded.
	c.Conn.Close()
	waitStatus(t, e.store, r.ID, "the session's end", func(s server.TerminalStatus) bool { return !s.Disconnected.IsZero() })
}

func equalInts(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestStatusRefused: a status from a register that has not proved its key
// is refused, as is a malformed one; nothing of either is stored, and the
// register's last good status stays.
func TestStatusRefused(t *testing.T) {
	e := newEnv(t)
	r := e.register(t)
	good := registerStatus(time.Now())
	goodFrame, err := wire.Encode(&good)
	if err != nil {
		t.Fatal(err)
	}

	// Instead of the Hello.
	c := e.dial(t)
	servertest.Expect[*wire.Challenge](t, c)
	if err := c.Send(&good); err != nil {
		t.Fatal(err)
	}
	if ref := expectRefused(t, c, wire.RefuseMalformed); !strings.Contains(ref.Message, "expected hello") {
		t.Errorf("a status before the hello: refused with %q", ref.Message)
	}
	if all, err := e.store.TerminalStatuses(context.Background()); err != nil || len(all) != 0 {
		t.Fatalf("after a status before the hello: stored %+v, %v; want none", all, err)
	}

	c = e.dial(t)
	c.Handshake(t, r, 0)
	if err := c.Send(&good); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, e.store, r.ID, "the good status", func(s server.TerminalStatus) bool { return s.Status == good })

	tests := map[string][]byte{
		// The printer's state byte: 9 is none of ok, absent, error, not configured.
		"device state 9": patched(goodFrame, len(goodFrame)-len(good.Software)-1-16-(1+len(good.Printer.Detail))-1, 9),
		"truncated":      goodFrame[:len(goodFrame)-2],
		"trailing byte":  append(append([]byte{}, goodFrame...), 0),
		"offline sales over the backlog": func() []byte {
			b := append([]byte{}, goodFrame...)
			b[2+8+4+8+8+3] = 9 // OfflineSales 9 of 2 unsynced
			return b
		}(),
	}
	for name, frame := range tests {
		t.Run(name, func(t *testing.T) {
			c := e.dial(t)
			c.Handshake(t, r, 0)
			if err := c.Conn.WriteMessage(websocket.BinaryMessage, frame); err != nil {
				t.Fatal(err)
			}
			ref := expectRefused(t, c, wire.RefuseMalformed)
			if !strings.Contains(ref.Message, "type 11") && !strings.Contains(ref.Message, "status: ") {
				t.Errorf("refused with %q, want it to name the status (type 11)", ref.Message)
			}
			all, err := e.store.TerminalStatuses(context.Background())
			if err != nil || all[r.ID].Status != good {
				t.Errorf("after a malformed status: stored %+v, %v; want the good one kept", all[r.ID].Status, err)
			}
		})
	}
}

func patched(b []byte, i int, v byte) []byte {
	c := append([]byte{}, b...)
	c[i] = v
	return c
}

// TestStatusSharedOnMariaDB: two servers on one MariaDB database, each
// with its gateway. A register's status sent to the first is what the
// second's store reads; the register moves to the second, and the first
// session ending later does not mark it disconnected.
func TestStatusSharedOnMariaDB(t *testing.T) {
	dsn := servertest.MustMySQLDSN(t)
	one, two := servertest.MustOpenMySQLAt(t, dsn, nil), servertest.MustOpenMySQLAt(t, dsn, nil)
	servertest.NoLimits(t, one)
	gw1 := gateway.New(one, nil)
	url1, tls1 := serve(t, gw1)
	url2, tls2 := serve(t, gateway.New(two, nil))
	r := servertest.NewRegister(t)
	servertest.Enroll(t, one, r)

	c1 := servertest.Dial(t, url1, tls1)
	c1.Handshake(t, r, 0)
	sent := registerStatus(time.Now())
	if err := c1.Send(&sent); err != nil {
		t.Fatal(err)
	}
	got := waitStatus(t, two, r.ID, "the status through the first server, on the second", func(s server.TerminalStatus) bool { return !s.ReportedAt.IsZero() })
	if got.Status != sent {
		t.Errorf("the second server reads %+v\nsent to the first    %+v", got.Status, sent)
	}
	first := got.Connected

	// The register reaches the second server (the first looks down to
	// it), whose session begins after the first's.
	time.Sleep(5 * time.Millisecond)
	c2 := servertest.Dial(t, url2, tls2)
	c2.Handshake(t, r, 0)
	moved := waitStatus(t, one, r.ID, "the session on the second server", func(s server.TerminalStatus) bool { return s.Connected.After(first) })
	settled := sent
	settled.Unsynced, settled.UnsyncedAmount, settled.OldestUnsynced, settled.OfflineSales, settled.OfflineAmount = 0, 0, 0, 0, 0
	if err := c2.Send(&settled); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, one, r.ID, "the status through the second server", func(s server.TerminalStatus) bool { return s.Status.Unsynced == 0 })
	// The first server stops: its session's end is recorded before Close
	// returns, and must not mark the register, now on the second,
	// disconnected.
	gw1.Close()
	all, err := two.TerminalStatuses(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if s := all[r.ID]; !s.Connected.Equal(moved.Connected) || !s.Disconnected.IsZero() {
		t.Errorf("connected %v, disconnected %v; want the second session's start %v, not disconnected", s.Connected, s.Disconnected, moved.Connected)
	}
	// The second session ends: now it is.
	c2.Conn.Close()
	waitStatus(t, one, r.ID, "the second session's end", func(s server.TerminalStatus) bool { return !s.Disconnected.IsZero() })
}

// TestStatusAlarms: a register's status raises an alarm when a device goes
// absent or fails and when its offline exposure reaches 80% of its limit,
// once per change: not again while it lasts, nor when the register
// reconnects with the same status; again when it comes back after being
// mended.
func TestStatusAlarms(t *testing.T) {
	e := newEnv(t)
	r := e.register(t)
	servertest.OpenCard(t, e.store, "04S1", 10000)
	clock := time.Now()
	connect := func() *servertest.Client {
		c := e.dial(t)
		c.Handshake(t, r, 0)
		return c
	}
	// send sends st and a sale, and waits for the sale's ack: the session
	// has taken the status by then.
	send := func(c *servertest.Client, st wire.Status) {
		t.Helper()
		clock = clock.Add(time.Second)
		st.Clock = clock.UnixMilli()
		if err := c.Send(&st); err != nil {
			t.Fatal(err)
		}
		if err := c.Send(&wire.Entries{Entries: [][]byte{r.Sale(t, "04S1", 100)}}); err != nil {
			t.Fatal(err)
		}
		servertest.Expect[*wire.Acks](t, c)
	}
	counts := func() map[string]int {
		t.Helper()
		alarms, err := e.store.Alarms(context.Background(), 100)
		if err != nil {
			t.Fatal(err)
		}
		n := map[string]int{}
		for _, a := range alarms {
			if a.Terminal == r.ID {
				n[a.Code]++
			}
		}
		return n
	}
	want := func(what string, device, exposure int) {
		t.Helper()
		if n := counts(); n["device"] != device || n["exposure"] != exposure {
			t.Errorf("%s: alarms %v, want %d device and %d exposure", what, n, device, exposure)
		}
	}

	fine := registerStatus(clock)
	fine.Printer = wire.Device{State: wire.DeviceOK}
	bad := fine
	bad.Reader = wire.Device{State: wire.DeviceAbsent, Detail: "pcscd down"}
	bad.OfflineSales, bad.OfflineAmount, bad.Unsynced, bad.UnsyncedAmount = 40, 41000, 40, 41000 // 82% of 500.00

	c := connect()
	send(c, fine)
	want("all well", 0, 0)
	send(c, bad)
	want("reader gone, exposure at 82%", 1, 1)
	send(c, bad)
	want("the same again", 1, 1)
	waitStatus(t, e.store, r.ID, "the bad status stored", func(s server.TerminalStatus) bool { return s.Status.Reader.State == wire.DeviceAbsent })
	c.Conn.Close()

	// A new session whose first status is the one stored: nothing new.
	c = connect()
	send(c, bad)
	want("reconnected, the same", 1, 1)
	// Mended, then gone again; exposure settled, then near the limit again.
	send(c, fine)
	send(c, bad)
	want("gone again, near the limit again", 2, 2)
	if a := waitAlarm(t, e, "device", r.ID); !strings.Contains(a.Message, "reader absent: pcscd down") {
		t.Errorf("device alarm %+v, want it to name the reader and its detail", a)
	}
	if a := waitAlarm(t, e, "exposure", r.ID); !strings.Contains(a.Message, "410.00") || !strings.Contains(a.Message, "500.00") {
		t.Errorf("exposure alarm %+v, want the exposure and the limit", a)
	}
}
