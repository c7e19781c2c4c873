package gateway

import (
	"context"
	"sync"
	"time"
)

// signals tells the sessions subscribed to one of the gateway's watchers
// (the rules, the hotlist) that what it watches changed. Each session has
// a channel of one, signalled without blocking and never closed: a session
// that has not yet looked since the last signal gets no second one.
type signals struct {
	mu      sync.Mutex
	started bool
	subs    map[*conn]chan struct{}
}

// subscribe adds session c and, the first time, starts the watcher run on
// the gateway's context (unless the gateway is closed).
func (s *signals) subscribe(g *Gateway, c *conn, run func(context.Context)) <-chan struct{} {
	ch := make(chan struct{}, 1)
	// g.mu orders the start against Close, which waits for g.wg.
	g.mu.Lock()
	defer g.mu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.subs == nil {
		s.subs = map[*conn]chan struct{}{}
	}
	s.subs[c] = ch
	if !s.started && !g.closed {
		s.started = true
		g.wg.Add(1)
		go func() {
			defer g.wg.Done()
			run(g.ctx)
		}()
	}
	return ch
}

// unsubscribe removes session c.
func (s *signals) unsubscribe(c *conn) {
	s.mu.Lock()
	delete(s.subs, c)
	s.mu.Unlock()
}

// pause waits d (nothing if d is not above 0) and reports whether ctx is
// still live.
func pause(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// signal signals every subscribed session.
func (s *signals) signal() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ch := range s.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}
