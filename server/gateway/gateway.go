// Package gateway is the registers' door to the server: the WebSocket
// endpoint that proves each register's key, settles the journal entries it
// streams, acks them, and pushes card changes and the hotlist back.
//
// It speaks shared/wire exactly, one binary frame per message:
//
//	gateway → register  Challenge (a fresh nonce and the server's time)
//	register → gateway  Hello (register id, card cursor, signature over the nonce)
//	gateway → register  Welcome (last settled seq and hash) or Refused, then close
//	register → gateway  Entries …        gateway → register  Acks …
//	gateway → register  Cards (changes since the cursor, then as cards change;
//	                    a register with no cursor first gets every card, in
//	                    card number order)
//	gateway → register  Rules (after Welcome, then each time their version changes)
//	gateway → register  Hotlist (the whole list or the changes since the
//	                    register's hotlist cursor, then as it changes)
//	gateway → register  StatusRequest (after the rules)
//	register → gateway  Status … (its backlog, offline exposure, devices),
//	                    stored for the office (see status.go)
//
// A gap, a broken chain, a bad signature or an entry that cannot be
// decoded ends the connection with Refused, an alarm and a log line;
// nothing of the refused batch is settled. One connection per register: a
// new one closes the older.
//
// The gateway also holds bad peers out and keeps itself bounded: frames are
// at most wire.MaxFrame bytes (a larger one closes the connection and
// raises an alarm); peers outside AllowedPeers are refused before the
// upgrade; each register's Entries frames and entries are rate limited by
// reading more slowly, never by dropping; and a connection has at most one
// batch in flight, since the next frame is read only once the previous
// batch is settled and acked, so a slow database slows the registers down
// (they keep journaling) instead of filling the server's memory.
package gateway

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/fanka/fanka/server"
	"github.com/fanka/fanka/shared/journal"
	"github.com/fanka/fanka/shared/wire"
)

// Store is what the gateway needs of the server's store.
type Store interface {
	server.Settler
	server.CardFeed
	server.HotlistFeed
	server.AlarmStore
	server.RuleStore
	server.TerminalStatusStore
	// Terminal returns a register; ENOTFOUND if there is none.
	Terminal(ctx context.Context, id uint32) (server.Terminal, error)
	// TouchTerminal records when the register was last connected.
	TouchTerminal(ctx context.Context, id uint32, seen time.Time) error
}

// Defaults for the Gateway's timing fields.
const (
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultWriteTimeout     = 10 * time.Second
	DefaultPingInterval     = 30 * time.Second
	DefaultCardsInterval    = 50 * time.Millisecond
)

// Defaults for the Gateway's rate limits, per register connection.
const (
	DefaultFramesPerSecond  = 50
	DefaultFrameBurst       = 100
	DefaultEntriesPerSecond = 20_000
	DefaultEntryBurst       = 20_000
	// DefaultPeerAlarmInterval is the least time between two alarms for
	// the same refused peer address.
	DefaultPeerAlarmInterval = time.Minute
)

// Observer is told what the gateway does, for metrics. Its methods are
// called from the sessions' goroutines, concurrently, and must return
// quickly.
type Observer interface {
	// Session is called when register terminal is welcomed (connected
	// true) and when that session ends (connected false).
	Session(terminal uint32, connected bool)
	// Batch is called when a batch of entries of register terminal
	// arrives, before it is settled; the function it returns is called
	// once, when Settle returned the batch's acks or its error.
	Batch(terminal uint32, entries [][]byte) func(acks []wire.Ack, err error)
	// Refused is called for each connection the gateway refuses, with the
	// reason: the refusal's code (unknown_terminal, bad_signature, chain,
	// malformed, disabled, internal), oversized for a frame over
	// wire.MaxFrame, or peer for a peer outside AllowedPeers.
	Refused(reason string)
}

