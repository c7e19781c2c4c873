package printertest_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/fanka/fanka/shared/printer"
	"github.com/fanka/fanka/shared/printer/printertest"
)

func TestTranscript(t *testing.T) {
	tests := []struct {
		in, want string
		err      bool
	}{
		{"\x1b@\x1c&\x1ba\x01\x1d!\x11\xb5\xda\xd2\xbb\xca\xb3\xcc\xc3\n\x1dVA0", "[INIT][CHINESE][ALIGN c][SIZE 2x2]第一食堂\n[CUT feed 48]", false},
		{"\x10\x04\x01\x1bE\x01A\x1bd\x02", "[STATUS 1][BOLD 1]A[FEED 2]", false},
		{"\xb5\xda", "", true},                                   // GBK outside Chinese mode
		{"\x1c&\xb5", "[CHINESE]", true},                         // half a character
		{"\x1bZ", "", true},                                      // an unknown command
		{"\x10\x04\x09", "", true},                               // not a status request
		{"\x07", "", true},                                       // a control byte
		{strings.Repeat("x", 33), strings.Repeat("x", 33), true}, // wider than the paper
	}
	for _, tt := range tests {
		got, err := printertest.Transcript([]byte(tt.in))
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("Transcript(%q) = %q, %v; want %q, error %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

// FuzzTranscript: the decoder never panics, and its transcript of a
// stream it takes is text.
func FuzzTranscript(f *testing.F) {
	f.Add([]byte("\x1b@\x1c&\x1ba\x01\x1d!\x11\xb5\xda\xd2\xbb\xca\xb3\xcc\xc3\n\x1dVA0"))
	f.Add([]byte("\x10\x04\x01\x1bE\x01A\x1bd\x02"))
	f.Add([]byte("\x1c&\xb5"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := printertest.Transcript(b)
		if err == nil && !utf8.ValidString(s) {
			t.Fatalf("Transcript(%q) = %q, not UTF-8", b, s)
		}
	})
}

// TestSerialPrinterOff: a serial printer switched off takes nothing and
// answers no status request, so a job is not sent; switched on, it prints
// the next job, and Transcripts splits documents at their cuts; bytes the
// printer sent between jobs are not read as the next job's status.
func TestSerialPrinterOff(t *testing.T) {
	v := printertest.MustSerialPrinter(t)
	p := &printer.Serial{Path: v.Path, TwoWay: true, Timeouts: printer.Timeouts{Write: time.Second, Reply: 200 * time.Millisecond}}
	doc := []byte("\x1b@\x1c&A\n\x1dVA0")
	v.Off()
	if err := p.Print(context.Background(), doc); !errors.Is(err, printer.ErrNotSent) {
		t.Fatalf("Print to a printer that is off: %v; want ErrNotSent", err)
	}
	if data := v.Data(); len(data) != 0 {
		t.Fatalf("a printer that is off recorded %q", data)
	}
	v.On()
	for range 2 {
		if err := p.Print(context.Background(), doc); err != nil {
			t.Fatalf("Print once on: %v", err)
		}
	}
	// A late reply and noise left on the line are not taken for the next
	// job's status.
	if err := v.Send([]byte{0x12, 0xFF}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // on the line before the port is opened
	if err := p.Print(context.Background(), doc); err != nil {
		t.Fatalf("Print after noise on the line: %v", err)
	}
	want := []string{"[INIT][CHINESE]A\n[CUT feed 48]", "[INIT][CHINESE]A\n[CUT feed 48]", "[INIT][CHINESE]A\n[CUT feed 48]"}
	if got := v.Transcripts(); !slices.Equal(got, want) {
		t.Errorf("Transcripts = %q, want %q", got, want)
	}
}
