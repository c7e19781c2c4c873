package pcsc_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ebfe/scard"

	"github.com/fanka/fanka/shared/card"
	"github.com/fanka/fanka/shared/wire"
	"github.com/fanka/fanka/terminal"
	"github.com/fanka/fanka/terminal/pcsc"
	"github.com/fanka/fanka/terminal/virtual"
)

// These tests share pcscd with every other PC/SC test on the machine and own
// its slot virtual.Slot1; they do not run in parallel with each other.
var slot = virtual.Slot1

// eventWait is how long a test waits for a card event: pcscd notices a vpcd
// card on its next poll of the slot (about every 400 ms), and the machine
// may be busy. A generous wait, not a timing assertion.
const eventWait = 10 * time.Second

// testLogger sends a Reader's log to t.Log.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// mustOpen opens a Reader on the test slot, closed when the test ends.
func mustOpen(t *testing.T, cfg pcsc.Config) *pcsc.Reader {
	t.Helper()
	if cfg.ReaderPrefix == "" {
		cfg.ReaderPrefix = slot.Reader
	}
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	r, err := pcsc.Open(cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return r
}

// mustInsert puts c into the test slot; the card is removed when the test
// ends, and the test then waits for pcscd to see the slot empty.
func mustInsert(t *testing.T, c virtual.Card) *virtual.Inserted {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), eventWait)
	defer cancel()
	in, err := slot.Insert(ctx, c)
	if err != nil {
		t.Fatalf("insert card: %v", err)
	}
	t.Cleanup(func() {
		if err := in.Remove(); err != nil {
			t.Errorf("remove card: %v", err)
		}
		waitSlot(t, false)
	})
	return in
}

// mustRemove takes the card out.
func mustRemove(t *testing.T, in *virtual.Inserted) {
	t.Helper()
	if err := in.Remove(); err != nil {
		t.Fatalf("remove card: %v", err)
	}
}

// nextEvent returns the reader's next event, failing the test after eventWait.
func nextEvent(t *testing.T, r *pcsc.Reader) terminal.CardEvent {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), eventWait)
	defer cancel()
	ev, err := r.NextCardEvent(ctx)
	if err != nil {
		t.Fatalf("NextCardEvent: %v", err)
	}
	return ev
}

// waitSlot waits until pcscd sees a card in the test slot (present) or sees
// it empty, straight through PC/SC, so that each test starts from a known
// state.
func waitSlot(t *testing.T, present bool) {
	t.Helper()
	sc, err := scard.EstablishContext()
	if err != nil {
		t.Fatalf("EstablishContext: %v", err)
	}
	defer sc.Release()
	rs := []scard.ReaderState{{Reader: slot.Reader, CurrentState: scard.StateUnaware}}
	deadline := time.Now().Add(eventWait)
	for time.Now().Before(deadline) {
		err := sc.GetStatusChange(rs, 500*time.Millisecond)
		switch {
		case err == nil:
			st := rs[0].EventState
			if (st&scard.StatePresent != 0) == present {
				return
			}
			rs[0].CurrentState = st &^ scard.StateChanged
		case !errors.Is(err, scard.ErrTimeout):
			t.Fatalf("GetStatusChange(%q): %v", slot.Reader, err)
		}
	}
	t.Fatalf("%q: card present never became %v", slot.Reader, present)
}

func TestInsertReadsCardNumberAndRemoveIsReported(t *testing.T) {
	virtual.MustPCSCD(t)
	waitSlot(t, false)
	var (
		mu    sync.Mutex
		stamp = time.Date(2025, 3, 1, 11, 30, 0, 0, time.UTC)
		calls int
	)
	r := mustOpen(t, pcsc.Config{Now: func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		calls++
		return stamp.Add(time.Duration(calls) * time.Second)
	}})
	in := mustInsert(t, virtual.Card{UID: []byte{0x04, 0xA1, 0xB2, 0xC3, 0xD4, 0xE5, 0xF6}})

	ev := nextEvent(t, r)
	if !ev.Present || ev.CardNo != "04A1B2C3D4E5F6" || ev.Err != nil {
		t.Fatalf("after insert: event %+v, want Present with CardNo 04A1B2C3D4E5F6", ev)
	}
	if !ev.At.After(stamp) {
		t.Errorf("insert At = %v, want a time from Config.Now", ev.At)
	}
	if got := in.APDUs(); len(got) != 1 || !bytes.Equal(got[0], card.GetUID) {
		t.Errorf("card received APDUs % X, want just GetUID", got)
	}

	mustRemove(t, in)
	ev2 := nextEvent(t, r)
	if ev2.Present || ev2.CardNo != "" || ev2.Err != nil {
		t.Fatalf("after remove: event %+v, want Present false", ev2)
	}
	if !ev2.At.After(ev.At) {
		t.Errorf("remove At = %v, not after insert At %v", ev2.At, ev.At)
	}
}

