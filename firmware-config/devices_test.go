package firmwareconfig_test

import (
	"bytes"
	"io/fs"
	"os"
	"slices"
	"strings"
	"testing"

	firmwareconfig "github.com/fanka/fanka/firmware-config"
	"github.com/fanka/fanka/terminal"
	"github.com/fanka/fanka/terminal/serial"
)

// TestEveryFileIsBuiltIn checks that each file in devices/ is a profile
// named keypad-*.toml or display-*.toml, and that the binaries embed it.
func TestEveryFileIsBuiltIn(t *testing.T) {
	onDisk, err := os.ReadDir("devices")
	if err != nil {
		t.Fatal(err)
	}
	var disk []string
	for _, e := range onDisk {
		name := e.Name()
		if e.IsDir() {
			t.Errorf("devices/%s: a folder; profiles are files at the top", name)
			continue
		}
		if !strings.HasSuffix(name, ".toml") || !(strings.HasPrefix(name, "keypad-") || strings.HasPrefix(name, "display-")) {
			t.Errorf("devices/%s: want keypad-*.toml or display-*.toml", name)
		}
		disk = append(disk, name)
	}
	embedded, err := fs.Glob(firmwareconfig.Devices, "*")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(disk, embedded) {
		t.Errorf("devices/ holds %q, the binaries embed %q", disk, embedded)
	}
}

// TestProfiles loads every built-in profile through the parser the
// register uses and checks what the parser cannot know.
func TestProfiles(t *testing.T) {
	entries, err := fs.ReadDir(firmwareconfig.Devices, ".")
	if err != nil {
		t.Fatal(err)
	}
	var keypads, displays int
	for _, e := range entries {
		name := strings.TrimSuffix(e.Name(), ".toml")
		t.Run(name, func(t *testing.T) {
			switch {
			case strings.HasPrefix(name, "keypad-"):
				keypads++
				p, err := serial.LoadKeypadProfile(firmwareconfig.Devices, name)
				if err != nil {
					t.Fatal(err)
				}
				checkKeypad(t, p)
				checkBeeps(t, e.Name(), p.Beep, p.BeepRefusal)
			case strings.HasPrefix(name, "display-"):
				displays++
				p, err := serial.LoadDisplayProfile(firmwareconfig.Devices, name)
				if err != nil {
					t.Fatal(err)
				}
				checkDisplay(t, p)
				checkBeeps(t, e.Name(), p.Beep, p.BeepRefusal)
			default:
				t.Fatalf("%s is neither keypad-* nor display-*", e.Name())
			}
		})
	}
	if keypads < 2 || displays < 2 {
		t.Errorf("%d keypad and %d display profiles, want at least two of each", keypads, displays)
	}
}

// checkKeypad checks every key is sent by exactly one byte, and every
// byte is one key or none.
func checkKeypad(t *testing.T, p serial.KeypadProfile) {
	t.Helper()
	if err := p.Validate(); err != nil {
		t.Error(err)
	}
	count := map[terminal.Key]int{}
	for b := range 256 {
		k, ok := p.Key(byte(b))
		if !ok {
			continue
		}
		count[k]++
		if back, ok := p.Byte(k); !ok || back != byte(b) {
			t.Errorf("byte 0x%02X is key %+v, which sends 0x%02X", b, k, back)
		}
	}
	want := []terminal.Key{
		{Kind: terminal.KeyDot}, {Kind: terminal.KeyConfirm}, {Kind: terminal.KeyCancel}, {Kind: terminal.KeyBackspace},
	}
	for d := byte('0'); d <= '9'; d++ {
		want = append(want, terminal.Key{Kind: terminal.KeyDigit, Digit: d})
	}
	for i := range p.Presets {
		want = append(want, terminal.Key{Kind: terminal.KeyPreset, Preset: i})
	}
	for _, k := range want {
		if count[k] != 1 {
			t.Errorf("key %+v is sent by %d bytes, want 1", k, count[k])
		}
	}
	if len(count) != len(want) {
		t.Errorf("%d keys mapped, want %d", len(count), len(want))
	}
}

