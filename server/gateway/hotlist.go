package gateway

import (
	"context"

	"github.com/fanka/fanka/shared/wire"
)

// hotlistFeed watches the store's hotlist version, as one reader for the
// whole gateway, and tells every session when it changed; each session then
// reads the changes after its own cursor. Hotlist changes are rare (the
// office's status changes, overdrafts), so the read per session is too.
type hotlistFeed struct {
	g        *Gateway
	sessions signals
	version  uint64 // the last version read; run's alone
}

// subscribe adds session c and starts the watcher, once. The channel is
// signalled (never blocking, never closed) after each change.
func (f *hotlistFeed) subscribe(c *conn) <-chan struct{} { return f.sessions.subscribe(f.g, c, f.run) }

// unsubscribe removes session c.
func (f *hotlistFeed) unsubscribe(c *conn) { f.sessions.unsubscribe(c) }

// run reads the hotlist version after commits that changed cards, at most
// once per CardsInterval, and signals every session when it changed.
func (f *hotlistFeed) run(ctx context.Context) {
	changed, stop := f.g.store.SubscribeCards()
	defer stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-changed:
		}
		v, err := f.g.store.HotlistVersion(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			f.g.Logger.Error("terminal: read the hotlist version", "err", err)
			v = 0 // signal below: each session reads for itself, and fails or not
		}
		if v != f.version || err != nil {
			f.version = v
			f.sessions.signal()
		}
		if !pause(ctx, f.g.CardsInterval) {
			return
		}
	}
}

// followHotlist brings the register's hotlist up to date from cursor,
// the hotlist version its Hello carried: the whole list if it has none
// (0) or one the server never reached (a database restored from an older
// backup), else the changes after it; then it sends each change as it
// commits, until ctx ends.
func (c *conn) followHotlist(ctx context.Context, cursor uint64, changed <-chan struct{}) error {
	version, err := c.g.store.HotlistVersion(ctx)
	if err != nil {
		return c.hotlistFailed(ctx, err)
	}
	if cursor == 0 || cursor > version {
		if cursor > version {
			c.log.Warn("terminal: the register's hotlist is ahead of the server's: sending the whole list", "cursor", cursor, "version", version)
		}
		if cursor, err = c.sendHotlistSnapshot(ctx, version); err != nil {
			return err
		}
	}
	for {
		if cursor, err = c.sendHotlistChanges(ctx, cursor); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		}
	}
}

// hotlistFailed turns a store error into the session's refusal, unless the
// session is ending anyway.
func (c *conn) hotlistFailed(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return refuse(wire.RefuseInternal, "", err, "internal error")
}

// hotlistPerFrame is the most entries the session sends in one frame.
func (g *Gateway) hotlistPerFrame() int { return min(max(g.HotlistPerFrame, 1), wire.MaxHotlist) }

// sendHotlistSnapshot sends every listed card, in parts, as the hotlist
// at version (at least: a part read later may hold newer entries, which the
// changes after version then send again), and returns version.
func (c *conn) sendHotlistSnapshot(ctx context.Context, version uint64) (uint64, error) {
	limit := c.g.hotlistPerFrame()
	m := &wire.Hotlist{Flags: wire.HotlistSnapshot | wire.HotlistFirst, Cursor: version}
	after, n := "", 0
	for {
		entries, err := c.g.store.HotlistSnapshot(ctx, after, limit)
		if err != nil {
			return 0, c.hotlistFailed(ctx, err)
		}
		m.Entries = entries
		if len(entries) < limit {
			m.Flags |= wire.HotlistLast
		}
		if err := c.write(m); err != nil {
			return 0, err
		}
		n += len(entries)
		if m.Flags&wire.HotlistLast != 0 {
			c.log.Info("terminal: hotlist sent whole", "cards", n, "version", version)
			return version, nil
		}
		after = entries[len(entries)-1].CardNo
		m.Flags = wire.HotlistSnapshot
	}
}

// sendHotlistChanges sends the hotlist changes after cursor and returns
// the new cursor.
func (c *conn) sendHotlistChanges(ctx context.Context, cursor uint64) (uint64, error) {
	limit := c.g.hotlistPerFrame()
	for {
		entries, err := c.g.store.HotlistSince(ctx, cursor, limit)
		if err != nil {
			return cursor, c.hotlistFailed(ctx, err)
		}
		if len(entries) == 0 {
			return cursor, nil
		}
		m := &wire.Hotlist{Cursor: entries[len(entries)-1].Version, Entries: entries}
		if err := c.write(m); err != nil {
			return cursor, err
		}
		cursor = m.Cursor
		if len(entries) < limit {
			return cursor, nil
		}
	}
}
