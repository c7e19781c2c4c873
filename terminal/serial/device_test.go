package serial_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/fanka/fanka/shared/wire"
	"github.com/fanka/fanka/terminal"
	"github.com/fanka/fanka/terminal/serial"
	"github.com/fanka/fanka/terminal/virtual"
)

// logBuffer collects a logger's output for the test to read.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// waitFor waits until the log holds every one of substrs on one line.
func (l *logBuffer) waitFor(t *testing.T, substrs ...string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, line := range strings.Split(l.String(), "\n") {
			if containsAll(line, substrs) {
				return line
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("log has no line with %q:\n%s", substrs, l)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func containsAll(s string, substrs []string) bool {
	for _, sub := range substrs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

func newLogger(t *testing.T) (*slog.Logger, *logBuffer) {
	var buf logBuffer
	t.Cleanup(func() {
		if t.Failed() || testing.Verbose() {
			t.Logf("log:\n%s", buf.String())
		}
	})
	return slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})), &buf
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func nextKeys(t *testing.T, ctx context.Context, k terminal.Keypad, n int) []terminal.Key {
	t.Helper()
	var keys []terminal.Key
	for range n {
		key, err := k.NextKey(ctx)
		if err != nil {
			t.Fatalf("after %v: %v", keys, err)
		}
		keys = append(keys, key)
	}
	return keys
}

// noKey checks that no key comes within a short while.
func noKey(t *testing.T, k terminal.Keypad) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	if key, err := k.NextKey(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("NextKey = %+v, %v; want nothing", key, err)
	}
}

var sale = []terminal.Key{digit('1'), digit('2'), dot, digit('5'), digit('0'), confirm}

func TestKeypadOverPTY(t *testing.T) {
	for _, name := range []string{"keypad-ascii", "keypad-pos-symbols"} {
		t.Run(name, func(t *testing.T) {
			ctx := testContext(t)
			logger, _ := newLogger(t)
			pty := virtual.MustPTY(t)
			p := mustKeypad(t, name)
			kp, err := serial.OpenKeypad(pty.SlavePath, p, logger)
			if err != nil {
				t.Fatal(err)
			}
			defer kp.Close()
			peer := virtual.NewKeypadPeer(pty.Master, p)
			if err := peer.Type("12.50\r"); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(sale, nextKeys(t, ctx, kp, len(sale))); diff != "" {
				t.Errorf("keys (-want +got):\n%s", diff)
			}
			if err := peer.Type("\x1b\bAH"); err != nil {
				t.Fatal(err)
			}
			want := []terminal.Key{cancel, bksp, preset(0), preset(7)}
			if diff := cmp.Diff(want, nextKeys(t, ctx, kp, len(want))); diff != "" {
				t.Errorf("keys (-want +got):\n%s", diff)
			}
			noKey(t, kp)
		})
	}
}

func TestKeypadDropsUnknownBytes(t *testing.T) {
	ctx := testContext(t)
	logger, log := newLogger(t)
	pty := virtual.MustPTY(t)
	p := mustKeypad(t, "keypad-ascii")
	kp, err := serial.OpenKeypad(pty.SlavePath, p, logger)
	if err != nil {
		t.Fatal(err)
	}
	defer kp.Close()
	if _, err := pty.Master.Write([]byte{0x00, 0xFF, '~'}); err != nil {
		t.Fatal(err)
	}
	if err := virtual.NewKeypadPeer(pty.Master, p).Type("1"); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]terminal.Key{digit('1')}, nextKeys(t, ctx, kp, 1)); diff != "" {
		t.Errorf("keys (-want +got):\n%s", diff)
	}
	noKey(t, kp)
	log.waitFor(t, "level=WARN", "keypad bytes not in profile", `bytes="00 FF 7E"`, "port="+pty.SlavePath)
}

var screens = []terminal.Screen{
	{Lines: []string{"请刷卡", ""}},
	{Lines: []string{"余额 100.00", "张* 请输入金额"}},
	{Lines: []string{"消费 12.50", "余额 87.50"}},
	{Lines: []string{"成功 消费 12.50", "余额 87.50"}, Beep: terminal.BeepSuccess},
	{Lines: []string{"余额不足", "余额 3.00"}, Beep: terminal.BeepRefusal},
	{Lines: []string{"😀 离线 待传 3 abcdefghijk", "a\x1bb"}},
}

func fitted(p serial.DisplayProfile, s terminal.Screen) []string {
	lines := make([]string, len(p.Lines))
	for i := range lines {
		if i < len(s.Lines) {
			lines[i] = p.Fit(s.Lines[i])
		} else {
			lines[i] = p.Fit("")
		}
	}
	return lines
}