func TestUnreadableCards(t *testing.T) {
	virtual.MustPCSCD(t)
	tests := []struct {
		name    string
		answer  []byte
		wantErr error // nil: any error
	}{
		{"error status word", []byte{0x6A, 0x81}, card.ErrStatus},
		{"garbage of one byte", []byte{0x42}, nil},
		{"UID of 5 bytes", []byte{1, 2, 3, 4, 5, 0x90, 0x00}, card.ErrResponse},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			waitSlot(t, false)
			r := mustOpen(t, pcsc.Config{})
			in := mustInsert(t, virtual.Card{Respond: func([]byte) []byte { return tt.answer }})
			ev := nextEvent(t, r)
			if !ev.Present || ev.CardNo != "" || ev.Err == nil {
				t.Fatalf("event %+v, want Present with Err", ev)
			}
			if tt.wantErr != nil && !errors.Is(ev.Err, tt.wantErr) {
				t.Errorf("Err = %v, want errors.Is %v", ev.Err, tt.wantErr)
			}
			t.Logf("Err = %v", ev.Err)
			mustRemove(t, in)
			if ev := nextEvent(t, r); ev.Present {
				t.Fatalf("after remove: event %+v, want Present false", ev)
			}
		})
	}
}

func TestCardPresentAtOpenIsReported(t *testing.T) {
	virtual.MustPCSCD(t)
	waitSlot(t, false)
	in := mustInsert(t, virtual.Card{UID: []byte{0x11, 0x22, 0x33, 0x44}})
	waitSlot(t, true)

	r := mustOpen(t, pcsc.Config{})
	ev := nextEvent(t, r)
	if !ev.Present || ev.CardNo != "11223344" || ev.Err != nil {
		t.Fatalf("event %+v, want Present with CardNo 11223344", ev)
	}
	mustRemove(t, in)
	if ev := nextEvent(t, r); ev.Present {
		t.Fatalf("after remove: event %+v, want Present false", ev)
	}
}

func TestRepeatedInsertRemoveInOrder(t *testing.T) {
	virtual.MustPCSCD(t)
	waitSlot(t, false)
	r := mustOpen(t, pcsc.Config{})
	var got []string
	for i := range 5 {
		in := mustInsert(t, virtual.Card{UID: []byte{0x04, 0, 0, 0, 0, 0, byte(i)}})
		got = append(got, describe(nextEvent(t, r)))
		mustRemove(t, in)
		got = append(got, describe(nextEvent(t, r)))
	}
	var want []string
	for i := range 5 {
		want = append(want, fmt.Sprintf("in 040000000000%02X", i), "out")
	}
	if strings.Join(got, ", ") != strings.Join(want, ", ") {
		t.Fatalf("events:\n got %q\nwant %q", got, want)
	}
}

// describe shortens an event for comparisons.
func describe(ev terminal.CardEvent) string {
	switch {
	case ev.Err != nil:
		return "error: " + ev.Err.Error()
	case ev.Present:
		return "in " + ev.CardNo
	default:
		return "out"
	}
}

