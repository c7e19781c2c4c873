package virtual

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/fanka/fanka/terminal"
	"github.com/fanka/fanka/terminal/serial"
)

// DisplayPeer plays a 2 × 20 (or any size) customer display on the far end
// of a serial port: it takes the bytes the register writes and keeps the
// screen they draw, decoding GBK back to UTF-8.
//
// It understands the Epson ESC/POS customer-display command set and the
// CD5220 command set (the two built-in display profiles) on its own, from
// the manuals, not from the profile, so a profile that sends the wrong
// bytes shows up as a wrong screen or as Errors. From the profile it takes
// only the size, the encoding and the beep sequences (which have no
// standard form). Commands that only change how text looks (brightness, blinking,
// scroll modes, character tables) are accepted and ignored.
//
// DisplayPeer is an io.Writer; Serve feeds it from a port. A frame is
// recorded each time the bytes received so far end on a command boundary
// (on a pty, one Show is one read). Its methods are safe for concurrent
// use.
type DisplayPeer struct {
	// Now stamps frames; nil means time.Now. Set it before the first Write.
	Now func() time.Time

	p    serial.DisplayProfile
	gbk  bool
	scrn screenLog

	mu      sync.Mutex // guards the decoder state below
	cells   [][]byte   // what each line shows, one byte per column
	row     int
	col     int  // may equal len(cells[row]): the next byte wraps
	kanji   bool // FS & given: bytes from 0x81 are double-byte characters
	str     bool // in CD5220 string mode (ESC Q A/B … CR)
	pending []byte
	dirty   bool          // something was drawn or commanded since the last frame
	beep    terminal.Beep // the beep since the last frame
	errs    []string
	offset  int64 // bytes decoded so far, for error messages
}

// maxErrors caps the decoding problems a peer keeps.
const maxErrors = 1000

// NewDisplayPeer returns a display of p's size and encoding, blank.
func NewDisplayPeer(p serial.DisplayProfile) *DisplayPeer {
	d := &DisplayPeer{p: p, gbk: p.Encoding == "gbk"}
	d.cells = make([][]byte, len(p.Lines))
	for i := range d.cells {
		d.cells[i] = bytes.Repeat([]byte{' '}, p.Columns)
	}
	return d
}

// MustDisplayPeer starts a DisplayPeer reading the master side of pty,
// stopped when the test ends (closing pty).
func MustDisplayPeer(tb testing.TB, pty *PTY, p serial.DisplayProfile) *DisplayPeer {
	tb.Helper()
	d := NewDisplayPeer(p)
	done := make(chan struct{})
	go func() {
		defer close(done)
		d.Serve(pty.Master)
	}()
	tb.Cleanup(func() {
		pty.Close()
		<-done
	})
	return d
}

// Serve decodes everything read from r until r fails. It returns nil when
// r ends or is closed (the cable was pulled), otherwise the read error.
func (d *DisplayPeer) Serve(r io.Reader) error {
	buf := make([]byte, 4096)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			d.Write(buf[:n])
		}
		switch {
		case err == nil:
		case errors.Is(err, io.EOF), errors.Is(err, os.ErrClosed), errors.Is(err, syscall.EIO):
			return nil
		default:
			return err
		}
	}
}

// Write decodes b as bytes the display received. It never fails; what it
// cannot decode is kept in Errors. A command cut at the end of b is
// completed by the next Write.
func (d *DisplayPeer) Write(b []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.pending = append(d.pending, b...)
	for len(d.pending) > 0 {
		n := d.step(d.pending)
		if n == 0 {
			break // incomplete
		}
		d.pending = d.pending[n:]
		d.offset += int64(n)
	}
	if len(d.pending) == 0 {
		d.pending = nil
		if d.dirty && !d.str {
			now := time.Now
			if d.Now != nil {
				now = d.Now
			}
			d.scrn.record(Frame{At: now(), Lines: d.linesLocked(), Beep: d.beep})
			d.dirty, d.beep = false, terminal.BeepNone
		}
	}
	return len(b), nil
}

// Lines returns what the display shows now, one string per line, each
// exactly as wide as the display (padded with spaces). A byte sequence
// that is not a character shows as U+FFFD.
func (d *DisplayPeer) Lines() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.linesLocked()
}

func (d *DisplayPeer) linesLocked() []string {
	lines := make([]string, len(d.cells))
	for i, c := range d.cells {
		lines[i] = d.decode(c)
	}
	return lines
}

func (d *DisplayPeer) decode(b []byte) string {
	if !d.gbk {
		return string(bytes.ToValidUTF8(b, []byte("\uFFFD")))
	}
	s, err := simplifiedchinese.GBK.NewDecoder().Bytes(b)
	if err != nil {
		return string(bytes.ToValidUTF8(b, []byte("\uFFFD")))
	}
	return string(s)
}

// Frames returns the screens received, oldest first (at most the last
// 10,000).
func (d *DisplayPeer) Frames() []Frame { return d.scrn.all() }

// Beeps returns how many times the profile's Beep sequence was received.
func (d *DisplayPeer) Beeps() int { return d.scrn.beepCount() }

