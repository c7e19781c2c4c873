package printertest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/fanka/fanka/shared/printer"
)

// SerialPrinter is a virtual serial printer: a pseudo-terminal whose slave
// the code under test opens as its serial port (Path), and whose master
// side records the print data and answers status requests (DLE EOT n)
// from the status it is given. It keeps a handle on the slave itself, so
// the port may be opened and closed for each job.
type SerialPrinter struct {
	// Path is the port's device file, such as /dev/pts/3.
	Path string

	master, slave *os.File

	mu      sync.Mutex
	off     bool // switched off: what the line carries is lost, nothing is answered
	status  printer.Status
	data    bytes.Buffer
	stallAt int           // stop reading when data holds this many bytes; < 0: never
	resume  chan struct{} // closed when a stalled printer is to read on
	done    chan struct{}
	wg      sync.WaitGroup
	once    sync.Once
}

// NewSerialPrinter opens a pseudo-terminal pair and starts a printer,
// online and with paper, on its master side.
func NewSerialPrinter() (*SerialPrinter, error) {
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open pty: %w", err)
	}
	slave, path, err := openSlave(master)
	if err != nil {
		master.Close()
		return nil, fmt.Errorf("open pty: %w", err)
	}
	p := &SerialPrinter{Path: path, master: master, slave: slave, status: printer.Status{Online: true},
		stallAt: -1, resume: make(chan struct{}), done: make(chan struct{})}
	p.wg.Go(p.read)
	return p, nil
}

// MustSerialPrinter starts a virtual serial printer that is closed when
// the test ends, and fails the test if it cannot.
func MustSerialPrinter(tb testing.TB) *SerialPrinter {
	tb.Helper()
	p, err := NewSerialPrinter()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(p.Close)
	return p
}

// Name returns the printer's name as printer.Parse takes it.
func (p *SerialPrinter) Name() string { return "serial:" + p.Path + "?baud=19200" }

// SetStatus sets what the printer answers to status requests from now on.
func (p *SerialPrinter) SetStatus(s printer.Status) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.status = s
}

// Off switches the printer off: the port stays (it is the register's
// cable), but what is written to it is lost and status requests go
// unanswered, as with a serial printer whose power is off.
func (p *SerialPrinter) Off() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.off = true
}

// On switches the printer on again: it prints what it is sent from now on.
func (p *SerialPrinter) On() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.off = false
}

// Transcripts returns the transcript of the print data received so far
// (see Transcript), one string per document (each ends in a cut); data
// that does not decode gives what decoded of it and the error.
func (p *SerialPrinter) Transcripts() []string {
	t, err := Transcript(p.Data())
	if err != nil {
		t += "\n[ERROR " + err.Error() + "]"
	}
	return splitAfterCuts(t)
}

// StallAfter makes the printer stop reading the line once it has taken n
// more bytes of print data (status requests not counted), as a printer
// that jammed: what is written then fills the terminal's buffer and
// blocks. Resume makes it read on.
func (p *SerialPrinter) StallAfter(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stallAt = p.data.Len() + n
}

// Resume makes a stalled printer read on; what was written meanwhile is
// taken, as by a printer whose jam was cleared.
func (p *SerialPrinter) Resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stallAt = -1
	close(p.resume)
	p.resume = make(chan struct{})
}

// Send writes b on the line as the printer, unasked: noise, or a late
// answer to a request the other side gave up on.
func (p *SerialPrinter) Send(b []byte) error {
	_, err := p.master.Write(b)
	return err
}

// Data returns the print data received so far, status requests left out.
func (p *SerialPrinter) Data() []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return bytes.Clone(p.data.Bytes())
}

// Close closes both ends of the pseudo-terminal and waits for the printer
// to stop.
func (p *SerialPrinter) Close() {
	p.once.Do(func() {
		close(p.done)
		p.Resume()
		p.master.Close()
		p.slave.Close()
	})
	p.wg.Wait()
}

func (p *SerialPrinter) read() {
	var req statusRequests
	buf := make([]byte, 512)
	for {
		n, err := p.master.Read(buf)
		for _, b := range buf[:n] {
			p.mu.Lock()
			for p.stallAt >= 0 && p.data.Len() >= p.stallAt {
				resume := p.resume
				p.mu.Unlock()
				select {
				case <-resume:
				case <-p.done:
					return
				}
				p.mu.Lock()
			}
			if p.off {
				req = statusRequests{} // a request cut by the power
				p.mu.Unlock()
				continue
			}
			data, reply := req.next(b)
			p.data.Write(data)
			status := p.status
			p.mu.Unlock()
			if reply > 0 {
				r := status.Replies()
				if _, err := p.master.Write(r[reply-1 : reply]); err != nil {
					return
				}
			}
		}
		if err != nil {
			return
		}
	}
}

// openSlave unlocks and opens the slave of master, in raw mode.
func openSlave(master *os.File) (*os.File, string, error) {
	raw, err := master.SyscallConn()
	if err != nil {
		return nil, "", err
	}
	var n int
	var ioctlErr error
	err = raw.Control(func(fd uintptr) {
		// unlockpt(3), then ptsname(3).
		if ioctlErr = unix.IoctlSetPointerInt(int(fd), unix.TIOCSPTLCK, 0); ioctlErr != nil {
			return
		}
		n, ioctlErr = unix.IoctlGetInt(int(fd), unix.TIOCGPTN)
	})
	if err = errors.Join(err, ioctlErr); err != nil {
		return nil, "", err
	}
	path := fmt.Sprintf("/dev/pts/%d", n)
	slave, err := os.OpenFile(path, os.O_RDWR|syscall.O_NOCTTY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, "", err
	}
	if err := makeRaw(slave); err != nil {
		slave.Close()
		return nil, "", fmt.Errorf("%s: %w", path, err)
	}
	return slave, path, nil
}

// makeRaw sets the terminal like cfmakeraw(3), 8 data bits, reads
// returning as soon as one byte is there.
func makeRaw(f *os.File) error {
	raw, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var termErr error
	err = raw.Control(func(fd uintptr) {
		t, err := unix.IoctlGetTermios(int(fd), unix.TCGETS)
		if err != nil {
			termErr = err
			return
		}
		t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
		t.Oflag &^= unix.OPOST
		t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
		t.Cflag &^= unix.CSIZE | unix.PARENB
		t.Cflag |= unix.CS8
		t.Cc[unix.VMIN] = 1
		t.Cc[unix.VTIME] = 0
		termErr = unix.IoctlSetTermios(int(fd), unix.TCSETS, t)
	})
	return errors.Join(err, termErr)
}

// splitAfterCuts splits a transcript into documents, each ending in its
// cut ([CUT…]); what follows the last cut, if anything, is the last.
func splitAfterCuts(t string) []string {
	var docs []string
	for t != "" {
		i := strings.Index(t, "[CUT")
		if i < 0 {
			return append(docs, t)
		}
		end := i + strings.IndexByte(t[i:], ']') + 1
		docs, t = append(docs, t[:end]), t[end:]
	}
	return docs
}
