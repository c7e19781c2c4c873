// Package uplink streams the register's journal to the server over one
// WebSocket (shared/wire) and brings back acks, card changes, the hotlist
// and the rules, which it stores in the journal.
//
// The register never waits for it: sales are durable in the journal first,
// and the uplink sends whatever the server has not settled, from the seq the
// server names at each connection, so nothing is lost and nothing is sent
// as new twice. It reconnects forever with backoff. Given several servers
// (instances on one database), it moves to the next one after a failed
// connection: whichever it reaches names the seq the database holds.
//
// To a server that asks (wire.StatusRequest) it also sends the register's
// status: its backlog, offline exposure, devices and disk.
package uplink

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/fanka/fanka/shared/wire"
	"github.com/fanka/fanka/terminal"
	"github.com/fanka/fanka/terminal/journal"
)

// Server is one server the register may stream to.
type Server struct {
	// URL of the server's terminal endpoint, e.g. wss://host:8443/api/v1/terminal/ws.
	URL string
	// Fingerprint is the SHA-256 of the server's certificate (DER), pinned at
	// enrolment or in the register's config. Nil means verify the
	// certificate with the system's roots.
	Fingerprint []byte
}

// Config says where and as whom to connect.
type Config struct {
	// URL and Fingerprint are the one server, when Servers is empty.
	URL         string
	Fingerprint []byte
	// Servers, if set, are the servers to stream to, all on one database:
	// the uplink starts with the first and moves to the next after each
	// failed connection.
	Servers  []Server
	Terminal uint32
	Key      ed25519.PrivateKey
	Journal  *journal.Journal
	Logger   *slog.Logger
	Now      func() time.Time
	// BatchSize is the most entries in one frame (default 500, ≤ wire.MaxBatch).
	BatchSize int
	// Window is the most entries sent and not yet acked (default 5000).
	Window int
	// MaxBackoff caps the wait between connection attempts (default 5 s).
	MaxBackoff time.Duration
	// OnAcks, if set, is called with each batch of acks once the journal
	// has recorded them (for measurements and monitoring; it must not block).
	OnAcks func([]wire.Ack)
	// OnRules, if set, is called with the server's sale rules each time
	// they arrive (after every handshake, and when they change), once the
	// journal has recorded them: the register's Register.SetServerRules.
	// It must not block.
	OnRules func(*wire.Rules)
	// Status, if set, returns the register's status (see
	// terminal.StatusSource), which the uplink sends to a server that
	// asks for it (wire.StatusRequest): at once, within a second of a
	// change wire.StatusChanged reports, and every StatusInterval
	// (default DefaultStatusInterval). It is called about once a second
	// once the server asked, and must be cheap.
	Status         func() wire.Status
	StatusInterval time.Duration
}

// DefaultStatusInterval is how often a register sends its status when
// nothing changes.
const DefaultStatusInterval = 15 * time.Second

// statusPoll is how often the uplink looks at the register's status for
// a change.
const statusPoll = time.Second

// MaxClockSkew is how far the register's clock may be from the server's
// before the uplink logs a warning each time the server sends its time.
const MaxClockSkew = 2 * time.Minute

// Uplink is the register's server link.
type Uplink struct {
	cfg     Config
	log     *slog.Logger
	wake    chan struct{}
	changed chan struct{}
	kick    chan struct{} // Reach: stop waiting between attempts
	online  atomic.Bool

	mu    sync.Mutex
	up    chan struct{} // closed while the link is up, replaced when it goes down
	heard time.Time     // when the server was last heard from (cfg.Now)
}

var _ terminal.Uplink = (*Uplink)(nil)

// ErrRefused is returned for a connection the server refused.
var ErrRefused = errors.New("uplink: refused by server")

