package terminal

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/fanka/fanka/shared/escpos"
	"github.com/fanka/fanka/shared/journal"
	"github.com/fanka/fanka/shared/printer"
	"github.com/fanka/fanka/shared/wire"
)

// QueuedReceipt is a sale whose receipt, a void whose void slip, or a
// shift whose report waits to be printed.
type QueuedReceipt struct {
	ID ReceiptID
	// Entry is the sale or the void; zero for a shift report.
	Entry journal.Entry
	// Hash is the SHA-256 of the entry as recorded; its first bytes are
	// the receipt's verification code.
	Hash journal.Hash
	// Voided and VoidedHash are, for a void, the sale it voids and its
	// hash (the voided receipt's verification code); zero if the sale
	// cannot be read.
	Voided     journal.Entry
	VoidedHash journal.Hash
	// Shift is, for a shift report, the shift (nil if it cannot be
	// read), and ShiftEntries the journal's entries in it.
	Shift        *ShiftJob
	ShiftEntries []journal.Entry
}

// ReceiptQueue is the register's durable queue of receipts, void slips
// and shift reports: the journal queues each sale and void as it records
// it (terminal/journal, QueueReceipts), so that a receipt survives a
// restart and is never lost between the sale and its printing.
type ReceiptQueue interface {
	// NextReceipt returns the queued document of the lowest id, and false
	// when none waits.
	NextReceipt() (QueuedReceipt, bool, error)
	// ReceiptDone takes the document id off the queue.
	ReceiptDone(id ReceiptID) error
	// QueueShift queues the report of shift s, after the documents of the
	// entries recorded so far, and ends the open shift (ShiftJournal), in
	// one transaction.
	QueueShift(s ShiftJob) error
}

// Defaults of ReceiptConfig.
const (
	DefaultReceiptMinBackoff = time.Second
	DefaultReceiptMaxBackoff = 30 * time.Second
)

// ReceiptConfig is how a register prints its receipts.
type ReceiptConfig struct {
	// Printer is the register's receipt printer (printer.Parse).
	Printer printer.Printer
	// Canteen is printed large at the top of each receipt.
	Canteen string
	// Register is the register's name on the receipt ("二号窗口"); empty
	// prints the register id.
	Register string
	// MinBackoff and MaxBackoff bound the wait before a receipt that
	// failed is tried again: MinBackoff after the first failure, doubling
	// with each one after it, at most MaxBackoff. Zero takes the defaults.
	MinBackoff, MaxBackoff time.Duration
	// MaxAge, if not zero, is how old a sale or void may be for its
	// receipt or slip to be printed: the receipt of a sale made longer
	// ago, while the printer was off, is given up on (and logged), since
	// its diner has gone. Shift reports print however late.
	MaxAge time.Duration
	// Now is the clock MaxAge is measured on; nil means time.Now.
	Now func() time.Time
	// Logger receives a line per receipt printed, failed or given up on;
	// nil means slog.Default().
	Logger *slog.Logger
}

// ReceiptPrinter prints the receipts of the register's sales and the void
// slips of its voids, in seq order, from the journal's queue, on a goroutine of its own (Run): a sale
// never waits for the printer. A receipt that fails (printer off, out of
// paper, cover open) is tried again with backoff until it prints; it is
// taken off the queue only once the printer has all of it (on a two-way
// link, once the printer confirmed it with a status reply).
//
// Printing is at least once: a receipt the printer stopped reading in the
// middle of is printed again with a 重印 (reprint) header, and so is one
// printed just before the register stopped and not yet taken off the
// queue, then without the header.
type ReceiptPrinter struct {
	cfg   ReceiptConfig
	queue ReceiptQueue
	log   *slog.Logger
	wake  chan struct{}

	health DeviceHealth // as the last attempt to print found the printer

	// Run's own:
	printed ReceiptID         // the last document printed, also while taking it off the queue failed
	tries   map[ReceiptID]int // document → attempts that may have printed some of it
}

