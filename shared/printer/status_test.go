package printer_test

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/fanka/fanka/shared/printer"
)

func TestParseStatus(t *testing.T) {
	tests := []struct {
		name    string
		replies [4]byte
		want    printer.Status
		word    string
	}{
		{"ready", [4]byte{0x12, 0x12, 0x12, 0x12}, printer.Status{Online: true}, "ready"},
		{"drawer pin high, feed button", [4]byte{0x16 | 0x40, 0x12 | 0x08, 0x12, 0x12}, printer.Status{Online: true}, "ready"},
		// An Epson printer out of paper: offline, stopped at the paper's
		// end, both sensors.
		{"paper out", [4]byte{0x1A, 0x32, 0x12, 0x7E}, printer.Status{PaperOut: true, PaperNearEnd: true}, "paper_out"},
		{"paper end sensor only", [4]byte{0x12, 0x12, 0x12, 0x72}, printer.Status{Online: true, PaperOut: true}, "paper_out"},
		{"paper near end", [4]byte{0x12, 0x12, 0x12, 0x1E}, printer.Status{Online: true, PaperNearEnd: true}, "paper_near_end"},
		{"cover open", [4]byte{0x1A, 0x16, 0x12, 0x12}, printer.Status{CoverOpen: true}, "cover_open"},
		{"cutter error", [4]byte{0x1A, 0x52, 0x1A, 0x12}, printer.Status{Error: true}, "error"},
		{"unrecoverable error", [4]byte{0x1A, 0x12, 0x32, 0x12}, printer.Status{Error: true}, "error"},
		{"auto-recoverable error", [4]byte{0x12, 0x12, 0x52, 0x12}, printer.Status{Online: true, Error: true}, "error"},
		{"offline, no cause", [4]byte{0x1A, 0x12, 0x12, 0x12}, printer.Status{}, "offline"},
	}
	for _, tt := range tests {
		got, err := printer.ParseStatus(tt.replies[0], tt.replies[1], tt.replies[2], tt.replies[3])
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%s: (-want +got)\n%s", tt.name, diff)
		}
		if got.String() != tt.word {
			t.Errorf("%s: String() = %q, want %q", tt.name, got, tt.word)
		}
		if got.Ready() != (tt.word == "ready" || tt.word == "paper_near_end") {
			t.Errorf("%s: Ready() = %v", tt.name, got.Ready())
		}
	}
}

func TestParseStatusRefusesNonReplies(t *testing.T) {
	for _, b := range []byte{0x00, 0x11, 0x13, 0xFF, 0x92, 0x10, 0x02, 'A'} {
		for n := range 4 {
			r := [4]byte{0x12, 0x12, 0x12, 0x12}
			r[n] = b
			if _, err := printer.ParseStatus(r[0], r[1], r[2], r[3]); err == nil {
				t.Errorf("ParseStatus took %#02x as the reply to DLE EOT %d", b, n+1)
			}
		}
	}
}

// TestStatusReplies checks that what a virtual printer answers parses back
// to the status it was given, as a real printer reports it.
func TestStatusReplies(t *testing.T) {
	for _, s := range []printer.Status{
		{Online: true},
		{Online: true, PaperNearEnd: true},
		{PaperOut: true},
		{CoverOpen: true},
		{Error: true},
		{},
		{PaperOut: true, CoverOpen: true, Error: true},
	} {
		r := s.Replies()
		got, err := printer.ParseStatus(r[0], r[1], r[2], r[3])
		if err != nil {
			t.Fatalf("%+v: % x: %v", s, r, err)
		}
		want := s
		want.Online = s.Ready()
		want.PaperNearEnd = s.PaperNearEnd || s.PaperOut
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%+v: (-want +got)\n%s", s, diff)
		}
	}
}

func FuzzParseStatus(f *testing.F) {
	f.Add(byte(0x12), byte(0x12), byte(0x12), byte(0x12))
	f.Add(byte(0x1A), byte(0x32), byte(0x12), byte(0x7E))
	f.Add(byte(0x11), byte(0x13), byte(0), byte(0xFF))
	f.Fuzz(func(t *testing.T, a, b, c, d byte) {
		s, err := printer.ParseStatus(a, b, c, d)
		if err != nil {
			return
		}
		if s.Ready() && (s.PaperOut || s.CoverOpen || s.Error || !s.Online) {
			t.Fatalf("%+v is ready", s)
		}
		r := s.Replies()
		again, err := printer.ParseStatus(r[0], r[1], r[2], r[3])
		if err != nil || again.Ready() != s.Ready() || again.PaperOut != s.PaperOut || again.CoverOpen != s.CoverOpen || again.Error != s.Error {
			t.Fatalf("%+v → % x → %+v, %v", s, r, again, err)
		}
	})
}

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		want printer.Printer
	}{
		{"tcp://10.0.0.9:9100", &printer.Network{Addr: "10.0.0.9:9100", TwoWay: true}},
		{"tcp://10.0.0.9", &printer.Network{Addr: "10.0.0.9:9100", TwoWay: true}},
		{"tcp://printer.canteen.lan/", &printer.Network{Addr: "printer.canteen.lan:9100", TwoWay: true}},
		{"tcp://[fd00::9]:9101?status=off&timeout=3s", &printer.Network{Addr: "[fd00::9]:9101", Timeouts: printer.Timeouts{Write: 3e9}}},
		{"file:/dev/usb/lp0", &printer.Device{Path: "/dev/usb/lp0"}},
		{"file:///dev/usb/lp1?status=on", &printer.Device{Path: "/dev/usb/lp1", TwoWay: true}},
		{"file:printer.out", &printer.Device{Path: "printer.out"}},
		{"serial:/dev/ttyUSB0?baud=19200", &printer.Serial{Path: "/dev/ttyUSB0", Baud: 19200, TwoWay: true}},
		{"serial:/dev/ttyS0", &printer.Serial{Path: "/dev/ttyS0", Baud: 9600, TwoWay: true}},
		{"serial:/dev/ttyS0?status=off", &printer.Serial{Path: "/dev/ttyS0", Baud: 9600}},
	}
	for _, tt := range tests {
		got, err := printer.Parse(tt.name)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.name, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got, cmpopts.IgnoreUnexported(printer.Device{}, printer.Serial{})); diff != "" {
			t.Errorf("Parse(%q): (-want +got)\n%s", tt.name, diff)
		}
	}
	for _, name := range []string{
		"", "lp0", "/dev/usb/lp0", "usb:/dev/usb/lp0", "tcp://", "tcp://host:9100/path", "tcp://user:pw@host",
		"tcp://host?baud=9600", "file:", "file://host/dev/lp0", "serial:", "serial:/dev/ttyS0?baud=fast",
		"serial:/dev/ttyS0?baud=0", "serial:/dev/ttyS0?status=maybe", "tcp://host?timeout=-1s",
		"tcp://host?timeout=soon", "tcp://host?color=red", "tcp://host:9100\x00",
	} {
		if p, err := printer.Parse(name); err == nil {
			t.Errorf("Parse(%q) = %v, want an error", name, p)
		}
	}
}

func TestNotReadyError(t *testing.T) {
	err := error(&printer.NotReadyError{Printer: "tcp://p:9100", Status: printer.Status{PaperOut: true, CoverOpen: true}})
	if !errors.Is(err, printer.ErrNotSent) {
		t.Errorf("%v does not wrap ErrNotSent", err)
	}
	if want := "printer tcp://p:9100: not ready: out of paper, cover open"; err.Error() != want {
		t.Errorf("got %q, want %q", err, want)
	}
}
