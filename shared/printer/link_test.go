package printer_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/fanka/fanka/shared/escpos"
	"github.com/fanka/fanka/shared/money"
	"github.com/fanka/fanka/shared/printer"
	"github.com/fanka/fanka/shared/printer/printertest"
)

var cst = time.FixedZone("CST", 8*3600)

// receipt renders an ordinary sale's receipt, sequence number seq.
func receipt(t testing.TB, seq uint64) []byte {
	t.Helper()
	b, err := escpos.RenderReceipt(escpos.Receipt{
		Canteen: "第一食堂", Register: "二号窗口", Cashier: "王芳",
		Time: time.Date(2025, 3, 14, 12, 5, 9, 0, cst), CardNo: "04A1B2C3D4E5F6",
		Amount: 1250, Balance: 8750 - money.Fen(seq), Seq: seq, RegisterID: 7,
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// quick are timeouts for tests: a printer that does not answer is given up
// on soon.
var quick = printer.Timeouts{Dial: time.Second, Write: 300 * time.Millisecond, Reply: 300 * time.Millisecond}

func transcript(t testing.TB, b []byte) string {
	t.Helper()
	s, err := printertest.Transcript(b)
	if err != nil {
		t.Fatalf("transcript: %v\n%s", err, s)
	}
	return s
}

func TestNetworkPrint(t *testing.T) {
	v := printertest.MustPrinter(t)
	p := &printer.Network{Addr: v.Addr(), TwoWay: true, Timeouts: quick}
	doc := receipt(t, 1024)
	if err := p.Print(context.Background(), doc); err != nil {
		t.Fatalf("Print: %v", err)
	}
	jobs := v.Jobs()
	if len(jobs) != 1 || !bytes.Equal(jobs[0], doc) {
		t.Fatalf("the printer got %d jobs, want the receipt once:\n%q", len(jobs), jobs)
	}
	if got := transcript(t, jobs[0]); !strings.Contains(got, "第一食堂") || !strings.HasSuffix(got, "[CUT feed 48]") {
		t.Errorf("transcript:\n%s", got)
	}
	st, err := p.Status(context.Background())
	if err != nil || st != (printer.Status{Online: true}) {
		t.Errorf("Status: %+v, %v", st, err)
	}
}

func TestNetworkOff(t *testing.T) {
	v := printertest.MustPrinter(t)
	v.Off()
	p := &printer.Network{Addr: v.Addr(), TwoWay: true, Timeouts: quick}
	err := p.Print(context.Background(), receipt(t, 1))
	if !errors.Is(err, printer.ErrNotSent) || !errors.Is(err, printer.ErrUnreachable) || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("Print to a printer that is off: %v; want ErrNotSent, ErrUnreachable, ECONNREFUSED", err)
	}
	t.Logf("Print: %v", err)
	if _, err := p.Status(context.Background()); !errors.Is(err, printer.ErrUnreachable) {
		t.Errorf("Status of a printer that is off: %v", err)
	}
	if err := v.On(); err != nil {
		t.Fatal(err)
	}
	if err := p.Print(context.Background(), receipt(t, 1)); err != nil {
		t.Fatalf("Print once the printer is back: %v", err)
	}
	if n := len(v.Jobs()); n != 1 {
		t.Errorf("%d jobs printed, want 1", n)
	}
}

func TestNetworkPaperOut(t *testing.T) {
	v := printertest.MustPrinter(t)
	v.SetStatus(printer.Status{PaperOut: true})
	p := &printer.Network{Addr: v.Addr(), TwoWay: true, Timeouts: quick}
	err := p.Print(context.Background(), receipt(t, 1))
	var notReady *printer.NotReadyError
	if !errors.As(err, &notReady) || !notReady.Status.PaperOut || !errors.Is(err, printer.ErrNotSent) {
		t.Fatalf("Print without paper: %v; want a NotReadyError, paper out", err)
	}
	t.Logf("Print: %v", err)
	if jobs := v.Jobs(); len(jobs) != 0 {
		t.Errorf("a job was sent to a printer without paper: %q", jobs)
	}
	st, err := p.Status(context.Background())
	if err != nil || !st.PaperOut || st.Ready() || st.String() != "paper_out" {
		t.Errorf("Status: %+v, %v; want paper out", st, err)
	}
}

// TestNetworkStopsReading: a printer that stops reading in the middle of
// a job. A receipt fits in the sockets' buffers, so the write succeeds;
// the printer never confirms it.
func TestNetworkStopsReading(t *testing.T) {
	v := printertest.MustPrinter(t)
	v.StallAfter(40)
	p := &printer.Network{Addr: v.Addr(), TwoWay: true, Timeouts: quick}
	doc := receipt(t, 1)
	err := p.Print(context.Background(), doc)
	if err == nil || errors.Is(err, printer.ErrNotSent) || !strings.Contains(err.Error(), "did not confirm") {
		t.Fatalf("Print to a printer that stopped reading: %v; want an unconfirmed job, maybe printed", err)
	}
	t.Logf("Print: %v", err)
	if jobs := v.Jobs(); len(jobs) != 1 || !bytes.Equal(jobs[0], doc[:40]) {
		t.Errorf("the printer took %q, want the first 40 bytes", jobs)
	}
}

// TestNetworkStopsReadingLongJob: a job longer than the sockets' buffers
// blocks the write, and the write deadline ends it with an error.
func TestNetworkStopsReadingLongJob(t *testing.T) {
	v := printertest.MustPrinter(t)
	v.StallAfter(1000)
	p := &printer.Network{Addr: v.Addr(), TwoWay: true, Timeouts: quick}
	doc := bytes.Repeat([]byte("食堂\n"), 4<<20)
	start := time.Now()
	err := p.Print(context.Background(), doc)
	if err == nil || errors.Is(err, printer.ErrNotSent) || !strings.Contains(err.Error(), "write, after") {
		t.Fatalf("Print of a long job to a printer that stopped reading: %v; want a write error", err)
	}
	t.Logf("Print: %v", err)
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("the write took %v to give up", d)
	}
}

// TestNetworkOneWay: a printer that never answers status requests: asked
// anyway, it is refused with a hint; as a one-way printer it prints.
func TestNetworkOneWay(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	got := make(chan []byte, 4)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				var b bytes.Buffer
				b.ReadFrom(c)
				got <- b.Bytes()
			}()
		}
	}()
	p := &printer.Network{Addr: ln.Addr().String(), TwoWay: true, Timeouts: quick}
	err = p.Print(context.Background(), receipt(t, 1))
	if !errors.Is(err, printer.ErrNotSent) || !strings.Contains(err.Error(), "status=off") {
		t.Errorf("Print asking a printer that never answers: %v", err)
	}
	if b := <-got; !bytes.Equal(b, escpos.StatusRequest(1)) {
		t.Errorf("the printer got % x, want only the status request", b)
	}
	p.TwoWay = false
	if _, err := p.Status(context.Background()); !errors.Is(err, printer.ErrNoStatus) {
		t.Errorf("Status of a one-way printer: %v", err)
	}
	doc := receipt(t, 1)
	if err := p.Print(context.Background(), doc); err != nil {
		t.Fatalf("Print one-way: %v", err)
	}
	if b := <-got; !bytes.Equal(b, doc) {
		t.Errorf("the printer got %q", b)
	}
}

