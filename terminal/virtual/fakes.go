// Package virtual holds working devices for the register's tests and the
// simulator, in place of the hardware at a cash register: in-memory fakes
// (Keypad, Display, CardReader) for the state machine, and pseudo-terminal
// and vpcd peers that play a keypad, a customer display or a card on the
// far side of the real adapters, so those run their production code paths.
package virtual

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	firmwareconfig "github.com/fanka/fanka/firmware-config"
	"github.com/fanka/fanka/terminal"
	"github.com/fanka/fanka/terminal/serial"
)

var (
	_ terminal.Keypad     = (*Keypad)(nil)
	_ terminal.Display    = (*Display)(nil)
	_ terminal.CardReader = (*CardReader)(nil)
)

// Keys parses keys written in the default ASCII keypad's notation
// (firmware-config/devices/keypad-ascii.toml, DESIGN §9): '0'–'9' digits,
// '.' dot, '\r' confirm, ESC (0x1B) cancel, '\b' backspace, 'A'–'H' preset
// meal keys 0–7. So "12.50\r" is 1, 2, dot, 5, 0, confirm.
func Keys(s string) ([]terminal.Key, error) {
	p, err := asciiKeypad()
	if err != nil {
		return nil, err
	}
	keys := make([]terminal.Key, 0, len(s))
	for i := 0; i < len(s); i++ {
		k, ok := p.Key(s[i])
		if !ok {
			return nil, fmt.Errorf("keys %q: byte %d (0x%02X) is no key of the ASCII keypad", s, i, s[i])
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// asciiKeypad is the built-in keypad-ascii profile: the notation of Keys.
var asciiKeypad = sync.OnceValues(func() (serial.KeypadProfile, error) {
	return serial.LoadKeypadProfile(firmwareconfig.Devices, "keypad-ascii")
})

// Frame is one screen as a display showed it.
type Frame struct {
	// At is when the display received (or was asked to show) it.
	At time.Time
	// Lines are the lines shown, top first.
	Lines []string
	// Beep is the beep the display sounded with this screen.
	Beep terminal.Beep
}

// maxFrames caps the frames a display keeps: a long simulator run must
// not grow without bound.
const maxFrames = 10000

// screenLog records the frames a display shows and wakes those waiting for
// one. The zero value is empty.
type screenLog struct {
	mu      sync.Mutex
	frames  []Frame
	dropped int // frames forgotten from the start of frames
	beeps   int
	changed chan struct{} // closed at the next frame
}

func (l *screenLog) record(f Frame) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.frames) == maxFrames {
		n := copy(l.frames, l.frames[maxFrames/2:])
		clear(l.frames[n:])
		l.frames = l.frames[:n]
		l.dropped += maxFrames / 2
	}
	l.frames = append(l.frames, f)
	if l.changed != nil {
		close(l.changed)
		l.changed = nil
	}
}

func (l *screenLog) addBeep() {
	l.mu.Lock()
	l.beeps++
	l.mu.Unlock()
}

func (l *screenLog) beepCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.beeps
}

func (l *screenLog) all() []Frame {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Frame(nil), l.frames...)
}

// current returns the lines of the last frame, nil before the first.
func (l *screenLog) current() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.frames) == 0 {
		return nil
	}
	return l.frames[len(l.frames)-1].Lines
}

func (l *screenLog) waitFor(ctx context.Context, substr string) ([]string, error) {
	l.mu.Lock()
	next := max(l.dropped+len(l.frames)-1, 0) // the screen shown now, then every later one
	l.mu.Unlock()
	for {
		l.mu.Lock()
		for ; next < l.dropped+len(l.frames); next++ {
			if next < l.dropped {
				next = l.dropped // forgotten while we slept
			}
			if f := l.frames[next-l.dropped]; contains(f.Lines, substr) {
				l.mu.Unlock()
				return f.Lines, nil
			}
		}
		if l.changed == nil {
			l.changed = make(chan struct{})
		}
		changed := l.changed
		l.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			lines := l.current()
			return lines, fmt.Errorf("display: %q not shown (showing %q): %w", substr, lines, ctx.Err())
		}
	}
}

func contains(lines []string, substr string) bool {
	for _, l := range lines {
		if strings.Contains(l, substr) {
			return true
		}
	}
	return false
}

// Display is a working in-memory customer display: it keeps every screen
// shown, for the register's tests and for the simulator to draw. The zero
// value is ready to use; its methods are safe for concurrent use.
type Display struct {
	// Now stamps frames; nil means time.Now. Set it before the first Show.
	Now func() time.Time

	scrn screenLog
	mu   sync.Mutex
	err  error
}

// NewDisplay returns a blank display.
func NewDisplay() *Display { return &Display{} }

// Show records s, or returns the error given to Fail.
func (d *Display) Show(s terminal.Screen) error {
	d.mu.Lock()
	err := d.err
	d.mu.Unlock()
	if err != nil {
		return err
	}
	now := time.Now
	if d.Now != nil {
		now = d.Now
	}
	if s.Beep != terminal.BeepNone {
		d.scrn.addBeep()
	}
	d.scrn.record(Frame{At: now(), Lines: append([]string(nil), s.Lines...), Beep: s.Beep})
	return nil
}

