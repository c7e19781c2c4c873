package virtual_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/fanka/fanka/terminal/virtual"
)

func openSlave(t *testing.T, pty *virtual.PTY) *os.File {
	t.Helper()
	f, err := os.OpenFile(pty.SlavePath, os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func allBytes() []byte {
	b := make([]byte, 256)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

// TestPTYRaw checks every byte value passes unchanged both ways, with no
// echo and no CR/LF translation.
func TestPTYRaw(t *testing.T) {
	pty := virtual.MustPTY(t)
	slave := openSlave(t, pty)
	want := bytes.Repeat(allBytes(), 4)

	if _, err := pty.Master.Write(want); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(want))
	if _, err := io.ReadFull(slave, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("slave read\n% X\nwant\n% X", got, want)
	}

	if _, err := slave.Write(want); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(pty.Master, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("master read\n% X\nwant\n% X", got, want)
	}

	// Nothing more: no echo of what the master wrote.
	if err := pty.Master.SetReadDeadline(time.Now().Add(50 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if n, err := pty.Master.Read(got); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("master read % X, %v; want nothing (no echo)", got[:n], err)
	}
}

// TestPTYReopen checks the port can be closed and opened again while the
// master reads on, as a serial adapter reconnecting does.
func TestPTYReopen(t *testing.T) {
	pty := virtual.MustPTY(t)
	for i := range 3 {
		slave := openSlave(t, pty)
		if _, err := slave.Write([]byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
		slave.Close()
		b := make([]byte, 1)
		if _, err := io.ReadFull(pty.Master, b); err != nil || b[0] != byte(i) {
			t.Fatalf("round %d: read % X, %v", i, b, err)
		}
	}
}

// TestPTYClose checks closing the PTY is pulling the cable: the port
// fails.
func TestPTYClose(t *testing.T) {
	pty, err := virtual.OpenPTY()
	if err != nil {
		t.Fatal(err)
	}
	slave := openSlave(t, pty)
	done := make(chan error, 1)
	go func() {
		_, err := slave.Read(make([]byte, 1))
		done <- err
	}()
	if err := pty.Close(); err != nil {
		t.Fatal(err)
	}
	if err := pty.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	select {
	case err := <-done:
		if err == nil {
			t.Error("read from a closed PTY succeeded")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("read from the port did not fail after Close")
	}
	if _, err := slave.Write([]byte("x")); err == nil {
		t.Error("write to a closed PTY succeeded")
	}
}