// Gateway is the terminal WebSocket endpoint, an http.Handler. Create it
// with New, set its fields before it serves, and Close it on shutdown.
type Gateway struct {
	// Logger receives a line per connection, refusal and error.
	Logger *slog.Logger
	// Now is the server's clock.
	Now func() time.Time
	// HandshakeTimeout bounds the wait for Hello.
	HandshakeTimeout time.Duration
	// WriteTimeout bounds each frame written.
	WriteTimeout time.Duration
	// PingInterval is how often the gateway pings an idle register; a
	// register that answers no ping within two intervals is dropped.
	PingInterval time.Duration
	// CardsPerFrame is the most card changes sent in one Cards frame, at
	// most wire.MaxCards.
	CardsPerFrame int
	// CardsInterval is the least time between two broadcasts of card
	// changes: the commits made meanwhile go out together, and a card that
	// changed several times goes out once.
	CardsInterval time.Duration
	// HotlistPerFrame is the most hotlist entries sent in one Hotlist
	// frame, at most wire.MaxHotlist.
	HotlistPerFrame int
	// FramesPerSecond and FrameBurst limit the Entries frames a register
	// sends on one connection: a token bucket of FrameBurst frames that
	// fills at FramesPerSecond. EntriesPerSecond and EntryBurst limit the
	// entries in them the same way. A register over either limit is read
	// more slowly until it is back under: no entry is dropped or refused.
	// A rate of zero or less turns its limit off.
	FramesPerSecond  float64
	FrameBurst       int
	EntriesPerSecond float64
	EntryBurst       int
	// AllowedPeers, if not empty, are the only addresses registers may
	// connect from; any other peer gets HTTP 403 before the upgrade, a log
	// line and an alarm "refused_peer" (at most one per address per
	// PeerAlarmInterval).
	AllowedPeers      []netip.Prefix
	PeerAlarmInterval time.Duration
	// Observer, if not nil, is told of sessions, batches and refusals,
	// for metrics.
	Observer Observer
	// RulesInterval is how often the gateway reads the rules to send a
	// change to every register (one read for all of them).
	RulesInterval time.Duration
	// StatusWriteInterval is how often at most a register's status is
	// written to the store when nothing in it changed that the office
	// should see at once (wire.StatusChanged): statuses in between are
	// dropped, so that registers' statuses cost the database little.
	StatusWriteInterval time.Duration

	store    Store
	feed     feed     // card changes, read once for every session
	rules    ruleFeed // the rules, read once for every session
	hotlist  hotlistFeed
	statuses statusWriter
	upgrader websocket.Upgrader
	ctx      context.Context
	cancel   context.CancelFunc

	mu     sync.Mutex // guards the fields below and feed's
	closed bool
	conns  map[*conn]struct{} // every open connection
	byTerm map[uint32]*conn   // the welcomed connection of each register
	wg     sync.WaitGroup

	peerMu      sync.Mutex
	peerAlarmed map[netip.Addr]time.Time // refused peers, when last alarmed
}

// New returns a gateway settling into store.
func New(store Store, logger *slog.Logger) *Gateway {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	g := &Gateway{
		Logger:              logger,
		Now:                 time.Now,
		HandshakeTimeout:    DefaultHandshakeTimeout,
		WriteTimeout:        DefaultWriteTimeout,
		PingInterval:        DefaultPingInterval,
		CardsPerFrame:       wire.MaxCards,
		CardsInterval:       DefaultCardsInterval,
		HotlistPerFrame:     wire.MaxHotlist,
		FramesPerSecond:     DefaultFramesPerSecond,
		FrameBurst:          DefaultFrameBurst,
		EntriesPerSecond:    DefaultEntriesPerSecond,
		EntryBurst:          DefaultEntryBurst,
		PeerAlarmInterval:   DefaultPeerAlarmInterval,
		RulesInterval:       DefaultRulesInterval,
		StatusWriteInterval: DefaultStatusWriteInterval,
		store:               store,
		upgrader: websocket.Upgrader{
			HandshakeTimeout: DefaultHandshakeTimeout,
			ReadBufferSize:   4096,
			WriteBufferSize:  4096,
		},
		ctx:    ctx,
		cancel: cancel,
		conns:  map[*conn]struct{}{},
		byTerm: map[uint32]*conn{},
	}
	g.feed.g = g
	g.rules.g = g
	g.hotlist.g = g
	g.statuses.start(g)
	return g
}

