package virtual_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/fanka/fanka/terminal"
	"github.com/fanka/fanka/terminal/virtual"
)

func digit(c byte) terminal.Key { return terminal.Key{Kind: terminal.KeyDigit, Digit: c} }

var (
	dot     = terminal.Key{Kind: terminal.KeyDot}
	confirm = terminal.Key{Kind: terminal.KeyConfirm}
	cancel  = terminal.Key{Kind: terminal.KeyCancel}
	bksp    = terminal.Key{Kind: terminal.KeyBackspace}
)

func preset(i int) terminal.Key { return terminal.Key{Kind: terminal.KeyPreset, Preset: i} }

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestKeys(t *testing.T) {
	got, err := virtual.Keys("0123456789.\r\x1b\bABCDEFGH")
	if err != nil {
		t.Fatal(err)
	}
	want := []terminal.Key{
		digit('0'), digit('1'), digit('2'), digit('3'), digit('4'),
		digit('5'), digit('6'), digit('7'), digit('8'), digit('9'),
		dot, confirm, cancel, bksp,
		preset(0), preset(1), preset(2), preset(3), preset(4), preset(5), preset(6), preset(7),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("keys (-want +got):\n%s", diff)
	}
	for _, bad := range []string{"\n", "I", "a", "#", "\x00"} {
		if keys, err := virtual.Keys("1" + bad); err == nil {
			t.Errorf("Keys(%q) = %v, want an error", "1"+bad, keys)
		}
	}
}

func TestFakeKeypad(t *testing.T) {
	ctx := testContext(t)
	var k virtual.Keypad // the zero value works
	if err := k.Type("12.50\r"); err != nil {
		t.Fatal(err)
	}
	k.Press(cancel, preset(3))
	gone := errors.New("unplugged")
	k.Fail(gone)
	k.Press(digit('9'))
	if err := k.Type("1x"); err == nil {
		t.Error("typed x, which is no key")
	}

	var got []terminal.Key
	var err error
	for {
		var key terminal.Key
		if key, err = k.NextKey(ctx); err != nil {
			break
		}
		got = append(got, key)
	}
	want := []terminal.Key{digit('1'), digit('2'), dot, digit('5'), digit('0'), confirm, cancel, preset(3)}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("keys before the failure (-want +got):\n%s", diff)
	}
	if !errors.Is(err, gone) {
		t.Errorf("NextKey = %v, want the error given to Fail", err)
	}
	if key, err := k.NextKey(ctx); err != nil || key != digit('9') {
		t.Errorf("after the failure: %+v, %v; want 9 (and nothing of the failed Type)", key, err)
	}

	short, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	if key, err := k.NextKey(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("NextKey with no key pressed = %+v, %v", key, err)
	}
}

// TestFakeKeypadConcurrent presses from many goroutines while one reads.
func TestFakeKeypadConcurrent(t *testing.T) {
	ctx := testContext(t)
	k := virtual.NewKeypad()
	const pressers, each = 8, 100
	var wg sync.WaitGroup
	for range pressers {
		wg.Go(func() {
			for range each {
				k.Press(digit('7'))
			}
		})
	}
	for i := range pressers * each {
		if key, err := k.NextKey(ctx); err != nil || key != digit('7') {
			t.Fatalf("key %d: %+v, %v", i, key, err)
		}
	}
	wg.Wait()
}