// checkBeeps checks a profile's beeps: a device with a buzzer has a
// success beep, and a refusal beep that sounds different (or none: the
// success beep is used), neither the start of the other, so that the
// cashier and a test peer tell them apart; a device without one says so
// in its file ("no buzzer"), and has no refusal beep either.
func checkBeeps(t *testing.T, file string, success, refusal []byte) {
	t.Helper()
	switch {
	case len(success) == 0 && len(refusal) > 0:
		t.Errorf("beep_refusal % X without a beep", refusal)
	case len(success) == 0:
		text, err := fs.ReadFile(firmwareconfig.Devices, file)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(text), "no buzzer") {
			t.Errorf("no beep, and the file does not say the device has no buzzer")
		}
	case len(refusal) > 0 && (bytes.HasPrefix(success, refusal) || bytes.HasPrefix(refusal, success)):
		t.Errorf("beep % X and beep_refusal % X: one starts the other", success, refusal)
	}
}

// checkDisplay checks the display's size and that a frame is what its
// lines promise.
func checkDisplay(t *testing.T, p serial.DisplayProfile) {
	t.Helper()
	if err := p.Validate(); err != nil {
		t.Error(err)
	}
	if p.Columns < 16 || len(p.Lines) < 2 {
		t.Errorf("%d × %d: the register needs at least 2 lines of 16 columns", len(p.Lines), p.Columns)
	}
	if len(p.Init) == 0 {
		t.Error("no init: the display would keep whatever it showed before")
	}
	s := terminal.Screen{Lines: []string{"消费 12.50", "余额 87.50"}, Beep: terminal.BeepSuccess}
	n := len(p.FrameStart) + len(p.FrameEnd) + len(p.Beep)
	for _, l := range p.Lines {
		n += len(l.Start) + p.Columns + len(l.End)
	}
	if got := len(p.Frame(s)); got != n {
		t.Errorf("frame of %d bytes, want %d", got, n)
	}
	if fit := p.Fit("消费 12.50"); p.Encoding == "gbk" && !strings.HasPrefix(fit, "消费 12.50") {
		t.Errorf("a GBK display shows %q for 消费 12.50", fit)
	}
}

// TestDefaults checks the defaults the register uses are the public ones
// (DESIGN §9): ASCII keypad, Epson customer display of 2 × 20 in GBK.
func TestDefaults(t *testing.T) {
	kp, err := serial.LoadKeypadProfile(firmwareconfig.Devices, firmwareconfig.DefaultKeypad)
	if err != nil {
		t.Fatal(err)
	}
	for b, want := range map[byte]terminal.Key{
		'0':  {Kind: terminal.KeyDigit, Digit: '0'},
		'9':  {Kind: terminal.KeyDigit, Digit: '9'},
		'.':  {Kind: terminal.KeyDot},
		'\r': {Kind: terminal.KeyConfirm},
		0x1B: {Kind: terminal.KeyCancel},
		0x08: {Kind: terminal.KeyBackspace},
		'A':  {Kind: terminal.KeyPreset, Preset: 0},
		'H':  {Kind: terminal.KeyPreset, Preset: 7},
	} {
		if got, ok := kp.Key(b); !ok || got != want {
			t.Errorf("default keypad: byte 0x%02X is %+v, %v; want %+v", b, got, ok, want)
		}
	}
	if len(kp.Presets) != 8 {
		t.Errorf("default keypad has %d preset keys, want 8 (A–H)", len(kp.Presets))
	}
	dp, err := serial.LoadDisplayProfile(firmwareconfig.Devices, firmwareconfig.DefaultDisplay)
	if err != nil {
		t.Fatal(err)
	}
	if len(dp.Lines) != 2 || dp.Columns != 20 || dp.Encoding != "gbk" {
		t.Errorf("default display %d × %d %s, want 2 × 20 gbk", len(dp.Lines), dp.Columns, dp.Encoding)
	}
	if !strings.Contains(dp.Name, "Epson") {
		t.Errorf("default display %q, want the Epson customer display", dp.Name)
	}
}