// WaitFor waits until the screen shows a line containing substr, and
// returns that screen's lines. It looks at the screen shown when it is
// called and every frame after, so it does not miss a screen that is soon
// replaced. When ctx ends first it returns the lines shown and an error
// saying what was on the screen.
func (d *DisplayPeer) WaitFor(ctx context.Context, substr string) ([]string, error) {
	return d.scrn.waitFor(ctx, substr)
}

// Errors returns what the peer could not decode: unknown commands,
// out-of-range cursor positions, double-byte characters outside Kanji mode
// or cut at the end of a line. A correct profile causes none.
func (d *DisplayPeer) Errors() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.errs...)
}

func (d *DisplayPeer) errorf(format string, args ...any) {
	if len(d.errs) < maxErrors {
		d.errs = append(d.errs, fmt.Sprintf("byte %d: ", d.offset)+fmt.Sprintf(format, args...))
	}
}

// Command bytes.
const (
	bs  = 0x08
	ht  = 0x09
	lf  = 0x0A
	hom = 0x0B
	clr = 0x0C
	cr  = 0x0D
	can = 0x18
	esc = 0x1B
	fs  = 0x1C
	us  = 0x1F
)

// step decodes the command or character at the start of b and returns how
// many bytes it took, or 0 when b holds only its beginning.
func (d *DisplayPeer) step(b []byte) int {
	beeps := [2]struct {
		kind terminal.Beep
		seq  []byte
	}{{terminal.BeepRefusal, d.p.BeepRefusal}, {terminal.BeepSuccess, d.p.Beep}}
	if len(beeps[1].seq) > len(beeps[0].seq) {
		beeps[0], beeps[1] = beeps[1], beeps[0] // the longer first: one may start the other
	}
	for _, beep := range beeps {
		if len(beep.seq) == 0 {
			continue
		}
		if bytes.HasPrefix(b, beep.seq) {
			d.beep, d.dirty = beep.kind, true
			d.scrn.addBeep()
			return len(beep.seq)
		}
		if len(b) < len(beep.seq) && bytes.HasPrefix(beep.seq, b) {
			return 0
		}
	}
	c := b[0]
	switch {
	case c >= 0x20 && c < 0x7F:
		d.put(c)
		return 1
	case c >= 0x80:
		return d.double(b)
	case d.str && c == cr:
		d.str = false // end of ESC Q A/B: string written
		d.dirty = true
		return 1
	}
	d.dirty = true
	switch c {
	case bs:
		d.col = max(d.col-1, 0)
	case ht:
		d.col = min(d.col+1, d.width()-1)
	case lf:
		d.row = min(d.row+1, len(d.cells)-1)
	case hom:
		d.row, d.col = 0, 0
	case clr:
		d.clear()
		d.str = false
	case cr:
		d.col = 0
	case can:
		fill(d.cells[d.row], ' ')
		d.col = 0
		d.str = false
	case esc:
		return d.escape(b)
	case us:
		return d.unitSeparator(b)
	case fs:
		return d.fileSeparator(b)
	default:
		d.errorf("unknown control 0x%02X", c)
	}
	return 1
}

// escape decodes ESC commands (CD5220 and the common ones).
func (d *DisplayPeer) escape(b []byte) int {
	if len(b) < 2 {
		return 0
	}
	switch b[1] {
	case '@': // initialise
		d.clear()
		d.kanji, d.str = false, false
		return 2
	case 0x11, 0x12, 0x13: // overwrite, vertical, horizontal scroll mode
		return 2
	case 't', 'R', '*', '_', '=', 'c', 'f', '%': // one-byte settings
		if len(b) < 3 {
			return 0
		}
		return 3
	case 'l': // CD5220 ESC l x y: cursor to column x, row y
		if len(b) < 4 {
			return 0
		}
		d.moveTo(b[2], b[3], "ESC l")
		return 4
	case 'Q': // CD5220 ESC Q A/B text CR: write the upper/lower line
		if len(b) < 3 {
			return 0
		}
		row := int(b[2]) - 'A'
		if b[2] == 'D' || row < 0 || row > 1 || row >= len(d.cells) {
			d.errorf("unsupported ESC Q %q", b[2])
			return 3
		}
		fill(d.cells[row], ' ')
		d.row, d.col, d.str = row, 0, true
		return 3
	case '[': // CD5220 cursor movement
		if len(b) < 3 {
			return 0
		}
		switch b[2] {
		case 'A':
			d.row = max(d.row-1, 0)
		case 'B':
			d.row = min(d.row+1, len(d.cells)-1)
		case 'C':
			d.col = min(d.col+1, d.width()-1)
		case 'D':
			d.col = max(d.col-1, 0)
		case 'H':
			d.row, d.col = 0, 0
		case 'L':
			d.col = 0
		case 'R':
			d.col = d.width() - 1
		case 'K':
			d.row = len(d.cells) - 1
		default:
			d.errorf("unknown command ESC [ 0x%02X", b[2])
		}
		return 3
	}
	d.errorf("unknown command ESC 0x%02X", b[1])
	return 2
}

