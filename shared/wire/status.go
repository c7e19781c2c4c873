package wire

import (
	"fmt"
	"unicode/utf8"

	"github.com/fanka/fanka/shared/internal/bin"
	"github.com/fanka/fanka/shared/money"
)

// Bounds on a Status message.
const (
	MaxDeviceDetail = 64 // bytes of a device's detail (its last error)
	MaxSoftware     = 32 // bytes of the register's software version
)

// DeviceState is how one of a register's devices is.
type DeviceState uint8

// Device states.
const (
	DeviceOK            DeviceState = 1 // present and working
	DeviceAbsent        DeviceState = 2 // configured but gone (unplugged, pcscd down)
	DeviceError         DeviceState = 3 // present but failing (a printer out of paper)
	DeviceNotConfigured DeviceState = 4 // the register has none
)

// String names the state for the API: ok, absent, error, not_configured.
func (s DeviceState) String() string {
	switch s {
	case DeviceOK:
		return "ok"
	case DeviceAbsent:
		return "absent"
	case DeviceError:
		return "error"
	case DeviceNotConfigured:
		return "not_configured"
	}
	return fmt.Sprintf("device_state(%d)", uint8(s))
}

// MarshalText names the state as String does: how JSON holds it.
func (s DeviceState) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText is the inverse of MarshalText.
func (s *DeviceState) UnmarshalText(b []byte) error {
	st, ok := ParseDeviceState(string(b))
	if !ok {
		return fmt.Errorf("wire: unknown device state %q", b)
	}
	*s = st
	return nil
}

// ParseDeviceState is the inverse of DeviceState.String.
func ParseDeviceState(s string) (DeviceState, bool) {
	for st := DeviceOK; st <= DeviceNotConfigured; st++ {
		if st.String() == s {
			return st, true
		}
	}
	return 0, false
}

// Device is one device's health: its state and, optionally, a short
// detail such as its last error (valid UTF-8, at most MaxDeviceDetail
// bytes; Cut shortens one).
// In JSON (the server's store and API): {"state": "ok", "detail": "…"}.
type Device struct {
	State  DeviceState `json:"state"`
	Detail string      `json:"detail,omitempty"`
}

// Cut returns s cut to at most n bytes on a rune boundary, with invalid
// UTF-8 replaced, as a Status's strings must be.
func Cut(s string, n int) string {
	s = string([]rune(s)) // replaces invalid UTF-8 with U+FFFD
	for len(s) > n {
		_, n := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-n]
	}
	return s
}

// Status is what a register reports of itself (register → server): what
// its journal holds that the server has not settled, how much of it it
// decided offline, the offline limits it works under, how its devices
// are, and its disk. A register sends it only to a server that asked with
// StatusRequest on that connection, at once, then when something changes
// and periodically.
//
//	Status = Clock:i64
//	         Unsynced:u32 UnsyncedAmount:i64 OldestUnsynced:i64
//	         OfflineSales:u32 OfflineAmount:i64
//	         LimitUnsynced:i64 LimitHardCount:u32
//	         Reader Keypad Display Printer: each State:u8 Detail:bytes8
//	         JournalBytes:u64 FreeBytes:u64 Software:bytes8
//
// The encoding is canonical: counts and amounts are not negative, a
// backlog with no entries has no amount and no oldest time, offline sales
// are among the unsynced entries, every device has a known state, and
// the strings are valid UTF-8 within their bounds.
type Status struct {
	// Clock is the register's clock when it sent the status, Unix ms.
	Clock int64
	// Unsynced is the number of journal entries the server has not
	// settled, UnsyncedAmount their sum (sales less voids: below 0 when
	// only voids wait), and OldestUnsynced the register's time of the oldest, Unix ms (0
	// when none).
	Unsynced       uint32
	UnsyncedAmount money.Fen
	OldestUnsynced int64
	// OfflineSales and OfflineAmount are the unsettled sales the register
	// decided offline, and their sum: its offline exposure.
	OfflineSales  uint32
	OfflineAmount money.Fen
	// LimitUnsynced and LimitHardCount are the offline limits it works
	// under (OfflineLimits.MaxUnsynced and HardCount; 0: none).
	LimitUnsynced  money.Fen
	LimitHardCount uint32
	// The devices.
	Reader, Keypad, Display, Printer Device
	// JournalBytes is the journal file's size and FreeBytes the space
	// left on its file system.
	JournalBytes, FreeBytes uint64
	// Software is the register's software version.
	Software string
}

