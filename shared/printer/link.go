package printer

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/fanka/fanka/shared/escpos"
)

// Defaults for the links' timeouts.
const (
	// DefaultDialTimeout bounds connecting to a network printer.
	DefaultDialTimeout = 5 * time.Second
	// DefaultWriteTimeout bounds each write of up to chunkSize bytes: a
	// printer that takes nothing for this long has stopped.
	DefaultWriteTimeout = 10 * time.Second
	// DefaultReplyTimeout bounds the wait for each status reply, and for
	// the reply that confirms a job (the printer may be busy printing
	// what it was sent before it reads the request).
	DefaultReplyTimeout = 5 * time.Second
)

// chunkSize is how much of a document is written at a time, each write
// with its own deadline, so that a long report on a slow serial line is
// not cut off by a deadline meant for a printer that stopped.
const chunkSize = 1024

// Timeouts bound a link's operations; zero fields take the defaults.
type Timeouts struct {
	Dial  time.Duration // connecting (network printers only)
	Write time.Duration // each write of a document's chunk
	Reply time.Duration // each status reply
}

func (t Timeouts) withDefaults() Timeouts {
	if t.Dial <= 0 {
		t.Dial = DefaultDialTimeout
	}
	if t.Write <= 0 {
		t.Write = DefaultWriteTimeout
	}
	if t.Reply <= 0 {
		t.Reply = DefaultReplyTimeout
	}
	return t
}

// conn is an open link to a printer.
type conn interface {
	// write writes p, failing if it is not all written within timeout.
	write(p []byte, timeout time.Duration) (int, error)
	// readByte reads the next byte the printer sends, waiting at most
	// timeout.
	readByte(timeout time.Duration) (byte, error)
	// Close closes the link; it may also unblock a write or read in
	// progress.
	Close() error
}

// errTimeout is returned by a conn's write or readByte that took too long.
var errTimeout = errors.New("timed out")

// errUnknownWritten marks a write that was given up on while it was still
// blocked: some of it may have reached the printer, however many bytes it
// reports written.
var errUnknownWritten = errors.New("how much of it was written is unknown")

// Flow-control bytes a serial printer may send between replies.
const (
	xon  = 0x11
	xoff = 0x13
)

// printOn sends doc over c to the printer named name and closes c. On a
// two-way link it asks for the printer's status first (and sends nothing
// if it is not ready) and asks again after the document, so that the job
// counts as printed only when the printer has read all of it. Errors
// before any byte of doc was written wrap ErrNotSent.
func printOn(ctx context.Context, c conn, name string, twoWay bool, t Timeouts, doc []byte) (err error) {
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer func() {
		stop()
		if cerr := c.Close(); cerr != nil && err == nil && !errors.Is(cerr, os.ErrClosed) {
			err = fmt.Errorf("printer %s: close after the job: %w", name, cerr)
		}
		if err != nil && ctx.Err() != nil {
			err = fmt.Errorf("%w (%w)", err, context.Cause(ctx))
		}
	}()
	if twoWay {
		st, err := readStatus(c, t.Reply)
		if err != nil {
			return fmt.Errorf("printer %s: status before the job (a printer that never answers needs ?status=off): %w: %w", name, ErrNotSent, err)
		}
		if !st.Ready() {
			return &NotReadyError{Printer: name, Status: st}
		}
	}
	for off := 0; off < len(doc); {
		n, err := c.write(doc[off:min(off+chunkSize, len(doc))], t.Write)
		off += n
		if err != nil {
			if off == 0 && !errors.Is(err, errUnknownWritten) {
				return fmt.Errorf("printer %s: write: %w: %w", name, ErrNotSent, err)
			}
			return fmt.Errorf("printer %s: write, after %d of %d bytes: %w", name, off, len(doc), err)
		}
	}
	if twoWay {
		// The printer answers a real-time request when it reads it, that
		// is after everything sent before it.
		if _, err := readReply(c, 1, t.Reply); err != nil {
			return fmt.Errorf("printer %s: the printer did not confirm the job of %d bytes: %w", name, len(doc), err)
		}
	}
	return nil
}

// statusOn asks the printer named name over c for its status, and closes c.
func statusOn(ctx context.Context, c conn, name string, t Timeouts) (Status, error) {
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	st, err := readStatus(c, t.Reply)
	cerr := c.Close()
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%w)", err, context.Cause(ctx))
		}
		return Status{}, fmt.Errorf("printer %s: status: %w", name, err)
	}
	if cerr != nil && !errors.Is(cerr, os.ErrClosed) {
		return Status{}, fmt.Errorf("printer %s: status: close: %w", name, cerr)
	}
	return st, nil
}

// readStatus asks for the four status bytes and parses them.
func readStatus(c conn, timeout time.Duration) (Status, error) {
	var r [4]byte
	for n := range r {
		b, err := readReply(c, n+1, timeout)
		if err != nil {
			return Status{}, err
		}
		r[n] = b
	}
	return ParseStatus(r[0], r[1], r[2], r[3])
}

// readReply sends DLE EOT n and reads the reply, skipping flow-control
// bytes. A byte that is not shaped like a reply is an error.
func readReply(c conn, n int, timeout time.Duration) (byte, error) {
	req := escpos.StatusRequest(n)
	if _, err := c.write(req, timeout); err != nil {
		return 0, fmt.Errorf("DLE EOT %d: %w", n, err)
	}
	deadline := time.Now().Add(timeout)
	for {
		b, err := c.readByte(time.Until(deadline))
		if err != nil {
			if errors.Is(err, errTimeout) {
				return 0, fmt.Errorf("DLE EOT %d: no reply within %v", n, timeout)
			}
			return 0, fmt.Errorf("DLE EOT %d: read reply: %w", n, err)
		}
		if b == xon || b == xoff {
			continue
		}
		if !isReply(b) {
			return 0, fmt.Errorf("DLE EOT %d: reply %#02x is not a status", n, b)
		}
		return b, nil
	}
}