// ServeHTTP upgrades the request to a WebSocket and runs the register's
// session on it until it ends.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		http.Error(w, "server shutting down", http.StatusServiceUnavailable)
		return
	}
	g.wg.Add(1)
	g.mu.Unlock()
	defer g.wg.Done()

	if !g.allowed(r.RemoteAddr) {
		if g.Observer != nil {
			g.Observer.Refused("peer")
		}
		g.refusePeer(r.Context(), r.RemoteAddr)
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	ws, err := g.upgrader.Upgrade(w, r, nil)
	if err != nil {
		g.Logger.Info("terminal: websocket upgrade failed", "remote", r.RemoteAddr, "err", err)
		return // Upgrade wrote the HTTP error
	}
	c := &conn{g: g, ws: ws, remote: r.RemoteAddr, done: make(chan struct{})}
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		ws.Close()
		return
	}
	g.conns[c] = struct{}{}
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		delete(g.conns, c)
		if g.byTerm[c.terminal] == c {
			delete(g.byTerm, c.terminal)
		}
		g.mu.Unlock()
		ws.Close()
		if !c.since.IsZero() {
			g.disconnected(c)
		}
		if c.welcomed && g.Observer != nil {
			g.Observer.Session(c.terminal, false)
		}
		close(c.done)
	}()
	c.run(g.ctx)
}