func TestDisplayOverPTY(t *testing.T) {
	for _, name := range []string{"display-epson", "display-cd5220"} {
		t.Run(name, func(t *testing.T) {
			ctx := testContext(t)
			logger, _ := newLogger(t)
			pty := virtual.MustPTY(t)
			p := mustDisplay(t, name)
			peer := virtual.MustDisplayPeer(t, pty, p)
			d, err := serial.OpenDisplay(pty.SlavePath, p, logger)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			for _, s := range screens {
				start := time.Now()
				if err := d.Show(s); err != nil {
					t.Fatal(err)
				}
				lines, err := peer.WaitFor(ctx, strings.TrimSpace(p.Fit(s.Lines[0])))
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("%q on the peer after %v", lines, time.Since(start))
				if diff := cmp.Diff(fitted(p, s), lines); diff != "" {
					t.Errorf("peer shows (-want +got):\n%s", diff)
				}
			}
			// Every screen is a frame of its own, in order (Init may share
			// a read, and so a frame, with the first).
			frames := peer.Frames()
			next := 0
			for _, f := range frames {
				if next < len(screens) && slices.Equal(f.Lines, fitted(p, screens[next])) {
					next++
				}
			}
			if next != len(screens) || len(frames) > len(screens)+1 {
				t.Errorf("frames %+v: want the %d screens in order", frames, len(screens))
			}
			if errs := peer.Errors(); len(errs) > 0 {
				t.Errorf("peer could not decode: %q", errs)
			}
			if n := peer.Beeps(); n != 0 {
				t.Errorf("%d beeps from a display without a buzzer", n)
			}
		})
	}
}

// TestKeypadBeep checks the bytes a keypad with a buzzer is sent for each
// beep, through a pty: its success and refusal sequences; the success one
// for a refusal if it has only that; nothing for no beep, nor from a
// keypad without a buzzer.
func TestKeypadBeep(t *testing.T) {
	for _, tc := range []struct {
		name             string
		success, refusal []byte
		want             []byte // for success, refusal, none, in that order
	}{
		{"two sounds", []byte{0x1B, 0x42, 0x01}, []byte{0x1B, 0x42, 0x03}, []byte{0x1B, 0x42, 0x01, 0x1B, 0x42, 0x03}},
		{"one sound", []byte{0x07}, nil, []byte{0x07, 0x07}},
		{"no buzzer", nil, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logger, _ := newLogger(t)
			pty := virtual.MustPTY(t)
			p := mustKeypad(t, "keypad-ascii")
			p.Beep, p.BeepRefusal = tc.success, tc.refusal
			kp, err := serial.OpenKeypad(pty.SlavePath, p, logger)
			if err != nil {
				t.Fatal(err)
			}
			defer kp.Close()
			for _, b := range []terminal.Beep{terminal.BeepSuccess, terminal.BeepRefusal, terminal.BeepNone} {
				if err := kp.Beep(b); err != nil {
					t.Fatalf("Beep(%v): %v", b, err)
				}
			}
			got := readFor(t, pty.Master, 200*time.Millisecond)
			if !bytes.Equal(got, tc.want) {
				t.Errorf("the keypad got % X, want % X", got, tc.want)
			}
		})
	}
}

// readFor returns what f gives within d.
func readFor(t *testing.T, f *os.File, d time.Duration) []byte {
	t.Helper()
	if err := f.SetReadDeadline(time.Now().Add(d)); err != nil {
		t.Fatal(err)
	}
	var got []byte
	buf := make([]byte, 256)
	for {
		n, err := f.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			return got
		}
	}
}

func TestDisplayBeep(t *testing.T) {
	ctx := testContext(t)
	logger, _ := newLogger(t)
	pty := virtual.MustPTY(t)
	p := mustDisplay(t, "display-cd5220")
	p.Beep = []byte{0x07} // a CD5220 clone with a buzzer on BEL
	p.BeepRefusal = []byte{0x1B, 0x07}
	peer := virtual.MustDisplayPeer(t, pty, p)
	d, err := serial.OpenDisplay(pty.SlavePath, p, logger)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for _, s := range screens {
		if err := d.Show(s); err != nil {
			t.Fatal(err)
		}
		if _, err := peer.WaitFor(ctx, strings.TrimSpace(p.Fit(s.Lines[0]))); err != nil {
			t.Fatal(err)
		}
	}
	if n := peer.Beeps(); n != 2 {
		t.Errorf("%d beeps, want 2", n)
	}
	var beeps []terminal.Beep
	for _, f := range peer.Frames() {
		if f.Beep != terminal.BeepNone {
			beeps = append(beeps, f.Beep)
		}
	}
	if want := []terminal.Beep{terminal.BeepSuccess, terminal.BeepRefusal}; !slices.Equal(beeps, want) {
		t.Errorf("beeps %v, want %v", beeps, want)
	}
	if errs := peer.Errors(); len(errs) > 0 {
		t.Errorf("peer could not decode: %q", errs)
	}
}

