package storetest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/fanka/fanka/server"
)

// PrintJobStores opens the print job stores RunPrintJobs tests.
type PrintJobStores struct {
	// Open returns an empty, open store, closed when the test ends.
	Open func(t *testing.T) server.PrintJobStore
	// Reopen, if not nil, closes s and opens its database again, as a
	// server that restarts.
	Reopen func(t *testing.T, s server.PrintJobStore) server.PrintJobStore
}

// RunPrintJobs runs the conformance suite of server.PrintJobStore, the
// durable print queue, on the stores open opens.
func RunPrintJobs(t *testing.T, open PrintJobStores) {
	tests := []struct {
		name string
		fn   func(t *testing.T, open PrintJobStores)
	}{
		{"InOrder", testPrintJobsInOrder},
		{"Failures", testPrintJobsFailures},
		{"StaleAttempts", testPrintJobsStaleAttempts},
		{"Refusals", testPrintJobsRefusals},
		{"SurviveRestart", testPrintJobsSurviveRestart},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, open) })
	}
}

// lease is how long the suite's attempts hold their jobs.
const lease = time.Minute

func enqueuePrint(t *testing.T, s server.PrintJobStore, jobs ...server.PrintJob) []int64 {
	t.Helper()
	ids, err := s.EnqueuePrint(context.Background(), jobs...)
	if err != nil {
		t.Fatalf("enqueue: %v", err)
	}
	if len(ids) != len(jobs) {
		t.Fatalf("enqueue: %d ids for %d jobs", len(ids), len(jobs))
	}
	return ids
}

// claim calls ClaimPrintJob and checks that it claimed the job or not as
// want says.
func claim(t *testing.T, s server.PrintJobStore, printer string, now time.Time, want bool) server.PrintJob {
	t.Helper()
	j, claimed, err := s.ClaimPrintJob(context.Background(), printer, now, now.Add(lease))
	if err != nil {
		t.Fatalf("claim for %s: %v", printer, err)
	}
	if claimed != want {
		t.Fatalf("claim for %s at %v: claimed %v, want %v (job %+v)", printer, now, claimed, want, j)
	}
	return j
}

func endAttempt(t *testing.T, s server.PrintJobStore, id int64, o server.PrintOutcome) {
	t.Helper()
	if err := s.EndPrintAttempt(context.Background(), id, o); err != nil {
		t.Fatalf("end attempt %d at job %d: %v", o.Attempt, id, err)
	}
}