// Devices returns the status's devices by name: reader, keypad, display,
// printer.
func (m *Status) Devices() map[string]Device {
	return map[string]Device{"reader": m.Reader, "keypad": m.Keypad, "display": m.Display, "printer": m.Printer}
}

// StatusChanged reports whether b differs from a in what the office
// should learn of at once rather than at the next periodic status: a
// device's state, the backlog emptying or starting, or offline sales
// appearing or all settling. The register sends such a status at once,
// and the server stores it at once.
func StatusChanged(a, b Status) bool {
	for name, d := range a.Devices() {
		if b.Devices()[name].State != d.State {
			return true
		}
	}
	return (a.Unsynced == 0) != (b.Unsynced == 0) || (a.OfflineSales == 0) != (b.OfflineSales == 0)
}

// StatusRequest (server → register) says that the server takes Status on
// this connection: it is sent after Welcome. A register that predates
// Status skips it (a message type it does not know), and a register never
// sends Status to a server that did not ask, which would refuse it.
//
//	StatusRequest = (empty)
type StatusRequest struct{}

// Type implements Message.
func (m *Status) Type() Type { return TypeStatus }

// Type implements Message.
func (m *StatusRequest) Type() Type { return TypeStatusRequest }

func (m *StatusRequest) encode(*bin.Writer) error { return nil }

func (m *Status) encode(w *bin.Writer) error {
	if err := m.check(); err != nil {
		return err
	}
	w.I64(m.Clock)
	w.U32(m.Unsynced)
	w.I64(int64(m.UnsyncedAmount))
	w.I64(m.OldestUnsynced)
	w.U32(m.OfflineSales)
	w.I64(int64(m.OfflineAmount))
	w.I64(int64(m.LimitUnsynced))
	w.U32(m.LimitHardCount)
	for _, d := range []Device{m.Reader, m.Keypad, m.Display, m.Printer} {
		w.U8(uint8(d.State))
		w.Bytes8([]byte(d.Detail))
	}
	w.U64(m.JournalBytes)
	w.U64(m.FreeBytes)
	w.Bytes8([]byte(m.Software))
	return nil
}

// check enforces the canonical form the doc comment gives.
func (m *Status) check() error {
	switch {
	case m.OfflineAmount < 0 || m.LimitUnsynced < 0 || m.OldestUnsynced < 0:
		return fmt.Errorf("%w: status: a negative amount or time", ErrMalformed)
	case m.Unsynced == 0 && (m.UnsyncedAmount != 0 || m.OldestUnsynced != 0):
		return fmt.Errorf("%w: status: an amount or an oldest time without unsynced entries", ErrMalformed)
	case m.OfflineSales > m.Unsynced:
		return fmt.Errorf("%w: status: %d offline sales among %d unsynced entries", ErrMalformed, m.OfflineSales, m.Unsynced)
	case m.OfflineSales == 0 && m.OfflineAmount != 0:
		return fmt.Errorf("%w: status: an offline amount without offline sales", ErrMalformed)
	case len(m.Software) > MaxSoftware || !utf8.ValidString(m.Software):
		return fmt.Errorf("%w: status: software version %q", ErrMalformed, m.Software)
	}
	for name, d := range m.Devices() {
		if d.State < DeviceOK || d.State > DeviceNotConfigured {
			return fmt.Errorf("%w: status: %s: state %d", ErrMalformed, name, d.State)
		}
		if len(d.Detail) > MaxDeviceDetail || !utf8.ValidString(d.Detail) {
			return fmt.Errorf("%w: status: %s: detail of %d bytes or not UTF-8", ErrMalformed, name, len(d.Detail))
		}
	}
	return nil
}

func decodeStatus(r *bin.Reader) (*Status, error) {
	m := &Status{Clock: r.I64(), Unsynced: r.U32(), UnsyncedAmount: money.Fen(r.I64()), OldestUnsynced: r.I64(),
		OfflineSales: r.U32(), OfflineAmount: money.Fen(r.I64()), LimitUnsynced: money.Fen(r.I64()), LimitHardCount: r.U32()}
	for _, d := range []*Device{&m.Reader, &m.Keypad, &m.Display, &m.Printer} {
		d.State = DeviceState(r.U8())
		d.Detail = string(r.Bytes8(MaxDeviceDetail))
	}
	m.JournalBytes, m.FreeBytes = r.U64(), r.U64()
	m.Software = string(r.Bytes8(MaxSoftware))
	if r.Err() != nil {
		return m, nil // Decode reports the reader's error
	}
	return m, m.check()
}
