package wire_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/fanka/fanka/shared/wire"
)

// sampleStatus is a register with an offline backlog, no printer and a
// reader that has gone away.
func sampleStatus() *wire.Status {
	return &wire.Status{
		Clock:    1764000000123,
		Unsynced: 3, UnsyncedAmount: 3750, OldestUnsynced: 1763999000000,
		OfflineSales: 2, OfflineAmount: 2500,
		LimitUnsynced: 50000, LimitHardCount: 1000,
		Reader:       wire.Device{State: wire.DeviceAbsent, Detail: "pcscd: no reader"},
		Keypad:       wire.Device{State: wire.DeviceOK},
		Display:      wire.Device{State: wire.DeviceError, Detail: "写入失败"},
		Printer:      wire.Device{State: wire.DeviceNotConfigured},
		JournalBytes: 1 << 20, FreeBytes: 8 << 30,
		Software: "fanka-terminal v1.2",
	}
}

func TestStatusRefused(t *testing.T) {
	tests := map[string]func(s *wire.Status){
		"negative oldest time":      func(s *wire.Status) { s.OldestUnsynced = -1 },
		"negative offline amount":   func(s *wire.Status) { s.OfflineAmount = -5 },
		"negative limit":            func(s *wire.Status) { s.LimitUnsynced = -1 },
		"amount without entries":    func(s *wire.Status) { s.Unsynced, s.OfflineSales, s.OfflineAmount, s.OldestUnsynced = 0, 0, 0, 0 },
		"oldest without entries":    func(s *wire.Status) { s.Unsynced, s.UnsyncedAmount, s.OfflineSales, s.OfflineAmount = 0, 0, 0, 0 },
		"more offline than waiting": func(s *wire.Status) { s.OfflineSales = 4 },
		"offline amount, no sales":  func(s *wire.Status) { s.OfflineSales = 0 },
		"device state 0":            func(s *wire.Status) { s.Keypad.State = 0 },
		"device state 5":            func(s *wire.Status) { s.Printer.State = 5 },
		"detail too long":           func(s *wire.Status) { s.Reader.Detail = strings.Repeat("x", wire.MaxDeviceDetail+1) },
		"detail not UTF-8":          func(s *wire.Status) { s.Reader.Detail = "\xff" },
		"software too long":         func(s *wire.Status) { s.Software = strings.Repeat("v", wire.MaxSoftware+1) },
	}
	good, err := wire.Encode(sampleStatus())
	if err != nil {
		t.Fatal(err)
	}
	for name, edit := range tests {
		s := sampleStatus()
		edit(s)
		if _, err := wire.Encode(s); !errors.Is(err, wire.ErrMalformed) {
			t.Errorf("encode with %s: %v, want ErrMalformed", name, err)
		}
	}
	// The same, as a hostile register would send them: each frame is
	// the good one with bytes changed.
	frames := map[string][]byte{
		"truncated":          good[:len(good)-1],
		"trailing":           append(append([]byte{}, good...), 0),
		"device state 9":     patch(good, statusDeviceOffset, 9),
		"detail over bounds": patch(good, statusDeviceOffset+1, wire.MaxDeviceDetail+1),
		"negative offline":   patch(good, statusOfflineAmountOffset, 0xff),
		"request with bytes": {wire.Version, byte(wire.TypeStatusRequest), 0},
	}
	for name, b := range frames {
		if _, err := wire.Decode(b); !errors.Is(err, wire.ErrMalformed) {
			t.Errorf("decode %s: %v, want ErrMalformed", name, err)
		}
	}
}

// Offsets in a Status frame: the header (2), Clock (8), Unsynced (4),
// UnsyncedAmount (8), OldestUnsynced (8), OfflineSales (4), then
// OfflineAmount; the devices after 8 fixed fields.
const (
	statusOfflineAmountOffset = 2 + 8 + 4 + 8 + 8 + 4
	statusDeviceOffset        = 2 + 8 + 4 + 8 + 8 + 4 + 8 + 8 + 4
)

func TestCut(t *testing.T) {
	long := strings.Repeat("读", 30) // 90 bytes
	got := wire.Cut(long, wire.MaxDeviceDetail)
	if len(got) > wire.MaxDeviceDetail || got != strings.Repeat("读", 21) {
		t.Fatalf("cut %q to %q (%d bytes)", long, got, len(got))
	}
	if got := wire.Cut("a\xffb", 10); got != "a\uFFFDb" {
		t.Fatalf("invalid UTF-8 cut to %q", got)
	}
}

func TestStatusChanged(t *testing.T) {
	base := *sampleStatus()
	tests := map[string]struct {
		edit func(s *wire.Status)
		want bool
	}{
		"the clock and disk only": {func(s *wire.Status) { s.Clock++; s.FreeBytes-- }, false},
		"one more entry waiting":  {func(s *wire.Status) { s.Unsynced++; s.UnsyncedAmount += 100 }, false},
		"another reader error":    {func(s *wire.Status) { s.Reader.Detail = "other" }, false},
		"the reader back":         {func(s *wire.Status) { s.Reader = wire.Device{State: wire.DeviceOK} }, true},
		"the backlog settled": {func(s *wire.Status) {
			*s = wire.Status{Reader: s.Reader, Keypad: s.Keypad, Display: s.Display, Printer: s.Printer}
		}, true},
		"the offline sales settled": {func(s *wire.Status) { s.OfflineSales, s.OfflineAmount = 0, 0 }, true},
	}
	for name, tt := range tests {
		s := base
		tt.edit(&s)
		if got := wire.StatusChanged(base, s); got != tt.want {
			t.Errorf("%s: StatusChanged %v, want %v", name, got, tt.want)
		}
	}
}
