package printer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"go.bug.st/serial"
)

// Device is a printer behind a device file, such as a USB printer's
// /dev/usb/lp0 (the kernel's usblp driver). The file is opened for each
// job and closed after it, so that a printer unplugged and plugged in
// again is found again.
type Device struct {
	// Path is the device file. It must exist: it is never created.
	Path string
	// TwoWay says the printer answers status requests through the device
	// file, as some USB printers do. Without it the file is only written,
	// the printer's status is unknown, and a job counts as printed once
	// the driver took all of it.
	TwoWay bool
	// Timeouts bound writing and waiting for replies (Dial is not used).
	Timeouts Timeouts

	busy gate
}

// Print sends doc to the printer: see Printer.
func (p *Device) Print(ctx context.Context, doc []byte) error {
	c, err := p.open(ctx)
	if err != nil {
		return fmt.Errorf("printer %s: %w, %w: %w", p, ErrUnreachable, ErrNotSent, err)
	}
	return printOn(ctx, c, p.String(), p.TwoWay, p.Timeouts.withDefaults(), doc)
}

// Status asks the printer for its status: see Printer. It returns
// ErrNoStatus if the printer is not TwoWay.
func (p *Device) Status(ctx context.Context) (Status, error) {
	if !p.TwoWay {
		return Status{}, fmt.Errorf("printer %s: %w", p, ErrNoStatus)
	}
	c, err := p.open(ctx)
	if err != nil {
		return Status{}, fmt.Errorf("printer %s: %w: %w", p, ErrUnreachable, err)
	}
	return statusOn(ctx, c, p.String(), p.Timeouts.withDefaults())
}

// String returns the printer's name: file:PATH.
func (p *Device) String() string { return "file:" + p.Path }

func (p *Device) open(ctx context.Context) (conn, error) {
	t := p.Timeouts.withDefaults()
	if err := p.busy.enter(ctx, t.Write); err != nil {
		return nil, err
	}
	flag := os.O_WRONLY | os.O_APPEND
	if p.TwoWay {
		flag = os.O_RDWR | os.O_APPEND
	}
	f, err := os.OpenFile(p.Path, flag, 0)
	if err != nil {
		p.busy.leave()
		return nil, err
	}
	return &fileConn{rw: f, close: f.Close, deadlines: f, busy: &p.busy}, nil
}

// Serial is a printer on a serial port (RS-232, or USB-serial such as
// /dev/ttyUSB0), 8 data bits, no parity, one stop bit. The port is opened
// for each job and closed after it.
type Serial struct {
	// Path is the port's device file.
	Path string
	// Baud is the line's speed; DefaultBaud if zero.
	Baud int
	// TwoWay says the printer answers status requests (DLE EOT) on the
	// line, as serial receipt printers do. Without it, the port is only
	// written, its status is unknown, and a job counts as printed once it
	// was written.
	TwoWay bool
	// Timeouts bound writing and waiting for replies (Dial is not used).
	// Each write is also given the time the line needs to carry it.
	Timeouts Timeouts

	busy gate
}

// DefaultBaud is a serial printer's speed unless configured.
const DefaultBaud = 9600

// Print sends doc to the printer: see Printer.
func (p *Serial) Print(ctx context.Context, doc []byte) error {
	c, err := p.open(ctx)
	if err != nil {
		return fmt.Errorf("printer %s: %w, %w: %w", p, ErrUnreachable, ErrNotSent, err)
	}
	return printOn(ctx, c, p.String(), p.TwoWay, p.timeouts(), doc)
}

// Status asks the printer for its status: see Printer. It returns
// ErrNoStatus if the printer is not TwoWay.
func (p *Serial) Status(ctx context.Context) (Status, error) {
	if !p.TwoWay {
		return Status{}, fmt.Errorf("printer %s: %w", p, ErrNoStatus)
	}
	c, err := p.open(ctx)
	if err != nil {
		return Status{}, fmt.Errorf("printer %s: %w: %w", p, ErrUnreachable, err)
	}
	return statusOn(ctx, c, p.String(), p.timeouts())
}

// String returns the printer's name: serial:PATH?baud=N.
func (p *Serial) String() string { return fmt.Sprintf("serial:%s?baud=%d", p.Path, p.baud()) }

func (p *Serial) baud() int {
	if p.Baud <= 0 {
		return DefaultBaud
	}
	return p.Baud
}

// timeouts adds to the write timeout the time a chunk takes on the line
// (ten bits a byte).
func (p *Serial) timeouts() Timeouts {
	t := p.Timeouts.withDefaults()
	t.Write += time.Duration(chunkSize*10) * time.Second / time.Duration(p.baud())
	return t
}

