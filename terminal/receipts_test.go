package terminal_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fanka/fanka/shared/printer"
	"github.com/fanka/fanka/shared/printer/printertest"
	"github.com/fanka/fanka/shared/wire"
	"github.com/fanka/fanka/terminal"
	tj "github.com/fanka/fanka/terminal/journal"
)

// printingRig is a rig whose register has prn as its receipt printer,
// with its own journal at path; change, if any, changes the receipts'
// config. stop stops its ReceiptPrinter (also done when the test ends).
func printingRig(t *testing.T, path string, prn printer.Printer, change ...func(*terminal.ReceiptConfig)) (r *rig, stop func()) {
	t.Helper()
	var rp *terminal.ReceiptPrinter
	r = newRigAt(t, path, nil, func(cfg *terminal.Config, j *tj.Journal) {
		j.QueueReceipts()
		rc := terminal.ReceiptConfig{
			Printer:    prn,
			Canteen:    "第一食堂",
			Register:   "二号窗口",
			MinBackoff: 10 * time.Millisecond,
			MaxBackoff: 40 * time.Millisecond,
			Logger:     cfg.Logger,
		}
		for _, c := range change {
			c(&rc)
		}
		rp = terminal.NewReceiptPrinter(rc, j)
		cfg.Receipts = rp
	})
	r.receipts = rp
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		rp.Run(ctx)
	}()
	stop = func() {
		cancel()
		<-done
	}
	t.Cleanup(stop)
	return r, stop
}

// quickPrint are link timeouts for a printer that answers.
var quickPrint = printer.Timeouts{Dial: time.Second, Write: time.Second, Reply: time.Second}

// netPrinter is the link to the virtual network printer v.
func netPrinter(v *printertest.Printer, timeouts printer.Timeouts) printer.Printer {
	return &printer.Network{Addr: v.Addr(), TwoWay: true, Timeouts: timeouts}
}

// waitFor polls cond until it holds, failing the test after 10 s with
// what.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 10s for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// queued returns how many receipts the rig's journal holds for printing.
func (r *rig) queued() int {
	r.t.Helper()
	n, err := r.journal.QueuedReceipts()
	if err != nil {
		r.t.Fatal(err)
	}
	return n
}

// wantReceipt returns the transcript of the receipt of the rig's entry
// seq, sold by cashier to card A1 for amount with balance after it.
func (r *rig) wantReceipt(seq uint64, cashier, amount, balance string) string {
	r.t.Helper()
	e := r.entry(seq)
	h, err := e.Hash()
	if err != nil {
		r.t.Fatal(err)
	}
	cashierLine := ""
	if cashier != "" {
		cashierLine = "收银 " + cashier + "\n"
	}
	return "[INIT][CHINESE][ALIGN c][SIZE 2x2]第一食堂\n" +
		"[SIZE 1x1][ALIGN l]窗口 二号窗口\n" + cashierLine +
		"时间 " + time.UnixMilli(e.Time).Format(time.DateTime) + "\n" +
		"卡号 A1\n" + strings.Repeat("-", 32) + "\n" +
		"消费 ￥" + amount + "\n" + "余额 ￥" + balance + "\n" + strings.Repeat("-", 32) + "\n" +
		fmt.Sprintf("单号 1-%d\n校验 %X\n", seq, h[:4]) +
		"[FEED 2][CUT feed 48]"
}

// wantVoidSlip returns the transcript of the void slip of the rig's entry
// seq, a void by supervisor of the sale before it to card A1 by cashier,
// of amount, with balance after it.
func (r *rig) wantVoidSlip(seq uint64, cashier, supervisor, amount, balance string) string {
	r.t.Helper()
	e := r.entry(seq)
	sale := r.entry(e.VoidSeq)
	h, err := e.Hash()
	if err != nil {
		r.t.Fatal(err)
	}
	sh, err := sale.Hash()
	if err != nil {
		r.t.Fatal(err)
	}
	staff := ""
	if cashier != "" {
		staff += "收银 " + cashier + "\n"
	}
	if supervisor != "" {
		staff += "主管 " + supervisor + "\n"
	}
	return "[INIT][CHINESE][ALIGN c][SIZE 2x2]第一食堂\n" +
		"[SIZE 1x1][BOLD 1]作废 VOID\n[BOLD 0][ALIGN l]窗口 二号窗口\n" + staff +
		"时间 " + time.UnixMilli(e.Time).Format(time.DateTime) + "\n" +
		"卡号 A1\n" + strings.Repeat("-", 32) + "\n" +
		"退还 ￥" + amount + "\n" + "余额 ￥" + balance + "\n" + strings.Repeat("-", 32) + "\n" +
		fmt.Sprintf("原单 1-%d\n原单校验 %X\n原消费已撤销\n", sale.Seq, sh[:4]) +
		fmt.Sprintf("单号 1-%d\n校验 %X\n", seq, h[:4]) +
		"[FEED 2][CUT feed 48]"
}

