// Package faults breaks connections on purpose: a TCP proxy that passes,
// delays, refuses and cuts connections mid-stream (mid-frame, since it cuts
// at a byte count, not at a message boundary), for the soak runs and the
// fault tests of the register ↔ server link.
package faults

import (
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Kind is what the proxy does to one connection.
type Kind int

// Fault kinds.
const (
	Pass   Kind = iota // forward both ways untouched
	Refuse             // accept and close at once
	Cut                // forward, then close both sides after Bytes bytes (either direction)
	Delay              // forward, sleeping Delay before each chunk
	Stall              // forward Bytes bytes, then stop forwarding (but keep both open) until the connection is closed
)

func (k Kind) String() string {
	return [...]string{"pass", "refuse", "cut", "delay", "stall"}[k]
}

// Fault is the plan for one connection.
type Fault struct {
	Kind  Kind
	Bytes int64         // for Cut and Stall
	Delay time.Duration // for Delay
}

// Proxy forwards connections from its listener to Target, each according
// to the Fault that Plan returns for it.
type Proxy struct {
	Target string
	// Plan chooses the fault for each new connection; nil passes all.
	Plan func() Fault

	ln     net.Listener
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	wg     sync.WaitGroup
	closed atomic.Bool
	// Counts of connections by the fault applied.
	counts [5]atomic.Int64
}

// Listen starts a proxy on a loopback port.
func Listen(target string, plan func() Fault) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{Target: target, Plan: plan, ln: ln, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.serve()
	return p, nil
}

// Addr is the proxy's address.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// SetPlan replaces the plan for connections accepted from now on.
func (p *Proxy) SetPlan(plan func() Fault) {
	p.mu.Lock()
	p.Plan = plan
	p.mu.Unlock()
}

// CutAll closes every open connection now.
func (p *Proxy) CutAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
}

// Counts returns how many connections got each kind of fault.
func (p *Proxy) Counts() map[Kind]int64 {
	m := map[Kind]int64{}
	for k := range p.counts {
		if n := p.counts[k].Load(); n > 0 {
			m[Kind(k)] = n
		}
	}
	return m
}

// Close stops the proxy and closes all its connections.
func (p *Proxy) Close() error {
	p.closed.Store(true)
	err := p.ln.Close()
	p.CutAll()
	p.wg.Wait()
	return err
}

func (p *Proxy) track(c net.Conn, add bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if add {
		p.conns[c] = struct{}{}
	} else {
		delete(p.conns, c)
	}
}

func (p *Proxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		plan := p.Plan
		p.mu.Unlock()
		f := Fault{Kind: Pass}
		if plan != nil {
			f = plan()
		}
		p.counts[f.Kind].Add(1)
		if f.Kind == Refuse {
			c.Close()
			continue
		}
		p.wg.Add(1)
		go p.handle(c, f)
	}
}

func (p *Proxy) handle(client net.Conn, f Fault) {
	defer p.wg.Done()
	defer client.Close()
	server, err := net.DialTimeout("tcp", p.Target, 5*time.Second)
	if err != nil {
		return
	}
	defer server.Close()
	p.track(client, true)
	p.track(server, true)
	defer p.track(client, false)
	defer p.track(server, false)

	var budget atomic.Int64 // bytes left before a Cut or Stall
	budget.Store(f.Bytes)
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		defer func() { done <- struct{}{} }()
		buf := make([]byte, 16<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				chunk := buf[:n]
				if f.Kind == Cut || f.Kind == Stall {
					left := budget.Add(-int64(n))
					if left < 0 {
						keep := int64(n) + left
						if keep < 0 {
							keep = 0
						}
						chunk = chunk[:keep]
					}
					if len(chunk) > 0 {
						if _, err := dst.Write(chunk); err != nil {
							return
						}
					}
					if left < 0 {
						if f.Kind == Cut {
							client.Close()
							server.Close()
						}
						// Stall: forward nothing more; the peers time out.
						io.Copy(io.Discard, src)
						return
					}
					continue
				}
				if f.Kind == Delay {
					time.Sleep(f.Delay)
				}
				if _, err := dst.Write(chunk); err != nil {
					return
				}
			}
			if err != nil {
				if errors.Is(err, io.EOF) {
					if tc, ok := dst.(*net.TCPConn); ok {
						tc.CloseWrite()
					}
				}
				return
			}
		}
	}
	go pipe(server, client)
	go pipe(client, server)
	<-done
	if f.Kind != Stall {
		client.Close()
		server.Close()
	}
	<-done
}

// RandomPlan returns a plan that passes most connections and breaks the
// rest in every way, cutting within the first maxBytes bytes.
func RandomPlan(r *rand.Rand, mu *sync.Mutex, maxBytes int64) func() Fault {
	return func() Fault {
		mu.Lock()
		defer mu.Unlock()
		switch x := r.IntN(100); {
		case x < 40:
			return Fault{Kind: Pass}
		case x < 55:
			return Fault{Kind: Refuse}
		case x < 80:
			return Fault{Kind: Cut, Bytes: 1 + r.Int64N(maxBytes)}
		case x < 92:
			return Fault{Kind: Delay, Delay: time.Duration(1+r.IntN(30)) * time.Millisecond}
		default:
			return Fault{Kind: Stall, Bytes: 1 + r.Int64N(maxBytes)}
		}
	}
}
