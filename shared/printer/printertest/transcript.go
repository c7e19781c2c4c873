// Package printertest stands in for the canteens' receipt printers in
// tests: a virtual network printer (a TCP listener) and a virtual serial
// printer (a pseudo-terminal) that record what they are sent and answer
// status requests as told, and a decoder that turns the recorded ESC/POS
// bytes into a readable transcript. (The in-memory print queue store is
// with the server's queue, in its tests.)
package printertest

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/fanka/fanka/shared/escpos"
	"golang.org/x/text/encoding/simplifiedchinese"
)

// DLE EOT n is ESC/POS's real-time status request.
const (
	dle = 0x10
	eot = 0x04
)

// Transcript decodes ESC/POS bytes into readable text: commands in brackets
// ([INIT][CHINESE][ALIGN c][SIZE 2x2]…[CUT feed 48]), printable text as it
// prints, GBK decoded to UTF-8 while in Chinese mode (FS &), and a line feed
// as a new line.
//
// A status request (DLE EOT n) shows as [STATUS n]; the virtual printers
// answer and drop them before they record.
//
// It knows only the commands package escpos writes and is strict about
// them: an unknown command, a control byte, a byte above 0x7F outside
// Chinese mode, a malformed GBK character or a line wider than the paper is
// an error, returned with the transcript up to that point.
func Transcript(b []byte) (string, error) {
	var (
		out     strings.Builder
		chinese bool
		width   = 1 // character width multiplier
		col     = 0 // columns used on the current line, at 1×1
	)
	fail := func(i int, format string, args ...any) (string, error) {
		return out.String(), fmt.Errorf("byte %d (%#02x): %s", i, b[i], fmt.Sprintf(format, args...))
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		arg := func(k int) (byte, bool) { // the k-th byte after c
			if i+k >= len(b) {
				return 0, false
			}
			return b[i+k], true
		}
		switch {
		case c == dle:
			if n, ok := arg(2); ok && b[i+1] == eot && n >= 1 && n <= 4 {
				fmt.Fprintf(&out, "[STATUS %d]", n)
				i += 2
				continue
			}
			return fail(i, "DLE not followed by EOT 1 to 4")
		case c == 0x1B || c == 0x1D || c == 0x1C: // ESC, GS, FS
			name, ok := arg(1)
			if !ok {
				return fail(i, "command cut short")
			}
			switch string([]byte{c, name}) {
			case "\x1b@":
				out.WriteString("[INIT]")
				chinese, width = false, 1
				i++
				continue
			case "\x1c&":
				out.WriteString("[CHINESE]")
				chinese = true
				i++
				continue
			case "\x1c.":
				out.WriteString("[/CHINESE]")
				chinese = false
				i++
				continue
			}
			n, ok := arg(2)
			if !ok {
				return fail(i, "command cut short")
			}
			switch string([]byte{c, name}) {
			case "\x1ba":
				a, ok := map[byte]string{0: "l", 1: "c", 2: "r", '0': "l", '1': "c", '2': "r"}[n]
				if !ok {
					return fail(i, "ESC a %d", n)
				}
				fmt.Fprintf(&out, "[ALIGN %s]", a)
			case "\x1bd":
				fmt.Fprintf(&out, "[FEED %d]", n)
				col = 0
			case "\x1bE", "\x1bG":
				fmt.Fprintf(&out, "[BOLD %d]", n&1)
			case "\x1d!":
				width = int(n>>4) + 1
				fmt.Fprintf(&out, "[SIZE %dx%d]", width, n&0x0F+1)
				if n&0x88 != 0 {
					return fail(i, "GS ! %#02x: size above 8", n)
				}
			case "\x1dV":
				switch n {
				case 0, '0':
					out.WriteString("[CUT]")
				case 1, '1':
					out.WriteString("[CUT partial]")
				case 65, 66:
					f, ok := arg(3)
					if !ok {
						return fail(i, "command cut short")
					}
					fmt.Fprintf(&out, "[CUT%s feed %d]", map[byte]string{65: "", 66: " partial"}[n], f)
					i++
				default:
					return fail(i, "GS V %d", n)
				}
				col = 0
			default:
				return fail(i, "unknown command %q", string([]byte{c, name}))
			}
			i += 2
		case c == 0:
			out.WriteString("[NUL]") // ignored by a printer in standard mode
		case c == '\n':
			out.WriteByte('\n')
			col = 0
		case c >= 0x20 && c < 0x7F:
			out.WriteByte(c)
			col += width
		case c >= 0x81 && c <= 0xFE && chinese:
			if i+1 >= len(b) || b[i+1] < 0x40 || b[i+1] == 0x7F || b[i+1] == 0xFF {
				return fail(i, "GBK character without a second byte")
			}
			s, err := simplifiedchinese.GBK.NewDecoder().Bytes(b[i : i+2])
			if r, _ := utf8.DecodeRune(s); err != nil || r == utf8.RuneError || utf8.RuneCount(s) != 1 {
				return fail(i, "not a GBK character: % x", b[i:i+2])
			}
			out.Write(s)
			col += 2 * width
			i++
		default:
			return fail(i, "not text, not a command (Chinese mode %v)", chinese)
		}
		if col > escpos.Columns {
			return fail(i, "line of %d columns, paper has %d", col, escpos.Columns)
		}
	}
	return out.String(), nil
}