// allowed reports whether a peer at remote (host:port) may connect.
func (g *Gateway) allowed(remote string) bool {
	if len(g.AllowedPeers) == 0 {
		return true
	}
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		return false
	}
	addr := ap.Addr().Unmap()
	for _, p := range g.AllowedPeers {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// refusePeer logs a peer outside AllowedPeers and raises an alarm, at most
// once per PeerAlarmInterval for each address, so that a scan does not
// flood the alarms.
func (g *Gateway) refusePeer(ctx context.Context, remote string) {
	g.Logger.Warn("terminal: refused peer: not in the allowed addresses", "remote", remote)
	var addr netip.Addr
	if ap, err := netip.ParseAddrPort(remote); err == nil {
		addr = ap.Addr().Unmap()
	}
	now := time.Now()
	g.peerMu.Lock()
	if g.peerAlarmed == nil || len(g.peerAlarmed) > 4096 {
		g.peerAlarmed = map[netip.Addr]time.Time{}
	}
	last, seen := g.peerAlarmed[addr]
	raise := !seen || now.Sub(last) >= g.PeerAlarmInterval
	if raise {
		g.peerAlarmed[addr] = now
	}
	g.peerMu.Unlock()
	if !raise {
		return
	}
	if _, err := g.store.RaiseAlarm(context.WithoutCancel(ctx), server.Alarm{Code: "refused_peer",
		Message: fmt.Sprintf("connection from %s refused: not in the allowed addresses", remote)}); err != nil {
		g.Logger.Error("terminal: raise alarm", "err", err)
	}
}

// Close closes every register's connection and waits for their sessions to
// end. A batch being settled is committed or rolled back, never half done.
func (g *Gateway) Close() error {
	g.mu.Lock()
	g.closed = true
	conns := make([]*conn, 0, len(g.conns))
	for c := range g.conns {
		conns = append(conns, c)
	}
	g.mu.Unlock()
	for _, c := range conns {
		c.kick(websocket.CloseGoingAway, "server shutting down")
	}
	g.cancel()
	g.wg.Wait()
	return nil
}

// attach makes c the connection of its register and closes the older one,
// waiting until it has ended so that the new session starts from the state
// the old one left.
func (g *Gateway) attach(c *conn) {
	g.mu.Lock()
	old := g.byTerm[c.terminal]
	g.byTerm[c.terminal] = c
	g.mu.Unlock()
	if old == nil {
		return
	}
	g.Logger.Warn("terminal: register connected again: closing the older connection",
		"terminal", c.terminal, "remote", c.remote, "older", old.remote)
	old.kick(websocket.ClosePolicyViolation, "replaced by a newer connection")
	select {
	case <-old.done:
	case <-time.After(g.WriteTimeout + 5*time.Second):
		g.Logger.Error("terminal: older connection did not end", "terminal", c.terminal, "older", old.remote)
	}
}

// conn is one register's session.
type conn struct {
	g        *Gateway
	ws       *websocket.Conn
	remote   string
	terminal uint32       // set once Hello is read
	welcomed bool         // set once Welcome is sent
	since    time.Time    // when the session began, as TerminalConnected recorded it
	status   sentStatus   // the register's status as last stored, for the throttle
	log      *slog.Logger // set before the session starts
	done     chan struct{}

	wmu sync.Mutex // one writer at a time, as gorilla/websocket requires
	// settling is held from a batch's settlement to its acks being
	// written, and by each card frame's write: a frame holding the card
	// changes a batch made never reaches the register before the batch's
	// acks, which would have it count its own pending sales twice in the
	// balance it shows until the acks came.
	settling sync.Mutex
}

// refusal ends a session with a wire.Refused.
type refusal struct {
	code  wire.RefuseCode
	msg   string
	alarm string // alarm code to raise; "" for none
	err   error
}

// Error implements the error interface.
func (r *refusal) Error() string { return r.msg }

// reason names the refusal for metrics: see Observer.Refused.
func (r *refusal) reason() string {
	if r.alarm == "oversized" {
		return "oversized"
	}
	switch r.code {
	case wire.RefuseUnknownTerminal:
		return "unknown_terminal"
	case wire.RefuseBadSignature:
		return "bad_signature"
	case wire.RefuseChain:
		return "chain"
	case wire.RefuseMalformed:
		return "malformed"
	case wire.RefuseDisabled:
		return "disabled"
	}
	return "internal"
}

func refuse(code wire.RefuseCode, alarm string, err error, format string, args ...any) *refusal {
	return &refusal{code: code, msg: fmt.Sprintf(format, args...), alarm: alarm, err: err}
}

// run is the session: handshake, then entries in and acks and cards out.
func (c *conn) run(parent context.Context) {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	c.log = c.g.Logger.With("remote", c.remote)
	c.ws.SetReadLimit(wire.MaxFrame)

	hello, err := c.handshake(ctx)
	if err == nil {
		c.log = c.log.With("terminal", c.terminal)
		c.log.Info("terminal: connected", "card_cursor", hello.CardCursor)
		err = c.session(ctx, hello)
	}
	c.end(ctx, err)
}

// end ends the session for err: a refusal is sent to the register, logged
// and, if it calls for one, raised as an alarm; a connection that ended or
// broke is logged.
func (c *conn) end(ctx context.Context, err error) {
	var r *refusal
	switch {
	case errors.As(err, &r):
		level := slog.LevelWarn
		if r.code == wire.RefuseInternal {
			level = slog.LevelError
		}
		c.log.Log(ctx, level, "terminal: refused", "code", int(r.code), "reason", r.msg, "err", r.err)
		if c.g.Observer != nil {
			c.g.Observer.Refused(r.reason())
		}
		if r.alarm != "" {
			if _, err := c.g.store.RaiseAlarm(context.WithoutCancel(ctx), server.Alarm{Terminal: c.terminal, Code: r.alarm,
				Message: fmt.Sprintf("register %d from %s: %s", c.terminal, c.remote, r.msg)}); err != nil {
				c.log.Error("terminal: raise alarm", "err", err)
			}
		}
		if err := c.write(&wire.Refused{Code: r.code, Message: r.msg}); err != nil {
			c.log.Info("terminal: send refusal", "err", err)
		}
		c.kick(websocket.ClosePolicyViolation, "refused")
	default:
		// Every fault of the server's own is a refusal (RefuseInternal):
		// what is left is the connection ending, or failing on the way.
		c.log.Info("terminal: disconnected", "err", err)
		c.ws.Close()
	}
}

// handshake challenges the register and checks its answer.
func (c *conn) handshake(ctx context.Context) (*wire.Hello, error) {
	var nonce [wire.NonceSize]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return nil, refuse(wire.RefuseInternal, "", err, "internal error")
	}
	if err := c.write(&wire.Challenge{Nonce: nonce, ServerTime: c.g.Now().UnixMilli()}); err != nil {
		return nil, err
	}
	c.ws.SetReadDeadline(time.Now().Add(c.g.HandshakeTimeout))
	m, err := c.read()
	if err != nil {
		return nil, err
	}
	hello, ok := m.(*wire.Hello)
	if !ok {
		return nil, refuse(wire.RefuseMalformed, "", nil, "expected hello, got message type %d", m.Type())
	}
	c.terminal = hello.Terminal
	t, err := c.g.store.Terminal(ctx, hello.Terminal)
	switch {
	case server.ErrorCode(err) == server.ENOTFOUND:
		return nil, refuse(wire.RefuseUnknownTerminal, "", nil, "unknown register %d", hello.Terminal)
	case err != nil:
		return nil, refuse(wire.RefuseInternal, "", err, "internal error")
	case !t.Enrolled():
		return nil, refuse(wire.RefuseUnknownTerminal, "", nil, "register %d has not enrolled", hello.Terminal)
	case t.Disabled:
		return nil, refuse(wire.RefuseDisabled, "", nil, "register %d is disabled", hello.Terminal)
	case !ed25519.Verify(t.PublicKey, wire.HelloMessage(nonce, hello.Terminal), hello.Sig[:]):
		return nil, refuse(wire.RefuseBadSignature, "handshake", nil, "hello not signed by register %d's key", hello.Terminal)
	}
	return hello, nil
}

