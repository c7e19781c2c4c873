package printer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fanka/fanka/server"
	"github.com/fanka/fanka/server/escpos"
)

// Printer is a printer the Queue prints on: a *Network, *Device or
// *Serial, or a fake in tests.
type Printer interface {
	// Print sends doc, a rendered ESC/POS document, to the printer. It
	// returns nil once the printer has all of it: on a two-way link when
	// the printer has read it all, on a one-way link when it was written.
	// An error wrapping ErrNotSent means nothing of doc was sent (the
	// printer could not be reached, or said it cannot print: a
	// *NotReadyError); after any other error some of doc may have printed.
	Print(ctx context.Context, doc []byte) error
	// Status asks the printer for its condition. ErrNoStatus on a one-way
	// link; other errors if the printer cannot be reached or does not
	// answer.
	Status(ctx context.Context) (Status, error)
	// String returns the printer's link as Parse takes it, for logs.
	String() string
}

// Defaults for the Queue's fields.
const (
	DefaultMinBackoff     = time.Second
	DefaultMaxBackoff     = time.Minute
	DefaultLease          = 5 * time.Minute
	DefaultStatusInterval = 30 * time.Second
)

// Queue prints the jobs of the server's durable print queue (a
// server.PrintJobStore) on the configured printers: one goroutine per
// printer takes its jobs in order, retries one that failed with
// exponential backoff while the printer is off or out of paper, and
// records it as printed only once the printer has all of it. Enqueue is
// one insert into the store, so a sale that prints a receipt never waits
// for a printer.
//
// Printing is at least once: if the server stops after a job was written
// and before it was recorded, or a printer stops reading in the middle of
// a job, the job is printed again, with a header that says 重印 (reprint)
// so the copy is not taken for a second sale.
//
// Create a Queue with NewQueue, set its fields, Add its printers, then
// Open it; Close stops it.
type Queue struct {
	// Logger receives a line per failed attempt and per printer whose
	// condition changed.
	Logger *slog.Logger
	// Now is the queue's clock.
	Now func() time.Time
	// MinBackoff and MaxBackoff bound the wait before a failed job is
	// tried again: MinBackoff after the first failure, doubling with each
	// one after it, at most MaxBackoff.
	MinBackoff, MaxBackoff time.Duration
	// Lease is how long an attempt holds its job: if the server stops
	// during an attempt, the job is tried again once the lease is over.
	// It must be longer than any attempt takes.
	Lease time.Duration
	// StatusInterval is how often an idle printer is asked for its
	// condition.
	StatusInterval time.Duration
	// OnAttempt, if not nil, is called after each attempt at a job, with
	// the printer's name and how the attempt ended (nil: printed).
	// OnStoreError, if not nil, is called for each error of the store in
	// the printers' goroutines, with the operation: claim or end_attempt.
	// Both are for metrics, called from those goroutines: they must return
	// quickly.
	OnAttempt    func(printer string, err error)
	OnStoreError func(op string, err error)

	store    server.PrintJobStore
	printers map[string]*spooler

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// NewQueue returns a queue of the jobs in store, with no printers yet.
func NewQueue(store server.PrintJobStore, logger *slog.Logger) *Queue {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Queue{
		Logger:         logger,
		Now:            time.Now,
		MinBackoff:     DefaultMinBackoff,
		MaxBackoff:     DefaultMaxBackoff,
		Lease:          DefaultLease,
		StatusInterval: DefaultStatusInterval,
		store:          store,
		printers:       map[string]*spooler{},
	}
}

// Add adds printer p under name, the name jobs are queued for. It must be
// called before Open. EINVALID for an empty or too long name, or one that
// was added before.
func (q *Queue) Add(name string, p Printer) error {
	switch {
	case name == "" || len(name) > server.MaxPrinterName:
		return server.Errorf(server.EINVALID, "printer name %q: want 1 to %d bytes", name, server.MaxPrinterName)
	case q.printers[name] != nil:
		return server.Errorf(server.EINVALID, "printer %q added twice", name)
	}
	q.printers[name] = &spooler{name: name, p: p, wake: make(chan struct{}, 1), state: State{Name: name, Printer: p.String(), Status: "unknown"}}
	return nil
}

// Open starts a goroutine per printer, printing the jobs queued for it
// (those left from before a restart first).
func (q *Queue) Open() error {
	ctx, cancel := context.WithCancel(context.Background())
	q.cancel = cancel
	for _, s := range q.printers {
		q.wg.Go(func() { q.run(ctx, s) })
	}
	return nil
}

// Close stops the printers' goroutines, cutting off any attempt in
// progress (its job stays queued), and waits for them.
func (q *Queue) Close() error {
	if q.cancel != nil {
		q.cancel()
	}
	q.wg.Wait()
	return nil
}

// Enqueue adds jobs to the queue, in one transaction of the store, and
// returns their ids; it does not wait for the printers. Of each job it
// takes Printer (a name added to the queue), Title, Doc and Created (now if
// zero). EINVALID, and nothing queued, for a printer that was not added or
// a job the store refuses (see server.ValidatePrintJob).
func (q *Queue) Enqueue(ctx context.Context, jobs ...server.PrintJob) ([]int64, error) {
	now := q.Now()
	jobs = slices.Clone(jobs)
	for i, j := range jobs {
		if q.printers[j.Printer] == nil {
			return nil, server.Errorf(server.EINVALID, "enqueue %q: no printer named %q", j.Title, j.Printer)
		}
		if j.Created.IsZero() {
			jobs[i].Created = now
		}
	}
	ids, err := q.store.EnqueuePrint(ctx, jobs...)
	if err != nil {
		return nil, fmt.Errorf("enqueue %d print jobs: %w", len(jobs), err)
	}
	for _, j := range jobs {
		select {
		case q.printers[j.Printer].wake <- struct{}{}:
		default:
		}
	}
	return ids, nil
}

// State is a printer as the office sees it.
type State struct {
	Name    string `json:"name"`    // the printer's configured name
	Printer string `json:"printer"` // its link, as Parse takes it
	// Status is a word for its condition: ready, paper_out, cover_open,
	// error, offline, paper_near_end (see Status.String) as the printer
	// reported it; unreachable if it could not be reached; not_responding
	// if it was reached but did not answer, or stopped reading in the
	// middle of a job; unknown before it was asked, and always for a
	// one-way link that was reached.
	Status string `json:"status"`
	// Detail is what the printer last reported, if it was asked.
	Detail *Status `json:"detail,omitempty"`
	// Queued is the number of its jobs waiting.
	Queued int `json:"queued"`
	// LastError is why the last attempt or status request failed.
	LastError string `json:"last_error,omitempty"`
	// Checked is when the printer was last tried or asked.
	Checked time.Time `json:"checked,omitzero"`
}

// Printers returns the state of every printer, by name.
func (q *Queue) Printers(ctx context.Context) ([]State, error) {
	queued, err := q.store.QueuedPrintJobs(ctx)
	if err != nil {
		return nil, fmt.Errorf("printers: %w", err)
	}
	states := make([]State, 0, len(q.printers))
	for name, s := range q.printers {
		st := s.snapshot()
		st.Queued = queued[name]
		states = append(states, st)
	}
	slices.SortFunc(states, func(a, b State) int { return strings.Compare(a.Name, b.Name) })
	return states, nil
}

// spooler is one printer's goroutine's state.
type spooler struct {
	name string
	p    Printer
	wake chan struct{} // a job was queued

	mu    sync.Mutex
	state State
}

func (s *spooler) snapshot() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.state
	if st.Detail != nil {
		d := *st.Detail
		st.Detail = &d
	}
	return st
}

