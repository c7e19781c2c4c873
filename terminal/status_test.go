package terminal_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	sj "github.com/fanka/fanka/shared/journal"
	"github.com/fanka/fanka/shared/wire"
	"github.com/fanka/fanka/terminal"
	tj "github.com/fanka/fanka/terminal/journal"
)

// TestStatusAlwaysEncodes: a register's status encodes whatever its
// journal and devices say (one that did not would end the server link):
// with only a void waiting its amount is below zero, a device set to a
// state the wire does not know reports an error, and an over-long detail
// is cut.
func TestStatusAlwaysEncodes(t *testing.T) {
	j, err := tj.Open(filepath.Join(t.TempDir(), "journal.db"), 1, registerKey)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	at := time.Now().Truncate(time.Millisecond)
	for _, e := range []sj.Entry{
		{Kind: sj.KindSale, Time: at.UnixMilli(), CardNo: "A1", Amount: 2000},
		{Kind: sj.KindVoid, Time: at.Add(time.Minute).UnixMilli(), CardNo: "A1", Amount: 2000, VoidSeq: 1},
	} {
		if _, err := j.Record(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.ApplyAcks([]wire.Ack{{Seq: 1, Outcome: wire.Settled, CardNo: "A1", Balance: 8000, Version: 1}}); err != nil {
		t.Fatal(err)
	}
	var reader, printer terminal.DeviceHealth
	reader.Set(9, "")
	printer.Set(wire.DeviceError, strings.Repeat("纸", 40))
	src := &terminal.StatusSource{Journal: j, Reader: &reader, Printer: &printer, Software: strings.Repeat("v", 40)}
	st := src.Status()
	if _, err := wire.Encode(&st); err != nil {
		t.Fatalf("the status does not encode: %v\n%+v", err, st)
	}
	if st.Unsynced != 1 || st.UnsyncedAmount != -2000 || st.OldestUnsynced != at.Add(time.Minute).UnixMilli() {
		t.Errorf("only the void waits: %d entries of %v, oldest %d", st.Unsynced, st.UnsyncedAmount, st.OldestUnsynced)
	}
	if st.Reader.State != wire.DeviceError || len(st.Printer.Detail) > wire.MaxDeviceDetail || len(st.Software) > wire.MaxSoftware {
		t.Errorf("devices %+v, software %q", st.Devices(), st.Software)
	}
	if st.Keypad.State != wire.DeviceNotConfigured || st.JournalBytes == 0 {
		t.Errorf("keypad %+v, journal %d bytes", st.Keypad, st.JournalBytes)
	}
}
