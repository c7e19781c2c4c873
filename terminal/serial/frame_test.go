package serial_test

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/fanka/fanka/terminal"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// frameCases are the screens whose frames are kept in testdata/.
var frameCases = []struct {
	name   string
	screen terminal.Screen
}{
	{"idle", terminal.Screen{Lines: []string{"请刷卡", ""}}},
	{"card", terminal.Screen{Lines: []string{"余额 100.00", "张* 请输入金额"}}},
	{"sale", terminal.Screen{Lines: []string{"消费 12.50", "余额 87.50"}}},
	{"success-beep", terminal.Screen{Lines: []string{"成功 消费 12.50", "余额 87.50"}, Beep: terminal.BeepSuccess}},
	{"refusal-beep", terminal.Screen{Lines: []string{"余额不足", "余额 3.00"}, Beep: terminal.BeepRefusal}},
	{"long-ascii", terminal.Screen{Lines: []string{"12345678901234567890XYZ", "離線 待傳 12"}}},
	{"no-half-character", terminal.Screen{Lines: []string{"1234567890123456789消", "一二三四五六七八九十百"}}},
	{"unencodable", terminal.Screen{Lines: []string{"😀 ¥5 €1 ￥2", "a\x1bb\rc\x00d\u200be"}}},
	{"three-lines", terminal.Screen{Lines: []string{"一", "二", "三"}}},
	{"blank", terminal.Screen{}},
}

func TestFrameGolden(t *testing.T) {
	for _, name := range []string{"display-epson", "display-cd5220"} {
		t.Run(name, func(t *testing.T) {
			p := mustDisplay(t, name)
			var b strings.Builder
			fmt.Fprintf(&b, "# Frames for firmware-config/devices/%s.toml, in hex, one case per paragraph.\n", name)
			fmt.Fprintf(&b, "# Regenerate: go test ./terminal/serial -run TestFrameGolden -update\n")
			for _, c := range frameCases {
				fmt.Fprintf(&b, "\n%s %q beep=%v\n", c.name, c.screen.Lines, c.screen.Beep)
				frame := p.Frame(c.screen)
				for len(frame) > 0 {
					n := min(len(frame), 16)
					fmt.Fprintf(&b, "% X\n", frame[:n])
					frame = frame[n:]
				}
			}
			golden := filepath.Join("testdata", name+".golden")
			if *update {
				if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), b.String()); diff != "" {
				t.Errorf("frames differ from %s (-want +got):\n%s", golden, diff)
			}
		})
	}
}

// TestFrameEpson spells out one Epson frame byte by byte, from the command
// reference, independently of the golden file.
func TestFrameEpson(t *testing.T) {
	p := mustDisplay(t, "display-epson")
	got := p.Frame(terminal.Screen{Lines: []string{"消费 12.50", "余额 87.50"}, Beep: terminal.BeepSuccess})
	var want []byte
	want = append(want, 0x1C, 0x26)             // FS &: Kanji mode
	want = append(want, 0x1F, 0x24, 0x01, 0x01) // US $ 1 1
	want = append(want, 0xCF, 0xFB, 0xB7, 0xD1) // 消费 in GBK
	want = append(want, " 12.50          "...)  // 4 + 16 = 20 columns
	want = append(want, 0x1F, 0x24, 0x01, 0x02) // US $ 1 2
	want = append(want, 0xD3, 0xE0, 0xB6, 0xEE) // 余额
	want = append(want, " 87.50          "...)
	// No beep: the Epson customer-display command set has none.
	if !bytes.Equal(got, want) {
		t.Errorf("frame\n% X\nwant\n% X", got, want)
	}
}

// TestFrameCD5220 spells out one CD5220 frame byte by byte.
func TestFrameCD5220(t *testing.T) {
	p := mustDisplay(t, "display-cd5220")
	got := p.Frame(terminal.Screen{Lines: []string{"请刷卡"}})
	var want []byte
	want = append(want, 0x1B, 0x51, 0x41)                   // ESC Q A
	want = append(want, 0xC7, 0xEB, 0xCB, 0xA2, 0xBF, 0xA8) // 请刷卡
	want = append(want, "              "...)                // 6 + 14 = 20
	want = append(want, 0x0D)                               // CR
	want = append(want, 0x1B, 0x51, 0x42)                   // ESC Q B
	want = append(want, bytes.Repeat([]byte{' '}, 20)...)   // blank lower line
	want = append(want, 0x0D)                               // CR
	if !bytes.Equal(got, want) {
		t.Errorf("frame\n% X\nwant\n% X", got, want)
	}
}

