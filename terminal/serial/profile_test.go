package serial_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"

	firmwareconfig "github.com/fanka/fanka/firmware-config"
	"github.com/fanka/fanka/terminal"
	"github.com/fanka/fanka/terminal/serial"
)

const goodKeypad = `
name      = "test keypad"
digits    = ["30", "31", "32", "33", "34", "35", "36", "37", "38", "39"]
dot       = "2E"
confirm   = "0D"
cancel    = "1B"
backspace = "08"
presets   = ["41", "0x42"]
`

func TestParseKeypadProfile(t *testing.T) {
	p, err := serial.ParseKeypadProfile([]byte(goodKeypad))
	if err != nil {
		t.Fatal(err)
	}
	want := serial.KeypadProfile{
		Name:      "test keypad",
		Digits:    [10]byte{'0', '1', '2', '3', '4', '5', '6', '7', '8', '9'},
		Dot:       '.',
		Confirm:   '\r',
		Cancel:    0x1B,
		Backspace: 0x08,
		Presets:   []byte{'A', 'B'},
	}
	if diff := cmp.Diff(want, p); diff != "" {
		t.Errorf("profile (-want +got):\n%s", diff)
	}
}

func TestParseKeypadProfileErrors(t *testing.T) {
	tests := []struct {
		name string
		toml string
		want []string // substrings of the error
	}{
		{"syntax", `name = "x`, []string{"keypad profile"}},
		{"missing confirm", strings.Replace(goodKeypad, `confirm   = "0D"`, "", 1), []string{"confirm: missing"}},
		{"nine digits", strings.Replace(goodKeypad, `"38", "39"]`, `"38"]`, 1), []string{"digits: 9 bytes, want 10"}},
		{"bad hex", strings.Replace(goodKeypad, `dot       = "2E"`, `dot = "2G"`, 1), []string{"dot:", `"2G" is not hex`}},
		{"two bytes", strings.Replace(goodKeypad, `confirm   = "0D"`, `confirm = "0D 0A"`, 1), []string{"confirm:", "2 bytes, want exactly one"}},
		{"duplicate", strings.Replace(goodKeypad, `cancel    = "1B"`, `cancel = "33"`, 1), []string{"digits[3] and cancel both send 0x33"}},
		{"duplicate preset", strings.Replace(goodKeypad, `"0x42"`, `"41"`, 1), []string{"presets[0] and presets[1] both send 0x41"}},
		{"typo", strings.Replace(goodKeypad, `backspace = "08"`, `backspace = "08"`+"\nconfrim = \"0A\"", 1), []string{"unknown keys: confrim"}},
		{"no name", strings.Replace(goodKeypad, `name      = "test keypad"`, "", 1), []string{"name: missing"}},
		{"parity", goodKeypad + "[serial]\nparity = \"sometimes\"\n", []string{`serial.parity "sometimes"`}},
		{"stop bits", goodKeypad + "[serial]\nstop_bits = 3\n", []string{"serial.stop_bits 3"}},
		{"data bits", goodKeypad + "[serial]\ndata_bits = 9\n", []string{"serial.data_bits 9"}},
		{"baud", goodKeypad + "[serial]\nbaud = 7\n", []string{"serial.baud 7"}},
		{"unknown serial key", goodKeypad + "[serial]\nflow = \"rtscts\"\n", []string{"unknown keys: serial.flow"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := serial.ParseKeypadProfile([]byte(tt.toml))
			if err == nil {
				t.Fatal("parsed, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

func TestParseKeypadProfileTooManyPresets(t *testing.T) {
	var presets []string
	for b := 0x80; b < 0x80+serial.MaxPresets+1; b++ {
		presets = append(presets, fmt.Sprintf("%q", fmt.Sprintf("%02X", b)))
	}
	data := strings.Replace(goodKeypad, `presets   = ["41", "0x42"]`, "presets = ["+strings.Join(presets, ", ")+"]", 1)
	_, err := serial.ParseKeypadProfile([]byte(data))
	if err == nil || !strings.Contains(err.Error(), "at most 64") {
		t.Fatalf("got %v, want an error about too many presets", err)
	}
}

const goodDisplay = `
name     = "test display"
columns  = 16
encoding = "ascii"
init     = "1B40 0C"
beep     = "07"

[serial]
baud = 19200

[[line]]
start = "1F 24 01 01"

[[line]]
start = "1F 24 01 02"
end   = "0D"
`

func TestParseDisplayProfile(t *testing.T) {
	p, err := serial.ParseDisplayProfile([]byte(goodDisplay))
	if err != nil {
		t.Fatal(err)
	}
	want := serial.DisplayProfile{
		Name:     "test display",
		Serial:   serial.PortSettings{Baud: 19200},
		Columns:  16,
		Encoding: "ascii",
		Init:     []byte{0x1B, 0x40, 0x0C},
		Lines: []serial.DisplayLine{
			{Start: []byte{0x1F, 0x24, 1, 1}},
			{Start: []byte{0x1F, 0x24, 1, 2}, End: []byte{0x0D}},
		},
		Beep: []byte{0x07},
	}
	if diff := cmp.Diff(want, p); diff != "" {
		t.Errorf("profile (-want +got):\n%s", diff)
	}
}

func TestParseDisplayProfileErrors(t *testing.T) {
	tests := []struct {
		name string
		toml string
		want []string
	}{
		{"syntax", "columns = ", []string{"display profile"}},
		{"no columns", strings.Replace(goodDisplay, "columns  = 16", "", 1), []string{"columns 0: want 1 … 255"}},
		{"wide", strings.Replace(goodDisplay, "columns  = 16", "columns = 300", 1), []string{"columns 300"}},
		{"encoding", strings.Replace(goodDisplay, `encoding = "ascii"`, `encoding = "utf-8"`, 1), []string{`encoding "utf-8": want one of ascii, gbk`}},
		{"no encoding", strings.Replace(goodDisplay, `encoding = "ascii"`, ``, 1), []string{`encoding ""`}},
		{"no lines", goodDisplay[:strings.Index(goodDisplay, "[[line]]")], []string{"line: 0 lines"}},
		{"bad init", strings.Replace(goodDisplay, `init     = "1B40 0C"`, `init = "1B4"`, 1), []string{"init:", `"1B4" is not hex`}},
		{"bad line", strings.Replace(goodDisplay, `end   = "0D"`, `end = "zz"`, 1), []string{"line[1].end:"}},
		{"typo", strings.Replace(goodDisplay, `beep     = "07"`, `beeb = "07"`, 1), []string{"unknown keys: beeb"}},
		{"line typo", strings.Replace(goodDisplay, `end   = "0D"`, `stop = "0D"`, 1), []string{"unknown keys: line.stop"}},
		{"baud", strings.Replace(goodDisplay, "baud = 19200", "baud = -1", 1), []string{"serial.baud -1"}},
		{"several", strings.Replace(strings.Replace(goodDisplay, "columns  = 16", "", 1), `encoding = "ascii"`, `encoding = "latin1"`, 1),
			[]string{"columns 0", `encoding "latin1"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := serial.ParseDisplayProfile([]byte(tt.toml))
			if err == nil {
				t.Fatal("parsed, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

func TestLoadProfile(t *testing.T) {
	fsys := fstest.MapFS{
		"keypad-test.toml":  {Data: []byte(goodKeypad)},
		"display-test.toml": {Data: []byte(goodDisplay)},
		"keypad-bad.toml":   {Data: []byte("name = 1")},
	}
	for _, name := range []string{"keypad-test", "keypad-test.toml"} {
		if p, err := serial.LoadKeypadProfile(fsys, name); err != nil || p.Name != "test keypad" {
			t.Errorf("LoadKeypadProfile(%q) = %q, %v", name, p.Name, err)
		}
	}
	if p, err := serial.LoadDisplayProfile(fsys, "display-test"); err != nil || p.Columns != 16 {
		t.Errorf("LoadDisplayProfile = %+v, %v", p, err)
	}
	if _, err := serial.LoadKeypadProfile(fsys, "keypad-none"); err == nil || !strings.Contains(err.Error(), "keypad-none") {
		t.Errorf("missing profile: got %v", err)
	}
	if _, err := serial.LoadKeypadProfile(fsys, "keypad-bad"); err == nil || !strings.Contains(err.Error(), "keypad-bad.toml") {
		t.Errorf("bad profile: got %v, want the file named", err)
	}
	if _, err := serial.LoadDisplayProfile(fsys, "keypad-test"); err == nil {
		t.Error("a keypad profile loaded as a display")
	}
}

func mustKeypad(t testing.TB, name string) serial.KeypadProfile {
	t.Helper()
	p, err := serial.LoadKeypadProfile(firmwareconfig.Devices, name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func mustDisplay(t testing.TB, name string) serial.DisplayProfile {
	t.Helper()
	p, err := serial.LoadDisplayProfile(firmwareconfig.Devices, name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func digit(c byte) terminal.Key { return terminal.Key{Kind: terminal.KeyDigit, Digit: c} }

var (
	dot     = terminal.Key{Kind: terminal.KeyDot}
	confirm = terminal.Key{Kind: terminal.KeyConfirm}
	cancel  = terminal.Key{Kind: terminal.KeyCancel}
	bksp    = terminal.Key{Kind: terminal.KeyBackspace}
)

func preset(i int) terminal.Key { return terminal.Key{Kind: terminal.KeyPreset, Preset: i} }

var decodeTests = []struct {
	profile     string
	in          string
	wantKeys    []terminal.Key
	wantDropped string
}{
	{"keypad-ascii", "12.50\r", []terminal.Key{digit('1'), digit('2'), dot, digit('5'), digit('0'), confirm}, ""},
	{"keypad-ascii", "\x1b\x08AH", []terminal.Key{cancel, bksp, preset(0), preset(7)}, ""},
	{"keypad-ascii", "\x00\xff~1\nI", []terminal.Key{digit('1')}, "\x00\xff~\nI"},
	{"keypad-ascii", "", nil, ""},
	{"keypad-pos-symbols", "12.50#", []terminal.Key{digit('1'), digit('2'), dot, digit('5'), digit('0'), confirm}, ""},
	{"keypad-pos-symbols", "*-ah", []terminal.Key{cancel, bksp, preset(0), preset(7)}, ""},
	{"keypad-pos-symbols", "\r\x1bA", nil, "\r\x1bA"},
}

func TestKeypadDecode(t *testing.T) {
	for _, tt := range decodeTests {
		p := mustKeypad(t, tt.profile)
		keys, dropped := p.Decode([]byte(tt.in))
		if diff := cmp.Diff(tt.wantKeys, keys); diff != "" {
			t.Errorf("%s Decode(%q) keys (-want +got):\n%s", tt.profile, tt.in, diff)
		}
		if string(dropped) != tt.wantDropped {
			t.Errorf("%s Decode(%q) dropped % X, want % X", tt.profile, tt.in, dropped, tt.wantDropped)
		}
	}
}

func TestKeypadByte(t *testing.T) {
	p := mustKeypad(t, "keypad-pos-symbols")
	for _, tt := range []struct {
		key  terminal.Key
		want byte
		ok   bool
	}{
		{digit('7'), '7', true},
		{confirm, '#', true},
		{cancel, '*', true},
		{bksp, '-', true},
		{dot, '.', true},
		{preset(2), 'c', true},
		{preset(8), 0, false},
		{preset(-1), 0, false},
		{digit('x'), 0, false},
		{terminal.Key{}, 0, false},
	} {
		b, ok := p.Byte(tt.key)
		if b != tt.want || ok != tt.ok {
			t.Errorf("Byte(%+v) = %q, %v; want %q, %v", tt.key, b, ok, tt.want, tt.ok)
		}
	}
}

// FuzzKeypadDecode checks that every byte is either a key that the keypad
// sends as that byte, or dropped, in order, on both built-in keypads.
func FuzzKeypadDecode(f *testing.F) {
	for _, tt := range decodeTests {
		f.Add([]byte(tt.in))
	}
	profiles := []serial.KeypadProfile{mustKeypad(f, "keypad-ascii"), mustKeypad(f, "keypad-pos-symbols")}
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, p := range profiles {
			keys, dropped := p.Decode(in)
			if len(keys)+len(dropped) != len(in) {
				t.Fatalf("%d keys + %d dropped from %d bytes", len(keys), len(dropped), len(in))
			}
			var gotKeys []terminal.Key
			var gotDropped []byte
			for _, c := range in {
				k, ok := p.Key(c)
				if !ok {
					gotDropped = append(gotDropped, c)
					continue
				}
				if b, ok := p.Byte(k); !ok || b != c {
					t.Fatalf("%s: byte 0x%02X is key %+v, which sends 0x%02X, %v", p.Name, c, k, b, ok)
				}
				gotKeys = append(gotKeys, k)
			}
			if !cmp.Equal(keys, gotKeys) || !bytes.Equal(dropped, gotDropped) {
				t.Fatalf("%s: Decode(% X) = %v, % X; byte by byte %v, % X", p.Name, in, keys, dropped, gotKeys, gotDropped)
			}
		}
	})
}
