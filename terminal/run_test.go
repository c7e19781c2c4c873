package terminal_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fanka/fanka/shared/wire"
	"github.com/fanka/fanka/terminal"
	tj "github.com/fanka/fanka/terminal/journal"
	"github.com/fanka/fanka/terminal/virtual"
)

// safeLink is an uplink the test changes while Run reads it.
type safeLink struct{ online atomic.Bool }

func (l *safeLink) Wake()                    {}
func (l *safeLink) Online() bool             { return l.online.Load() }
func (l *safeLink) LastContact() time.Time   { return time.Now() }
func (l *safeLink) Reach(time.Duration) bool { return l.Online() }

// shown is what Config.Shown reported.
type shown struct {
	mu    sync.Mutex
	lines [][]string
	cause []time.Time
	at    []time.Time
}

func (s *shown) add(sc terminal.Screen, cause time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lines = append(s.lines, sc.Lines)
	s.cause = append(s.cause, cause)
	s.at = append(s.at, time.Now())
}

// find returns the cause and time of the first screen whose first line is line1.
func (s *shown) find(line1 string) (cause, at time.Time, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, l := range s.lines {
		if len(l) > 0 && l[0] == line1 {
			return s.cause[i], s.at[i], true
		}
	}
	return time.Time{}, time.Time{}, false
}

// TestRun drives the register through Run with the virtual devices: events
// and keys arrive from their goroutines, link changes redraw the idle
// screen, Config.Shown gets each screen with its cause, and a reader that
// fails for good ends Run with its error.
func TestRun(t *testing.T) {
	j, err := tj.Open(filepath.Join(t.TempDir(), "journal.db"), 1, registerKey)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	j.ApplyCards(&wire.Cards{Cursor: 1, Cards: []wire.Card{{Version: 1, CardNo: "A1", Name: "张三", Status: wire.CardActive, Balance: 10000, Day: tj.Day(time.Now())}}})
	display, keypad, reader := virtual.NewDisplay(), virtual.NewKeypad(), virtual.NewCardReader()
	up := &safeLink{}
	up.online.Store(true)
	var sh shown
	reg, err := terminal.NewRegister(terminal.Config{Logger: quiet, Shown: sh.add}, j, display, up)
	if err != nil {
		t.Fatal(err)
	}
	changed := make(chan struct{}, 1)
	done := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { done <- reg.Run(ctx, reader, keypad, changed) }()

	see := func(s string) {
		t.Helper()
		wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
		defer wcancel()
		if _, err := display.WaitFor(wctx, s); err != nil {
			t.Fatal(err)
		}
	}
	see("请刷卡")
	inserted := time.Now()
	reader.Insert("A1")
	see("余额 100.00")
	if err := keypad.Type("12.50\r"); err != nil {
		t.Fatal(err)
	}
	see("成功 消费 12.50")
	reader.Remove()
	see("待传 1")
	up.online.Store(false)
	changed <- struct{}{}
	see("离线 待传 1")

	cause, at, ok := sh.find("余额 100.00")
	if !ok || cause.Before(inserted) || at.Before(cause) {
		t.Fatalf("balance screen: cause %v (card inserted at %v), shown at %v", cause, inserted, at)
	}
	cause, at, ok = sh.find("成功 消费 12.50")
	if !ok || cause.IsZero() || at.Before(cause) {
		t.Fatalf("成功 screen: cause %v, shown at %v", cause, at)
	}

	reader.Fail(terminal.ErrDeviceGone)
	select {
	case err := <-done:
		if !errors.Is(err, terminal.ErrDeviceGone) {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not end when the reader failed")
	}
}
