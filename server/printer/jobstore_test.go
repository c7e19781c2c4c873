package printer_test

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/fanka/fanka/server"
	"github.com/fanka/fanka/server/storetest"
)

// JobStore is a server.PrintJobStore in memory, for tests of the print
// queue that need no database; it keeps the same contract as the stores
// (storetest.RunPrintJobs).
type JobStore struct {
	mu   sync.Mutex
	jobs []server.PrintJob // by id - 1
	fail error
}

// SetFail makes every method return err, as a database that is down
// would; nil ends it.
func (s *JobStore) SetFail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = err
}

var _ server.PrintJobStore = (*JobStore)(nil)

// EnqueuePrint implements server.PrintJobStore.
func (s *JobStore) EnqueuePrint(_ context.Context, jobs ...server.PrintJob) ([]int64, error) {
	for _, job := range jobs {
		if err := server.ValidatePrintJob(job); err != nil {
			return nil, err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return nil, s.fail
	}
	ids := make([]int64, len(jobs))
	for i, job := range jobs {
		j := server.PrintJob{
			ID: int64(len(s.jobs) + 1), Printer: job.Printer, Title: job.Title, Doc: bytes.Clone(job.Doc),
			Created: job.Created, NextTry: job.Created,
		}
		s.jobs = append(s.jobs, j)
		ids[i] = j.ID
	}
	return ids, nil
}

// ClaimPrintJob implements server.PrintJobStore.
func (s *JobStore) ClaimPrintJob(_ context.Context, printer string, now, lease time.Time) (server.PrintJob, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return server.PrintJob{}, false, s.fail
	}
	for i := range s.jobs {
		j := &s.jobs[i]
		if j.Printer != printer || !j.Printed.IsZero() {
			continue
		}
		if j.NextTry.After(now) {
			return clone(*j), false, nil
		}
		j.Attempts++
		j.NextTry = lease
		return clone(*j), true, nil
	}
	return server.PrintJob{}, false, server.Errorf(server.ENOTFOUND, "no print job queued for %s", printer)
}

// EndPrintAttempt implements server.PrintJobStore.
func (s *JobStore) EndPrintAttempt(_ context.Context, id int64, o server.PrintOutcome) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	if id < 1 || id > int64(len(s.jobs)) {
		return server.Errorf(server.ENOTFOUND, "no print job %d", id)
	}
	j := &s.jobs[id-1]
	switch {
	case !j.Printed.IsZero():
	case o.Printed:
		j.Printed, j.LastError = o.At, ""
	case o.Attempt == j.Attempts:
		j.NextTry, j.LastError = o.NextTry, server.PrintErrorText(o.Error)
		if o.Clean {
			j.Clean++
		}
	}
	return nil
}

// QueuedPrintJobs implements server.PrintJobStore.
func (s *JobStore) QueuedPrintJobs(context.Context) (map[string]int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return nil, s.fail
	}
	n := map[string]int{}
	for _, j := range s.jobs {
		if j.Printed.IsZero() {
			n[j.Printer]++
		}
	}
	return n, nil
}

// Jobs returns every job, queued or printed, by id.
func (s *JobStore) Jobs() []server.PrintJob {
	s.mu.Lock()
	defer s.mu.Unlock()
	jobs := make([]server.PrintJob, len(s.jobs))
	for i, j := range s.jobs {
		jobs[i] = clone(j)
	}
	return jobs
}

func clone(j server.PrintJob) server.PrintJob {
	j.Doc = bytes.Clone(j.Doc)
	return j
}

// TestJobStore runs the stores' print queue contract on the in-memory
// store, so that tests of the queue on it hold for the real ones.
func TestJobStore(t *testing.T) {
	storetest.RunPrintJobs(t, storetest.PrintJobStores{
		Open: func(*testing.T) server.PrintJobStore { return &JobStore{} },
	})
}
