package printer_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fanka/fanka/server"
	printqueue "github.com/fanka/fanka/server/printer"
	"github.com/fanka/fanka/server/sqlite"
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

// newQueue returns an open queue over store with fast retries, and the
// printers added, closed when the test ends.
func newQueue(t *testing.T, store server.PrintJobStore, printers map[string]printer.Printer) *printqueue.Queue {
	t.Helper()
	q := printqueue.NewQueue(store, nil)
	q.MinBackoff, q.MaxBackoff = 20*time.Millisecond, 100*time.Millisecond
	q.StatusInterval = 50 * time.Millisecond
	for name, p := range printers {
		if err := q.Add(name, p); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

// network returns the printer for a virtual one, with test timeouts.
func network(v *printertest.Printer) *printer.Network {
	return &printer.Network{Addr: v.Addr(), TwoWay: true, Timeouts: quick}
}

// waitFor polls cond until it holds, failing the test after 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func enqueue(t *testing.T, q *printqueue.Queue, name, title string, doc []byte) int64 {
	t.Helper()
	ids, err := q.Enqueue(context.Background(), server.PrintJob{Printer: name, Title: title, Doc: doc})
	if err != nil || len(ids) != 1 {
		t.Fatalf("Enqueue: %v, %v", ids, err)
	}
	return ids[0]
}

func printed(store *JobStore, id int64) bool {
	return !store.Jobs()[id-1].Printed.IsZero()
}

func TestQueuePrintsInOrder(t *testing.T) {
	v := printertest.MustPrinter(t)
	store := &JobStore{}
	q := newQueue(t, store, map[string]printer.Printer{"window-2": network(v)})
	var docs [][]byte
	var last int64
	for seq := range uint64(5) {
		doc := receipt(t, seq+1)
		docs = append(docs, doc)
		last = enqueue(t, q, "window-2", "receipt", doc)
	}
	waitFor(t, "the last job printed", func() bool { return printed(store, last) })
	jobs := v.Jobs()
	if len(jobs) != len(docs) {
		t.Fatalf("%d jobs printed, want %d", len(jobs), len(docs))
	}
	for i := range docs {
		if !bytes.Equal(jobs[i], docs[i]) {
			t.Errorf("job %d printed differs from the document:\n%s", i, transcript(t, jobs[i]))
		}
	}
	if _, err := q.Enqueue(context.Background(), server.PrintJob{Printer: "window-2", Doc: docs[0]}, server.PrintJob{Printer: "office", Doc: docs[0]}); server.ErrorCode(err) != server.EINVALID {
		t.Errorf("Enqueue for a printer not added: %v", err)
	}
	if ids, err := q.Enqueue(context.Background(), server.PrintJob{Printer: "window-2"}); server.ErrorCode(err) != server.EINVALID {
		t.Errorf("Enqueue of an empty document: %v, %v", ids, err)
	}
	if n := len(store.Jobs()); n != len(docs) {
		t.Errorf("%d jobs in the store after refused ones, want %d", n, len(docs))
	}
}

// TestQueuePrinterOffThenBack: a job queued while the printer is off is
// retried until it is back, then printed once, as a first print.
func TestQueuePrinterOffThenBack(t *testing.T) {
	v := printertest.MustPrinter(t)
	v.Off()
	store := &JobStore{}
	q := newQueue(t, store, map[string]printer.Printer{"office": network(v)})
	doc := receipt(t, 1)
	id := enqueue(t, q, "office", "receipt 7-1", doc)
	waitFor(t, "three failed attempts", func() bool { return store.Jobs()[0].Attempts >= 3 })
	state := printerState(t, q, "office")
	if state.Status != "unreachable" || state.Queued != 1 || !strings.Contains(state.LastError, "connection refused") {
		t.Errorf("state while off: %+v", state)
	}
	if err := v.On(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the job printed", func() bool { return printed(store, id) })
	jobs := v.Jobs()
	if len(jobs) != 1 || !bytes.Equal(jobs[0], doc) {
		t.Fatalf("printed %d jobs, want the receipt once, not marked as a reprint:\n%q", len(jobs), v.Transcripts())
	}
	if j := store.Jobs()[0]; j.Clean != j.Attempts-1 {
		t.Errorf("job after printing: %d attempts, %d of them clean", j.Attempts, j.Clean)
	}
	time.Sleep(100 * time.Millisecond)
	if n := len(v.Jobs()); n != 1 {
		t.Errorf("%d jobs printed after a while, want 1", n)
	}
	waitFor(t, "the printer ready", func() bool {
		s := printerState(t, q, "office")
		return s.Status == "ready" && s.Queued == 0
	})
}

// TestQueuePrinterStopsMidJob: a printer that stops reading in the middle
// of a job; the job is retried once it reads again, and the copy says
// 重印 (reprint).
func TestQueuePrinterStopsMidJob(t *testing.T) {
	v := printertest.MustPrinter(t)
	v.StallAfter(60)
	store := &JobStore{}
	q := newQueue(t, store, map[string]printer.Printer{"office": network(v)})
	doc := receipt(t, 1)
	id := enqueue(t, q, "office", "receipt 7-1", doc)
	waitFor(t, "a failed attempt", func() bool { return store.Jobs()[0].LastError != "" })
	if s := printerState(t, q, "office"); s.Status != "not_responding" || s.Queued != 1 {
		t.Errorf("state while stalled: %+v", s)
	}
	v.StallAfter(-1)
	waitFor(t, "the job printed", func() bool { return printed(store, id) })
	ts := v.Transcripts()
	if len(ts) < 2 {
		t.Fatalf("printed %d jobs, want the cut one and the reprint:\n%q", len(ts), ts)
	}
	if jobs := v.Jobs(); !bytes.Equal(jobs[0], doc[:60]) {
		t.Errorf("the first attempt printed %q", jobs[0])
	}
	last := ts[len(ts)-1]
	if !strings.HasPrefix(last, "[NUL][NUL][NUL][INIT][CHINESE][ALIGN c][SIZE 2x2]*重印*\n[SIZE 1x1]第") || !strings.HasSuffix(last, transcript(t, doc)) {
		t.Errorf("the reprint:\n%s", last)
	}
	for _, tr := range ts[1 : len(ts)-1] {
		if tr != "" && !strings.Contains(tr, "重印") {
			t.Errorf("a retry not marked as a reprint:\n%s", tr)
		}
	}
}

// TestQueuePaperOut: a printer out of paper is not sent the job; the
// condition shows in its state; once paper is in, the job prints once.
func TestQueuePaperOut(t *testing.T) {
	v := printertest.MustPrinter(t)
	v.SetStatus(printer.Status{PaperOut: true})
	store := &JobStore{}
	q := newQueue(t, store, map[string]printer.Printer{"office": network(v)})
	waitFor(t, "paper out reported", func() bool { return printerState(t, q, "office").Status == "paper_out" })
	doc := receipt(t, 1)
	id := enqueue(t, q, "office", "receipt 7-1", doc)
	waitFor(t, "two failed attempts", func() bool { return store.Jobs()[0].Attempts >= 2 })
	s := printerState(t, q, "office")
	if s.Status != "paper_out" || s.Detail == nil || !s.Detail.PaperOut || s.Queued != 1 || !strings.Contains(s.LastError, "out of paper") {
		t.Errorf("state without paper: %+v", s)
	}
	if jobs := v.Jobs(); len(jobs) != 0 {
		t.Fatalf("sent to a printer without paper: %q", jobs)
	}
	v.SetStatus(printer.Status{Online: true})
	waitFor(t, "the job printed", func() bool { return printed(store, id) })
	if jobs := v.Jobs(); len(jobs) != 1 || !bytes.Equal(jobs[0], doc) {
		t.Errorf("printed %q, want the receipt once", v.Transcripts())
	}
}

// TestQueueReprintAfterCrash: a server that stopped between writing a job
// and recording it left the job claimed; once the lease is over, the next
// server prints it again, marked as a reprint.
func TestQueueReprintAfterCrash(t *testing.T) {
	v := printertest.MustPrinter(t)
	store := &JobStore{}
	doc := receipt(t, 1)
	now := time.Now()
	ids, err := store.EnqueuePrint(context.Background(), server.PrintJob{Printer: "office", Title: "receipt 7-1", Doc: doc, Created: now})
	if err != nil {
		t.Fatal(err)
	}
	id := ids[0]
	// The attempt of the server that stopped: its lease ends soon.
	if _, ok, err := store.ClaimPrintJob(context.Background(), "office", now, now.Add(200*time.Millisecond)); !ok || err != nil {
		t.Fatalf("claim: %v, %v", ok, err)
	}
	newQueue(t, store, map[string]printer.Printer{"office": network(v)})
	waitFor(t, "the job printed", func() bool { return printed(store, id) })
	ts := v.Transcripts()
	if len(ts) != 1 || !strings.HasPrefix(ts[0], "[NUL][NUL][NUL][INIT][CHINESE][ALIGN c][SIZE 2x2]*重印*\n[SIZE 1x1]第2次打印 可能与前单重复\n") {
		t.Errorf("printed:\n%q", ts)
	}
}

// TestQueueNeverBlocksEnqueue: with the printer stuck in the middle of a
// job, queueing more jobs still returns at once.
func TestQueueNeverBlocksEnqueue(t *testing.T) {
	v := printertest.MustPrinter(t)
	v.StallAfter(10)
	store := &JobStore{}
	slow := &printer.Network{Addr: v.Addr(), TwoWay: true, Timeouts: printer.Timeouts{Write: time.Minute, Reply: time.Minute}}
	q := newQueue(t, store, map[string]printer.Printer{"office": slow})
	enqueue(t, q, "office", "first", receipt(t, 1))
	waitFor(t, "the printer stuck", func() bool { return len(v.Jobs()) == 1 })
	start := time.Now()
	for seq := range uint64(100) {
		enqueue(t, q, "office", "more", receipt(t, seq+2))
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("100 enqueues took %v behind a stuck printer", d)
	}
	states, err := q.Printers(context.Background())
	if err != nil || len(states) != 1 || states[0].Queued != 101 {
		t.Errorf("Printers: %+v, %v", states, err)
	}
	// Close cuts the attempt off; the job stays queued.
	q.Close()
	if j := store.Jobs()[0]; !j.Printed.IsZero() || j.LastError == "" {
		t.Errorf("the job cut off by Close: %+v", j)
	}
}

// TestQueueStoreDown: a store that fails is retried, and nothing is lost.
func TestQueueStoreDown(t *testing.T) {
	v := printertest.MustPrinter(t)
	store := &JobStore{}
	ids, err := store.EnqueuePrint(context.Background(), server.PrintJob{Printer: "office", Doc: receipt(t, 1), Created: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	id := ids[0]
	store.SetFail(errors.New("database is down"))
	q := newQueue(t, store, map[string]printer.Printer{"office": network(v)})
	if _, err := q.Printers(context.Background()); err == nil {
		t.Error("Printers with the store down: no error")
	}
	time.Sleep(100 * time.Millisecond)
	store.SetFail(nil)
	waitFor(t, "the job printed", func() bool { return printed(store, id) })
	if n := len(v.Jobs()); n != 1 {
		t.Errorf("%d jobs printed, want 1", n)
	}
}

func TestQueueAdd(t *testing.T) {
	q := printqueue.NewQueue(&JobStore{}, nil)
	p := &printer.Network{Addr: "127.0.0.1:9"}
	if err := q.Add("office", p); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"office", "", strings.Repeat("x", server.MaxPrinterName+1)} {
		if err := q.Add(name, p); server.ErrorCode(err) != server.EINVALID {
			t.Errorf("Add(%q): %v", name, err)
		}
	}
}

func printerState(t *testing.T, q *printqueue.Queue, name string) printqueue.State {
	t.Helper()
	states, err := q.Printers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range states {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no printer %s in %+v", name, states)
	return printqueue.State{}
}

// TestQueueSurvivesRestart: jobs queued while the printer is off stay in
// the store across a restart of the server (queue and SQLite store closed
// and opened again), and are printed once, in order, when it is back.
func TestQueueSurvivesRestart(t *testing.T) {
	v := printertest.MustPrinter(t)
	v.Off()
	path := filepath.Join(t.TempDir(), "fanka.db")
	open := func() *sqlite.DB {
		db := sqlite.New(path)
		if err := db.Open(context.Background()); err != nil {
			t.Fatal(err)
		}
		return db
	}
	db := open()
	q := printqueue.NewQueue(db, nil)
	q.MinBackoff, q.MaxBackoff = 20*time.Millisecond, 50*time.Millisecond
	if err := q.Add("office", network(v)); err != nil {
		t.Fatal(err)
	}
	if err := q.Open(); err != nil {
		t.Fatal(err)
	}
	a, b := receipt(t, 1), receipt(t, 2)
	enqueue(t, q, "office", "receipt 7-1", a)
	enqueue(t, q, "office", "receipt 7-2", b)
	time.Sleep(100 * time.Millisecond) // a few refused attempts
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db = open()
	t.Cleanup(func() { db.Close() })
	if err := v.On(); err != nil {
		t.Fatal(err)
	}
	newQueue(t, db, map[string]printer.Printer{"office": network(v)})
	waitFor(t, "both jobs printed", func() bool {
		n, err := db.QueuedPrintJobs(context.Background())
		return err == nil && n["office"] == 0
	})
	jobs := v.Jobs()
	if len(jobs) != 2 || !bytes.Equal(jobs[0], a) || !bytes.Equal(jobs[1], b) {
		t.Errorf("printed after the restart:\n%q", v.Transcripts())
	}
}
