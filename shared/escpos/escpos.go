// Package escpos renders Fanka's printed documents (sale receipts, which
// the registers print; the office's recharge, refund and close-card slips;
// the daily, meal-period Z and shift reports; the printer test page) into
// ESC/POS bytes for the canteens' 58 mm thermal printers.
//
// Rendering is separate from printing: a document becomes a []byte here,
// without I/O, so a print queue can keep it, retry it on a printer that is off
// or out of paper, and tests can compare it byte for byte with golden files.
//
// The command bytes come from github.com/knq/escpos, which the design names.
// That library logs every write to the standard logger and calls log.Fatalf
// on a bad parameter, so it is never called while a document renders: every
// command this package uses, for every parameter value it accepts, is
// rendered by the library once, while the package initialises, with the
// standard logger silenced for that moment only. Rendering a document then
// validates its parameters, looks the commands up and adds the text, and
// never touches process-wide state. The library knows no Chinese: text is
// written in the printer's Chinese mode (FS &) as GBK.
package escpos

import (
	"bytes"
	"fmt"
	"io"
	"log"
	"unicode"
	"unicode/utf8"

	knq "github.com/knq/escpos"
	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/simplifiedchinese"
)

// Columns is the width of a line of the 58 mm paper in standard characters
// (font A, size 1×1). A Chinese character takes two columns.
const Columns = 32

// Limits on command parameters, checked before a command is used.
const (
	maxSize = 8  // character width and height multipliers, 1 to 8
	maxFeed = 16 // lines fed at a time, 0 to 16
)

// chineseMode is FS &: the printer reads bytes from 0x81 up as the first of a
// two-byte GBK character. The library has no such command.
var chineseMode = []byte{0x1C, 0x26}

// Replacements for text the printer cannot show.
var (
	unprintable = []byte{'?'}        // a character GBK lacks, a control character, an invalid byte
	ellipsis    = []byte{0xA1, 0xAD} // "…" in GBK, two columns: the text was cut here
)

// alignment is the justification of the lines that follow.
type alignment int

const (
	alignLeft alignment = iota
	alignCenter
	alignRight
	numAlignments
)

// commands holds the bytes github.com/knq/escpos writes for each command a
// document may use, for every parameter value the command accepts.
type commands struct {
	init   []byte
	align  [numAlignments][]byte
	size   [maxSize][maxSize][]byte // [width-1][height-1]
	feed   [maxFeed + 1][]byte      // [lines]
	bold   [2][]byte                // [off, on]
	cut    []byte
	status [maxStatus + 1][]byte // [n]: DLE EOT n, n from 1
}

// maxStatus is the highest DLE EOT request: 1 printer, 2 offline cause,
// 3 error cause, 4 paper roll sensor.
const maxStatus = 4

var cmd = renderCommands()

// renderCommands runs the library once for every command and parameter
// value, each into a buffer of its own. It runs during package
// initialisation, before main has configured logging or started goroutines,
// and silences the standard logger only for that time.
func renderCommands() *commands {
	prev := log.Writer()
	log.SetOutput(io.Discard)
	defer log.SetOutput(prev)

	var c commands
	c.init = capture(func(p *knq.Escpos) { p.Init() })
	for a, name := range [numAlignments]string{"left", "center", "right"} {
		c.align[a] = capture(func(p *knq.Escpos) { p.SetAlign(name) })
	}
	for w := uint8(1); w <= maxSize; w++ {
		for h := uint8(1); h <= maxSize; h++ {
			c.size[w-1][h-1] = capture(func(p *knq.Escpos) { p.SetFontSize(w, h) })
		}
	}
	// FormfeedN formats n with %c: above 127 it would write UTF-8, not a byte.
	for n := range maxFeed + 1 {
		c.feed[n] = capture(func(p *knq.Escpos) { p.FormfeedN(n) })
	}
	// ESC G, double-strike: what the library offers for bold.
	for on := range uint8(2) {
		c.bold[on] = capture(func(p *knq.Escpos) { p.SetEmphasize(on) })
	}
	// Cut, not End (a non-standard 0xFA) nor FeedAndCut (it takes a map).
	c.cut = capture(func(p *knq.Escpos) { p.Cut() })
	// ReadStatus writes the request, then reads the reply: the capture's
	// reader has none to give, and the error is expected.
	for n := byte(1); n <= maxStatus; n++ {
		c.status[n] = capture(func(p *knq.Escpos) { p.ReadStatus(n) })
	}
	return &c
}

func capture(f func(*knq.Escpos)) []byte {
	var b captureBuffer
	f(knq.New(&b))
	return bytes.Clone(b.Bytes())
}

// captureBuffer records what the library writes; it has nothing to read.
type captureBuffer struct{ bytes.Buffer }

func (*captureBuffer) Read([]byte) (int, error) { return 0, io.EOF }