// TestPoleDisplayWithKeypad runs a keypad and a display on one port.
func TestPoleDisplayWithKeypad(t *testing.T) {
	ctx := testContext(t)
	logger, _ := newLogger(t)
	pty := virtual.MustPTY(t)
	kp, dp := mustKeypad(t, "keypad-ascii"), mustDisplay(t, "display-epson")
	peer := virtual.MustDisplayPeer(t, pty, dp)
	dev, err := serial.Open(pty.SlavePath, &kp, &dp, logger)
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	keys := virtual.NewKeypadPeer(pty.Master, kp)
	for i, s := range screens {
		if err := dev.Show(s); err != nil {
			t.Fatal(err)
		}
		if err := keys.Type("12.50\r"); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(sale, nextKeys(t, ctx, dev, len(sale))); diff != "" {
			t.Errorf("screen %d: keys (-want +got):\n%s", i, diff)
		}
		lines, err := peer.WaitFor(ctx, strings.TrimSpace(dp.Fit(s.Lines[0])))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(fitted(dp, s), lines); diff != "" {
			t.Errorf("peer shows (-want +got):\n%s", diff)
		}
	}
	if errs := peer.Errors(); len(errs) > 0 {
		t.Errorf("peer could not decode: %q", errs)
	}
}

// TestReconnect pulls the cable of a pole display with keypad and plugs
// in another one at the same path (a stable /dev/serial/by-id link).
func TestReconnect(t *testing.T) {
	ctx := testContext(t)
	logger, log := newLogger(t)
	kp, dp := mustKeypad(t, "keypad-ascii"), mustDisplay(t, "display-epson")
	link := filepath.Join(t.TempDir(), "ttyPOLE")
	relink := func(pty *virtual.PTY) {
		t.Helper()
		tmp := link + ".new"
		if err := os.Symlink(pty.SlavePath, tmp); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, link); err != nil {
			t.Fatal(err)
		}
	}

	pty1 := virtual.MustPTY(t)
	relink(pty1)
	peer1 := virtual.MustDisplayPeer(t, pty1, dp)
	dev, err := serial.Open(link, &kp, &dp, logger)
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	before := terminal.Screen{Lines: []string{"余额 100.00", "张* 请输入金额"}}
	if err := dev.Show(before); err != nil {
		t.Fatal(err)
	}
	if _, err := peer1.WaitFor(ctx, "余额 100.00"); err != nil {
		t.Fatal(err)
	}

	if h := dev.Health(); h.State != wire.DeviceOK {
		t.Errorf("plugged in: health %+v, want ok", h)
	}
	pty1.Close() // the cable is pulled
	log.waitFor(t, "level=WARN", "serial device lost")
	if h := dev.Health(); h.State != wire.DeviceAbsent || h.Detail == "" {
		t.Errorf("unplugged: health %+v, want absent with the error", h)
	}
	during := terminal.Screen{Lines: []string{"消费 12.50", "余额 87.50"}}
	if err := dev.Show(during); !errors.Is(err, terminal.ErrDeviceGone) {
		t.Errorf("Show while unplugged = %v, want ErrDeviceGone", err)
	}

	pty2 := virtual.MustPTY(t) // another cable, same path
	peer2 := virtual.MustDisplayPeer(t, pty2, dp)
	relink(pty2)
	lines, err := peer2.WaitFor(ctx, "消费 12.50")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(fitted(dp, during), lines); diff != "" {
		t.Errorf("redrawn after reconnect (-want +got):\n%s", diff)
	}
	log.waitFor(t, "level=INFO", "serial device back")
	if h := dev.Health(); h != (wire.Device{State: wire.DeviceOK}) {
		t.Errorf("back: health %+v, want ok", h)
	}
	if err := virtual.NewKeypadPeer(pty2.Master, kp).Type("12.50\r"); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(sale, nextKeys(t, ctx, dev, len(sale))); diff != "" {
		t.Errorf("keys after reconnect (-want +got):\n%s", diff)
	}
	after := terminal.Screen{Lines: []string{"成功 消费 12.50", "余额 87.50"}}
	if err := dev.Show(after); err != nil {
		t.Fatal(err)
	}
	if _, err := peer2.WaitFor(ctx, "成功"); err != nil {
		t.Fatal(err)
	}
	if errs := slices.Concat(peer1.Errors(), peer2.Errors()); len(errs) > 0 {
		t.Errorf("peers could not decode: %q", errs)
	}
}

