package terminal_test

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fanka/fanka/shared/printer"
	"github.com/fanka/fanka/shared/printer/printertest"
)

// serialPrinter is the register's link to the virtual serial printer v,
// through printer.Parse as the register's config names it, with reply
// timeout reply.
func serialPrinter(t *testing.T, v *printertest.SerialPrinter, reply time.Duration) printer.Printer {
	t.Helper()
	p, err := printer.Parse(v.Name())
	if err != nil {
		t.Fatal(err)
	}
	s := p.(*printer.Serial)
	s.Timeouts = printer.Timeouts{Write: time.Second, Reply: reply}
	return s
}

// TestReceiptsSerialPrinter checks the register printing on a serial
// printer (a pty, asked for its status with DLE EOT on the line): a
// printer out of paper says so and prints nothing, a printer switched off
// answers nothing and prints nothing, and when it is back with paper every
// receipt and the void slip print once, in order.
func TestReceiptsSerialPrinter(t *testing.T) {
	v := printertest.MustSerialPrinter(t)
	v.SetStatus(printer.Status{PaperOut: true})
	r, _ := printingRig(t, filepath.Join(t.TempDir(), "journal.db"), serialPrinter(t, v, 300*time.Millisecond))
	r.do("in A1", "k 12.50\r", "=+ 成功 消费 12.50 | 余额 87.50", "out")
	waitFor(t, "the printer to say it is out of paper", func() bool { return strings.Contains(r.log.String(), "status=paper_out") })
	if data := v.Data(); len(data) != 0 || r.queued() != 1 {
		t.Fatalf("out of paper: the printer got %d bytes, %d queued; want 0 and 1", len(data), r.queued())
	}

	v.Off()
	v.SetStatus(printer.Status{Online: true})
	r.do("in A1", "k 7\r", "=+ 成功 消费 7.00 | 余额 80.50", "out",
		"in A1", "k 1\r", "=+ 成功 消费 1.00 | 余额 79.50", "out",
		"k 9999\r", "k \r", "=+ 已撤销 1.00 | 余额 80.50", "entries 4")
	waitFor(t, "an attempt on the printer that is off", func() bool { return strings.Contains(r.log.String(), "status=not_responding") })
	if data := v.Data(); len(data) != 0 || r.queued() != 3 {
		t.Fatalf("printer off: it got %d bytes, %d queued; want 0 and 3 (sales 1, 2 and void 4's slip)", len(data), r.queued())
	}

	v.On()
	waitFor(t, "the queue to empty", func() bool { return r.queued() == 0 })
	time.Sleep(50 * time.Millisecond) // a document printed twice would show now
	want := []string{r.wantReceipt(1, "", "12.50", "87.50"), r.wantReceipt(2, "", "7.00", "80.50"), r.wantVoidSlip(4, "", "S01", "1.00", "80.50")}
	if got := v.Transcripts(); !slices.Equal(got, want) {
		t.Errorf("printed %d documents:\n%s\nwant:\n%s", len(got), strings.Join(got, "\n\n"), strings.Join(want, "\n\n"))
	}
}

// TestSerialPrinterStalls checks that sales go on while the serial printer
// has stopped reading in the middle of a receipt, and that once it reads
// again that receipt completes and is confirmed (DLE EOT after the job),
// so it prints once, not again, and the others after it.
func TestSerialPrinterStalls(t *testing.T) {
	v := printertest.MustSerialPrinter(t)
	v.StallAfter(20)
	// A reply timeout far longer than the test: only the printer reading
	// again ends the stalled job.
	r, _ := printingRig(t, filepath.Join(t.TempDir(), "journal.db"), serialPrinter(t, v, time.Minute))
	r.do("in A1", "k 12.50\r", "=+ 成功 消费 12.50 | 余额 87.50", "out")
	waitFor(t, "the printer to stall in the first receipt", func() bool { return len(v.Data()) == 20 })
	// The sales are made, and 成功 shown, while the printer is stuck.
	r.do("in A1", "k 7\r", "=+ 成功 消费 7.00 | 余额 80.50", "out",
		"in A1", "k 1\r", "=+ 成功 消费 1.00 | 余额 79.50", "out", "entries 3")
	if data := v.Data(); len(data) != 20 || r.queued() != 3 {
		t.Fatalf("stalled: the printer took %d bytes, %d queued; want 20 and 3", len(data), r.queued())
	}
	v.Resume()
	waitFor(t, "the receipts after the stall", func() bool { return r.queued() == 0 })
	time.Sleep(50 * time.Millisecond) // a receipt printed twice would show now
	want := []string{r.wantReceipt(1, "", "12.50", "87.50"), r.wantReceipt(2, "", "7.00", "80.50"), r.wantReceipt(3, "", "1.00", "79.50")}
	if got := v.Transcripts(); !slices.Equal(got, want) {
		t.Errorf("printed %d documents:\n%s\nwant:\n%s", len(got), strings.Join(got, "\n\n"), strings.Join(want, "\n\n"))
	}
	if strings.Contains(r.log.String(), "receipts: not printed") {
		t.Errorf("a receipt failed while the printer was stuck, to be printed again:\n%s", r.log)
	}
}