func TestNetworkCancel(t *testing.T) {
	v := printertest.MustPrinter(t)
	v.StallAfter(10)
	p := &printer.Network{Addr: v.Addr(), TwoWay: true, Timeouts: printer.Timeouts{Reply: time.Minute, Write: time.Minute}}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := p.Print(ctx, receipt(t, 1))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Print cancelled: %v; want the context's error", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Print took %v to notice the cancellation", d)
	}
}

func TestDevicePrint(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lp0")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := printer.Parse("file:" + path)
	if err != nil {
		t.Fatal(err)
	}
	a, b := receipt(t, 1), receipt(t, 2)
	for _, doc := range [][]byte{a, b} {
		if err := p.Print(context.Background(), doc); err != nil {
			t.Fatalf("Print: %v", err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, append(bytes.Clone(a), b...)) {
		t.Errorf("the device got %q", got)
	}
	if _, err := p.Status(context.Background()); !errors.Is(err, printer.ErrNoStatus) {
		t.Errorf("Status of a one-way device: %v", err)
	}
	gone := &printer.Device{Path: filepath.Join(t.TempDir(), "lp9")}
	if err := gone.Print(context.Background(), a); !errors.Is(err, printer.ErrNotSent) || !errors.Is(err, printer.ErrUnreachable) {
		t.Errorf("Print to a device that is not there: %v", err)
	}
	if _, err := os.Stat(gone.Path); err == nil {
		t.Errorf("Print created %s", gone.Path)
	}
}

// TestDeviceStopsReading: a device that stops taking data (a FIFO no one
// reads) makes the write time out with an error.
func TestDeviceStopsReading(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lp0")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	p := &printer.Device{Path: path, Timeouts: quick}
	err = p.Print(context.Background(), bytes.Repeat([]byte("x\n"), 1<<20))
	if err == nil || errors.Is(err, printer.ErrNotSent) || !strings.Contains(err.Error(), "write, after") {
		t.Fatalf("Print to a device that stopped: %v; want a write error", err)
	}
	t.Logf("Print: %v", err)
}

func TestSerialPrint(t *testing.T) {
	v := printertest.MustSerialPrinter(t)
	p, err := printer.Parse(v.Name())
	if err != nil {
		t.Fatal(err)
	}
	p.(*printer.Serial).Timeouts = quick
	a, b := receipt(t, 1), receipt(t, 2)
	for _, doc := range [][]byte{a, b} {
		if err := p.Print(context.Background(), doc); err != nil {
			t.Fatalf("Print: %v", err)
		}
	}
	if diff := cmp.Diff(transcript(t, append(bytes.Clone(a), b...)), transcript(t, v.Data())); diff != "" {
		t.Errorf("the printer got (-want +got):\n%s", diff)
	}
	v.SetStatus(printer.Status{Online: true, PaperNearEnd: true})
	if st, err := p.Status(context.Background()); err != nil || st != (printer.Status{Online: true, PaperNearEnd: true}) {
		t.Errorf("Status: %+v, %v", st, err)
	}
	v.SetStatus(printer.Status{PaperOut: true})
	var notReady *printer.NotReadyError
	if err := p.Print(context.Background(), a); !errors.As(err, &notReady) || !notReady.Status.PaperOut {
		t.Errorf("Print without paper: %v", err)
	}
}

// TestSerialStopsReading: a serial printer that stops reading blocks the
// write; Print gives up with an error, and the port is busy until the
// blocked write returns.
func TestSerialStopsReading(t *testing.T) {
	v := printertest.MustSerialPrinter(t)
	p := &printer.Serial{Path: v.Path, Baud: 115200, TwoWay: true, Timeouts: quick}
	v.StallAfter(100)
	err := p.Print(context.Background(), bytes.Repeat([]byte("食堂\n"), 1<<16))
	if err == nil || errors.Is(err, printer.ErrNotSent) {
		t.Fatalf("Print to a printer that stopped reading: %v; want an error, maybe printed", err)
	}
	t.Logf("Print: %v", err)
	v.Resume()
	// The blocked write returns once the printer reads again; then the
	// port is free.
	doc := receipt(t, 3)
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := p.Print(context.Background(), doc)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Print after the printer resumed: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if data := v.Data(); !bytes.HasSuffix(data, doc) {
		t.Errorf("the printer's data does not end in the last receipt")
	}
}