func TestCloseUnblocksNextCardEvent(t *testing.T) {
	virtual.MustPCSCD(t)
	waitSlot(t, false)
	r, err := pcsc.Open(pcsc.Config{ReaderPrefix: slot.Reader, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := r.NextCardEvent(context.Background())
		done <- err
	}()
	time.Sleep(200 * time.Millisecond) // let it block
	if err := r.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, pcsc.ErrClosed) || !errors.Is(err, terminal.ErrDeviceGone) {
			t.Fatalf("NextCardEvent after Close: %v, want ErrClosed (ErrDeviceGone)", err)
		}
	case <-time.After(eventWait):
		t.Fatal("NextCardEvent still blocked after Close")
	}
	if _, err := r.NextCardEvent(context.Background()); !errors.Is(err, pcsc.ErrClosed) {
		t.Fatalf("NextCardEvent on a closed Reader: %v, want ErrClosed", err)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestContextEndsNextCardEvent(t *testing.T) {
	virtual.MustPCSCD(t)
	waitSlot(t, false)
	r := mustOpen(t, pcsc.Config{})

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	if _, err := r.NextCardEvent(ctx); err != context.Canceled {
		t.Fatalf("NextCardEvent with a canceled ctx: %v, want context.Canceled", err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := r.NextCardEvent(ctx); err != context.DeadlineExceeded {
		t.Fatalf("NextCardEvent past its deadline: %v, want context.DeadlineExceeded", err)
	}

	// The Reader still works after a call ended by its context.
	in := mustInsert(t, virtual.Card{UID: []byte{0x04, 0x01, 0x02, 0x03}})
	if ev := nextEvent(t, r); ev.CardNo != "04010203" {
		t.Fatalf("event %+v, want card 04010203", ev)
	}
	mustRemove(t, in)
	if ev := nextEvent(t, r); ev.Present {
		t.Fatalf("after remove: event %+v, want Present false", ev)
	}
}

func TestMissingReaderIsReportedAfterGoneAfter(t *testing.T) {
	virtual.MustPCSCD(t)
	r := mustOpen(t, pcsc.Config{ReaderPrefix: "No Such Reader", GoneAfter: 300 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), eventWait)
	defer cancel()
	_, err := r.NextCardEvent(ctx)
	if !errors.Is(err, terminal.ErrDeviceGone) || errors.Is(err, pcsc.ErrClosed) {
		t.Fatalf("NextCardEvent without the reader: %v, want ErrDeviceGone", err)
	}
	if h := r.Health(); h.State != wire.DeviceAbsent || !strings.Contains(h.Detail, "No Such Reader") {
		t.Errorf("without the reader: health %+v, want absent, naming the reader", h)
	}
	// Once per outage: the next call waits for the reader.
	ctx, cancel = context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	if _, err := r.NextCardEvent(ctx); err != context.DeadlineExceeded {
		t.Fatalf("second NextCardEvent without the reader: %v, want to wait", err)
	}
}

func TestMissingReaderIsOnlyLoggedByDefault(t *testing.T) {
	virtual.MustPCSCD(t)
	r := mustOpen(t, pcsc.Config{ReaderPrefix: "No Such Reader", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	if _, err := r.NextCardEvent(ctx); err != context.DeadlineExceeded {
		t.Fatalf("NextCardEvent without the reader: %v, want to wait", err)
	}
}

func TestOpenRejectsBadConfig(t *testing.T) {
	for _, cfg := range []pcsc.Config{
		{ReaderPrefix: "Virtual\x00PCD"},
		{GoneAfter: -time.Second},
	} {
		if r, err := pcsc.Open(cfg); err == nil {
			r.Close()
			t.Errorf("Open(%+v) succeeded, want an error", cfg)
		}
	}
}

// TestSurvivesPCSCDRestart kills pcscd under a watching Reader and starts it
// again. It disturbs every PC/SC test on the machine, so it runs only when
// FANKA_TEST_PCSCD_RESTART=1 and this package runs alone.
func TestSurvivesPCSCDRestart(t *testing.T) {
	if os.Getenv("FANKA_TEST_PCSCD_RESTART") != "1" {
		t.Skip("kills the shared pcscd: set FANKA_TEST_PCSCD_RESTART=1 and run this package alone")
	}
	virtual.MustPCSCD(t)
	waitSlot(t, false)
	r := mustOpen(t, pcsc.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), eventWait)
	defer cancel()
	in, err := slot.Insert(ctx, virtual.Card{UID: []byte{0x04, 0xCA, 0xFE, 0x01}})
	if err != nil {
		t.Fatal(err)
	}
	if ev := nextEvent(t, r); ev.CardNo != "04CAFE01" {
		t.Fatalf("event %+v, want card 04CAFE01", ev)
	}

	b, err := os.ReadFile("/run/pcscd/pcscd.pid")
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.Trim(string(b), "\x00\n "))
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill pcscd %d: %v", pid, err)
	}
	t.Logf("killed pcscd (pid %d)", pid)
	// The reader went away, and the card with it.
	if ev := nextEvent(t, r); ev.Present {
		t.Fatalf("after pcscd died: event %+v, want Present false", ev)
	}
	select {
	case <-in.Done():
		t.Logf("the card noticed: %v", in.Err())
	case <-time.After(eventWait):
		t.Fatal("the virtual card is still connected to a dead vpcd")
	}
	for deadline := time.Now().Add(eventWait); ; {
		if syscall.Kill(pid, 0) != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pcscd %d still alive after SIGKILL", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}

	// A new pcscd (after stale /run/pcscd files) and a card: reported.
	virtual.MustPCSCD(t)
	mustInsert(t, virtual.Card{UID: []byte{0x04, 0xCA, 0xFE, 0x02}})
	if ev := nextEvent(t, r); ev.CardNo != "04CAFE02" {
		t.Fatalf("after pcscd came back: event %+v, want card 04CAFE02", ev)
	}
}
