package printertest

import (
	"bytes"
	"net"
	"sync"
	"testing"

	"github.com/fanka/fanka/shared/printer"
)

// Printer is a virtual network printer: a TCP listener on the loopback
// interface that records the print data of every connection, and answers
// status requests (DLE EOT n) from the status it is given, at once, as a
// real printer answers these real-time requests.
//
// It can be switched off (connections are refused), made to stop reading
// in the middle of a job, and run out of paper (SetStatus).
type Printer struct {
	addr string

	mu         sync.Mutex
	ln         net.Listener // nil while off
	status     printer.Status
	stallAfter int           // stop reading after this many bytes of a job; < 0: never
	unstall    chan struct{} // closed when stalled connections are to be cut
	jobs       []*bytes.Buffer
	conns      map[net.Conn]bool
	closed     bool
	wg         sync.WaitGroup
}

// NewPrinter starts a virtual printer, online and with paper, on a free
// port of 127.0.0.1.
func NewPrinter() (*Printer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Printer{
		addr:       ln.Addr().String(),
		status:     printer.Status{Online: true},
		stallAfter: -1,
		unstall:    make(chan struct{}),
		conns:      map[net.Conn]bool{},
	}
	p.serve(ln)
	return p, nil
}

// MustPrinter starts a virtual printer that is closed when the test ends,
// and fails the test if it cannot.
func MustPrinter(tb testing.TB) *Printer {
	tb.Helper()
	p, err := NewPrinter()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(p.Close)
	return p
}

// Addr returns the printer's host:port.
func (p *Printer) Addr() string { return p.addr }

// Name returns the printer's name as printer.Parse takes it.
func (p *Printer) Name() string { return "tcp://" + p.addr }

// SetStatus sets what the printer answers to status requests from now on.
func (p *Printer) SetStatus(s printer.Status) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.status = s
}

// StallAfter makes the printer stop reading a connection once it has
// taken n bytes of print data on it (status requests not counted), as a
// printer that jammed: it reads and answers nothing more on it. n < 0
// makes it read on, and cuts the connections it stalled.
func (p *Printer) StallAfter(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stallAfter = n
	if n < 0 {
		close(p.unstall)
		p.unstall = make(chan struct{})
	}
}

// Off switches the printer off: it stops listening, so connections are
// refused, and cuts the open ones.
func (p *Printer) Off() {
	p.mu.Lock()
	ln := p.ln
	p.ln = nil
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	if ln != nil {
		ln.Close()
	}
}

// On switches the printer on again, on the same address.
func (p *Printer) On() error {
	p.mu.Lock()
	on := p.ln != nil || p.closed
	p.mu.Unlock()
	if on {
		return nil
	}
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		return err
	}
	p.serve(ln)
	return nil
}

// Close switches the printer off for good and waits for its goroutines.
func (p *Printer) Close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.Off()
	p.StallAfter(-1)
	p.wg.Wait()
}

// Jobs returns the print data of each connection that sent any, in the
// order the connections were made, status requests left out. A job cut
// off in the middle holds what the printer took of it.
func (p *Printer) Jobs() [][]byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	var jobs [][]byte
	for _, b := range p.jobs {
		if b.Len() > 0 {
			jobs = append(jobs, bytes.Clone(b.Bytes()))
		}
	}
	return jobs
}

// Transcripts returns the transcript of each job (see Transcript); a job
// that does not decode gives what decoded of it and the error.
func (p *Printer) Transcripts() []string {
	var ts []string
	for _, j := range p.Jobs() {
		t, err := Transcript(j)
		if err != nil {
			t += "\n[ERROR " + err.Error() + "]"
		}
		ts = append(ts, t)
	}
	return ts
}

func (p *Printer) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	p.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			if p.ln != ln {
				p.mu.Unlock()
				c.Close()
				return
			}
			job := &bytes.Buffer{}
			p.jobs = append(p.jobs, job)
			p.conns[c] = true
			p.mu.Unlock()
			p.wg.Go(func() {
				p.handle(c, job)
				p.mu.Lock()
				delete(p.conns, c)
				p.mu.Unlock()
				c.Close()
			})
		}
	})
}

// handle reads a connection: print data into job, status requests
// answered.
func (p *Printer) handle(c net.Conn, job *bytes.Buffer) {
	var req statusRequests
	buf := make([]byte, 512)
	for {
		n, err := c.Read(buf)
		for _, b := range buf[:n] {
			data, reply := req.next(b)
			p.mu.Lock()
			status, stall, unstall := p.status, p.stallAfter, p.unstall
			if stall >= 0 && job.Len() >= stall {
				p.mu.Unlock()
				// Jammed: nothing more is read or answered, until the
				// connection is cut.
				<-unstall
				return
			}
			job.Write(data)
			p.mu.Unlock()
			if reply > 0 {
				r := status.Replies()
				if _, err := c.Write(r[reply-1 : reply]); err != nil {
					return
				}
			}
		}
		if err != nil {
			return // the client closed, or the printer was switched off
		}
	}
}

// statusRequests finds DLE EOT n in a stream of bytes.
type statusRequests struct {
	held []byte // the start of a request: DLE, or DLE EOT
}

// next takes the stream's next byte and returns the print data it ends
// (held bytes that did not become a request, or b), and n if b completed
// the request DLE EOT n.
func (s *statusRequests) next(b byte) (data []byte, n int) {
	switch {
	case len(s.held) == 0 && b == dle:
		s.held = append(s.held, b)
		return nil, 0
	case len(s.held) == 1 && b == eot:
		s.held = append(s.held, b)
		return nil, 0
	case len(s.held) == 2 && b >= 1 && b <= 4:
		s.held = s.held[:0]
		return nil, int(b)
	case len(s.held) > 0:
		data = append(s.held, b)
		s.held = nil
		return data, 0
	}
	return []byte{b}, 0
}