// TestReceipt checks that a sale prints one receipt with its amount, the
// balance after it and the entry's verification code, that the receipt
// is then off the queue, and that a void prints one void slip naming the
// sale's number and verification code, its cashier and the supervisor.
func TestReceipt(t *testing.T) {
	v := printertest.MustPrinter(t)
	r, _ := printingRig(t, filepath.Join(t.TempDir(), "journal.db"), netPrinter(v, quickPrint))
	r.do("k 1111\r", "in A1", "k 12.50\r", "=+ 成功 消费 12.50 | 余额 87.50")
	waitFor(t, "the receipt to print and leave the queue", func() bool { return len(v.Jobs()) == 1 && r.queued() == 0 })
	if got, want := v.Transcripts()[0], r.wantReceipt(1, "C01", "12.50", "87.50"); got != want {
		t.Errorf("receipt of sale 1:\n%s\nwant:\n%s", got, want)
	}
	r.do("out", "k 9999\r", "k \r", "=+ 已撤销 12.50 | 余额 100.00", "entries 2")
	waitFor(t, "the void slip to print and leave the queue", func() bool { return len(v.Jobs()) == 2 && r.queued() == 0 })
	if got, want := v.Transcripts()[1], r.wantVoidSlip(2, "C01", "S01", "12.50", "100.00"); got != want {
		t.Errorf("void slip of entry 2:\n%s\nwant:\n%s", got, want)
	}
	// A sale and the sale after it: each prints once.
	r.do("in A1", "k 3\r", "=+ 成功 消费 3.00 | 余额 97.00")
	waitFor(t, "the second receipt", func() bool { return len(v.Jobs()) == 3 && r.queued() == 0 })
	time.Sleep(50 * time.Millisecond) // a receipt printed twice would show now
	ts := v.Transcripts()
	if len(ts) != 3 || ts[2] != r.wantReceipt(3, "C01", "3.00", "97.00") {
		t.Errorf("printed %d documents; the last:\n%s", len(ts), ts[len(ts)-1])
	}
}