// New returns an uplink; Run connects it.
func New(cfg Config) *Uplink {
	if cfg.BatchSize <= 0 || cfg.BatchSize > wire.MaxBatch {
		cfg.BatchSize = 500
	}
	if cfg.Window <= 0 {
		cfg.Window = 5000
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 5 * time.Second
	}
	if cfg.StatusInterval <= 0 {
		cfg.StatusInterval = DefaultStatusInterval
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if len(cfg.Servers) == 0 {
		cfg.Servers = []Server{{URL: cfg.URL, Fingerprint: cfg.Fingerprint}}
	}
	u := &Uplink{cfg: cfg, log: cfg.Logger.With("part", "uplink"),
		wake: make(chan struct{}, 1), changed: make(chan struct{}, 1), kick: make(chan struct{}, 1),
		up: make(chan struct{})}
	if cfg.Journal != nil {
		t, err := cfg.Journal.Contact()
		if err != nil {
			u.log.Error("last contact with the server unknown", "err", err)
		}
		u.heard = t
	}
	return u
}

// Wake says a new entry waits. It never blocks.
func (u *Uplink) Wake() { signal(u.wake) }

// Online reports whether the link is up (handshake done).
func (u *Uplink) Online() bool { return u.online.Load() }

// Changed is signalled when the link goes up or down or entries are settled.
func (u *Uplink) Changed() <-chan struct{} { return u.changed }

// LastContact returns when the server was last heard from: a message or a
// pong on this run's link, or else the time the journal recorded (see
// journal.SaveContact). It is the zero time if the register never reached
// the server.
func (u *Uplink) LastContact() time.Time {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.heard
}

// Reach makes Run try to connect at once if the link is down and waiting
// between attempts, and waits at most wait for the link to be up. It
// reports whether the link is up.
func (u *Uplink) Reach(wait time.Duration) bool {
	if u.Online() {
		return true
	}
	u.mu.Lock()
	up := u.up
	u.mu.Unlock()
	signal(u.kick)
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-up:
	case <-t.C:
	}
	return u.Online()
}

// touch notes that the server was just heard from.
func (u *Uplink) touch() {
	now := u.cfg.Now()
	u.mu.Lock()
	u.heard = now
	u.mu.Unlock()
}

// saveContact records the last contact in the journal.
func (u *Uplink) saveContact() {
	if err := u.cfg.Journal.SaveContact(u.LastContact()); err != nil {
		u.log.Warn("last contact not recorded", "err", err)
	}
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// Run keeps the link up until ctx ends. After a failed connection it tries
// the next server at once, and waits (backing off) only once every server
// failed in turn.
func (u *Uplink) Run(ctx context.Context) error {
	const firstBackoff = 100 * time.Millisecond
	backoff := firstBackoff
	servers := u.cfg.Servers
	cur, failed := 0, 0 // the server to try; servers failed in a row
	for {
		start := u.cfg.Now()
		err := u.session(ctx, servers[cur])
		u.setOnline(false)
		if ctx.Err() != nil {
			return nil
		}
		if u.cfg.Now().Sub(start) > 10*time.Second {
			backoff, failed = firstBackoff, 0 // the link was up a while: retry soon
		}
		failed++
		wait := backoff
		if failed < len(servers) {
			wait = firstBackoff / 2 // another server may answer: try it soon
		} else {
			failed = 0
			backoff = min(backoff*2, u.cfg.MaxBackoff)
		}
		next := (cur + 1) % len(servers)
		u.log.Warn("link down", "err", err, "server", servers[cur].URL, "next", servers[next].URL, "retry_in", wait.String())
		cur = next
		t := time.NewTimer(wait + rand.N(wait/2+1))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		case <-u.kick:
			t.Stop()
			u.log.Info("trying the server now")
		}
	}
}

func (u *Uplink) setOnline(v bool) {
	if u.online.Swap(v) == v {
		return
	}
	u.mu.Lock()
	if v {
		close(u.up)
	} else {
		u.up = make(chan struct{})
	}
	u.mu.Unlock()
	if !v {
		u.saveContact()
	}
	signal(u.changed)
}

func tlsConfig(pin []byte) *tls.Config {
	if pin == nil {
		return &tls.Config{MinVersion: tls.VersionTLS12}
	}
	return &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: true, // replaced by the pin check below
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("uplink: server sent no certificate")
			}
			sum := sha256.Sum256(cs.PeerCertificates[0].Raw)
			if !bytes.Equal(sum[:], pin) {
				return fmt.Errorf("uplink: server certificate %x is not the pinned one", sum[:8])
			}
			return nil
		},
	}
}

const (
	writeWait = 10 * time.Second
	pongWait  = 45 * time.Second
	pingEvery = 15 * time.Second
)

