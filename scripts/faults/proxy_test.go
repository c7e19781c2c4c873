package faults_test

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"

	"github.com/fanka/fanka/scripts/faults"
)

// echo starts a TCP echo server.
func echo(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	return ln.Addr().String()
}

func roundTrip(t *testing.T, addr string, msg []byte) ([]byte, error) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write(msg); err != nil {
		return nil, err
	}
	got := make([]byte, len(msg))
	n, err := io.ReadFull(c, got)
	return got[:n], err
}

func TestFaults(t *testing.T) {
	target := echo(t)
	msg := bytes.Repeat([]byte("fanka"), 200) // 1000 bytes
	tests := []struct {
		fault    faults.Fault
		wantN    int // bytes echoed back
		wantFail bool
	}{
		{faults.Fault{Kind: faults.Pass}, 1000, false},
		{faults.Fault{Kind: faults.Delay, Delay: time.Millisecond}, 1000, false},
		{faults.Fault{Kind: faults.Refuse}, 0, true},
		{faults.Fault{Kind: faults.Cut, Bytes: 300}, -1, true}, // cut mid-stream: fewer than all
		{faults.Fault{Kind: faults.Stall, Bytes: 300}, -1, true},
	}
	for _, tt := range tests {
		p, err := faults.Listen(target, func() faults.Fault { return tt.fault })
		if err != nil {
			t.Fatal(err)
		}
		got, err := roundTrip(t, p.Addr(), msg)
		if tt.wantFail != (err != nil) {
			t.Errorf("%v: error %v", tt.fault.Kind, err)
		}
		if tt.wantN >= 0 && len(got) != tt.wantN {
			t.Errorf("%v: %d bytes back, want %d", tt.fault.Kind, len(got), tt.wantN)
		}
		if tt.wantN < 0 && len(got) >= len(msg) {
			t.Errorf("%v: all %d bytes came back", tt.fault.Kind, len(got))
		}
		if tt.wantN > 0 && !bytes.Equal(got, msg) {
			t.Errorf("%v: bytes changed", tt.fault.Kind)
		}
		if n := p.Counts()[tt.fault.Kind]; n != 1 {
			t.Errorf("%v: counted %d", tt.fault.Kind, n)
		}
		p.Close()
	}
}

func TestCutAll(t *testing.T) {
	p, err := faults.Listen(echo(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("x"))
	buf := make([]byte, 1)
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatal(err)
	}
	p.CutAll()
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Read(buf); err == nil {
		t.Fatal("connection survived CutAll")
	}
}