func TestOpenErrors(t *testing.T) {
	logger, _ := newLogger(t)
	pty := virtual.MustPTY(t)
	kp, dp := mustKeypad(t, "keypad-ascii"), mustDisplay(t, "display-epson")

	if _, err := serial.Open(pty.SlavePath, nil, nil, logger); err == nil {
		t.Error("opened without profiles")
	}
	if _, err := serial.OpenKeypad(filepath.Join(t.TempDir(), "no-such-tty"), kp, logger); err == nil {
		t.Error("opened a port that does not exist")
	}
	fast := dp
	fast.Serial.Baud = 115200
	if _, err := serial.Open(pty.SlavePath, &kp, &fast, logger); err == nil || !strings.Contains(err.Error(), "same port") {
		t.Errorf("keypad at 9600 and display at 115200 on one port: %v", err)
	}
	bad := kp
	bad.Cancel = bad.Confirm
	if _, err := serial.OpenKeypad(pty.SlavePath, bad, logger); err == nil || !strings.Contains(err.Error(), "both send 0x0D") {
		t.Errorf("keypad with one byte for two keys: %v", err)
	}
	narrow := dp
	narrow.Columns = 0
	if _, err := serial.OpenDisplay(pty.SlavePath, narrow, logger); err == nil || !strings.Contains(err.Error(), "columns 0") {
		t.Errorf("display 0 columns wide: %v", err)
	}
}

func TestClose(t *testing.T) {
	pty := virtual.MustPTY(t)
	kp := mustKeypad(t, "keypad-ascii")
	dev, err := serial.Open(pty.SlavePath, &kp, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := dev.NextKey(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("NextKey with a canceled context = %v", err)
	}
	if err := dev.Show(terminal.Screen{}); err == nil || !strings.Contains(err.Error(), "without a display profile") {
		t.Errorf("Show on a keypad = %v", err)
	}
	if err := dev.Close(); err != nil {
		t.Fatal(err)
	}
	if err := dev.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	if _, err := dev.NextKey(context.Background()); !errors.Is(err, terminal.ErrDeviceGone) {
		t.Errorf("NextKey after Close = %v, want ErrDeviceGone", err)
	}
	// The port is free again.
	again, err := serial.OpenKeypad(pty.SlavePath, kp, nil)
	if err != nil {
		t.Fatal(err)
	}
	again.Close()
}

// BenchmarkShowOverPTY measures Show until the peer has read the whole
// frame, and reports the 50th and 99th percentiles.
func BenchmarkShowOverPTY(b *testing.B) {
	pty := virtual.MustPTY(b)
	p := mustDisplay(b, "display-epson")
	d, err := serial.OpenDisplay(pty.SlavePath, p, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	if _, err := io.ReadFull(pty.Master, make([]byte, len(p.Init))); err != nil {
		b.Fatal(err)
	}
	s := terminal.Screen{Lines: []string{"消费 12.50", "余额 87.50"}}
	buf := make([]byte, len(p.Frame(s)))
	var took []time.Duration
	for b.Loop() {
		start := time.Now()
		if err := d.Show(s); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(pty.Master, buf); err != nil {
			b.Fatal(err)
		}
		took = append(took, time.Since(start))
	}
	reportPercentiles(b, took)
}

// BenchmarkKeyOverPTY measures a key byte written by the peer until
// NextKey returns it.
func BenchmarkKeyOverPTY(b *testing.B) {
	pty := virtual.MustPTY(b)
	p := mustKeypad(b, "keypad-ascii")
	kp, err := serial.OpenKeypad(pty.SlavePath, p, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	defer kp.Close()
	ctx := context.Background()
	var took []time.Duration
	for b.Loop() {
		start := time.Now()
		if _, err := pty.Master.Write([]byte{'5'}); err != nil {
			b.Fatal(err)
		}
		if _, err := kp.NextKey(ctx); err != nil {
			b.Fatal(err)
		}
		took = append(took, time.Since(start))
	}
	reportPercentiles(b, took)
}

func reportPercentiles(b *testing.B, took []time.Duration) {
	if len(took) == 0 {
		return
	}
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(took[len(took)*99/100].Microseconds()), "p99-µs")
}