// TestReceiptsPrinterOff checks that receipts of sales made while the
// printer is off, then out of paper, wait in the journal's queue and print
// once each, in order, when it is back; and that a sale voided before its
// receipt printed prints none, but its void slip prints.
func TestReceiptsPrinterOff(t *testing.T) {
	v := printertest.MustPrinter(t)
	v.Off()
	r, _ := printingRig(t, filepath.Join(t.TempDir(), "journal.db"), netPrinter(v, quickPrint))
	r.do("in A1", "k 12.50\r", "=+ 成功 消费 12.50 | 余额 87.50", "out",
		"in A1", "k 7\r", "=+ 成功 消费 7.00 | 余额 80.50", "out",
		"in A1", "k 1\r", "=+ 成功 消费 1.00 | 余额 79.50", "out",
		"k 9999\r", "k \r", "=+ 已撤销 1.00 | 余额 80.50")
	waitFor(t, "a failed attempt", func() bool { return strings.Contains(r.log.String(), "status=unreachable") })
	if h := r.receipts.Health(); h != (wire.Device{State: wire.DeviceAbsent, Detail: "unreachable"}) {
		t.Errorf("printer off: health %+v, want absent, unreachable", h)
	}
	if n := r.queued(); n != 3 {
		t.Fatalf("printer off: %d documents queued, want 3 (sales 1 and 2, the slip of void 4; sale 3 was voided)", n)
	}
	v.SetStatus(printer.Status{PaperOut: true})
	if err := v.On(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the printer to say it is out of paper", func() bool { return strings.Contains(r.log.String(), "status=paper_out") })
	if jobs := v.Jobs(); len(jobs) != 0 || r.queued() != 3 {
		t.Fatalf("out of paper: %d jobs printed, %d queued; want 0 and 3", len(jobs), r.queued())
	}
	if h := r.receipts.Health(); h != (wire.Device{State: wire.DeviceError, Detail: "paper_out"}) {
		t.Errorf("out of paper: health %+v, want error, paper_out", h)
	}
	v.SetStatus(printer.Status{Online: true})
	waitFor(t, "both receipts and the void slip", func() bool { return r.queued() == 0 })
	if h := r.receipts.Health(); h != (wire.Device{State: wire.DeviceOK}) {
		t.Errorf("printed: health %+v, want ok", h)
	}
	time.Sleep(50 * time.Millisecond) // a receipt printed twice would show now
	want := []string{r.wantReceipt(1, "", "12.50", "87.50"), r.wantReceipt(2, "", "7.00", "80.50"), r.wantVoidSlip(4, "", "S01", "1.00", "80.50")}
	if got := v.Transcripts(); !slices.Equal(got, want) {
		t.Errorf("printed %d receipts:\n%s\nwant:\n%s", len(got), strings.Join(got, "\n\n"), strings.Join(want, "\n\n"))
	}
}

// TestReceiptAfterRestart checks that a receipt or a void slip still
// queued when the register stops prints once it runs again, and that the
// receipt of a sale voided before it printed is not printed at all.
func TestReceiptAfterRestart(t *testing.T) {
	for _, tc := range []struct {
		name  string
		steps []string
		want  func(again *rig) string
	}{
		{"receipt", []string{"in A1", "k 12.50\r", "=+ 成功 消费 12.50 | 余额 87.50"},
			func(again *rig) string { return again.wantReceipt(1, "", "12.50", "87.50") }},
		{"void slip", []string{"in A1", "k 12.50\r", "=+ 成功 消费 12.50 | 余额 87.50", "out",
			"k 9999\r", "k \r", "=+ 已撤销 12.50 | 余额 100.00", "entries 2"},
			func(again *rig) string { return again.wantVoidSlip(2, "", "S01", "12.50", "100.00") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := printertest.MustPrinter(t)
			v.Off()
			path := filepath.Join(t.TempDir(), "journal.db")
			r, stop := printingRig(t, path, netPrinter(v, quickPrint))
			r.do(tc.steps...)
			waitFor(t, "a failed attempt", func() bool { return strings.Contains(r.log.String(), "receipts: not printed") })
			stop()
			if err := r.journal.Close(); err != nil {
				t.Fatal(err)
			}
			if err := v.On(); err != nil {
				t.Fatal(err)
			}
			again, _ := printingRig(t, path, netPrinter(v, quickPrint))
			waitFor(t, "the document after the restart", func() bool { return again.queued() == 0 })
			time.Sleep(50 * time.Millisecond) // a document printed twice would show now
			if got, want := v.Transcripts(), []string{tc.want(again)}; !slices.Equal(got, want) {
				t.Errorf("after the restart printed:\n%s\nwant:\n%s", strings.Join(got, "\n\n"), want[0])
			}
		})
	}
}

// TestSaleWhilePrinterStalls checks that sales complete while the
// printer has stopped reading in the middle of a receipt, and that the
// receipt cut off is printed again with a 重印 header, then the others.
func TestSaleWhilePrinterStalls(t *testing.T) {
	v := printertest.MustPrinter(t)
	v.StallAfter(20)
	// Timeouts far longer than the test: only the printer reading again
	// ends the stalled attempt.
	r, _ := printingRig(t, filepath.Join(t.TempDir(), "journal.db"), netPrinter(v, printer.Timeouts{Dial: time.Minute, Write: time.Minute, Reply: time.Minute}))
	r.do("in A1", "k 12.50\r", "=+ 成功 消费 12.50 | 余额 87.50", "out")
	waitFor(t, "the printer to stall in the first receipt", func() bool { return len(v.Jobs()) == 1 })
	r.do("in A1", "k 7\r", "=+ 成功 消费 7.00 | 余额 80.50", "out",
		"in A1", "k 1\r", "=+ 成功 消费 1.00 | 余额 79.50", "out", "entries 3")
	if jobs := v.Jobs(); len(jobs) != 1 || len(jobs[0]) != 20 || r.queued() != 3 {
		t.Fatalf("stalled: %d jobs (the first of %d bytes), %d queued; want 1 of 20 bytes, 3 queued", len(jobs), len(jobs[0]), r.queued())
	}
	v.StallAfter(-1) // reads on, and cuts the stalled connection
	waitFor(t, "the receipts after the stall", func() bool { return r.queued() == 0 })
	ts := v.Transcripts()
	if len(ts) != 4 {
		t.Fatalf("printed %d jobs, want 4 (the cut one, its reprint, two more):\n%s", len(ts), strings.Join(ts, "\n\n"))
	}
	if !strings.Contains(ts[1], "*重印*") || !strings.HasSuffix(ts[1], r.wantReceipt(1, "", "12.50", "87.50")) {
		t.Errorf("the receipt cut off, printed again:\n%s", ts[1])
	}
	if want := []string{r.wantReceipt(2, "", "7.00", "80.50"), r.wantReceipt(3, "", "1.00", "79.50")}; !slices.Equal(ts[2:], want) {
		t.Errorf("the receipts after it:\n%s\nwant:\n%s", strings.Join(ts[2:], "\n\n"), strings.Join(want, "\n\n"))
	}
}

// TestReceiptTooOld checks that a receipt whose sale is older than MaxAge
// when the printer comes back is given up on, and one within it printed.
func TestReceiptTooOld(t *testing.T) {
	v := printertest.MustPrinter(t)
	v.Off()
	later := noon
	var mu sync.Mutex
	r, _ := printingRig(t, filepath.Join(t.TempDir(), "journal.db"), netPrinter(v, quickPrint), func(rc *terminal.ReceiptConfig) {
		rc.MaxAge = 15 * time.Minute
		rc.Now = func() time.Time {
			mu.Lock()
			defer mu.Unlock()
			return later
		}
	})
	r.do("in A1", "k 12.50\r", "=+ 成功 消费 12.50 | 余额 87.50", "out", "+20m",
		"in A1", "k 7\r", "=+ 成功 消费 7.00 | 余额 80.50", "out")
	mu.Lock()
	later = r.now // sale 1 is 20 minutes old, sale 2 new
	mu.Unlock()
	// Sale 1's receipt is given up at its next attempt while the printer
	// is still off: an attempt begun before the clock moved could
	// otherwise find the printer back.
	waitFor(t, "sale 1's receipt given up", func() bool {
		return strings.Contains(r.log.String(), "sale too old, receipt not printed\" seq=1")
	})
	if err := v.On(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the queue to empty", func() bool { return r.queued() == 0 })
	if got, want := v.Transcripts(), []string{r.wantReceipt(2, "", "7.00", "80.50")}; !slices.Equal(got, want) {
		t.Errorf("printed:\n%s\nwant only sale 2's:\n%s", strings.Join(got, "\n\n"), want[0])
	}
}

// TestReceiptsOddNames checks what a register's config may hold as names
// (canteen, register) that the printer cannot print as they are: too long
// for the paper, characters GBK lacks, control bytes. The receipt, the
// void slip and the shift report all print, with those characters
// replaced by '?' and the names cut with '…'; nothing crashes or is lost.
func TestReceiptsOddNames(t *testing.T) {
	v := printertest.MustPrinter(t)
	r, _ := printingRig(t, filepath.Join(t.TempDir(), "journal.db"), netPrinter(v, quickPrint), func(rc *terminal.ReceiptConfig) {
		rc.Canteen = "食堂😀\x1b@\x00" + strings.Repeat("很长的名字", 100)
		rc.Register = "窗口€\u202e\x1dV" + strings.Repeat("Window", 100)
	})
	r.do("k 1111\r", "in A1", "k 12.50\r", "=+ 成功 消费 12.50 | 余额 87.50", "out")
	waitFor(t, "the receipt", func() bool { return len(v.Jobs()) == 1 })
	r.do("k 9999\r", "k \r", "=+ 已撤销 12.50 | 余额 100.00", "k 1111\r")
	waitFor(t, "the receipt, the void slip and the shift report", func() bool { return len(v.Jobs()) == 3 && r.queued() == 0 })
	for i, ts := range v.Transcripts() {
		for _, want := range []string{"[SIZE 2x2]食堂??@?很长的…\n", "窗口 窗口???VWindowWindowWindo…\n"} {
			if !strings.Contains(ts, want) {
				t.Errorf("document %d lacks %q:\n%s", i+1, want, ts)
			}
		}
		if strings.Contains(ts, "[ERROR") {
			t.Errorf("document %d does not decode:\n%s", i+1, ts)
		}
	}
}

// TestReceiptsUnopenablePrinter checks a printer link the register cannot
// open (a device path far too long): the sale is made, the receipt waits
// in the queue, and the failure is logged as unreachable, every time.
func TestReceiptsUnopenablePrinter(t *testing.T) {
	p, err := printer.Parse("serial:/dev/" + strings.Repeat("x", 5000) + "?baud=9600")
	if err != nil {
		t.Fatalf("Parse of a long path: %v", err)
	}
	r, _ := printingRig(t, filepath.Join(t.TempDir(), "journal.db"), p)
	r.do("in A1", "k 12.50\r", "=+ 成功 消费 12.50 | 余额 87.50", "out", "entries 1")
	waitFor(t, "two failed attempts", func() bool { return strings.Count(r.log.String(), "status=unreachable") >= 2 })
	if n := r.queued(); n != 1 {
		t.Errorf("%d receipts queued, want 1", n)
	}
}