func wantQueued(t *testing.T, s server.PrintJobStore, want map[string]int) {
	t.Helper()
	got, err := s.QueuedPrintJobs(context.Background())
	if err != nil {
		t.Fatalf("queued: %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("queued jobs (-want +got):\n%s", diff)
	}
}

// everyByte is a document holding every byte value, as ESC/POS does.
func everyByte() []byte {
	b := make([]byte, 512)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

func testPrintJobsInOrder(t *testing.T, open PrintJobStores) {
	s := open.Open(t)
	ctx := context.Background()
	if _, _, err := s.ClaimPrintJob(ctx, "office", noon, noon.Add(lease)); server.ErrorCode(err) != server.ENOTFOUND {
		t.Fatalf("claim from an empty queue: %v, want ENOTFOUND", err)
	}
	wantQueued(t, s, map[string]int{})
	doc := everyByte()
	ids := enqueuePrint(t, s,
		server.PrintJob{Printer: "office", Title: "日报 2026-03-02", Doc: doc, Created: noon},
		server.PrintJob{Printer: "window-2", Title: "receipt 7-1", Doc: []byte{0x1B, 0x40}, Created: noon},
		server.PrintJob{Printer: "office", Title: "", Doc: []byte{0}, Created: noon.Add(time.Second)},
	)
	if !(ids[0] < ids[1] && ids[1] < ids[2]) {
		t.Errorf("ids %v not rising in the order of the jobs", ids)
	}
	wantQueued(t, s, map[string]int{"office": 2, "window-2": 1})

	got := claim(t, s, "office", noon, true)
	want := server.PrintJob{ID: ids[0], Printer: "office", Title: "日报 2026-03-02", Doc: doc, Created: noon,
		Attempts: 1, NextTry: noon.Add(lease)}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("claimed job (-want +got):\n%s", diff)
	}
	if got.Reprint() {
		t.Error("a first attempt is a reprint")
	}
	// Leased: the next claim finds it, not yet due, and does not skip it.
	if j := claim(t, s, "office", noon.Add(time.Second), false); j.ID != ids[0] || j.Attempts != 1 || !j.NextTry.Equal(noon.Add(lease)) {
		t.Errorf("leased job: %+v", j)
	}
	if j := claim(t, s, "window-2", noon, true); j.ID != ids[1] {
		t.Errorf("claimed %d for window-2, want %d", j.ID, ids[1])
	}
	endAttempt(t, s, ids[0], server.PrintOutcome{Attempt: 1, Printed: true, At: noon.Add(2 * time.Second)})
	wantQueued(t, s, map[string]int{"office": 1, "window-2": 1})
	if j := claim(t, s, "office", noon.Add(3*time.Second), true); j.ID != ids[2] || j.Attempts != 1 {
		t.Errorf("after the first was printed, claimed %+v, want job %d", j, ids[2])
	}
	endAttempt(t, s, ids[2], server.PrintOutcome{Attempt: 1, Printed: true, At: noon.Add(4 * time.Second)})
	endAttempt(t, s, ids[1], server.PrintOutcome{Attempt: 1, Printed: true, At: noon.Add(4 * time.Second)})
	wantQueued(t, s, map[string]int{})
	if _, _, err := s.ClaimPrintJob(ctx, "office", noon.Add(lease), noon.Add(2*lease)); server.ErrorCode(err) != server.ENOTFOUND {
		t.Errorf("claim once all were printed: %v, want ENOTFOUND", err)
	}
}

func testPrintJobsFailures(t *testing.T, open PrintJobStores) {
	s := open.Open(t)
	id := enqueuePrint(t, s, server.PrintJob{Printer: "office", Title: "receipt", Doc: []byte("x"), Created: noon})[0]

	// Refused: nothing sent.
	j := claim(t, s, "office", noon, true)
	retry := noon.Add(time.Second)
	endAttempt(t, s, id, server.PrintOutcome{Attempt: j.Attempts, At: noon, Clean: true, NextTry: retry, Error: "connection refused"})
	j = claim(t, s, "office", retry.Add(-time.Millisecond), false)
	if j.Attempts != 1 || j.Clean != 1 || !j.NextTry.Equal(retry) || j.LastError != "connection refused" {
		t.Errorf("after a clean failure: %+v", j)
	}
	j = claim(t, s, "office", retry, true)
	if j.Attempts != 2 || j.Reprint() {
		t.Errorf("retry after a clean failure: attempts %d, reprint %v", j.Attempts, j.Reprint())
	}

	// Cut off in the middle: it may have printed.
	retry = retry.Add(2 * time.Second)
	long := strings.Repeat("写入失败 \xff", server.MaxPrintError)
	endAttempt(t, s, id, server.PrintOutcome{Attempt: j.Attempts, At: retry, NextTry: retry, Error: long})
	j = claim(t, s, "office", retry, true)
	if j.Attempts != 3 || j.Clean != 1 || !j.Reprint() {
		t.Errorf("retry after a failure mid-job: %+v, reprint %v", j, j.Reprint())
	}
	if want := server.PrintErrorText(long); j.LastError != want || len(want) > server.MaxPrintError || !strings.HasPrefix(want, "写入失败 \uFFFD") {
		t.Errorf("the failure's reason kept as %q", j.LastError)
	}
	endAttempt(t, s, id, server.PrintOutcome{Attempt: j.Attempts, Printed: true, At: retry})
	wantQueued(t, s, map[string]int{})
}

func testPrintJobsStaleAttempts(t *testing.T, open PrintJobStores) {
	s := open.Open(t)
	ids := enqueuePrint(t, s,
		server.PrintJob{Printer: "office", Doc: []byte("a"), Created: noon},
		server.PrintJob{Printer: "office", Doc: []byte("b"), Created: noon},
	)
	first := claim(t, s, "office", noon, true)
	// The first attempt's server stalls past its lease; another claims.
	second := claim(t, s, "office", noon.Add(lease), true)
	if second.ID != ids[0] || second.Attempts != 2 || !second.Reprint() {
		t.Fatalf("claim after the lease: %+v", second)
	}
	// The first attempt's failure comes late: the second owns the job.
	endAttempt(t, s, ids[0], server.PrintOutcome{Attempt: first.Attempts, At: noon.Add(lease), Clean: true, NextTry: noon, Error: "late"})
	if j := claim(t, s, "office", noon.Add(lease+time.Second), false); j.LastError != "" || j.Clean != 0 || !j.NextTry.Equal(second.NextTry) {
		t.Errorf("a stale attempt's failure was recorded: %+v", j)
	}
	// The first attempt did print after all: printed is printed.
	endAttempt(t, s, ids[0], server.PrintOutcome{Attempt: first.Attempts, Printed: true, At: noon.Add(lease)})
	wantQueued(t, s, map[string]int{"office": 1})
	// The second ends later, either way: nothing changes.
	endAttempt(t, s, ids[0], server.PrintOutcome{Attempt: second.Attempts, At: noon.Add(lease), NextTry: noon, Error: "late too"})
	endAttempt(t, s, ids[0], server.PrintOutcome{Attempt: second.Attempts, Printed: true, At: noon.Add(2 * lease)})
	wantQueued(t, s, map[string]int{"office": 1})
	if j := claim(t, s, "office", noon.Add(lease), true); j.ID != ids[1] {
		t.Errorf("claimed %+v, want job %d", j, ids[1])
	}
	err := s.EndPrintAttempt(context.Background(), ids[1]+1000, server.PrintOutcome{Attempt: 1, Printed: true, At: noon})
	if server.ErrorCode(err) != server.ENOTFOUND {
		t.Errorf("end an attempt at no job: %v, want ENOTFOUND", err)
	}
}

func testPrintJobsRefusals(t *testing.T, open PrintJobStores) {
	s := open.Open(t)
	good := server.PrintJob{Printer: "office", Title: "ok", Doc: []byte("x"), Created: noon}
	for name, edit := range map[string]func(*server.PrintJob){
		"no printer":       func(j *server.PrintJob) { j.Printer = "" },
		"long printer":     func(j *server.PrintJob) { j.Printer = strings.Repeat("p", server.MaxPrinterName+1) },
		"no document":      func(j *server.PrintJob) { j.Doc = nil },
		"large document":   func(j *server.PrintJob) { j.Doc = make([]byte, server.MaxPrintDoc+1) },
		"long title":       func(j *server.PrintJob) { j.Title = strings.Repeat("票", server.MaxPrintTitle/3+1) },
		"title not UTF-8":  func(j *server.PrintJob) { j.Title = "\xff" },
		"printer not UTF8": func(j *server.PrintJob) { j.Printer = "\xfe" },
	} {
		bad := good
		edit(&bad)
		if ids, err := s.EnqueuePrint(context.Background(), good, bad); server.ErrorCode(err) != server.EINVALID || ids != nil {
			t.Errorf("%s: %v, %v; want EINVALID", name, ids, err)
		}
	}
	wantQueued(t, s, map[string]int{})
	// The longest of each is taken.
	enqueuePrint(t, s, server.PrintJob{Printer: strings.Repeat("p", server.MaxPrinterName), Title: strings.Repeat("t", server.MaxPrintTitle),
		Doc: make([]byte, server.MaxPrintDoc), Created: noon})
	wantQueued(t, s, map[string]int{strings.Repeat("p", server.MaxPrinterName): 1})
}

func testPrintJobsSurviveRestart(t *testing.T, open PrintJobStores) {
	if open.Reopen == nil {
		t.Skip("the store cannot be reopened")
	}
	s := open.Open(t)
	doc := everyByte()
	ids := enqueuePrint(t, s,
		server.PrintJob{Printer: "office", Title: "日报", Doc: doc, Created: noon},
		server.PrintJob{Printer: "office", Title: "Z报表", Doc: []byte("z"), Created: noon},
	)
	// The server stops in the middle of an attempt at the first job.
	j := claim(t, s, "office", noon, true)
	s = open.Reopen(t, s)
	wantQueued(t, s, map[string]int{"office": 2})
	// The attempt's lease holds the job until it ends; then it is printed
	// again, as a reprint.
	claim(t, s, "office", noon.Add(lease-time.Millisecond), false)
	again := claim(t, s, "office", noon.Add(lease), true)
	want := j
	want.Attempts, want.NextTry = 2, noon.Add(2*lease)
	if diff := cmp.Diff(want, again); diff != "" || !again.Reprint() {
		t.Errorf("the job after a restart (-want +got), reprint %v:\n%s", again.Reprint(), diff)
	}
	endAttempt(t, s, ids[0], server.PrintOutcome{Attempt: again.Attempts, Printed: true, At: noon.Add(lease)})
	s = open.Reopen(t, s)
	wantQueued(t, s, map[string]int{"office": 1})
	if j := claim(t, s, "office", noon.Add(lease), true); j.ID != ids[1] || j.Title != "Z报表" {
		t.Errorf("after the second restart, claimed %+v", j)
	}
}