// run prints s's jobs until ctx is cancelled.
func (q *Queue) run(ctx context.Context, s *spooler) {
	var (
		lastAsked  time.Time // when the printer was last asked its status
		storeFails int       // consecutive store errors
	)
	for ctx.Err() == nil {
		now := q.Now()
		job, claimed, err := q.store.ClaimPrintJob(ctx, s.name, now, now.Add(q.Lease))
		var wait time.Duration
		switch {
		case err == nil && claimed:
			storeFails = 0
			q.attempt(ctx, s, job)
			lastAsked = time.Time{} // ask how the printer is after the job
			continue
		case err == nil:
			storeFails = 0
			wait = job.NextTry.Sub(now)
		case server.ErrorCode(err) == server.ENOTFOUND:
			storeFails = 0
			if now.Sub(lastAsked) >= q.StatusInterval {
				q.ask(ctx, s)
				lastAsked = now
			}
			wait = q.StatusInterval
		default:
			if ctx.Err() != nil {
				return
			}
			storeFails++
			wait = q.backoff(storeFails)
			if q.OnStoreError != nil {
				q.OnStoreError("claim", err)
			}
			q.Logger.Error("print queue: read the queue", "printer", s.name, "err", err, "retry_in", wait)
		}
		t := time.NewTimer(max(wait, 0))
		select {
		case <-ctx.Done():
		case <-s.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// attempt prints job, claimed, on s and records how it went.
func (q *Queue) attempt(ctx context.Context, s *spooler, job server.PrintJob) {
	doc := job.Doc
	if job.Reprint() {
		doc = escpos.Reprint(doc, job.Attempts)
	}
	err := s.p.Print(ctx, doc)
	now := q.Now()
	o := server.PrintOutcome{Attempt: job.Attempts, At: now}
	if err == nil {
		o.Printed = true
		q.Logger.Info("print queue: printed", "printer", s.name, "job", job.ID, "title", job.Title, "attempt", job.Attempts, "reprint", job.Reprint())
	} else {
		o.Clean = errors.Is(err, ErrNotSent)
		o.NextTry = now.Add(q.backoff(job.Attempts))
		o.Error = err.Error()
		q.Logger.Warn("print queue: attempt failed", "printer", s.name, "job", job.ID, "title", job.Title,
			"attempt", job.Attempts, "nothing_sent", o.Clean, "retry_at", o.NextTry, "err", err)
	}
	s.attempted(err, now)
	if q.OnAttempt != nil {
		q.OnAttempt(s.name, err)
	}
	// The attempt has ended: record it even if the queue is closing.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := q.store.EndPrintAttempt(rctx, job.ID, o); err != nil {
		if q.OnStoreError != nil {
			q.OnStoreError("end_attempt", err)
		}
		q.Logger.Error("print queue: record the attempt", "printer", s.name, "job", job.ID, "printed", o.Printed, "err", err)
	}
}

// ask asks s's printer for its condition and keeps the answer.
func (q *Queue) ask(ctx context.Context, s *spooler) {
	st, err := s.p.Status(ctx)
	if ctx.Err() != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	prev := s.state.Status
	s.state.Checked = q.Now()
	switch {
	case err == nil:
		s.state.Status, s.state.Detail, s.state.LastError = st.String(), &st, ""
	case errors.Is(err, ErrNoStatus):
		// A one-way link: reaching it is all there is to know, and the
		// next job will tell.
		s.state.Detail = nil
		if s.state.Status != "unreachable" {
			s.state.Status = "unknown"
		}
	case errors.Is(err, ErrUnreachable):
		s.state.Status, s.state.Detail, s.state.LastError = "unreachable", nil, err.Error()
	default:
		s.state.Status, s.state.Detail, s.state.LastError = "not_responding", nil, err.Error()
	}
	if s.state.Status != prev {
		q.Logger.Info("print queue: printer condition", "printer", s.name, "status", s.state.Status, "was", prev)
	}
}

// attempted keeps what an attempt that ended in err says of the printer.
func (s *spooler) attempted(err error, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.state.Checked = now
	var notReady *NotReadyError
	switch {
	case err == nil:
		s.state.LastError = ""
		if s.state.Detail != nil {
			s.state.Status = "ready"
		} else {
			s.state.Status = "unknown"
		}
		return
	case errors.As(err, &notReady):
		st := notReady.Status
		s.state.Status, s.state.Detail = st.String(), &st
	case errors.Is(err, ErrUnreachable):
		s.state.Status, s.state.Detail = "unreachable", nil
	default:
		s.state.Status = "not_responding"
	}
	s.state.LastError = err.Error()
}

// backoff returns the wait after the n-th consecutive failure, from 1.
func (q *Queue) backoff(n int) time.Duration {
	d := q.MinBackoff
	for i := 1; i < n && d < q.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, q.MaxBackoff)
}
