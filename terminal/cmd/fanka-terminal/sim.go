package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"
	"golang.org/x/text/width"

	"github.com/fanka/fanka/shared/journal"
	"github.com/fanka/fanka/terminal"
)

type simOptions struct {
	server, code, data, card, note string
	dailyCount                     int            // most sales per card per day; 0: no limit
	printer                        string         // the receipt printer, as Config.Printer; "": none
	servers                        []ServerConfig // the servers to stream to; none: the enrolment's
}

// sim runs the register with the terminal window as its keypad and customer
// display: digits, '.', Enter (确认), Esc (取消), Backspace, A–H preset meal
// keys; i inserts the card, r removes it, q quits. Logs go to DATA/sim.log.
func sim(ctx context.Context, o simOptions, stdin io.Reader, stdout io.Writer) error {
	if _, err := loadEnrolment(o.data); err != nil {
		if o.code == "" || o.server == "" {
			return err
		}
		if err := enroll(ctx, o.server, o.code, o.data, "", stdout); err != nil {
			return err
		}
	}
	if o.card != "" && !journal.ValidCardNo(o.card) {
		return fmt.Errorf("--card %q: use 0-9 and A-Z", o.card)
	}
	logFile, err := os.OpenFile(filepath.Join(o.data, "sim.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logFile.Close()
	log := newLogger(logFile)

	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		old, err := term.MakeRaw(int(f.Fd()))
		if err != nil {
			return err
		}
		defer term.Restore(int(f.Fd()), old)
	}
	screen := &simScreen{out: stdout, card: o.card, info: o.note}
	if o.dailyCount < 0 {
		return fmt.Errorf("--daily-count %d: negative", o.dailyCount)
	}
	rules := terminal.DefaultRules()
	rules.DailyCount = o.dailyCount
	c := DefaultConfig()
	c.Printer, c.Canteen = o.printer, "饭卡食堂"
	receipts, err := c.Receipts()
	if err != nil {
		return fmt.Errorf("sim --printer: %w", err)
	}
	// The simulator's devices are in the window: always there.
	sc := statusConfig{reader: &terminal.DeviceHealth{}, keypad: &terminal.DeviceHealth{}, display: &terminal.DeviceHealth{}}
	r, err := openRegister(o.data, o.servers, terminal.Config{Rules: &rules}, receipts, screen, sc, log)
	if err != nil {
		return err
	}
	defer r.Close()
	screen.status = func() (bool, int) { return r.uplink.Online(), r.journal.Backlog().Entries }
	screen.register = r.enrol.TerminalID

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	keys := make(chan terminal.Key, 16)
	cards := make(chan terminal.CardEvent, 4)
	go readSimInput(ctx, cancel, stdin, o.card, keys, cards, screen)
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				screen.redraw()
			}
		}
	}()
	err = r.run(ctx, chanReader(cards), chanKeypad(keys))
	fmt.Fprint(stdout, "\r\n")
	return err
}

// readSimInput turns key strokes into keypad keys and card events.
func readSimInput(ctx context.Context, quit func(), in io.Reader, card string, keys chan<- terminal.Key, cards chan<- terminal.CardEvent, screen *simScreen) {
	br := bufio.NewReader(in)
	inserted := false
	for {
		c, err := br.ReadByte()
		if err != nil {
			quit()
			return
		}
		var k terminal.Key
		switch {
		case c >= '0' && c <= '9':
			k = terminal.Key{Kind: terminal.KeyDigit, Digit: c}
		case c == '.':
			k = terminal.Key{Kind: terminal.KeyDot}
		case c == '\r' || c == '\n':
			k = terminal.Key{Kind: terminal.KeyConfirm}
		case c == 0x1b:
			k = terminal.Key{Kind: terminal.KeyCancel}
		case c == 0x7f || c == 0x08:
			k = terminal.Key{Kind: terminal.KeyBackspace}
		case c >= 'A' && c <= 'H':
			k = terminal.Key{Kind: terminal.KeyPreset, Preset: int(c - 'A')}
		case c == 'i' || c == 'I':
			if card == "" {
				screen.note("no card: start sim with --card")
				continue
			}
			if !inserted {
				inserted = true
				cards <- terminal.CardEvent{Present: true, CardNo: card, At: time.Now()}
			}
			continue
		case c == 'r' || c == 'R':
			if inserted {
				inserted = false
				cards <- terminal.CardEvent{Present: false, At: time.Now()}
			}
			continue
		case c == 'q' || c == 'Q' || c == 3: // Ctrl-C in raw mode
			quit()
			return
		default:
			continue
		}
		select {
		case keys <- k:
		case <-ctx.Done():
			return
		}
	}
}