// session runs one connection to srv until it fails.
func (u *Uplink) session(ctx context.Context, srv Server) error {
	d := websocket.Dialer{TLSClientConfig: tlsConfig(srv.Fingerprint), HandshakeTimeout: 5 * time.Second}
	conn, _, err := d.DialContext(ctx, srv.URL, nil)
	if err != nil {
		return fmt.Errorf("dial: %w", err)
	}
	defer conn.Close()
	conn.SetReadLimit(wire.MaxFrame)
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	j := u.cfg.Journal
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	m, err := read(conn)
	if err != nil {
		return err
	}
	ch, ok := m.(*wire.Challenge)
	if !ok {
		return fmt.Errorf("handshake: want challenge, got %T", m)
	}
	cursor, err := j.CardCursor()
	if err != nil {
		return err
	}
	hotCursor, err := j.HotlistCursor()
	if err != nil {
		return err
	}
	hello := &wire.Hello{Terminal: u.cfg.Terminal, CardCursor: cursor, Hotlist: true, HotlistCursor: hotCursor}
	copy(hello.Sig[:], ed25519.Sign(u.cfg.Key, wire.HelloMessage(ch.Nonce, u.cfg.Terminal)))
	var wmu sync.Mutex // gorilla allows one concurrent writer
	send := func(m wire.Message) error {
		b, err := wire.Encode(m)
		if err != nil {
			return err
		}
		wmu.Lock()
		defer wmu.Unlock()
		conn.SetWriteDeadline(time.Now().Add(writeWait))
		return conn.WriteMessage(websocket.BinaryMessage, b)
	}
	if err := send(hello); err != nil {
		return fmt.Errorf("handshake: %w", err)
	}
	if m, err = read(conn); err != nil {
		return err
	}
	var welcome *wire.Welcome
	switch m := m.(type) {
	case *wire.Welcome:
		welcome = m
	case *wire.Refused:
		return fmt.Errorf("%w: %d %s", ErrRefused, m.Code, m.Message)
	default:
		return fmt.Errorf("handshake: want welcome, got %T", m)
	}
	if err := j.Resume(welcome.LastSeq, welcome.LastHash); err != nil {
		u.log.Error("server and journal disagree: not streaming", "err", err)
		return err
	}
	if skew := time.Duration(welcome.ServerTime-u.cfg.Now().UnixMilli()) * time.Millisecond; skew > time.Minute || skew < -time.Minute {
		u.log.Warn("clock skew with server", "skew", skew.String())
	}
	u.log.Info("link up", "server", srv.URL, "server_seq", welcome.LastSeq, "journal_seq", j.Last())
	u.touch()
	u.saveContact()
	u.setOnline(true)

	conn.SetReadDeadline(time.Now().Add(pongWait))
	conn.SetPongHandler(func(string) error {
		u.touch()
		return conn.SetReadDeadline(time.Now().Add(pongWait))
	})
	readErr := make(chan error, 1)
	acked := make(chan struct{}, 1)
	statusAsked := make(chan struct{}, 1)
	go func() {
		for {
			m, err := read(conn)
			if errors.Is(err, wire.ErrType) {
				// A message of a newer server: skipped, so that a server
				// may add messages before every register knows them.
				u.log.Warn("message of an unknown type skipped", "err", err)
				u.touch()
				continue
			}
			if err == nil {
				u.touch()
				conn.SetReadDeadline(time.Now().Add(pongWait))
				err = u.handle(m)
			}
			if err != nil {
				readErr <- err
				return
			}
			switch m.(type) {
			case *wire.Acks:
				signal(acked)
				signal(u.changed)
			case *wire.StatusRequest:
				signal(statusAsked)
			}
		}
	}()

	sent := welcome.LastSeq
	ping := time.NewTicker(pingEvery)
	defer ping.Stop()
	var status statusSender // off until the server asks
	defer status.stop()
	for {
		if acked := j.Acked(); acked > sent {
			sent = acked
		}
		if inFlight := sent - j.Acked(); inFlight < uint64(u.cfg.Window) {
			n := min(u.cfg.BatchSize, u.cfg.Window-int(inFlight))
			batch, err := j.Entries(sent, n)
			if err != nil {
				return err
			}
			if len(batch) > 0 {
				if err := send(&wire.Entries{Entries: batch}); err != nil {
					return fmt.Errorf("send: %w", err)
				}
				sent += uint64(len(batch))
				continue
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-readErr:
			return err
		case <-u.wake:
		case <-acked:
		case <-statusAsked:
			if err := status.start(u.cfg, send); err != nil {
				return err
			}
		case <-status.tick():
			if err := status.poll(u.cfg, send); err != nil {
				return err
			}
		case <-ping.C:
			u.saveContact()
			wmu.Lock()
			err := conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(writeWait))
			wmu.Unlock()
			if err != nil {
				return fmt.Errorf("ping: %w", err)
			}
		}
	}
}

