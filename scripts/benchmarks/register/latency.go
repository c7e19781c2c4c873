package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	firmwareconfig "github.com/fanka/fanka/firmware-config"
	"github.com/fanka/fanka/shared/money"
	"github.com/fanka/fanka/shared/printer"
	"github.com/fanka/fanka/shared/wire"
	"github.com/fanka/fanka/terminal"
	"github.com/fanka/fanka/terminal/journal"
	"github.com/fanka/fanka/terminal/pcsc"
	"github.com/fanka/fanka/terminal/serial"
	"github.com/fanka/fanka/terminal/virtual"
)

// cardUID is the virtual card's UID, and benchCard its card number.
var cardUID = []byte{0x04, 0xBE, 0x4C, 0x11, 0x22, 0x33, 0x44}

const benchCard = "04BE4C11223344"

// onlineLink is an uplink that is always up: the latencies measured are
// the register's own, with no server.
type onlineLink struct{}

func (onlineLink) Wake()                    {}
func (onlineLink) Online() bool             { return true }
func (onlineLink) LastContact() time.Time   { return time.Now() }
func (onlineLink) Reach(time.Duration) bool { return true }

// shownScreen is a screen the register wrote to the display, with how long
// after its cause the write returned.
type shownScreen struct {
	line1 string
	took  time.Duration
}

// rig is a register as fanka-terminal wires it: a bbolt journal in a
// directory on disk, a keypad and customer display on one serial port (a
// pty, the far end played by virtual.DisplayPeer and KeypadPeer, speaking
// the default profiles' bytes), and a card reader.
type rig struct {
	journal *journal.Journal
	device  *serial.Device
	pty     *virtual.PTY
	peer    *virtual.DisplayPeer
	keypad  *virtual.KeypadPeer
	shown   chan shownScreen
	done    chan error
	cancel  context.CancelFunc
	// receipts is closed when the receipt printer's goroutine has ended;
	// nil without a printer.
	receipts chan struct{}
}

// newRig starts a register on reader, with its journal in dir, printing
// its receipts on p if not nil.
func newRig(dir string, reader terminal.CardReader, p printer.Printer) (*rig, error) {
	kp, err := serial.LoadKeypadProfile(firmwareconfig.Devices, firmwareconfig.DefaultKeypad)
	if err != nil {
		return nil, err
	}
	dp, err := serial.LoadDisplayProfile(firmwareconfig.Devices, firmwareconfig.DefaultDisplay)
	if err != nil {
		return nil, err
	}
	r := &rig{shown: make(chan shownScreen, 64), done: make(chan error, 1)}
	ok := false
	defer func() {
		if !ok {
			r.close()
		}
	}()
	key := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	if r.journal, err = journal.Open(filepath.Join(dir, "journal.db"), 1, key); err != nil {
		return nil, err
	}
	err = r.journal.ApplyCards(&wire.Cards{Cursor: 1, Cards: []wire.Card{{
		Version: 1, CardNo: benchCard, Name: "张三", Status: wire.CardActive, Balance: 1_000_000 * money.Yuan,
		Day: journal.Day(time.Now()),
	}}})
	if err != nil {
		return nil, err
	}
	if r.pty, err = virtual.OpenPTY(); err != nil {
		return nil, err
	}
	r.peer = virtual.NewDisplayPeer(dp)
	go r.peer.Serve(r.pty.Master)
	r.keypad = virtual.NewKeypadPeer(r.pty.Master, kp)
	quiet := slog.New(slog.DiscardHandler)
	if r.device, err = serial.Open(r.pty.SlavePath, &kp, &dp, quiet); err != nil {
		return nil, err
	}
	rules := terminal.DefaultRules()
	rules.DailyCount = 0 // one card makes every sale
	var receipts *terminal.ReceiptPrinter
	if p != nil {
		r.journal.QueueReceipts()
		receipts = terminal.NewReceiptPrinter(terminal.ReceiptConfig{Printer: p, Canteen: "第一食堂", Register: "一号窗口", Logger: quiet}, r.journal)
	}
	reg, err := terminal.NewRegister(terminal.Config{
		Rules: &rules, Logger: quiet, Receipts: receipts,
		Shown: func(s terminal.Screen, cause time.Time) {
			took := time.Since(cause)
			line1 := ""
			if len(s.Lines) > 0 {
				line1 = s.Lines[0]
			}
			select {
			case r.shown <- shownScreen{line1, took}:
			default: // nobody waits for it
			}
		},
	}, r.journal, r.device, onlineLink{})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	if receipts != nil {
		r.receipts = make(chan struct{})
		go func() {
			defer close(r.receipts)
			receipts.Run(ctx)
		}()
	}
	go func() { r.done <- reg.Run(ctx, reader, r.device, nil) }()
	if _, err := r.wait(ctx, "请刷卡"); err != nil {
		return nil, err
	}
	ok = true
	return r, nil
}