// StatusRequest returns DLE EOT n, the real-time request for one status
// byte: n is 1 for the printer's status, 2 for the cause of it being
// offline, 3 for the cause of an error, 4 for the paper roll sensor. It
// returns nil for any other n.
func StatusRequest(n int) []byte {
	if n < 1 || n > maxStatus {
		return nil
	}
	return bytes.Clone(cmd.status[n])
}

// page is a document being rendered: commands and GBK text in a buffer. The
// first bad parameter is kept in err and stops the rendering, like
// bufio.Writer's first write error.
type page struct {
	b     bytes.Buffer
	err   error
	width int // character width multiplier of the last size command
	gbk   *encoding.Encoder
}

// newPage starts a document: printer reset, Chinese mode, left-aligned, 1×1.
func newPage() *page {
	p := &page{width: 1, gbk: simplifiedchinese.GBK.NewEncoder()}
	p.b.Write(cmd.init)
	p.b.Write(chineseMode)
	return p
}

func (p *page) align(a alignment) {
	if p.err != nil {
		return
	}
	if a < 0 || a >= numAlignments {
		p.err = fmt.Errorf("escpos: alignment %d", a)
		return
	}
	p.b.Write(cmd.align[a])
}

// size sets the character multipliers for the lines that follow.
func (p *page) size(width, height int) {
	if p.err != nil {
		return
	}
	if width < 1 || width > maxSize || height < 1 || height > maxSize {
		p.err = fmt.Errorf("escpos: character size %d×%d, want 1 to %d", width, height, maxSize)
		return
	}
	p.b.Write(cmd.size[width-1][height-1])
	p.width = width
}

// line writes s and a line feed, cut to the width of the paper at the
// current size.
func (p *page) line(s string) {
	if p.err != nil {
		return
	}
	p.b.Write(fitGBK(p.gbk, s, Columns/p.width))
	p.b.WriteByte('\n')
}

// rule writes a line of dashes across the paper.
func (p *page) rule() {
	if p.err != nil {
		return
	}
	p.b.Write(bytes.Repeat([]byte{'-'}, Columns/p.width))
	p.b.WriteByte('\n')
}

// feed prints what is buffered and feeds lines blank lines.
func (p *page) feed(lines int) {
	if p.err != nil {
		return
	}
	if lines < 0 || lines > maxFeed {
		p.err = fmt.Errorf("escpos: feed of %d lines, want 0 to %d", lines, maxFeed)
		return
	}
	p.b.Write(cmd.feed[lines])
}

// bold turns double-strike printing on or off for the text that follows.
func (p *page) bold(on bool) {
	if p.err != nil {
		return
	}
	if on {
		p.b.Write(cmd.bold[1])
	} else {
		p.b.Write(cmd.bold[0])
	}
}

// cut feeds the paper to the cutter and cuts it.
func (p *page) cut() {
	if p.err != nil {
		return
	}
	p.b.Write(cmd.cut)
}

// bytes returns the document, or the first error.
func (p *page) bytes() ([]byte, error) {
	if p.err != nil {
		return nil, p.err
	}
	return p.b.Bytes(), nil
}

// fitGBK encodes s in GBK for the printer's Chinese mode, at most cols
// columns wide: a printable ASCII character takes one column and one byte, a
// GBK character two of each. Whatever the printer cannot show, or would read
// as a command (control and format characters, characters GBK lacks, bytes
// that are not UTF-8), becomes '?'. Text wider than cols is cut and ends in
// "…". It never fails.
func fitGBK(enc *encoding.Encoder, s string, cols int) []byte {
	out := make([]byte, 0, min(len(s), cols))
	keep := 0 // the longest prefix of out that leaves room for the ellipsis
	for _, r := range s {
		out = appendGlyph(out, enc, r)
		if len(out) > cols {
			return append(out[:keep], ellipsis...)
		}
		if len(out)+len(ellipsis) <= cols {
			keep = len(out)
		}
	}
	return out
}

// appendGlyph appends r as the printer shows it in Chinese mode.
func appendGlyph(out []byte, enc *encoding.Encoder, r rune) []byte {
	if r < utf8.RuneSelf {
		if r < 0x20 || r == 0x7F {
			return append(out, unprintable...)
		}
		return append(out, byte(r))
	}
	if r == utf8.RuneError || unicode.In(r, unicode.Cc, unicode.Cf, unicode.Co, unicode.Cs, unicode.Zl, unicode.Zp) {
		return append(out, unprintable...)
	}
	var src [utf8.UTFMax]byte
	var dst [4]byte
	enc.Reset()
	n, _, err := enc.Transform(dst[:], src[:utf8.EncodeRune(src[:], r)], true)
	// Keep only a proper two-byte character: GBK's one-byte euro sign (0x80)
	// is not one the printer's Chinese mode knows.
	if err != nil || n != 2 || !gbkLead(dst[0]) || !gbkTrail(dst[1]) {
		return append(out, unprintable...)
	}
	return append(out, dst[:2]...)
}

func gbkLead(b byte) bool  { return b >= 0x81 && b <= 0xFE }
func gbkTrail(b byte) bool { return b >= 0x40 && b <= 0xFE && b != 0x7F }