// session runs a welcomed register's stream.
func (c *conn) session(ctx context.Context, hello *wire.Hello) error {
	c.g.attach(c)
	c.since = c.g.Now()
	if err := c.g.store.TouchTerminal(ctx, c.terminal, c.since); err != nil {
		c.g.Logger.Error("terminal: record last seen", "terminal", c.terminal, "err", err)
	}
	if err := c.g.store.TerminalConnected(ctx, c.terminal, c.since); err != nil {
		c.g.Logger.Error("terminal: record the session's start", "terminal", c.terminal, "err", err)
	}
	// Read the cursor after the older connection has ended, so that it
	// holds everything that connection settled.
	t, err := c.g.store.Terminal(ctx, c.terminal)
	if err != nil {
		return refuse(wire.RefuseInternal, "", err, "internal error")
	}
	if err := c.write(&wire.Welcome{LastSeq: t.LastSeq, LastHash: t.LastHash, ServerTime: c.g.Now().UnixMilli()}); err != nil {
		return err
	}
	c.welcomed = true
	if c.g.Observer != nil {
		c.g.Observer.Session(c.terminal, true)
	}
	// The rules go out before any card, so that the register decides its
	// next sale by them; subscribing first, so that no change is missed.
	rulesChanged := c.g.rules.subscribe(c)
	defer c.g.rules.unsubscribe(c)
	rules, err := c.g.rules.latest(ctx)
	if err != nil {
		return refuse(wire.RefuseInternal, "", err, "internal error")
	}
	if err := c.sendRules(rules); err != nil {
		return err
	}
	if err := c.write(&wire.StatusRequest{}); err != nil {
		return err
	}

	// Card changes and pings go out from their own goroutine, the hotlist
	// from another; entries come in on this one. If a pusher fails, it
	// ends the connection itself, which ends this goroutine's read or
	// write. A register whose Hello carried no hotlist cursor is older
	// than the Hotlist message and is sent none.
	pushCtx, stopPush := context.WithCancel(ctx)
	var wg sync.WaitGroup
	if hello.Hotlist {
		hotlistChanged := c.g.hotlist.subscribe(c)
		defer c.g.hotlist.unsubscribe(c)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.followHotlist(pushCtx, hello.HotlistCursor, hotlistChanged); err != nil && pushCtx.Err() == nil {
				c.end(pushCtx, err)
			}
		}()
	}
	wg.Add(2)
	go func() {
		defer wg.Done()
		if err := c.push(pushCtx, hello.CardCursor); err != nil && pushCtx.Err() == nil {
			c.end(pushCtx, err)
		}
	}()
	go func() {
		defer wg.Done()
		c.followRules(pushCtx, rulesChanged, rules.Version)
	}()
	defer func() {
		stopPush()
		wg.Wait()
	}()

	c.ws.SetPongHandler(func(string) error {
		c.ws.SetReadDeadline(time.Now().Add(2 * c.g.PingInterval))
		return nil
	})
	// One batch in flight: the next frame is read only once this one is
	// settled and acked, and only once the register is under its rate
	// limits. Until then its frames wait in the network's buffers and then
	// on the register, which keeps journaling.
	lim := c.g.newLimiter()
	for {
		if err := c.pace(ctx, lim); err != nil {
			return err
		}
		c.ws.SetReadDeadline(time.Now().Add(2 * c.g.PingInterval))
		m, err := c.read()
		if err != nil {
			return err
		}
		now := time.Now()
		lim.frames.take(1, now)
		switch m := m.(type) {
		case *wire.Entries:
			lim.entries.take(len(m.Entries), now)
			if err := c.settle(ctx, m); err != nil {
				return err
			}
		case *wire.Status:
			c.reportStatus(m)
		default:
			return refuse(wire.RefuseMalformed, "", nil, "expected entries or a status, got message type %d", m.Type())
		}
	}
}

