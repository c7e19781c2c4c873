// Package printer sends rendered ESC/POS documents to the canteens'
// receipt printers: the server's office printers and the registers' own.
//
// A printer is reached over raw TCP (a network printer's port 9100), a
// device file (a USB printer's /dev/usb/lp0) or a serial port, each named
// by a URL-ish string (see Parse). Where the link is two-way the printer is
// asked for its status (DLE EOT) before a job, so that a job is not sent
// into a printer that is out of paper, and once more after it, so that a
// job counts as printed only when the printer has read all of it. A
// one-way link can only be written: its status is unknown, and a job
// counts as printed once it was written.
//
// It is shared by the server, whose durable print queue
// (server/printer) prints on these links, and the registers, which print
// their own receipts (terminal.ReceiptPrinter).
package printer

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Printer is a receipt printer as its users see it: a *Network, *Device
// or *Serial (see Parse), or a fake in tests.
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

// Status is a printer's condition as it reports it in answer to DLE EOT.
type Status struct {
	// Online: the printer takes data and prints.
	Online bool `json:"online"`
	// PaperOut: the roll has run out, or printing stopped at its end.
	PaperOut bool `json:"paper_out"`
	// PaperNearEnd: the roll is nearly used up; printing goes on.
	PaperNearEnd bool `json:"paper_near_end"`
	// CoverOpen: the cover is open.
	CoverOpen bool `json:"cover_open"`
	// Error: a cutter, mechanical or other error stopped the printer.
	Error bool `json:"error"`
}

// Ready reports whether the printer can print a job now: online, with
// paper, its cover closed, without an error.
func (s Status) Ready() bool {
	return s.Online && !s.PaperOut && !s.CoverOpen && !s.Error
}

// String names the printer's condition in a word: the first of paper_out,
// cover_open, error, offline, paper_near_end that holds, else ready.
func (s Status) String() string {
	switch {
	case s.PaperOut:
		return "paper_out"
	case s.CoverOpen:
		return "cover_open"
	case s.Error:
		return "error"
	case !s.Online:
		return "offline"
	case s.PaperNearEnd:
		return "paper_near_end"
	}
	return "ready"
}

// Bits of the replies to DLE EOT n, after the Epson ESC/POS reference. Each
// reply has bit 1 and bit 4 set and bits 0 and 7 clear.
const (
	replyMask  = 0x93
	replyFixed = 0x12

	statusOffline   = 0x08 // n=1: offline
	offlineCover    = 0x04 // n=2: cover open
	offlinePaperEnd = 0x20 // n=2: printing stopped at the paper's end
	offlineError    = 0x40 // n=2: an error occurred
	errorBits       = 0x6C // n=3: recoverable, cutter, unrecoverable, auto-recoverable error
	paperNearEnd    = 0x0C // n=4: the near-end sensor
	paperEnd        = 0x60 // n=4: the paper-end sensor
)

// isReply reports whether b is shaped like a reply to DLE EOT.
func isReply(b byte) bool { return b&replyMask == replyFixed }

// ParseStatus parses the printer's replies to DLE EOT 1 (printer status),
// 2 (offline cause), 3 (error cause) and 4 (paper roll sensor). It returns
// an error if a byte is not shaped like a reply (bits 1 and 4 set, bits 0
// and 7 clear): the link is not carrying a printer's answers.
func ParseStatus(printer, offline, errorCause, paper byte) (Status, error) {
	for n, b := range [...]byte{printer, offline, errorCause, paper} {
		if !isReply(b) {
			return Status{}, fmt.Errorf("printer: reply %#02x to DLE EOT %d is not a status", b, n+1)
		}
	}
	return Status{
		Online:       printer&statusOffline == 0,
		PaperOut:     offline&offlinePaperEnd != 0 || paper&paperEnd != 0,
		PaperNearEnd: paper&paperNearEnd != 0,
		CoverOpen:    offline&offlineCover != 0,
		Error:        offline&offlineError != 0 || errorCause&errorBits != 0,
	}, nil
}

// Replies returns the bytes a printer in condition s answers to DLE EOT 1,
// 2, 3 and 4: the inverse of ParseStatus, for printers played in tests.
func (s Status) Replies() [4]byte {
	r := [4]byte{replyFixed, replyFixed, replyFixed, replyFixed}
	if !s.Online || !s.Ready() {
		r[0] |= statusOffline // a printer that cannot print goes offline
	}
	if s.CoverOpen {
		r[1] |= offlineCover
	}
	if s.PaperOut {
		r[1] |= offlinePaperEnd
		r[3] |= paperEnd
	}
	if s.Error {
		r[1] |= offlineError
		r[2] |= 0x08 // an autocutter error
	}
	if s.PaperNearEnd || s.PaperOut {
		r[3] |= paperNearEnd
	}
	return r
}

// Errors of Print and Status.
var (
	// ErrNotSent wraps every error of a Print that sent nothing of the
	// document: the printer could not be reached, or said it could not
	// print. Retrying such a job prints it for the first time.
	ErrNotSent = errors.New("nothing was sent")
	// ErrNoStatus is returned by Status on a one-way link: the printer
	// cannot be asked.
	ErrNoStatus = errors.New("the link to the printer is one-way: status unknown")
	// ErrUnreachable wraps the errors of a Print or Status that could not
	// connect to the printer, or open its device.
	ErrUnreachable = errors.New("unreachable")
)

// NotReadyError is returned by Print when the printer, asked before the
// job, said it cannot print: out of paper, cover open, offline or an error.
// It wraps ErrNotSent.
type NotReadyError struct {
	Printer string // the printer's name
	Status  Status
}

// Error implements the error interface.
func (e *NotReadyError) Error() string {
	var why []string
	if e.Status.PaperOut {
		why = append(why, "out of paper")
	}
	if e.Status.CoverOpen {
		why = append(why, "cover open")
	}
	if e.Status.Error {
		why = append(why, "error")
	}
	if len(why) == 0 {
		why = append(why, "offline")
	}
	return fmt.Sprintf("printer %s: not ready: %s", e.Printer, strings.Join(why, ", "))
}

// Unwrap returns ErrNotSent: nothing of the job was sent.
func (e *NotReadyError) Unwrap() error { return ErrNotSent }