func (p *Serial) open(ctx context.Context) (conn, error) {
	t := p.timeouts()
	if err := p.busy.enter(ctx, t.Write); err != nil {
		return nil, err
	}
	port, err := serial.Open(p.Path, &serial.Mode{BaudRate: p.baud(), DataBits: 8, Parity: serial.NoParity, StopBits: serial.OneStopBit})
	if err != nil {
		p.busy.leave()
		return nil, err
	}
	// What the printer sent since the last job (a late reply to a status
	// request given up on, noise at power-on) would be read as the answer
	// to this job's first request: drop it.
	if err := port.ResetInputBuffer(); err != nil {
		port.Close()
		p.busy.leave()
		return nil, err
	}
	return &fileConn{rw: port, close: port.Close, timedRead: port.SetReadTimeout, busy: &p.busy}, nil
}

// gate lets one job or status request at a time use a device, and keeps
// it shut while a write that timed out is still blocked in the kernel.
type gate struct {
	once sync.Once
	ch   chan struct{} // holds a value while the device is in use
}

// enter waits at most timeout for the device to be free, and takes it.
func (g *gate) enter(ctx context.Context, timeout time.Duration) error {
	g.once.Do(func() { g.ch = make(chan struct{}, 1) })
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case g.ch <- struct{}{}:
		return nil
	case <-t.C:
		return errors.New("the device is still busy with an earlier write that did not return")
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// leave frees the device.
func (g *gate) leave() { <-g.ch }

// fileConn is an open device file or serial port. A write or read the
// handle cannot bound with a deadline runs in a goroutine of its own and
// is given up on after its timeout; the handle is then closed, and the
// device freed, only once that operation has returned: a file descriptor
// is never closed under a system call still using it.
type fileConn struct {
	rw    io.ReadWriter
	close func() error
	// deadlines is the handle's deadline setter, if it has one (an
	// *os.File); its deadlines fail on one that cannot be polled.
	deadlines interface {
		SetWriteDeadline(time.Time) error
		SetReadDeadline(time.Time) error
	}
	// timedRead sets a bound on each Read that then returns 0 bytes and
	// no error (a serial port).
	timedRead func(time.Duration) error
	busy      *gate

	mu       sync.Mutex
	pending  int           // operations running in goroutines of their own
	idle     chan struct{} // closed when pending drops to 0 after Close
	closed   bool
	closeErr error
}

func (c *fileConn) write(p []byte, timeout time.Duration) (int, error) {
	if c.deadlines != nil && c.deadlines.SetWriteDeadline(time.Now().Add(timeout)) == nil {
		n, err := c.rw.Write(p)
		if isTimeout(err) {
			err = fmt.Errorf("%w: the printer took %d of %d bytes in %v", errTimeout, n, len(p), timeout)
		}
		return n, err
	}
	n, err := c.bounded(func() (int, error) { return c.rw.Write(p) }, timeout)
	if errors.Is(err, errTimeout) {
		err = fmt.Errorf("%w: a write of %d bytes did not return in %v; %w", errTimeout, len(p), timeout, errUnknownWritten)
	}
	return n, err
}

func (c *fileConn) readByte(timeout time.Duration) (byte, error) {
	var b [1]byte
	switch {
	case c.timedRead != nil:
		if err := c.timedRead(timeout); err != nil {
			return 0, err
		}
		n, err := c.rw.Read(b[:])
		if n == 0 && err == nil {
			return 0, errTimeout
		}
		return b[0], err
	case c.deadlines != nil && c.deadlines.SetReadDeadline(time.Now().Add(timeout)) == nil:
		_, err := c.rw.Read(b[:])
		if isTimeout(err) {
			return 0, errTimeout
		}
		return b[0], err
	}
	_, err := c.bounded(func() (int, error) { return io.ReadFull(c.rw, b[:]) }, timeout)
	return b[0], err
}

// bounded runs op, and returns errTimeout if it has not returned within
// timeout; it then goes on in the background.
func (c *fileConn) bounded(op func() (int, error), timeout time.Duration) (int, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return 0, os.ErrClosed
	}
	c.pending++
	c.mu.Unlock()
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	go func() {
		n, err := op()
		done <- result{n, err}
		c.mu.Lock()
		c.pending--
		if c.pending == 0 && c.idle != nil {
			close(c.idle)
		}
		c.mu.Unlock()
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case r := <-done:
		return r.n, r.err
	case <-t.C:
		return 0, errTimeout
	}
}

// Close closes the handle and frees the device; while an operation given
// up on is still running, it leaves both to be done when it returns, and
// returns nil.
func (c *fileConn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return c.closeErr
	}
	c.closed = true
	if c.pending == 0 {
		c.closeErr = c.close()
		c.busy.leave()
		return c.closeErr
	}
	c.idle = make(chan struct{})
	go func() {
		<-c.idle
		c.close()
		c.busy.leave()
	}()
	return nil
}