// settle settles one batch and acks it.
func (c *conn) settle(ctx context.Context, batch *wire.Entries) error {
	if len(batch.Entries) == 0 {
		return nil
	}
	var settled func([]wire.Ack, error)
	if c.g.Observer != nil {
		settled = c.g.Observer.Batch(c.terminal, batch.Entries)
	}
	c.settling.Lock()
	defer c.settling.Unlock()
	acks, err := c.g.store.Settle(ctx, c.terminal, batch.Entries)
	if settled != nil {
		settled(acks, err)
	}
	if err != nil {
		return settleRefusal(err)
	}
	return c.write(&wire.Acks{Acks: acks})
}

// settleRefusal maps a Settle error to the refusal the register gets.
func settleRefusal(err error) *refusal {
	switch {
	case errors.Is(err, journal.ErrChain):
		return refuse(wire.RefuseChain, "chain", err, "%v", err)
	case errors.Is(err, journal.ErrSignature):
		return refuse(wire.RefuseBadSignature, "signature", err, "%v", err)
	case errors.Is(err, journal.ErrMalformed), errors.Is(err, journal.ErrVersion), errors.Is(err, journal.ErrInvalid):
		return refuse(wire.RefuseMalformed, "malformed", err, "%v", err)
	}
	switch server.ErrorCode(err) {
	case server.ENOTFOUND:
		return refuse(wire.RefuseUnknownTerminal, "", err, "%s", server.ErrorMessage(err))
	case server.EFORBIDDEN:
		return refuse(wire.RefuseDisabled, "", err, "%s", server.ErrorMessage(err))
	case server.EINVALID:
		return refuse(wire.RefuseMalformed, "", err, "%s", server.ErrorMessage(err))
	}
	return refuse(wire.RefuseInternal, "", err, "internal error")
}

// push sends the card changes after cursor, then each change as it
// commits, and pings the register when idle. It catches up from the store
// on its own, then follows the gateway's broadcast; a session that falls
// behind the broadcast catches up again.
func (c *conn) push(ctx context.Context, cursor uint64) error {
	ping := time.NewTicker(c.g.PingInterval)
	defer ping.Stop()
	if cursor == 0 {
		var err error
		if cursor, err = c.sendCardList(ctx); err != nil || ctx.Err() != nil {
			return err
		}
	}
	for {
		var err error
		if cursor, err = c.sendCards(ctx, cursor); err != nil {
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
		if err := c.g.feed.start(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return refuse(wire.RefuseInternal, "", err, "internal error")
		}
		s := c.g.feed.join(cursor)
		if s == nil {
			// Behind the broadcast (or the gateway is closing): catch up
			// again after a moment.
			select {
			case <-ctx.Done():
				return nil
			case <-ping.C:
				if err := c.ping(); err != nil {
					return err
				}
			case <-time.After(time.Millisecond):
			}
			continue
		}
		cursor, err = c.follow(ctx, s, cursor, ping)
		c.g.feed.leave(s)
		if err != nil || ctx.Err() != nil {
			return err
		}
	}
}

// follow sends the broadcast's frames after cursor until the session ends
// or falls behind, and returns the new cursor.
func (c *conn) follow(ctx context.Context, s *subscription, cursor uint64, ping *time.Ticker) (uint64, error) {
	send := func(f cardFrame) error {
		if f.to <= cursor {
			return nil
		}
		if err := c.writeCardFrame(f.b); err != nil {
			return fmt.Errorf("write cards: %w", err)
		}
		cursor = f.to
		return nil
	}
	for {
		select {
		case <-ctx.Done():
			return cursor, nil
		case f := <-s.frames:
			if err := send(f); err != nil {
				return cursor, err
			}
		case <-s.dropped:
			for {
				select {
				case f := <-s.frames:
					if err := send(f); err != nil {
						return cursor, err
					}
				default:
					return cursor, nil
				}
			}
		case <-ping.C:
			if err := c.ping(); err != nil {
				return cursor, err
			}
		}
	}
}

// ping pings the register.
func (c *conn) ping() error {
	return c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(c.g.WriteTimeout))
}

