package gateway

import (
	"context"
	"sync"
	"time"

	"github.com/fanka/fanka/shared/wire"
)

// DefaultStatusWriteInterval is Gateway.StatusWriteInterval's default:
// with registers reporting every 15 s, a register's stored status is at
// most about 45 s old while it is connected.
const DefaultStatusWriteInterval = 30 * time.Second

// statusTimeout bounds one write of a status or of a session's end.
const statusTimeout = 10 * time.Second

// sentStatus is what a session last handed to the status writer.
type sentStatus struct {
	st wire.Status
	at time.Time // zero: nothing yet
}

// reportStatus hands a register's status to the writer, unless the last
// one handed is recent and the office would see nothing new in it: a
// device's state, the backlog emptying or offline sales appearing go out
// at once, the rest at most every StatusWriteInterval.
func (c *conn) reportStatus(st *wire.Status) {
	now := c.g.Now()
	last := c.status
	if !last.at.IsZero() && !wire.StatusChanged(last.st, *st) && now.Sub(last.at) < c.g.StatusWriteInterval {
		return
	}
	c.status = sentStatus{st: *st, at: now}
	c.g.statuses.put(c.terminal, c.status)
}

// disconnected records the end of a session that began (its start
// recorded), unless the register began another since (on this server or
// another).
func (g *Gateway) disconnected(c *conn) {
	ctx, cancel := context.WithTimeout(context.Background(), statusTimeout)
	defer cancel()
	if err := g.store.TerminalDisconnected(ctx, c.terminal, c.since, g.Now()); err != nil {
		g.Logger.Error("terminal: record the session's end", "terminal", c.terminal, "err", err)
	}
}

// statusWriter writes registers' statuses to the store on a goroutine of
// its own, one at a time and only the latest of each register: a session
// never waits for the database to read its next frame, and statuses never
// hold more than one of the store's connections (SQLite has one writer).
type statusWriter struct {
	g       *Gateway
	mu      sync.Mutex
	pending map[uint32]sentStatus
	wake    chan struct{}
}

// start runs the writer until the gateway closes.
func (w *statusWriter) start(g *Gateway) {
	w.g, w.pending, w.wake = g, map[uint32]sentStatus{}, make(chan struct{}, 1)
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		w.run(g.ctx)
	}()
}

// put queues a register's status, replacing one it queued before.
func (w *statusWriter) put(terminal uint32, s sentStatus) {
	w.mu.Lock()
	w.pending[terminal] = s
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *statusWriter) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.wake:
		}
		w.mu.Lock()
		batch := w.pending
		w.pending = map[uint32]sentStatus{}
		w.mu.Unlock()
		for terminal, s := range batch {
			wctx, cancel := context.WithTimeout(ctx, statusTimeout)
			err := w.g.store.SetTerminalStatus(wctx, terminal, s.st, s.at)
			cancel()
			if err != nil && ctx.Err() == nil {
				w.g.Logger.Error("terminal: store the register's status", "terminal", terminal, "err", err)
			}
		}
	}
}
