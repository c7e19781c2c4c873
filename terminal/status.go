package terminal

import (
	"sync"
	"time"

	"github.com/fanka/fanka/shared/money"
	"github.com/fanka/fanka/shared/wire"
)

// DeviceHealth is a device's health as the register reports it to the
// server (wire.Status): the device sets it as it goes away, fails and
// comes back. It is safe for concurrent use; the zero value reports
// wire.DeviceOK, a device that opened and has not failed yet.
type DeviceHealth struct {
	mu sync.Mutex
	d  wire.Device
}

// Set records the device's state and a detail (its last error, cut to
// wire.MaxDeviceDetail bytes; "" for none).
func (h *DeviceHealth) Set(state wire.DeviceState, detail string) {
	d := wire.Device{State: state, Detail: wire.Cut(detail, wire.MaxDeviceDetail)}
	h.mu.Lock()
	h.d = d
	h.mu.Unlock()
}

// Health returns the state last set.
func (h *DeviceHealth) Health() wire.Device {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.d.State == 0 {
		return wire.Device{State: wire.DeviceOK}
	}
	return h.d
}

// HealthReporter is a device that says how it is.
type HealthReporter interface {
	// Health returns the device's state now. It never blocks on the
	// device.
	Health() wire.Device
}

// StatusJournal is what a register's status reads of its journal.
type StatusJournal interface {
	// Backlog returns what waits to be settled by the server; it must be
	// cheap (counters, not a scan of the entries).
	Backlog() Backlog
	// DiskUsage returns the journal's size on disk and the free space
	// left on its file system, in bytes.
	DiskUsage() (size, free uint64, err error)
}

// StatusSource gathers a register's status for the server: its backlog
// and offline exposure from the journal's counters, the offline limits in
// force, and its devices' health. Set its fields before the first call.
type StatusSource struct {
	Journal StatusJournal
	// Limits returns the offline limits in force (Register.OfflineLimits);
	// nil reports none.
	Limits func() OfflineLimits
	// The devices; nil is reported as wire.DeviceNotConfigured.
	Reader, Keypad, Display, Printer HealthReporter
	// Software is the register's software version, cut to
	// wire.MaxSoftware bytes.
	Software string
	// Now is the register's clock; nil means time.Now.
	Now func() time.Time
}

// Status returns the register's status now. A journal whose disk usage
// cannot be read reports 0 for both, the rest as it is.
func (s *StatusSource) Status() wire.Status {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	b := s.Journal.Backlog()
	st := wire.Status{
		Clock:          now().UnixMilli(),
		Unsynced:       clampU32(b.Entries),
		UnsyncedAmount: b.Amount,
		OfflineSales:   clampU32(b.OfflineSales),
		OfflineAmount:  max(b.OfflineAmount, 0),
		Reader:         health(s.Reader),
		Keypad:         health(s.Keypad),
		Display:        health(s.Display),
		Printer:        health(s.Printer),
		Software:       wire.Cut(s.Software, wire.MaxSoftware),
	}
	if st.Unsynced == 0 {
		st.UnsyncedAmount = 0
	} else if !b.Oldest.IsZero() {
		st.OldestUnsynced = max(b.Oldest.UnixMilli(), 0)
	}
	if st.OfflineSales > st.Unsynced {
		st.OfflineSales = st.Unsynced
	}
	if st.OfflineSales == 0 {
		st.OfflineAmount = 0
	}
	if s.Limits != nil {
		l := s.Limits()
		st.LimitUnsynced = max(l.MaxUnsynced, money.Fen(0))
		st.LimitHardCount = clampU32(l.HardCount)
	}
	if size, free, err := s.Journal.DiskUsage(); err == nil {
		st.JournalBytes, st.FreeBytes = size, free
	}
	return st
}

// health asks d, and keeps what it says within what wire.Status carries:
// a status that does not encode would end the server link.
func health(d HealthReporter) wire.Device {
	if d == nil {
		return wire.Device{State: wire.DeviceNotConfigured}
	}
	h := d.Health()
	if h.State < wire.DeviceOK || h.State > wire.DeviceNotConfigured {
		h = wire.Device{State: wire.DeviceError, Detail: h.State.String()}
	}
	h.Detail = wire.Cut(h.Detail, wire.MaxDeviceDetail)
	return h
}

func clampU32(n int) uint32 {
	return uint32(min(max(n, 0), 1<<32-1))
}