// TestFrameBeep checks that a frame ends in the beep it asks for: the
// success or the refusal sequence, the success one for a refusal on a
// display that has only one, and none on a display without a buzzer.
func TestFrameBeep(t *testing.T) {
	p := mustDisplay(t, "display-cd5220")
	plain := p.Frame(terminal.Screen{Lines: []string{"成功"}})
	for _, tc := range []struct {
		success, refusal []byte
		beep             terminal.Beep
		want             []byte
	}{
		{nil, nil, terminal.BeepSuccess, nil},
		{nil, nil, terminal.BeepRefusal, nil},
		{[]byte{0x07}, nil, terminal.BeepNone, nil},
		{[]byte{0x07}, nil, terminal.BeepSuccess, []byte{0x07}},
		{[]byte{0x07}, nil, terminal.BeepRefusal, []byte{0x07}},
		{[]byte{0x07}, []byte{0x1B, 0x07}, terminal.BeepSuccess, []byte{0x07}},
		{[]byte{0x07}, []byte{0x1B, 0x07}, terminal.BeepRefusal, []byte{0x1B, 0x07}},
		{[]byte{0x07}, []byte{0x1B, 0x07}, terminal.Beep(9), nil}, // not a beep: nothing
	} {
		p.Beep, p.BeepRefusal = tc.success, tc.refusal
		got := p.Frame(terminal.Screen{Lines: []string{"成功"}, Beep: tc.beep})
		if want := append(bytes.Clone(plain), tc.want...); !bytes.Equal(got, want) {
			t.Errorf("beep % X, refusal % X: a %v frame\n% X\nwant\n% X", tc.success, tc.refusal, tc.beep, got, want)
		}
	}
}

func TestFit(t *testing.T) {
	gbk := mustDisplay(t, "display-epson")
	ascii := gbk
	ascii.Encoding = "ascii"
	pad := func(s string, n int) string { return s + strings.Repeat(" ", n) }
	tests := []struct {
		in, gbk, ascii string
	}{
		{"消费 12.50", pad("消费 12.50", 10), pad("?? 12.50", 12)},
		{"余额 87.50", pad("余额 87.50", 10), pad("?? 87.50", 12)},
		{"", pad("", 20), pad("", 20)},
		{"😀", pad("?", 19), pad("?", 19)},
		{"¥5 ￥5 €5", pad("?5 ￥5 ?5", 11), pad("?5 ?5 ?5", 12)},
		{"a\tb\x1bc\x7fd\u0085e", pad("a?b?c?d?e", 11), pad("a?b?c?d?e", 11)},
		{"invalid \xff utf-8", pad("invalid ? utf-8", 5), pad("invalid ? utf-8", 5)},
		{"123456789012345678901", "12345678901234567890", "12345678901234567890"},
		{"1234567890123456789消", pad("1234567890123456789", 1), "1234567890123456789?"},
		{"一二三四五六七八九十百", "一二三四五六七八九十", pad("???????????", 9)},
		{"請張", pad("請張", 16), pad("??", 18)}, // GBK, not GB2312
	}
	for _, tt := range tests {
		if got := gbk.Fit(tt.in); got != tt.gbk {
			t.Errorf("gbk Fit(%q) = %q, want %q", tt.in, got, tt.gbk)
		}
		if got := ascii.Fit(tt.in); got != tt.ascii {
			t.Errorf("ascii Fit(%q) = %q, want %q", tt.in, got, tt.ascii)
		}
	}
}

// TestFrameWidth checks every line of every frame is exactly as wide as
// the display, in bytes (= columns).
func TestFrameWidth(t *testing.T) {
	p := mustDisplay(t, "display-cd5220") // every line ends with CR
	for _, c := range frameCases {
		frame := p.Frame(c.screen)
		for i, line := range bytes.Split(frame, []byte{0x0D}) {
			if i == len(p.Lines) {
				if len(line) != 0 {
					t.Errorf("%s: % X after the last line", c.name, line)
				}
				continue
			}
			text := bytes.TrimPrefix(line, p.Lines[i].Start)
			if len(text) != p.Columns {
				t.Errorf("%s line %d: %d bytes % X, want %d", c.name, i, len(text), text, p.Columns)
			}
		}
	}
}

func BenchmarkFrame(b *testing.B) {
	p := mustDisplay(b, "display-epson")
	s := terminal.Screen{Lines: []string{"消费 12.50", "余额 87.50"}}
	b.ReportAllocs()
	for b.Loop() {
		p.Frame(s)
	}
}
