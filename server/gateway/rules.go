package gateway

import (
	"context"
	"sync"
	"time"

	"github.com/fanka/fanka/shared/wire"
)

// DefaultRulesInterval is how often the gateway reads the rules from the
// store to notice a change (made through the API of this server or of
// another one on the same database).
const DefaultRulesInterval = time.Second

// ruleFeed keeps the rules in force as one reader of the store, for the
// whole gateway, and tells every session when their version changes.
type ruleFeed struct {
	g *Gateway

	sessions signals

	mu    sync.Mutex
	rules *wire.Rules // the last read; nil before the first
}

// latest returns the rules last read, reading them if none were.
func (f *ruleFeed) latest(ctx context.Context) (*wire.Rules, error) {
	f.mu.Lock()
	r := f.rules
	f.mu.Unlock()
	if r != nil {
		return r, nil
	}
	r, _, err := f.read(ctx)
	return r, err
}

// read reads the rules from the store and reports whether their version
// differs from the one read before.
func (f *ruleFeed) read(ctx context.Context) (*wire.Rules, bool, error) {
	rules, version, err := f.g.store.Rules(ctx)
	if err != nil {
		return nil, false, err
	}
	w := rules.Wire(version)
	f.mu.Lock()
	defer f.mu.Unlock()
	changed := f.rules == nil || f.rules.Version != version
	if changed {
		f.rules = &w
	}
	return f.rules, changed, nil
}

// subscribe adds session c and starts the poller, once. The channel is
// signalled (never blocking, never closed) after each change.
func (f *ruleFeed) subscribe(c *conn) <-chan struct{} { return f.sessions.subscribe(f.g, c, f.run) }

// unsubscribe removes session c.
func (f *ruleFeed) unsubscribe(c *conn) { f.sessions.unsubscribe(c) }

// run reads the rules every RulesInterval and signals every session when
// their version changed.
func (f *ruleFeed) run(ctx context.Context) {
	every := f.g.RulesInterval
	if every <= 0 {
		every = DefaultRulesInterval
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		r, changed, err := f.read(ctx)
		if err != nil {
			if ctx.Err() == nil {
				f.g.Logger.Error("terminal: read the rules", "err", err)
			}
			continue
		}
		if !changed {
			continue
		}
		f.g.Logger.Info("terminal: rules changed: sending them to the registers", "version", r.Version)
		f.sessions.signal()
	}
}

// sendRules sends the rules r, stamped with the server's time: as Rules,
// then as RulesV1 for a register that predates Rules (it skips the first
// as a message it does not know; a newer one skips the second, of a
// version it holds).
func (c *conn) sendRules(r *wire.Rules) error {
	m := *r
	m.ServerTime = c.g.Now().UnixMilli()
	if err := c.write(&m); err != nil {
		return err
	}
	return c.write(&wire.RulesV1{Rules: m})
}

// followRules sends the rules again each time their version changes,
// until ctx ends; sent is the version the register holds. A failed write
// closes the connection, which ends the session.
func (c *conn) followRules(ctx context.Context, changed <-chan struct{}, sent uint64) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-changed:
		}
		r, err := c.g.rules.latest(ctx)
		if err != nil || r.Version == sent {
			continue
		}
		if err := c.sendRules(r); err != nil {
			c.log.Info("terminal: send rules", "err", err)
			c.ws.Close()
			return
		}
		sent = r.Version
		c.log.Info("terminal: rules sent", "version", sent)
	}
}
