package uplink_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	sj "github.com/fanka/fanka/shared/journal"
	"github.com/fanka/fanka/shared/wire"
	"github.com/fanka/fanka/terminal/journal"
	"github.com/fanka/fanka/terminal/uplink"
)

var key = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{5}, 32))

// ledger is what a fake server settled: several fake servers may share one,
// as server instances share a database.
type ledger struct {
	mu       sync.Mutex
	lastSeq  uint64
	lastHash sj.Hash
	hashes   map[uint64]sj.Hash // every entry settled, by seq
	replays  int                // entries received again after they settled
}

// settle records entry b as a server does: the next seq is settled, an
// earlier one is a replay and must be the same entry, a later one is a gap.
func (l *ledger) settle(b []byte) (sj.Entry, error) {
	e, err := sj.Unmarshal(b)
	if err != nil {
		return e, err
	}
	h := sj.HashBytes(b)
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case e.Seq == l.lastSeq+1:
		if l.hashes == nil {
			l.hashes = map[uint64]sj.Hash{}
		}
		l.hashes[e.Seq] = h
		l.lastSeq, l.lastHash = e.Seq, h
	case e.Seq <= l.lastSeq:
		if l.hashes[e.Seq] != h {
			return e, fmt.Errorf("entry %d sent again with another hash", e.Seq)
		}
		l.replays++
	default:
		return e, fmt.Errorf("entry %d after %d: a gap", e.Seq, l.lastSeq)
	}
	return e, nil
}

func (l *ledger) last() (uint64, sj.Hash) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lastSeq, l.lastHash
}

// fakeServer speaks the server's side of the terminal link: the
// handshake, then an ack for every entry.
type fakeServer struct {
	t     *testing.T
	db    *ledger
	mu    sync.Mutex
	conns []*websocket.Conn
	// rules, if set, are sent after the welcome, stamped with the server's
	// time plus skew.
	rules *wire.Rules
	skew  time.Duration
	// raw frames, if set, are sent after the welcome (and the rules) as
	// they are.
	raw [][]byte
	// hellos are the Hellos received, in order.
	hellos []*wire.Hello
	// askStatus makes the server send StatusRequest after the welcome, and
	// hold the entries it receives until the first Status arrives, so
	// that the first status shows the backlog the register connected with.
	askStatus bool
	// statuses are the Status messages received, in order.
	statuses []wire.Status
}

// hangUp closes every connection (httptest does not track hijacked ones).
func (s *fakeServer) hangUp() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		c.Close()
	}
	s.conns = nil
}

func (s *fakeServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	up := websocket.Upgrader{}
	conn, err := up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer conn.Close()
	s.mu.Lock()
	s.conns = append(s.conns, conn)
	s.mu.Unlock()
	send := func(m wire.Message) error {
		b, err := wire.Encode(m)
		if err != nil {
			return err
		}
		return conn.WriteMessage(websocket.BinaryMessage, b)
	}
	read := func() (wire.Message, error) {
		_, b, err := conn.ReadMessage()
		if err != nil {
			return nil, err
		}
		return wire.Decode(b)
	}
	ch := &wire.Challenge{Nonce: [wire.NonceSize]byte{1, 2, 3}, ServerTime: time.Now().UnixMilli()}
	if send(ch) != nil {
		return
	}
	m, err := read()
	if err != nil {
		return
	}
	hello := m.(*wire.Hello)
	s.mu.Lock()
	s.hellos = append(s.hellos, hello)
	s.mu.Unlock()
	if !ed25519.Verify(key.Public().(ed25519.PublicKey), wire.HelloMessage(ch.Nonce, hello.Terminal), hello.Sig[:]) {
		send(&wire.Refused{Code: wire.RefuseBadSignature, Message: "bad signature"})
		return
	}
	lastSeq, lastHash := s.db.last()
	welcome := &wire.Welcome{LastSeq: lastSeq, LastHash: lastHash, ServerTime: time.Now().UnixMilli()}
	if send(welcome) != nil {
		return
	}
	s.mu.Lock()
	rules := s.rules
	s.mu.Unlock()
	if rules != nil {
		m := *rules
		m.ServerTime = time.Now().Add(s.skew).UnixMilli()
		if send(&m) != nil {
			return
		}
	}
	for _, b := range s.raw {
		if conn.WriteMessage(websocket.BinaryMessage, b) != nil {
			return
		}
	}
	if s.askStatus && send(&wire.StatusRequest{}) != nil {
		return
	}
	var held [][]byte // entries held until the first status
	for {
		m, err := read()
		if err != nil {
			return
		}
		var entries [][]byte
		switch m := m.(type) {
		case *wire.Status:
			if !s.askStatus {
				s.t.Errorf("server: a status sent without StatusRequest: %+v", m)
				return
			}
			s.mu.Lock()
			s.statuses = append(s.statuses, *m)
			s.mu.Unlock()
			entries, held = held, nil
		case *wire.Entries:
			entries = m.Entries
			if s.askStatus && len(s.received()) == 0 {
				held = append(held, entries...)
				continue
			}
		}
		if len(entries) == 0 {
			continue
		}
		var acks wire.Acks
		for _, b := range entries {
			e, err := s.db.settle(b)
			if err != nil {
				s.t.Errorf("server: %v", err)
				return
			}
			acks.Acks = append(acks.Acks, wire.Ack{Seq: e.Seq, Outcome: wire.Settled, CardNo: e.CardNo})
		}
		if send(&acks) != nil {
			return
		}
	}
}