// Fail makes every Show return err, showing nothing, until Fail(nil): a
// display that was unplugged (err wrapping terminal.ErrDeviceGone) or
// fails to write.
func (d *Display) Fail(err error) {
	d.mu.Lock()
	d.err = err
	d.mu.Unlock()
}

// Lines returns the lines of the screen shown now (nil before the first).
func (d *Display) Lines() []string { return d.scrn.current() }

// Frames returns the screens shown, oldest first (at most the last
// 10,000).
func (d *Display) Frames() []Frame { return d.scrn.all() }

// Beeps returns how many screens beeped.
func (d *Display) Beeps() int { return d.scrn.beepCount() }

// WaitFor waits until a line of the screen contains substr and returns
// that screen's lines. It looks at the screen shown when it is called and
// every one after, so it does not miss a screen that is soon replaced.
// When ctx ends first it returns the lines shown and an error saying what
// was on the screen.
func (d *Display) WaitFor(ctx context.Context, substr string) ([]string, error) {
	return d.scrn.waitFor(ctx, substr)
}

// queue hands values or errors, in order, to one consumer that waits for
// them. The zero value is empty.
type queue[T any] struct {
	mu    sync.Mutex
	items []queued[T]
	wake  chan struct{} // closed when an item arrives
}

type queued[T any] struct {
	v   T
	err error
}

func (q *queue[T]) push(v T, err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.items = append(q.items, queued[T]{v, err})
	if q.wake != nil {
		close(q.wake)
		q.wake = nil
	}
}

func (q *queue[T]) next(ctx context.Context) (T, error) {
	for {
		q.mu.Lock()
		if len(q.items) > 0 {
			it := q.items[0]
			q.items[0] = queued[T]{}
			q.items = q.items[1:]
			q.mu.Unlock()
			return it.v, it.err
		}
		if q.wake == nil {
			q.wake = make(chan struct{})
		}
		wake := q.wake
		q.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			var zero T
			return zero, ctx.Err()
		}
	}
}

// Keypad is a working in-memory cashier keypad: tests and the simulator
// press keys on it and the register reads them in order. Presses never
// block. The zero value is ready to use; its methods are safe for
// concurrent use.
type Keypad struct {
	q queue[terminal.Key]
}

// NewKeypad returns a keypad with no key pressed.
func NewKeypad() *Keypad { return &Keypad{} }

// Press presses keys, in order.
func (k *Keypad) Press(keys ...terminal.Key) {
	for _, key := range keys {
		k.q.push(key, nil)
	}
}

// Type presses the keys written in s in the ASCII keypad's notation (see
// Keys), such as "12.50\r". It presses nothing when s holds a byte that is
// no key.
func (k *Keypad) Type(s string) error {
	keys, err := Keys(s)
	if err != nil {
		return err
	}
	k.Press(keys...)
	return nil
}

// Fail makes the NextKey call after the keys already pressed return err,
// once: a keypad that failed (err wrapping terminal.ErrDeviceGone).
func (k *Keypad) Fail(err error) { k.q.push(terminal.Key{}, err) }

// NextKey returns the next key pressed, waiting for one, or the error given
// to Fail, or ctx.Err() when ctx ends.
func (k *Keypad) NextKey(ctx context.Context) (terminal.Key, error) { return k.q.next(ctx) }

// CardReader is a working in-memory card reader: tests and the simulator
// insert and remove cards and the register reads the events in order. Like
// a real reader it holds at most one card: inserting a card while another
// is in first removes that one, and removing with no card in does nothing.
// The zero value is ready to use; its methods are safe for concurrent use.
type CardReader struct {
	// Now stamps events (CardEvent.At); nil means time.Now. Set it before
	// the first event.
	Now func() time.Time

	mu      sync.Mutex
	present bool
	q       queue[terminal.CardEvent]
}

// NewCardReader returns a reader with no card in it.
func NewCardReader() *CardReader { return &CardReader{} }

// Insert puts in the card numbered cardNo.
func (r *CardReader) Insert(cardNo string) { r.insert(cardNo, nil) }

// InsertUnreadable puts in a card that cannot be read: the event has no
// card number and err (the register shows 读卡失败).
func (r *CardReader) InsertUnreadable(err error) { r.insert("", err) }

func (r *CardReader) insert(cardNo string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.present {
		r.q.push(terminal.CardEvent{At: r.now()}, nil)
	}
	r.present = true
	r.q.push(terminal.CardEvent{Present: true, CardNo: cardNo, Err: err, At: r.now()}, nil)
}

// Remove takes the card out, if one is in.
func (r *CardReader) Remove() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.present {
		return
	}
	r.present = false
	r.q.push(terminal.CardEvent{At: r.now()}, nil)
}

// Fail makes the NextCardEvent call after the events already queued return
// err, once: a reader that failed (err wrapping terminal.ErrDeviceGone when
// it was unplugged). The card, if any, counts as removed.
func (r *CardReader) Fail(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.present = false
	r.q.push(terminal.CardEvent{}, err)
}

// NextCardEvent returns the next card event, waiting for one, or the error
// given to Fail, or ctx.Err() when ctx ends.
func (r *CardReader) NextCardEvent(ctx context.Context) (terminal.CardEvent, error) {
	return r.q.next(ctx)
}

func (r *CardReader) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}
