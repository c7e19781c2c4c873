package serial

import (
	"sort"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/fanka/fanka/terminal"
)

// encodings are the display text encodings a profile may name. A nil
// encoding is plain ASCII.
var encodings = map[string]encoding.Encoding{
	"ascii": nil,
	"gbk":   simplifiedchinese.GBK,
}

func encodingNames() []string {
	names := make([]string, 0, len(encodings))
	for n := range encodings {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Frame returns the bytes that show s on the display: FrameStart, each
// line (Start, text, End), FrameEnd, and the bytes of s.Beep (BeepBytes). The text
// of line i is s.Lines[i] as Fit returns it, encoded: exactly Columns
// columns. Lines beyond the display's are left out; missing ones are
// blank. Frame never fails: characters the encoding lacks become '?'.
func (p DisplayProfile) Frame(s terminal.Screen) []byte {
	beep := p.BeepBytes(s.Beep)
	n := len(p.FrameStart) + len(p.FrameEnd) + len(beep)
	for _, l := range p.Lines {
		n += len(l.Start) + p.Columns + len(l.End)
	}
	b := make([]byte, 0, n)
	b = append(b, p.FrameStart...)
	enc := p.encoder()
	for i, l := range p.Lines {
		text := ""
		if i < len(s.Lines) {
			text = s.Lines[i]
		}
		b = append(b, l.Start...)
		b = p.appendLine(b, enc, text)
		b = append(b, l.End...)
	}
	b = append(b, p.FrameEnd...)
	return append(b, beep...)
}

// Fit returns line as the display shows it: characters the encoding lacks
// and control characters replaced by '?', cut to Columns display columns
// without splitting a double-byte character, and padded with spaces to
// exactly Columns. It is the text of the line in Frame, decoded again.
func (p DisplayProfile) Fit(line string) string {
	b := p.appendLine(nil, p.encoder(), line)
	if e := encodings[p.Encoding]; e != nil {
		if s, err := e.NewDecoder().Bytes(b); err == nil {
			return string(s)
		}
	}
	return string(b)
}

// encoder returns a fresh encoder for p's encoding, nil for ASCII.
func (p DisplayProfile) encoder() *encoding.Encoder {
	if e := encodings[p.Encoding]; e != nil {
		return e.NewEncoder()
	}
	return nil
}

// appendLine appends line, encoded and fitted to p.Columns, to b.
func (p DisplayProfile) appendLine(b []byte, enc *encoding.Encoder, line string) []byte {
	var buf [8]byte
	col := 0
	for _, r := range line {
		code := encodeRune(enc, r, buf[:])
		if len(code) == 0 {
			code = []byte{'?'}
		}
		if col+len(code) > p.Columns {
			break
		}
		b = append(b, code...)
		col += len(code)
	}
	for ; col < p.Columns; col++ {
		b = append(b, ' ')
	}
	return b
}

// encodeRune returns r encoded in buf, or nothing when the display cannot
// show it: control characters (which would be taken as commands), runes
// the encoding lacks, and single bytes above 0x7F (GBK's 0x80 for '€',
// which GB2312 displays do not have). Every code it returns is one byte
// (one column) or two (a double-byte character, two columns).
func encodeRune(enc *encoding.Encoder, r rune, buf []byte) []byte {
	switch {
	case r < 0x20 || r == 0x7F:
		return nil
	case r < 0x80:
		buf[0] = byte(r)
		return buf[:1]
	case enc == nil || r == utf8.RuneError:
		return nil
	}
	var src [utf8.UTFMax]byte
	n := utf8.EncodeRune(src[:], r)
	enc.Reset()
	nDst, _, err := enc.Transform(buf, src[:n], true)
	if err != nil || nDst != 2 {
		return nil
	}
	return buf[:2]
}