// received returns the statuses received so far.
func (s *fakeServer) received() []wire.Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]wire.Status(nil), s.statuses...)
}

// rig is an uplink on a journal, towards a fake server on a fixed address
// that the test starts and stops.
type rig struct {
	t       *testing.T
	addr    string
	server  *fakeServer
	httpSrv *httptest.Server
	journal *journal.Journal
	path    string
}

func newRig(t *testing.T) *rig {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	path := filepath.Join(t.TempDir(), "journal.db")
	j, err := journal.Open(path, 1, key)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	return &rig{t: t, addr: addr, server: &fakeServer{t: t, db: &ledger{}}, journal: j, path: path}
}

// start serves the fake server on the rig's address; it returns the pin.
func (r *rig) start() []byte {
	r.t.Helper()
	var l net.Listener
	var err error
	for i := 0; i < 50; i++ { // the port may linger a moment after stop
		if l, err = net.Listen("tcp", r.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		r.t.Fatal(err)
	}
	r.httpSrv = httptest.NewUnstartedServer(r.server)
	r.httpSrv.Listener = l
	r.httpSrv.Config.ErrorLog = nil
	r.httpSrv.StartTLS()
	sum := sha256.Sum256(r.httpSrv.Certificate().Raw)
	return sum[:]
}

func (r *rig) stop() {
	r.httpSrv.Close()
	r.server.hangUp()
}

func (r *rig) uplink(pin []byte) *uplink.Uplink {
	return r.uplinkLog(pin, slog.New(slog.DiscardHandler))
}

func (r *rig) uplinkLog(pin []byte, log *slog.Logger) *uplink.Uplink {
	return uplink.New(uplink.Config{
		URL: "wss://" + r.addr + "/", Terminal: 1, Key: key, Fingerprint: pin, Journal: r.journal,
		Logger: log, MaxBackoff: 10 * time.Second,
	})
}

// logBuffer collects a log.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestLastContact: the uplink says when it last heard from the server,
// records it in the journal, and a new uplink on the journal (a restart)
// knows it without a server.
func TestLastContact(t *testing.T) {
	r := newRig(t)
	pin := r.start()
	u := r.uplink(pin)
	if !u.LastContact().IsZero() {
		t.Fatal("contact before any")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { u.Run(ctx); close(done) }()
	before := time.Now()
	waitFor(t, "link up", u.Online)
	if c := u.LastContact(); c.Before(before.Add(-time.Second)) {
		t.Fatalf("last contact %v, link up after %v", c, before)
	}
	// An entry is sent and acked: contact moves on.
	up := u.LastContact()
	time.Sleep(2 * time.Millisecond)
	if _, err := r.journal.Record(sj.Entry{Kind: sj.KindSale, Time: time.Now().UnixMilli(), CardNo: "A1", Amount: 100}); err != nil {
		t.Fatal(err)
	}
	u.Wake()
	waitFor(t, "the ack", func() bool { return r.journal.Acked() == 1 })
	waitFor(t, "contact after the ack", func() bool { return u.LastContact().After(up) })
	r.stop()
	waitFor(t, "link down", func() bool { return !u.Online() })
	heard := u.LastContact()
	cancel()
	<-done

	saved, err := r.journal.Contact()
	if err != nil || saved.UnixMilli() != heard.UnixMilli() {
		t.Fatalf("journal holds contact %v (%v), uplink said %v", saved, err, heard)
	}
	if c := r.uplink(pin).LastContact(); c.UnixMilli() != heard.UnixMilli() {
		t.Fatalf("restarted uplink: contact %v, want %v", c, heard)
	}
}

// TestReach: with the server down the uplink waits between attempts (up to
// MaxBackoff); Reach makes it try at once and waits for the link.
func TestReach(t *testing.T) {
	r := newRig(t)
	pin := r.start() // for the certificate; the server is down at first
	r.stop()
	var log logBuffer
	u := r.uplinkLog(pin, slog.New(slog.NewTextHandler(&log, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go u.Run(ctx)
	start := time.Now()
	if u.Reach(200 * time.Millisecond) {
		t.Fatal("reached a server that is down")
	}
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Fatalf("Reach gave up after %v, not the wait", d)
	}
	// Let the backoff grow past what the test waits below (100 ms,
	// doubling: 3.2 s after 3 s of failures).
	time.Sleep(3 * time.Second)
	if pin2 := r.start(); !bytes.Equal(pin, pin2) {
		t.Fatal("httptest served another certificate: the pin no longer holds")
	}
	start = time.Now()
	if !u.Reach(3 * time.Second) {
		t.Fatal("Reach did not bring the link up")
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Reach took %v: it did not cut the backoff short", d)
	}
	if n := strings.Count(log.String(), "trying the server now"); n < 2 {
		t.Fatalf("the backoff was cut short %d times, want each Reach to cut it", n)
	}
	if c := u.LastContact(); time.Since(c) > time.Second {
		t.Fatalf("contact %v", c)
	}
	r.stop()
}