// sendCardList sends a register that holds no card every card, in card
// number order, and returns the cursor it then holds: the card version
// when the list was begun. Every frame but the last carries cursor 0, so
// that a register whose list was cut short holds no cursor and is sent the
// list again (the cards it stored are skipped, being no newer); the last
// one carries the version. A card changed meanwhile may go out newer than
// that version; the changes after it, sent next, hold it again. In key
// order the register's bbolt appends each card, where in Version order
// (spread over the key space) it rewrites a page for each: for a million
// cards that is the difference between seconds and minutes.
func (c *conn) sendCardList(ctx context.Context) (uint64, error) {
	version, err := c.g.store.CardVersion(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return 0, nil
		}
		return 0, refuse(wire.RefuseInternal, "", err, "internal error")
	}
	if version == 0 {
		return 0, nil
	}
	limit := min(max(c.g.CardsPerFrame, 1), wire.MaxCards)
	after := ""
	for {
		cards, err := c.g.store.CardsAfter(ctx, after, limit)
		if err != nil {
			if ctx.Err() != nil {
				return 0, nil
			}
			return 0, refuse(wire.RefuseInternal, "", err, "internal error")
		}
		m := &wire.Cards{Cards: make([]wire.Card, len(cards))}
		for i, card := range cards {
			m.Cards[i] = card.Wire()
		}
		if len(cards) < limit {
			m.Cursor = version
		}
		if err := c.writeCards(m); err != nil {
			return 0, err
		}
		if m.Cursor != 0 {
			return version, nil
		}
		after = cards[len(cards)-1].CardNo
	}
}

// sendCards sends every card changed after cursor, in frames of at most
// CardsPerFrame, and returns the new cursor.
func (c *conn) sendCards(ctx context.Context, cursor uint64) (uint64, error) {
	limit := min(max(c.g.CardsPerFrame, 1), wire.MaxCards)
	for {
		cards, err := c.g.store.CardsSince(ctx, cursor, limit)
		if err != nil {
			if ctx.Err() != nil {
				return cursor, nil
			}
			return cursor, refuse(wire.RefuseInternal, "", err, "internal error")
		}
		if len(cards) == 0 {
			return cursor, nil
		}
		m := &wire.Cards{Cursor: cards[len(cards)-1].Version, Cards: make([]wire.Card, len(cards))}
		for i, card := range cards {
			m.Cards[i] = card.Wire()
		}
		if err := c.writeCards(m); err != nil {
			return cursor, err
		}
		cursor = m.Cursor
		if len(cards) < limit {
			return cursor, nil
		}
	}
}

// read reads one message; a frame that is not a well-formed binary wire
// message is refused.
func (c *conn) read() (wire.Message, error) {
	typ, b, err := c.ws.ReadMessage()
	if err != nil {
		if errors.Is(err, websocket.ErrReadLimit) {
			return nil, refuse(wire.RefuseMalformed, "oversized", err, "frame larger than %d bytes", wire.MaxFrame)
		}
		return nil, err
	}
	if typ != websocket.BinaryMessage {
		return nil, refuse(wire.RefuseMalformed, "", nil, "text frame: the protocol is binary")
	}
	m, err := wire.Decode(b)
	if err != nil {
		return nil, refuse(wire.RefuseMalformed, "", err, "%v", err)
	}
	return m, nil
}

// write sends one message within the write timeout.
func (c *conn) write(m wire.Message) error {
	b, err := wire.Encode(m)
	if err != nil {
		return fmt.Errorf("encode %T: %w", m, err)
	}
	if err := c.writeFrame(b); err != nil {
		return fmt.Errorf("write %T: %w", m, err)
	}
	return nil
}

// writeCards sends m once no batch is being settled: see conn.settling.
func (c *conn) writeCards(m *wire.Cards) error {
	b, err := wire.Encode(m)
	if err != nil {
		return fmt.Errorf("encode %T: %w", m, err)
	}
	if err := c.writeCardFrame(b); err != nil {
		return fmt.Errorf("write %T: %w", m, err)
	}
	return nil
}

// writeCardFrame sends an encoded Cards frame once no batch is being
// settled: see conn.settling.
func (c *conn) writeCardFrame(b []byte) error {
	c.settling.Lock()
	defer c.settling.Unlock()
	return c.writeFrame(b)
}

// writeFrame sends one encoded message within the write timeout.
func (c *conn) writeFrame(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.ws.SetWriteDeadline(time.Now().Add(c.g.WriteTimeout))
	return c.ws.WriteMessage(websocket.BinaryMessage, b)
}

// kick sends a close frame, best effort, and closes the connection, which
// ends the session's reads and writes.
func (c *conn) kick(code int, reason string) {
	// WriteControl and Close may be called concurrently with the other
	// methods.
	c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(time.Second))
	c.ws.Close()
}