// wait returns the first screen shown from now whose first line starts
// with prefix.
func (r *rig) wait(ctx context.Context, prefix string) (time.Duration, error) {
	t := time.NewTimer(15 * time.Second)
	defer t.Stop()
	for {
		select {
		case s := <-r.shown:
			if strings.HasPrefix(s.line1, prefix) {
				return s.took, nil
			}
		case err := <-r.done:
			return 0, fmt.Errorf("register stopped: %v", err)
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-t.C:
			return 0, fmt.Errorf("no screen %q within 15 s; the display shows %q", prefix, r.peer.Lines())
		}
	}
}

// drain forgets the screens shown so far.
func (r *rig) drain() {
	for {
		select {
		case <-r.shown:
		default:
			return
		}
	}
}

func (r *rig) close() {
	if r.cancel != nil {
		r.cancel()
		<-r.done
		if r.receipts != nil {
			<-r.receipts
		}
	}
	if r.device != nil {
		r.device.Close()
	}
	if r.pty != nil {
		r.pty.Close()
	}
	if r.journal != nil {
		r.journal.Close()
	}
}

// cardToDisplay puts the virtual card on the vpcd reader of slot n times
// and returns, for each, the time from the PC/SC event (CardEvent.At,
// stamped when GetStatusChange returns) to the return of the display write
// of the balance screen. The card is read through pcscd with the uid
// profile, and looked up in the journal's card cache, on the way.
func cardToDisplay(ctx context.Context, dir string, slot virtual.Slot, n int) ([]time.Duration, error) {
	if err := virtual.EnsurePCSCD(func(f string, a ...any) { note(f, a...) }); err != nil {
		return nil, err
	}
	reader, err := pcsc.Open(pcsc.Config{ReaderPrefix: slot.Reader, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, err
	}
	defer reader.Close()
	r, err := newRig(dir, reader, nil)
	if err != nil {
		return nil, err
	}
	defer r.close()
	lat := make([]time.Duration, 0, n)
	for i := 0; i < n; i++ {
		r.drain()
		in, err := slot.Insert(ctx, virtual.Card{UID: cardUID})
		if err != nil {
			return nil, err
		}
		took, err := r.wait(ctx, "余额")
		if err != nil {
			in.Remove()
			return nil, fmt.Errorf("card %d: %w", i+1, err)
		}
		lat = append(lat, took)
		if err := in.Remove(); err != nil {
			return nil, err
		}
		if _, err := r.wait(ctx, "请刷卡"); err != nil {
			return nil, fmt.Errorf("card %d out: %w", i+1, err)
		}
		if (i+1)%50 == 0 {
			note("card to display: %d of %d", i+1, n)
		}
	}
	// The bytes really made the screen.
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := r.peer.WaitFor(wctx, "请刷卡"); err != nil {
		return nil, fmt.Errorf("the display peer: %w", err)
	}
	return lat, nil
}

// confirmToDurable makes n sales, keying each amount and 确认 on the pty
// keypad, and returns, for each, the time from the register reading the
// confirm key to the return of the display write of 成功, the sale's entry
// fsync'd in between. Cards come from the in-memory reader: PC/SC is not
// on this path. With a printer p, the register prints each sale's receipt
// on it meanwhile (its queue in the same bbolt file), and all n must have
// printed at the end.
func confirmToDurable(ctx context.Context, dir string, n int, p printer.Printer) ([]time.Duration, error) {
	reader := virtual.NewCardReader()
	r, err := newRig(dir, reader, p)
	if err != nil {
		return nil, err
	}
	defer r.close()
	lat := make([]time.Duration, 0, n)
	for i := 0; i < n; i++ {
		r.drain()
		reader.Insert(benchCard)
		if _, err := r.wait(ctx, "余额"); err != nil {
			return nil, fmt.Errorf("sale %d: %w", i+1, err)
		}
		if err := r.keypad.Type(money.Fen(1250+i%100).String() + "\r"); err != nil {
			return nil, err
		}
		took, err := r.wait(ctx, "成功")
		if err != nil {
			return nil, fmt.Errorf("sale %d: %w", i+1, err)
		}
		lat = append(lat, took)
		reader.Remove()
		if _, err := r.wait(ctx, "请刷卡"); err != nil {
			return nil, fmt.Errorf("sale %d out: %w", i+1, err)
		}
	}
	if got := r.journal.Last(); got != uint64(n) {
		return nil, fmt.Errorf("%d sales made, the journal holds %d", n, got)
	}
	if k, err := r.journal.Verify(ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize)).Public().(ed25519.PublicKey)); err != nil || k != uint64(n) {
		return nil, errors.Join(fmt.Errorf("journal chain: %d entries", k), err)
	}
	if p != nil {
		deadline := time.Now().Add(time.Minute)
		for {
			q, err := r.journal.QueuedReceipts()
			if err != nil {
				return nil, err
			}
			if q == 0 {
				break
			}
			if time.Now().After(deadline) {
				return nil, fmt.Errorf("%d receipts still queued a minute after the last sale", q)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return lat, nil
}