type chanReader chan terminal.CardEvent

func (c chanReader) NextCardEvent(ctx context.Context) (terminal.CardEvent, error) {
	select {
	case ev := <-c:
		return ev, nil
	case <-ctx.Done():
		return terminal.CardEvent{}, ctx.Err()
	}
}

type chanKeypad chan terminal.Key

func (c chanKeypad) NextKey(ctx context.Context) (terminal.Key, error) {
	select {
	case k := <-c:
		return k, nil
	case <-ctx.Done():
		return terminal.Key{}, ctx.Err()
	}
}

// simScreen draws a 2 × 20 customer display and the register's status.
type simScreen struct {
	out      io.Writer
	card     string
	info     string // a standing line under the display
	register uint32
	status   func() (online bool, pending int)

	mu    sync.Mutex
	lines []string
	msg   string
}

const simWidth = 20

func (s *simScreen) Show(sc terminal.Screen) error {
	s.mu.Lock()
	s.lines = append(s.lines[:0], sc.Lines...)
	s.mu.Unlock()
	switch sc.Beep { // the terminal's bell: once for success, twice for a refusal
	case terminal.BeepSuccess:
		fmt.Fprint(s.out, "\a")
	case terminal.BeepRefusal:
		fmt.Fprint(s.out, "\a\a")
	}
	s.redraw()
	return nil
}

func (s *simScreen) note(m string) {
	s.mu.Lock()
	s.msg = m
	s.mu.Unlock()
	s.redraw()
}

func (s *simScreen) redraw() {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	b.WriteString("\x1b[H\x1b[2J")
	fmt.Fprintf(&b, "Fanka 饭卡 — register %d (simulator)\r\n\r\n", s.register)
	b.WriteString("  ┌" + strings.Repeat("─", simWidth+2) + "┐\r\n")
	for i := 0; i < 2; i++ {
		line := ""
		if i < len(s.lines) {
			line = s.lines[i]
		}
		b.WriteString("  │ " + padColumns(line, simWidth) + " │\r\n")
	}
	b.WriteString("  └" + strings.Repeat("─", simWidth+2) + "┘\r\n\r\n")
	if s.status != nil {
		online, pending := s.status()
		state := "在线 online"
		if !online {
			state = "离线 offline"
		}
		fmt.Fprintf(&b, "  %s · 待传 unsynced: %d\r\n", state, pending)
	}
	fmt.Fprintf(&b, "\r\n  i insert card %s · r remove card · q quit\r\n", s.card)
	b.WriteString("  0-9 . amount · Enter 确认 · Esc 取消 · Backspace 退格 · A-H 套餐\r\n")
	if s.info != "" {
		b.WriteString("\r\n  " + s.info + "\r\n")
	}
	if s.msg != "" {
		b.WriteString("\r\n  " + s.msg + "\r\n")
	}
	io.WriteString(s.out, b.String())
}

// padColumns pads or cuts s to n display columns (a CJK character is two).
func padColumns(s string, n int) string {
	var b strings.Builder
	cols := 0
	for _, r := range s {
		w := 1
		if k := width.LookupRune(r).Kind(); k == width.EastAsianWide || k == width.EastAsianFullwidth {
			w = 2
		}
		if cols+w > n {
			break
		}
		b.WriteRune(r)
		cols += w
	}
	return b.String() + strings.Repeat(" ", n-cols)
}