// unitSeparator decodes US commands (Epson).
func (d *DisplayPeer) unitSeparator(b []byte) int {
	if len(b) < 2 {
		return 0
	}
	switch b[1] {
	case '$': // US $ x y: cursor to column x, row y
		if len(b) < 4 {
			return 0
		}
		d.moveTo(b[2], b[3], "US $")
		return 4
	case 0x01, 0x02, 0x03: // overwrite, vertical, horizontal scroll mode
		return 2
	case lf: // cursor up
		d.row = max(d.row-1, 0)
		return 2
	case cr: // cursor to the right end
		d.col = d.width() - 1
		return 2
	case 'B': // cursor to the bottom line
		d.row = len(d.cells) - 1
		return 2
	case '@': // self-test
		return 2
	case 'C', 'X', 'E', 'r', '.', ',', ';': // one-byte settings
		if len(b) < 3 {
			return 0
		}
		return 3
	case '#': // annunciator n m
		if len(b) < 4 {
			return 0
		}
		return 4
	}
	d.errorf("unknown command US 0x%02X", b[1])
	return 2
}

// fileSeparator decodes FS commands (Epson Kanji mode).
func (d *DisplayPeer) fileSeparator(b []byte) int {
	if len(b) < 2 {
		return 0
	}
	switch b[1] {
	case '&':
		d.kanji = true
		return 2
	case '.':
		d.kanji = false
		return 2
	case 'C': // Kanji code system
		if len(b) < 3 {
			return 0
		}
		return 3
	}
	d.errorf("unknown command FS 0x%02X", b[1])
	return 2
}

// double decodes a byte from 0x80: a GBK double-byte character in Kanji or
// string mode, otherwise a mistake.
func (d *DisplayPeer) double(b []byte) int {
	if !d.gbk || !(d.kanji || d.str) {
		d.errorf("byte 0x%02X outside Kanji mode", b[0])
		d.put(b[0])
		return 1
	}
	if b[0] < 0x81 || b[0] == 0xFF {
		d.errorf("byte 0x%02X is not a GBK lead byte", b[0])
		d.put(b[0])
		return 1
	}
	if len(b) < 2 {
		return 0
	}
	if b[1] < 0x40 || b[1] == 0x7F || b[1] == 0xFF {
		d.errorf("bytes %02X %02X are not a GBK character", b[0], b[1])
		d.put(b[0])
		return 1
	}
	col := d.col
	if col >= d.width() && !d.str {
		col = 0 // put wraps to the next line first
	}
	if col+2 > d.width() {
		d.errorf("double-byte character %02X %02X cut at the end of line %d", b[0], b[1], d.row+1)
	}
	d.put(b[0])
	d.put(b[1])
	return 2
}

// put writes one byte at the cursor and moves it on. In overwrite mode a
// byte past the end of a line goes to the start of the next (the lower
// line wraps to the upper); in string mode it is an error.
func (d *DisplayPeer) put(c byte) {
	d.dirty = true
	if d.col >= d.width() {
		if d.str {
			d.errorf("ESC Q string longer than %d columns", d.width())
			return
		}
		d.row, d.col = (d.row+1)%len(d.cells), 0
	}
	d.cells[d.row][d.col] = c
	d.col++
}

func (d *DisplayPeer) moveTo(x, y byte, cmd string) {
	if x < 1 || int(x) > d.width() || y < 1 || int(y) > len(d.cells) {
		d.errorf("%s %d %d: outside %d × %d", cmd, x, y, d.width(), len(d.cells))
		return
	}
	d.row, d.col = int(y)-1, int(x)-1
}

func (d *DisplayPeer) clear() {
	for _, c := range d.cells {
		fill(c, ' ')
	}
	d.row, d.col = 0, 0
}

func (d *DisplayPeer) width() int { return d.p.Columns }

func fill(b []byte, c byte) {
	for i := range b {
		b[i] = c
	}
}

// KeypadPeer plays a keypad on the far end of a serial port: it sends the
// bytes its profile gives for each key.
type KeypadPeer struct {
	w io.Writer
	p serial.KeypadProfile
}

// NewKeypadPeer returns a keypad with profile p writing to w (a PTY's
// Master).
func NewKeypadPeer(w io.Writer, p serial.KeypadProfile) *KeypadPeer {
	return &KeypadPeer{w: w, p: p}
}

// Type presses the keys written in s in the default keypad's notation (see
// Keys), sending them as this keypad's bytes in one write: "12.50\r" is 1,
// 2, dot, 5, 0, confirm on any keypad.
func (k *KeypadPeer) Type(s string) error {
	keys, err := Keys(s)
	if err != nil {
		return err
	}
	return k.Press(keys...)
}

// Press sends the bytes for keys in one write. It fails, sending nothing,
// for a key the keypad does not have.
func (k *KeypadPeer) Press(keys ...terminal.Key) error {
	b := make([]byte, 0, len(keys))
	for _, key := range keys {
		c, ok := k.p.Byte(key)
		if !ok {
			return fmt.Errorf("keypad %q has no key %+v", k.p.Name, key)
		}
		b = append(b, c)
	}
	_, err := k.w.Write(b)
	return err
}
