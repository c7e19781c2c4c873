package virtual_test

import (
	"bytes"
	"context"
	"io/fs"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	firmwareconfig "github.com/fanka/fanka/firmware-config"
	"github.com/fanka/fanka/terminal"
	"github.com/fanka/fanka/terminal/serial"
	"github.com/fanka/fanka/terminal/virtual"
)

func mustDisplay(t testing.TB, name string) serial.DisplayProfile {
	t.Helper()
	p, err := serial.LoadDisplayProfile(firmwareconfig.Devices, name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func mustKeypad(t testing.TB, name string) serial.KeypadProfile {
	t.Helper()
	p, err := serial.LoadKeypadProfile(firmwareconfig.Devices, name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// displayProfiles returns every built-in display profile.
func displayProfiles(t testing.TB) []serial.DisplayProfile {
	t.Helper()
	names, err := fs.Glob(firmwareconfig.Devices, "display-*.toml")
	if err != nil || len(names) == 0 {
		t.Fatalf("no display profiles: %v", err)
	}
	var ps []serial.DisplayProfile
	for _, n := range names {
		ps = append(ps, mustDisplay(t, n))
	}
	return ps
}

// small is a 2 × 8 GBK display: short lines make the tests readable.
func small() serial.DisplayProfile {
	return serial.DisplayProfile{
		Name: "small", Columns: 8, Encoding: "gbk",
		Lines: []serial.DisplayLine{{}, {}},
		Beep:  []byte{0x1B, 0x42, 0x01}, // a made-up three-byte beep
	}
}

func pad(s string, n int) string { return s + strings.Repeat(" ", n) }

func TestDisplayPeerCommands(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		want   []string
		errors []string // substrings, one per error, in order
		beeps  int
	}{
		{"text wraps to the next line", "ABCDEFGHIJ", []string{"ABCDEFGH", pad("IJ", 6)}, nil, 0},
		{"lower line wraps to the upper", "\x1f\x24\x01\x02abcdefghXY", []string{pad("XY", 6), "abcdefgh"}, nil, 0},
		{"ESC @ clears and homes", "junk\x1b@ok", []string{pad("ok", 6), pad("", 8)}, nil, 0},
		{"CLR", "ABC\x1f$\x01\x02DEF\x0cX", []string{pad("X", 7), pad("", 8)}, nil, 0},
		{"CAN clears the cursor line", "ABC\x0aDEF\x18G", []string{pad("ABC", 5), pad("G", 7)}, nil, 0},
		{"BS HT CR HOM", "ABCD\x08\x08x\x09y\x0dz\x0bw", []string{pad("wBxDy", 3), pad("", 8)}, nil, 0},
		{"US $ moves the cursor", "\x1f$\x04\x02hi\x1f$\x01\x01yo", []string{pad("yo", 6), "   hi   "}, nil, 0},
		{"US $ out of range", "\x1f$\x09\x01\x1f$\x01\x03x", []string{pad("x", 7), pad("", 8)}, []string{"US $ 9 1: outside 8 × 2", "US $ 1 3"}, 0},
		{"ESC l moves the cursor", "\x1bl\x02\x02hi", []string{pad("", 8), " hi     "}, nil, 0},
		{"ESC [ moves the cursor", "AB\x1b[B\x1b[Dx\x1b[Hy\x1b[Kz", []string{"yB      ", " z      "}, nil, 0},
		{"settings are ignored", "\x1bt\x01\x1fX\x04\x1fE\x00\x1f\x01\x1b\x11\x1b*\x02\x1b=\x02\x1bR\x00ok", []string{pad("ok", 6), pad("", 8)}, nil, 0},
		{"GBK in Kanji mode", "\x1c&\xcf\xfb\xb7\xd1 12", []string{"消费 12 ", pad("", 8)}, nil, 0},
		{"GBK outside Kanji mode", "\xcf\xfb", []string{"消" + pad("", 6), pad("", 8)}, []string{"0xCF outside Kanji mode", "0xFB outside Kanji mode"}, 0},
		{"FS . ends Kanji mode", "\x1c&\x1c.\xcf\xfb", nil, []string{"outside Kanji mode", "outside Kanji mode"}, 0},
		{"ESC @ ends Kanji mode", "\x1c&\x1b@\xcf\xfb", nil, []string{"outside Kanji mode", "outside Kanji mode"}, 0},
		{"double-byte cut at the line end", "\x1c&1234567\xcf\xfb", []string{"1234567\uFFFD", "\uFFFD" + pad("", 7)}, []string{"cut at the end of line 1"}, 0},
		{"not a GBK lead byte", "\x1c&\x80A", nil, []string{"0x80 is not a GBK lead byte"}, 0},
		{"not a GBK trail byte", "\x1c&\xcf\x20", []string{"\uFFFD " + pad("", 6), pad("", 8)}, []string{"CF 20 are not a GBK character"}, 0},
		{"CD5220 string mode", "\x1bQAupper\x0d\x1bQBlower\x0d", []string{pad("upper", 3), pad("lower", 3)}, nil, 0},
		{"CD5220 string replaces the line", "ABCDEFGH\x1bQAx\x0d", []string{pad("x", 7), pad("", 8)}, nil, 0},
		{"CD5220 GBK without a mode", "\x1bQB\xd3\xe0\xb6\xee\x0d", []string{pad("", 8), "余额" + pad("", 4)}, nil, 0},
		{"CD5220 string too long", "\x1bQA123456789\x0d", []string{"12345678", pad("", 8)}, []string{"longer than 8 columns"}, 0},
		{"CD5220 unsupported", "\x1bQD\x1bQZ", nil, []string{`unsupported ESC Q 'D'`, `unsupported ESC Q 'Z'`}, 0},
		{"beep", "\x1bB\x01ok\x1bB\x01", []string{pad("ok", 6), pad("", 8)}, nil, 2},
		{"unknown commands", "\x1bz\x1fz\x1cz\x01\x7f", nil, []string{"ESC 0x7A", "US 0x7A", "FS 0x7A", "control 0x01", "control 0x7F"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			peer := virtual.NewDisplayPeer(small())
			peer.Write([]byte(tt.in))
			if tt.want != nil {
				if diff := cmp.Diff(tt.want, peer.Lines()); diff != "" {
					t.Errorf("lines (-want +got):\n%s", diff)
				}
			}
			errs := peer.Errors()
			if len(errs) != len(tt.errors) {
				t.Fatalf("errors %q, want %d like %q", errs, len(tt.errors), tt.errors)
			}
			for i, e := range errs {
				if !strings.Contains(e, tt.errors[i]) {
					t.Errorf("error %d = %q, want %q", i, e, tt.errors[i])
				}
			}
			if n := peer.Beeps(); n != tt.beeps {
				t.Errorf("%d beeps, want %d", n, tt.beeps)
			}
		})
	}
}

var peerScreens = []terminal.Screen{
	{Lines: []string{"请刷卡", ""}},
	{Lines: []string{"余额 100.00", "张* 请输入金额"}},
	{Lines: []string{"消费 12.50", "余额 87.50"}},
	{Lines: []string{"成功 消费 12.50", "余额 87.50"}, Beep: terminal.BeepSuccess},
	{Lines: []string{"1234567890123456789消", "一二三四五六七八九十百"}},
	{Lines: []string{"😀 ¥5 €1 ￥2 離線", "a\x1bb\rc\x00d"}},
	{Lines: []string{"一"}},
	{},
}

func fitted(p serial.DisplayProfile, s terminal.Screen) []string {
	lines := make([]string, len(p.Lines))
	for i := range lines {
		text := ""
		if i < len(s.Lines) {
			text = s.Lines[i]
		}
		lines[i] = p.Fit(text)
	}
	return lines
}

// TestDisplayPeerProfiles checks the peer reads back what every built-in
// profile's frames draw, with their Init first, and a frame per write.
func TestDisplayPeerProfiles(t *testing.T) {
	for _, p := range displayProfiles(t) {
		t.Run(p.Name, func(t *testing.T) {
			peer := virtual.NewDisplayPeer(p)
			peer.Write(p.Init)
			for _, s := range peerScreens {
				peer.Write(p.Frame(s))
				if diff := cmp.Diff(fitted(p, s), peer.Lines()); diff != "" {
					t.Errorf("%q: lines (-want +got):\n%s", s.Lines, diff)
				}
			}
			if errs := peer.Errors(); len(errs) > 0 {
				t.Errorf("errors: %q", errs)
			}
			if got := len(peer.Frames()); got != len(peerScreens)+1 {
				t.Errorf("%d frames, want %d", got, len(peerScreens)+1)
			}
		})
	}
}

// TestDisplayPeerByteByByte checks a frame cut anywhere decodes the same.
func TestDisplayPeerByteByByte(t *testing.T) {
	for _, p := range displayProfiles(t) {
		whole, bytewise := virtual.NewDisplayPeer(p), virtual.NewDisplayPeer(p)
		for _, s := range peerScreens {
			b := append(slices.Clone(p.Init), p.Frame(s)...)
			whole.Write(b)
			for i := range b {
				bytewise.Write(b[i : i+1])
			}
			if diff := cmp.Diff(whole.Lines(), bytewise.Lines()); diff != "" {
				t.Errorf("%s %q: byte by byte (-whole +bytewise):\n%s", p.Name, s.Lines, diff)
			}
		}
	}
}

func TestDisplayPeerFrames(t *testing.T) {
	p := small()
	peer := virtual.NewDisplayPeer(p)
	at := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	peer.Now = func() time.Time { at = at.Add(time.Millisecond); return at }
	peer.Write([]byte("\x1bQAone\x0d\x1bQB")) // the lower line is not finished
	peer.Write([]byte("two\x0d"))
	peer.Write(append([]byte("\x0b3"), p.Beep...))
	peer.Write([]byte("\x1f$\x01")) // cut command: no frame yet
	want := []virtual.Frame{        // none after the first write: ESC Q B is open
		{At: at.Add(-time.Millisecond), Lines: []string{pad("one", 5), pad("two", 5)}},
		{At: at, Lines: []string{pad("3ne", 5), pad("two", 5)}, Beep: terminal.BeepSuccess},
	}
	if diff := cmp.Diff(want, peer.Frames()); diff != "" {
		t.Errorf("frames (-want +got):\n%s", diff)
	}
	peer.Write([]byte("\x02X"))
	// A display with a refusal beep of its own: each is told apart.
	q := small()
	q.BeepRefusal = []byte{0x1B, 0x42, 0x03, 0x07}
	peer2 := virtual.NewDisplayPeer(q)
	peer2.Write(append([]byte("\x0bA"), q.Beep...))
	peer2.Write(append([]byte("\x0bB"), q.BeepRefusal...))
	peer2.Write([]byte("\x0bC"))
	var beeps []terminal.Beep
	for _, f := range peer2.Frames() {
		beeps = append(beeps, f.Beep)
	}
	if want := []terminal.Beep{terminal.BeepSuccess, terminal.BeepRefusal, terminal.BeepNone}; !slices.Equal(beeps, want) || peer2.Beeps() != 2 {
		t.Errorf("beeps %v (%d), want %v (2)", beeps, peer2.Beeps(), want)
	}
	if got := peer.Lines(); got[1] != pad("Xwo", 5) {
		t.Errorf("lower line %q after the cut command ends", got[1])
	}
}

func TestDisplayPeerWaitFor(t *testing.T) {
	p := mustDisplay(t, "display-epson")
	peer := virtual.NewDisplayPeer(p)
	peer.Write(p.Frame(terminal.Screen{Lines: []string{"请刷卡"}}))

	// The screen shown now counts.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if lines, err := peer.WaitFor(ctx, "请刷卡"); err != nil || !strings.HasPrefix(lines[0], "请刷卡") {
		t.Fatalf("WaitFor(请刷卡) = %q, %v", lines, err)
	}

	// A screen replaced at once is not missed.
	started, done := make(chan struct{}), make(chan error)
	go func() {
		close(started)
		_, err := peer.WaitFor(ctx, "成功")
		done <- err
	}()
	<-started
	time.Sleep(20 * time.Millisecond) // WaitFor is waiting
	peer.Write(p.Frame(terminal.Screen{Lines: []string{"成功"}}))
	peer.Write(p.Frame(terminal.Screen{Lines: []string{"请刷卡"}}))
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	// Timing out says what was shown.
	short, cancel2 := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel2()
	lines, err := peer.WaitFor(short, "余额")
	if err == nil || !strings.Contains(err.Error(), "请刷卡") || !strings.Contains(err.Error(), `"余额" not shown`) {
		t.Errorf("WaitFor timed out: %v", err)
	}
	if !strings.HasPrefix(lines[0], "请刷卡") {
		t.Errorf("WaitFor timed out: lines %q", lines)
	}
}

func TestDisplayPeerServe(t *testing.T) {
	pty := virtual.MustPTY(t)
	p := mustDisplay(t, "display-cd5220")
	peer := virtual.MustDisplayPeer(t, pty, p)
	slave := openSlave(t, pty)
	if _, err := slave.Write(append(slices.Clone(p.Init), p.Frame(terminal.Screen{Lines: []string{"消费 12.50", "余额 87.50"}})...)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	lines, err := peer.WaitFor(ctx, "余额 87.50")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{pad("消费 12.50", 10), pad("余额 87.50", 10)}, lines); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
}

func TestKeypadPeer(t *testing.T) {
	tests := []struct {
		profile, keys, want string
	}{
		{"keypad-ascii", "12.50\r", "12.50\r"},
		{"keypad-ascii", "\x1b\bAH", "\x1b\bAH"},
		{"keypad-pos-symbols", "12.50\r", "12.50#"},
		{"keypad-pos-symbols", "\x1b\bAH", "*-ah"},
	}
	for _, tt := range tests {
		var buf bytes.Buffer
		if err := virtual.NewKeypadPeer(&buf, mustKeypad(t, tt.profile)).Type(tt.keys); err != nil {
			t.Fatal(err)
		}
		if buf.String() != tt.want {
			t.Errorf("%s Type(%q) sent %q, want %q", tt.profile, tt.keys, buf.String(), tt.want)
		}
	}
	var buf bytes.Buffer
	peer := virtual.NewKeypadPeer(&buf, mustKeypad(t, "keypad-ascii"))
	if err := peer.Type("12x"); err == nil {
		t.Error("typed x, which is no key")
	}
	if err := peer.Press(terminal.Key{Kind: terminal.KeyDigit, Digit: '1'}, terminal.Key{Kind: terminal.KeyPreset, Preset: 8}); err == nil {
		t.Error("pressed preset 8 on a keypad with 8 presets")
	}
	if buf.Len() != 0 {
		t.Errorf("a failed Type or Press sent %q", buf.String())
	}
}

// FuzzDisplayPeer feeds the peer arbitrary bytes, whole and cut in two:
// it must not panic, and the cut must not change what it shows or finds
// wrong.
func FuzzDisplayPeer(f *testing.F) {
	profiles := displayProfiles(f)
	for _, p := range profiles {
		for _, s := range peerScreens {
			f.Add(append(slices.Clone(p.Init), p.Frame(s)...), uint16(7))
		}
	}
	f.Add([]byte("\x1c&\xcf\xfb\x1bQA\x81\x0d\x1f$\x15\x01\x1bl\x00\x00"), uint16(3))
	f.Add([]byte("\x1b"), uint16(0))
	profiles = append(profiles, small())
	f.Fuzz(func(t *testing.T, in []byte, cut uint16) {
		at := int(cut) % (len(in) + 1)
		for _, p := range profiles {
			whole, split := virtual.NewDisplayPeer(p), virtual.NewDisplayPeer(p)
			whole.Write(in)
			split.Write(in[:at])
			split.Write(in[at:])
			lines := whole.Lines()
			if len(lines) != len(p.Lines) {
				t.Fatalf("%s: %d lines, want %d", p.Name, len(lines), len(p.Lines))
			}
			if diff := cmp.Diff(lines, split.Lines()); diff != "" {
				t.Fatalf("%s: cut at %d changes the lines (-whole +split):\n%s", p.Name, at, diff)
			}
			if diff := cmp.Diff(whole.Errors(), split.Errors()); diff != "" {
				t.Fatalf("%s: cut at %d changes the errors (-whole +split):\n%s", p.Name, at, diff)
			}
		}
	})
}

// FuzzFrameRoundTrip checks that any two lines, framed by each built-in
// profile, read back on the peer as Fit says, without a decoding error.
func FuzzFrameRoundTrip(f *testing.F) {
	for _, s := range peerScreens {
		lines := append(slices.Clone(s.Lines), "", "")
		f.Add(lines[0], lines[1])
	}
	profiles := displayProfiles(f)
	f.Fuzz(func(t *testing.T, a, b string) {
		s := terminal.Screen{Lines: []string{a, b}}
		for _, p := range profiles {
			peer := virtual.NewDisplayPeer(p)
			peer.Write(p.Init)
			peer.Write(p.Frame(s))
			if diff := cmp.Diff(fitted(p, s), peer.Lines()); diff != "" {
				t.Fatalf("%s %q: lines (-fit +peer):\n%s", p.Name, s.Lines, diff)
			}
			if errs := peer.Errors(); len(errs) > 0 {
				t.Fatalf("%s %q: errors %q", p.Name, s.Lines, errs)
			}
		}
	})
}
