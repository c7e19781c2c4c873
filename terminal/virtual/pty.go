package virtual

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// PTY is a pseudo-terminal pair standing in for a serial cable: the code
// under test opens SlavePath as its serial port, and a peer (DisplayPeer,
// KeypadPeer) plays the device on Master.
//
// The slave side is raw (no echo, no line editing, no CR/LF translation),
// so every byte passes unchanged both ways. The PTY keeps a handle on the
// slave itself, so the serial port may be closed and reopened without the
// master seeing a hang-up; closing the PTY is pulling the cable.
type PTY struct {
	// Master is the device's end: read what the code under test wrote to
	// the port, write what the device sends. Reads and writes honour
	// deadlines, and Close unblocks them.
	Master *os.File
	// SlavePath is the port's path, such as /dev/pts/3.
	SlavePath string

	slave     *os.File
	closeOnce sync.Once
	closeErr  error
}

// OpenPTY opens a new pseudo-terminal pair with a raw slave.
func OpenPTY() (*PTY, error) {
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open pty: %w", err)
	}
	p, err := openSlave(master)
	if err != nil {
		master.Close()
		return nil, fmt.Errorf("open pty: %w", err)
	}
	return p, nil
}

func openSlave(master *os.File) (*PTY, error) {
	raw, err := master.SyscallConn()
	if err != nil {
		return nil, err
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
		return nil, err
	}
	path := fmt.Sprintf("/dev/pts/%d", n)
	slave, err := os.OpenFile(path, os.O_RDWR|syscall.O_NOCTTY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	if err := makeRaw(slave); err != nil {
		slave.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &PTY{Master: master, SlavePath: path, slave: slave}, nil
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

// Close closes both ends: whoever has the slave open sees the device go
// away (reads and writes fail). Closing again does nothing.
func (p *PTY) Close() error {
	p.closeOnce.Do(func() { p.closeErr = errors.Join(p.Master.Close(), p.slave.Close()) })
	return p.closeErr
}

// MustPTY opens a PTY that is closed when the test ends, and fails the
// test if it cannot.
func MustPTY(tb testing.TB) *PTY {
	tb.Helper()
	p, err := OpenPTY()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { p.Close() })
	return p
}