func TestFakeDisplay(t *testing.T) {
	ctx := testContext(t)
	d := virtual.NewDisplay()
	at := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	d.Now = func() time.Time { return at }
	if d.Lines() != nil {
		t.Errorf("lines before the first screen: %q", d.Lines())
	}
	lines := []string{"余额 100.00", "张* 请输入金额"}
	if err := d.Show(terminal.Screen{Lines: lines}); err != nil {
		t.Fatal(err)
	}
	lines[0] = "changed by the caller"
	if err := d.Show(terminal.Screen{Lines: []string{"成功 消费 12.50", "余额 87.50"}, Beep: terminal.BeepSuccess}); err != nil {
		t.Fatal(err)
	}
	gone := errors.New("unplugged")
	d.Fail(gone)
	if err := d.Show(terminal.Screen{Lines: []string{"lost"}}); !errors.Is(err, gone) {
		t.Errorf("Show on a failed display = %v", err)
	}
	d.Fail(nil)
	if err := d.Show(terminal.Screen{Lines: []string{"请刷卡"}}); err != nil {
		t.Fatal(err)
	}

	want := []virtual.Frame{
		{At: at, Lines: []string{"余额 100.00", "张* 请输入金额"}},
		{At: at, Lines: []string{"成功 消费 12.50", "余额 87.50"}, Beep: terminal.BeepSuccess},
		{At: at, Lines: []string{"请刷卡"}},
	}
	if diff := cmp.Diff(want, d.Frames()); diff != "" {
		t.Errorf("frames (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"请刷卡"}, d.Lines()); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
	if d.Beeps() != 1 {
		t.Errorf("%d beeps, want 1", d.Beeps())
	}
	if got, err := d.WaitFor(ctx, "刷卡"); err != nil || got[0] != "请刷卡" {
		t.Errorf("WaitFor(刷卡) = %q, %v", got, err)
	}
	short, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	if _, err := d.WaitFor(short, "成功"); err == nil || !strings.Contains(err.Error(), "请刷卡") {
		t.Errorf("WaitFor(成功), shown before the call: %v; want a time-out saying 请刷卡 is shown", err)
	}
}

// TestFakeDisplayWaitForTransient checks WaitFor sees a screen that is
// replaced at once.
func TestFakeDisplayWaitForTransient(t *testing.T) {
	ctx := testContext(t)
	var d virtual.Display
	started, done := make(chan struct{}), make(chan error)
	go func() {
		close(started)
		lines, err := d.WaitFor(ctx, "成功")
		if err == nil && lines[0] != "成功" {
			err = errors.New("wrong lines: " + strings.Join(lines, "|"))
		}
		done <- err
	}()
	<-started
	time.Sleep(20 * time.Millisecond) // WaitFor is waiting
	for _, s := range []string{"消费 12.50", "成功", "请刷卡", "请刷卡"} {
		d.Show(terminal.Screen{Lines: []string{s}})
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestFakeCardReader(t *testing.T) {
	ctx := testContext(t)
	var r virtual.CardReader
	at := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	r.Now = func() time.Time { return at }
	badRead := errors.New("card mute")
	gone := errors.New("reader unplugged")

	r.Remove() // no card in: nothing
	r.Insert("04A1B2C3D4E5F6")
	r.Insert("0A0B0C0D") // swaps cards
	r.Remove()
	r.InsertUnreadable(badRead)
	r.Fail(gone)
	r.Remove() // the failure took the card out: nothing
	r.Insert("0A0B0C0D")

	want := []terminal.CardEvent{
		{Present: true, CardNo: "04A1B2C3D4E5F6", At: at},
		{Present: false, At: at},
		{Present: true, CardNo: "0A0B0C0D", At: at},
		{Present: false, At: at},
		{Present: true, Err: badRead, At: at},
	}
	for i, w := range want {
		ev, err := r.NextCardEvent(ctx)
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if diff := cmp.Diff(w, ev, cmp.Comparer(func(a, b error) bool { return a == b })); diff != "" {
			t.Errorf("event %d (-want +got):\n%s", i, diff)
		}
	}
	if ev, err := r.NextCardEvent(ctx); !errors.Is(err, gone) {
		t.Errorf("after the events: %+v, %v; want the failure", ev, err)
	}
	if ev, err := r.NextCardEvent(ctx); err != nil || !ev.Present || ev.CardNo != "0A0B0C0D" {
		t.Errorf("after the failure: %+v, %v", ev, err)
	}
	short, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	if ev, err := r.NextCardEvent(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("NextCardEvent with nothing happening = %+v, %v", ev, err)
	}
}

// TestFakesTogether runs a keypad, display and reader the way the
// register's Run does: readers on their own goroutines, with -race.
func TestFakesTogether(t *testing.T) {
	ctx := testContext(t)
	r, k, d := virtual.NewCardReader(), virtual.NewKeypad(), virtual.NewDisplay()
	go func() {
		for {
			ev, err := r.NextCardEvent(ctx)
			if err != nil {
				return
			}
			if ev.Present {
				d.Show(terminal.Screen{Lines: []string{"卡 " + ev.CardNo}})
			}
		}
	}()
	go func() {
		var typed []byte
		for {
			key, err := k.NextKey(ctx)
			if err != nil {
				return
			}
			switch key.Kind {
			case terminal.KeyDigit:
				typed = append(typed, key.Digit)
			case terminal.KeyDot:
				typed = append(typed, '.')
			case terminal.KeyConfirm:
				d.Show(terminal.Screen{Lines: []string{"消费 " + string(typed)}, Beep: terminal.BeepSuccess})
			}
		}
	}()
	r.Insert("A1")
	if _, err := d.WaitFor(ctx, "卡 A1"); err != nil {
		t.Fatal(err)
	}
	if err := k.Type("12.50\r"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.WaitFor(ctx, "消费 12.50"); err != nil {
		t.Fatal(err)
	}
	if d.Beeps() != 1 {
		t.Errorf("%d beeps", d.Beeps())
	}
}
