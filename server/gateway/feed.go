package gateway

import (
	"context"

	"github.com/fanka/fanka/shared/wire"
)

// cardFrame is an encoded wire.Cards frame of the broadcast: every card
// whose version is in (from, to], as the store held it.
type cardFrame struct {
	from, to uint64
	b        []byte
}

// Bounds of the card broadcast.
const (
	// feedRing is how many recent frames the feed keeps, so that a session
	// whose catch-up ended a little behind the broadcast joins without
	// catching up again.
	feedRing = 256
	// subQueue is how many frames a session may have waiting; a session
	// that falls further behind leaves the broadcast and catches up on its
	// own.
	subQueue = 256
)

// feed is the gateway's one reader of card changes: after commits it reads
// the changes since its cursor once, encodes them once and hands the frames
// to every session that has caught up (a subscription). Sessions behind
// its cursor catch up from the store on their own, then join.
type feed struct {
	g *Gateway

	// g.mu guards the fields below; it is held while frames are handed out
	// and while a session joins, so that a session gets every frame after
	// its cursor exactly once in order.
	started bool
	cursor  uint64      // every change up to it has been broadcast
	ring    []cardFrame // the most recent frames, oldest first
	subs    map[*subscription]struct{}
}

// subscription is one session's place in the broadcast.
type subscription struct {
	frames chan cardFrame
	// dropped is closed when the session fell behind and left the
	// broadcast; frames still queued remain valid.
	dropped chan struct{}
}

// join adds a session whose register holds every change up to cursor. It
// returns nil if cursor is behind what the feed can hand out: the session
// must catch up from the store and try again.
func (f *feed) join(cursor uint64) *subscription {
	g := f.g
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed || !f.started {
		return nil
	}
	s := &subscription{frames: make(chan cardFrame, subQueue), dropped: make(chan struct{})}
	if cursor < f.cursor {
		// Replay the frames after cursor from the ring, if it reaches back
		// that far.
		i := len(f.ring)
		for i > 0 && f.ring[i-1].to > cursor {
			i--
		}
		if i == len(f.ring) || f.ring[i].from > cursor || len(f.ring)-i > subQueue/2 {
			return nil
		}
		for _, fr := range f.ring[i:] {
			s.frames <- fr
		}
	}
	f.subs[s] = struct{}{}
	return s
}

// start starts the broadcast, once, from the store's last card change: a
// register's cursor is only its word.
func (f *feed) start(ctx context.Context) error {
	g := f.g
	g.mu.Lock()
	started := f.started
	g.mu.Unlock()
	if started {
		return nil
	}
	v, err := g.store.CardVersion(ctx)
	if err != nil {
		return err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if f.started || g.closed {
		return nil
	}
	f.started = true
	f.cursor = v
	f.subs = map[*subscription]struct{}{}
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		f.run(g.ctx)
	}()
	return nil
}

// leave ends a subscription.
func (f *feed) leave(s *subscription) {
	f.g.mu.Lock()
	delete(f.subs, s)
	f.g.mu.Unlock()
}

// run broadcasts card changes after each commit that made some, at most
// once per CardsInterval, so that a burst of commits is one broadcast.
func (f *feed) run(ctx context.Context) {
	changed, stop := f.g.store.SubscribeCards()
	defer stop()
	// Changes may have committed between start and the subscription.
	first := true
	for {
		if !first {
			select {
			case <-ctx.Done():
				return
			case <-changed:
			}
		}
		first = false
		if err := f.broadcast(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			f.g.Logger.Error("terminal: read card changes", "err", err)
			// Drop every session: each catches up on its own and rejoins,
			// which retries the read.
			f.g.mu.Lock()
			for s := range f.subs {
				delete(f.subs, s)
				close(s.dropped)
			}
			f.g.mu.Unlock()
		}
		if !pause(ctx, f.g.CardsInterval) {
			return
		}
	}
}

// broadcast reads every change after the feed's cursor and hands it out.
func (f *feed) broadcast(ctx context.Context) error {
	limit := min(max(f.g.CardsPerFrame, 1), wire.MaxCards)
	for {
		f.g.mu.Lock()
		from := f.cursor
		f.g.mu.Unlock()
		cards, err := f.g.store.CardsSince(ctx, from, limit)
		if err != nil {
			return err
		}
		if len(cards) == 0 {
			return nil
		}
		m := &wire.Cards{Cursor: cards[len(cards)-1].Version, Cards: make([]wire.Card, len(cards))}
		for i, card := range cards {
			m.Cards[i] = card.Wire()
		}
		b, err := wire.Encode(m)
		if err != nil {
			return err
		}
		fr := cardFrame{from: from, to: m.Cursor, b: b}
		f.g.mu.Lock()
		f.cursor = fr.to
		if len(f.ring) == feedRing {
			copy(f.ring, f.ring[1:])
			f.ring = f.ring[:feedRing-1]
		}
		f.ring = append(f.ring, fr)
		for s := range f.subs {
			select {
			case s.frames <- fr:
			default:
				delete(f.subs, s)
				close(s.dropped)
			}
		}
		f.g.mu.Unlock()
		if len(cards) < limit {
			return nil
		}
	}
}