func (u *Uplink) handle(m wire.Message) error {
	j := u.cfg.Journal
	switch m := m.(type) {
	case *wire.Acks:
		if err := j.ApplyAcks(m.Acks); err != nil {
			return err
		}
		if u.cfg.OnAcks != nil {
			u.cfg.OnAcks(m.Acks)
		}
		for _, a := range m.Acks {
			if a.Outcome != wire.Settled {
				u.log.Warn("entry settled with a remark", "seq", a.Seq, "card", a.CardNo, "outcome", a.Outcome.String(), "balance", a.Balance.String())
			}
		}
	case *wire.Cards:
		if err := j.ApplyCards(m); err != nil {
			return err
		}
		u.log.Info("cards received", "cards", len(m.Cards), "cursor", m.Cursor)
	case *wire.RulesV1:
		// The gateway sends the rules as Rules, then as RulesV1 for
		// registers that predate Rules: that of the version held, from
		// the Rules just before, is skipped. A server that predates
		// Rules sends only RulesV1, and those apply.
		if held, ok, err := j.ServerRules(); err == nil && ok && held.Version == m.Version {
			return nil
		}
		return u.handle(&m.Rules)
	case *wire.Hotlist:
		if err := j.ApplyHotlist(m); err != nil {
			return err
		}
		u.log.Info("hotlist received", "entries", len(m.Entries), "snapshot", m.Flags&wire.HotlistSnapshot != 0, "cursor", m.Cursor)
	case *wire.Rules:
		if skew := time.Duration(m.ServerTime-u.cfg.Now().UnixMilli()) * time.Millisecond; skew > MaxClockSkew || skew < -MaxClockSkew {
			u.log.Warn("clock skew: the register's clock differs from the server's; fix the register's time (NTP)",
				"skew", skew.String(), "server_time", time.UnixMilli(m.ServerTime))
		}
		if err := j.SaveRules(m); err != nil {
			return err
		}
		u.log.Info("rules received", "version", m.Version)
		if u.cfg.OnRules != nil {
			u.cfg.OnRules(m)
		}
	case *wire.StatusRequest:
		// The session's loop starts sending the status.
	case *wire.Refused:
		return fmt.Errorf("%w: %d %s", ErrRefused, m.Code, m.Message)
	default:
		return fmt.Errorf("uplink: unexpected %T", m)
	}
	return nil
}

// statusSender sends the register's status on one connection, once the
// server asked for it.
type statusSender struct {
	ticker *time.Ticker // every statusPoll once asked; nil before
	last   wire.Status  // the status last sent
	at     time.Time    // when (cfg.Now)
}

// start sends the status now and from then on (a register with no Status
// function sends none).
func (s *statusSender) start(cfg Config, send func(wire.Message) error) error {
	if cfg.Status == nil || s.ticker != nil {
		return nil
	}
	s.ticker = time.NewTicker(statusPoll)
	return s.send(cfg, cfg.Status(), send)
}

// tick is when to look at the status again: never before start.
func (s *statusSender) tick() <-chan time.Time {
	if s.ticker == nil {
		return nil
	}
	return s.ticker.C
}

func (s *statusSender) stop() {
	if s.ticker != nil {
		s.ticker.Stop()
	}
}

// poll sends the status if it changed in a way the office should see now,
// or if StatusInterval has passed since the last.
func (s *statusSender) poll(cfg Config, send func(wire.Message) error) error {
	st := cfg.Status()
	if !wire.StatusChanged(s.last, st) && cfg.Now().Sub(s.at) < cfg.StatusInterval {
		return nil
	}
	return s.send(cfg, st, send)
}

func (s *statusSender) send(cfg Config, st wire.Status, send func(wire.Message) error) error {
	if err := send(&st); err != nil {
		return fmt.Errorf("send status: %w", err)
	}
	s.last, s.at = st, cfg.Now()
	return nil
}

func read(conn *websocket.Conn) (wire.Message, error) {
	kind, b, err := conn.ReadMessage()
	if err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	if kind != websocket.BinaryMessage {
		return nil, fmt.Errorf("read: frame type %d", kind)
	}
	return wire.Decode(b)
}
