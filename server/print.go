package server

import (
	"context"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxPrinterName bounds a printer's configured name, in bytes.
const MaxPrinterName = 64

// MaxPrintTitle bounds a print job's title, in bytes.
const MaxPrintTitle = 200

// MaxPrintDoc bounds a print job's document, in bytes: a day's report is a
// few kilobytes.
const MaxPrintDoc = 1 << 20

// PrintJob is a rendered document in the server's durable print queue,
// waiting for its printer or printed.
//
// A job counts as printed once the printer has all of it; an attempt cut
// off after some of the document was written leaves the job queued, and
// so does a server that stops between writing the job and recording it as
// printed. Printing is thus at least once: the next attempt prints the job
// again, marked as a reprint (see Reprint), so that a duplicate shows.
type PrintJob struct {
	ID      int64
	Printer string // the printer's configured name
	Title   string // what it is, for people: "receipt 7-1024"
	Doc     []byte // the rendered ESC/POS bytes
	Created time.Time
	// Attempts counts the attempts at printing the job that were begun;
	// Clean, those of them that ended knowing nothing was sent.
	Attempts int
	Clean    int
	// NextTry is when the job may be tried next: after a failed attempt,
	// the end of its backoff; during an attempt, the end of its lease.
	NextTry   time.Time
	LastError string    // why the last attempt failed
	Printed   time.Time // zero while the job is queued
}

// Reprint reports whether the attempt just claimed (the one counted last
// in Attempts) may print the job a second time: an earlier attempt began
// and did not end knowing that nothing was sent.
func (j PrintJob) Reprint() bool { return j.Attempts-1 > j.Clean }

// PrintOutcome is how an attempt at a print job ended.
type PrintOutcome struct {
	// Attempt is the attempt's number: the job's Attempts when claimed.
	Attempt int
	// Printed: the printer has the whole job; it leaves the queue.
	Printed bool
	At      time.Time // when the attempt ended
	// Clean: the attempt failed having sent nothing to the printer.
	Clean bool
	// NextTry is when a failed job may be tried again.
	NextTry time.Time
	// Error is why it failed; the store keeps PrintErrorText of it.
	Error string
}

// PrintJobStore is the durable print queue: jobs survive restarts and are
// printed in order, printer by printer. Several servers sharing one
// database share the queue: an attempt claims its job for a lease.
type PrintJobStore interface {
	// EnqueuePrint adds jobs, in order, in one transaction, and returns
	// their ids. Of each job it keeps Printer, Title, Doc and Created (the
	// other fields are ignored); each is due at once. It is an insert per
	// job and one commit: a batch of sales' receipts costs one. EINVALID,
	// and nothing added, if ValidatePrintJob refuses a job.
	EnqueuePrint(ctx context.Context, jobs ...PrintJob) ([]int64, error)
	// ClaimPrintJob looks at the oldest queued job of printer. If its
	// NextTry is not after now, it begins an attempt: it counts it in
	// Attempts, sets NextTry to lease (when another attempt may begin,
	// should this one never end) and returns the job and true. Otherwise
	// it returns the job, unchanged, and false. ENOTFOUND if printer has no
	// queued job.
	ClaimPrintJob(ctx context.Context, printer string, now, lease time.Time) (PrintJob, bool, error)
	// EndPrintAttempt records how attempt o.Attempt at job id ended. A
	// printed job leaves the queue, whichever attempt printed it. A failed
	// one gets o.NextTry, o.Error and, if o.Clean, one more Clean, unless a
	// later attempt has begun meanwhile, or the job was printed: then the
	// failure is not recorded. ENOTFOUND if there is no job id.
	EndPrintAttempt(ctx context.Context, id int64, o PrintOutcome) error
	// QueuedPrintJobs returns the number of queued jobs of each printer
	// that has any.
	QueuedPrintJobs(ctx context.Context) (map[string]int, error)
}

// ValidatePrintJob checks what EnqueuePrint requires of a job, and returns
// an EINVALID error for a job it must refuse.
func ValidatePrintJob(job PrintJob) error {
	switch {
	case job.Printer == "":
		return Errorf(EINVALID, "print job without a printer")
	case len(job.Printer) > MaxPrinterName:
		return Errorf(EINVALID, "printer name of %d bytes, more than %d", len(job.Printer), MaxPrinterName)
	case len(job.Doc) == 0:
		return Errorf(EINVALID, "print job without a document")
	case len(job.Doc) > MaxPrintDoc:
		return Errorf(EINVALID, "print job of %d bytes, more than %d", len(job.Doc), MaxPrintDoc)
	case len(job.Title) > MaxPrintTitle:
		return Errorf(EINVALID, "print job title of %d bytes, more than %d", len(job.Title), MaxPrintTitle)
	case !utf8.ValidString(job.Printer) || !utf8.ValidString(job.Title):
		return Errorf(EINVALID, "print job's printer name or title is not UTF-8")
	}
	return nil
}

// MaxPrintError bounds the reason of a failed attempt that a store keeps,
// in bytes.
const MaxPrintError = 1000

// PrintErrorText returns the reason of a failed attempt as a store keeps
// it: valid UTF-8, cut to at most MaxPrintError bytes.
func PrintErrorText(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= MaxPrintError {
		return s
	}
	cut := MaxPrintError
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}