// NewReceiptPrinter returns a printer of the receipts queued in q. Its
// Run prints them.
func NewReceiptPrinter(cfg ReceiptConfig, q ReceiptQueue) *ReceiptPrinter {
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = DefaultReceiptMinBackoff
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = DefaultReceiptMaxBackoff
	}
	cfg.MaxBackoff = max(cfg.MaxBackoff, cfg.MinBackoff)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &ReceiptPrinter{cfg: cfg, queue: q, log: cfg.Logger, wake: make(chan struct{}, 1), tries: map[ReceiptID]int{}}
}

// Health reports the printer as the last attempt to print found it:
// absent when it could not be reached, error when it answered not ready
// (its status: paper_out, cover_open, …) or stopped answering, ok once a
// document printed. A printer is not polled while nothing is queued.
func (p *ReceiptPrinter) Health() wire.Device { return p.health.Health() }

// Wake says a sale or a void was recorded, so its receipt or slip waits. It never blocks.
func (p *ReceiptPrinter) Wake() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Run prints the queued receipts until ctx ends, those left from before a
// restart first. A sale made while it waits to try a failed receipt again
// cuts the wait short: the cashier who just put paper in sees the receipts
// print at the next sale.
func (p *ReceiptPrinter) Run(ctx context.Context) {
	fails := 0 // consecutive failures, of the printer or the queue
	for ctx.Err() == nil {
		idle, ok := p.printNext(ctx)
		switch {
		case ok && idle:
			fails = 0
			select { // nothing queued: wait for a sale
			case <-ctx.Done():
			case <-p.wake:
			}
			continue
		case ok:
			fails = 0
			continue
		}
		fails++
		t := time.NewTimer(p.backoff(fails))
		select {
		case <-ctx.Done():
		case <-p.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// printNext prints the first queued receipt. It reports idle when none is
// queued, and ok false when the printer or the queue failed.
func (p *ReceiptPrinter) printNext(ctx context.Context) (idle, ok bool) {
	r, found, err := p.queue.NextReceipt()
	switch {
	case err != nil:
		p.log.Error("receipts: read the queue", "err", err)
		return false, false
	case !found:
		return true, true
	}
	id := r.ID
	if id != p.printed {
		// A shift report is for the cashier and the office: it prints
		// however late.
		if age := p.cfg.Now().Sub(time.UnixMilli(r.Entry.Time)); id.Shift == 0 && p.cfg.MaxAge > 0 && age > p.cfg.MaxAge {
			p.log.Warn("receipts: sale too old, receipt not printed", "seq", id.String(), "age", age.Round(time.Second).String(), "max_age", p.cfg.MaxAge.String())
		} else if !p.print(ctx, r) {
			return false, false
		}
	}
	if err := p.queue.ReceiptDone(id); err != nil {
		p.log.Error("receipts: take a printed receipt off the queue", "seq", id.String(), "err", err)
		return false, false
	}
	delete(p.tries, id)
	return false, true
}

// print prints the receipt or void slip of r and reports whether the
// printer has all of it. A document that cannot be rendered (an entry
// that is neither a sale nor a void, or lacks what its document needs) is
// logged and counts as printed: it would never print, and must not hold
// up the ones after it.
func (p *ReceiptPrinter) print(ctx context.Context, r QueuedReceipt) bool {
	id, kind := r.ID, r.kind()
	doc, err := p.render(r)
	if err != nil {
		p.log.Error("receipts: cannot render the document; skipped", "seq", id.String(), "kind", kind, "err", err)
		return true
	}
	tries := p.tries[id]
	if tries > 0 {
		doc = escpos.Reprint(doc, tries+1)
	}
	err = p.cfg.Printer.Print(ctx, doc)
	if err != nil {
		if ctx.Err() != nil {
			return false
		}
		clean := errors.Is(err, printer.ErrNotSent)
		if !clean {
			p.tries[id] = tries + 1 // some of it may have printed
		}
		var notReady *printer.NotReadyError
		status := "unreachable"
		switch {
		case errors.As(err, &notReady):
			status = notReady.Status.String()
		case !errors.Is(err, printer.ErrUnreachable):
			status = "not_responding"
		}
		state := wire.DeviceError
		if status == "unreachable" {
			state = wire.DeviceAbsent
		}
		p.health.Set(state, status)
		p.log.Warn("receipts: not printed", "seq", id.String(), "printer", p.cfg.Printer.String(), "status", status, "nothing_sent", clean, "err", err)
		return false
	}
	p.health.Set(wire.DeviceOK, "")
	p.printed = id
	p.log.Info("receipts: printed", "seq", id.String(), "kind", kind, "amount", r.Entry.Amount.String(), "reprint", tries > 0)
	return true
}

// kind names the document's kind for logs.
func (r QueuedReceipt) kind() string {
	if r.ID.Shift != 0 {
		return "shift"
	}
	return r.Entry.Kind.String()
}

// render renders the receipt of a sale, the void slip of a void or the
// report of a shift.
func (p *ReceiptPrinter) render(r QueuedReceipt) ([]byte, error) {
	e := r.Entry
	if r.ID.Shift != 0 {
		if r.Shift == nil {
			return nil, fmt.Errorf("shift report %s cannot be read", r.ID)
		}
		return escpos.RenderShiftReport(shiftReport(*r.Shift, r.ShiftEntries, p.cfg.Canteen, p.registerName(r.Shift.Register)))
	}
	name := p.registerName(e.Terminal)
	switch e.Kind {
	case journal.KindSale:
		return escpos.RenderReceipt(escpos.Receipt{
			Canteen: p.cfg.Canteen, Register: name, Cashier: e.Cashier,
			Time: time.UnixMilli(e.Time), CardNo: e.CardNo,
			Amount: e.Amount, Balance: e.Balance - e.Amount,
			Seq: e.Seq, RegisterID: e.Terminal, EntryHash: r.Hash,
		})
	case journal.KindVoid:
		if r.Voided.Seq != e.VoidSeq {
			return nil, fmt.Errorf("void %d: the sale %d it voids cannot be read", e.Seq, e.VoidSeq)
		}
		// A void's entry holds the supervisor as its cashier, and the
		// card's balance before the money went back.
		return escpos.RenderVoidSlip(escpos.VoidSlip{
			Canteen: p.cfg.Canteen, Register: name,
			Cashier: r.Voided.Cashier, Supervisor: e.Cashier,
			Time: time.UnixMilli(e.Time), CardNo: e.CardNo,
			Amount: e.Amount, Balance: e.Balance + e.Amount,
			RegisterID: e.Terminal, Seq: e.Seq, EntryHash: r.Hash,
			SaleSeq: r.Voided.Seq, SaleHash: r.VoidedHash,
		})
	}
	return nil, fmt.Errorf("entry %d is a %s, neither a sale nor a void", e.Seq, e.Kind)
}

// registerName is the register's name on its documents: ReceiptConfig's
// Register, or the register id.
func (p *ReceiptPrinter) registerName(id uint32) string {
	if p.cfg.Register != "" {
		return p.cfg.Register
	}
	return strconv.FormatUint(uint64(id), 10)
}

// QueueShift queues the report of shift s, to print after the documents
// queued before it, and wakes Run.
func (p *ReceiptPrinter) QueueShift(s ShiftJob) error {
	if err := p.queue.QueueShift(s); err != nil {
		return err
	}
	p.Wake()
	return nil
}

// backoff returns the wait after the n-th consecutive failure, from 1.
func (p *ReceiptPrinter) backoff(n int) time.Duration {
	d := p.cfg.MinBackoff
	for i := 1; i < n && d < p.cfg.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, p.cfg.MaxBackoff)
}
