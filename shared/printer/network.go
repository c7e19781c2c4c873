package printer

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"
)

// Network is a network printer that takes raw ESC/POS on a TCP port
// (JetDirect, port 9100). Each job and each status request has a
// connection of its own, so a printer that was switched off and on again
// is simply reached again.
type Network struct {
	// Addr is the printer's host:port.
	Addr string
	// TwoWay says the printer answers status requests (DLE EOT) on the
	// connection, as most network receipt printers do. Without it, its
	// status is unknown and a job counts as printed once it was written.
	TwoWay bool
	// Timeouts bound connecting, writing and waiting for replies.
	Timeouts Timeouts
}

// Print sends doc to the printer: see Printer.
func (p *Network) Print(ctx context.Context, doc []byte) error {
	c, err := p.dial(ctx)
	if err != nil {
		return fmt.Errorf("printer %s: %w, %w: %w", p, ErrUnreachable, ErrNotSent, err)
	}
	return printOn(ctx, c, p.String(), p.TwoWay, p.Timeouts.withDefaults(), doc)
}

// Status asks the printer for its status: see Printer. It returns
// ErrNoStatus if the printer is not TwoWay.
func (p *Network) Status(ctx context.Context) (Status, error) {
	if !p.TwoWay {
		return Status{}, fmt.Errorf("printer %s: %w", p, ErrNoStatus)
	}
	c, err := p.dial(ctx)
	if err != nil {
		return Status{}, fmt.Errorf("printer %s: %w: %w", p, ErrUnreachable, err)
	}
	return statusOn(ctx, c, p.String(), p.Timeouts.withDefaults())
}

// String returns the printer's name: tcp://HOST:PORT.
func (p *Network) String() string { return "tcp://" + p.Addr }

func (p *Network) dial(ctx context.Context) (conn, error) {
	d := net.Dialer{Timeout: p.Timeouts.withDefaults().Dial}
	c, err := d.DialContext(ctx, "tcp", p.Addr)
	if err != nil {
		return nil, err
	}
	return &netConn{c: c}, nil
}

// netConn is a TCP connection to a printer: deadlines bound its writes and
// reads.
type netConn struct {
	c         net.Conn
	closeOnce sync.Once
	closeErr  error
}

func (c *netConn) write(p []byte, timeout time.Duration) (int, error) {
	if err := c.c.SetWriteDeadline(time.Now().Add(timeout)); err != nil {
		return 0, err
	}
	n, err := c.c.Write(p)
	if isTimeout(err) {
		err = fmt.Errorf("%w: the printer took %d of %d bytes in %v", errTimeout, n, len(p), timeout)
	}
	return n, err
}

func (c *netConn) readByte(timeout time.Duration) (byte, error) {
	if err := c.c.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return 0, err
	}
	var b [1]byte
	_, err := c.c.Read(b[:])
	if isTimeout(err) {
		return 0, errTimeout
	}
	return b[0], err
}

func (c *netConn) Close() error {
	c.closeOnce.Do(func() { c.closeErr = c.c.Close() })
	return c.closeErr
}

// isTimeout reports whether err is a deadline's.
func isTimeout(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) }
