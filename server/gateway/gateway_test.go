package gateway_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gorilla/websocket"

	"github.com/fanka/fanka/server"
	"github.com/fanka/fanka/server/gateway"
	"github.com/fanka/fanka/server/servertest"
	"github.com/fanka/fanka/server/sqlite"
	"github.com/fanka/fanka/shared/journal"
	"github.com/fanka/fanka/shared/wire"
)

// env is a gateway on a TLS test server over a real SQLite store.
type env struct {
	store *sqlite.DB
	gw    *gateway.Gateway
	url   string
	tls   *tls.Config
	logs  *syncBuffer
}

func newEnv(t *testing.T, configure ...func(*gateway.Gateway)) *env {
	t.Helper()
	e := &env{store: servertest.MustOpenSQLite(t, nil), logs: &syncBuffer{}}
	servertest.NoLimits(t, e.store)
	e.gw = gateway.New(e.store, slog.New(slog.NewTextHandler(e.logs, nil)))
	for _, f := range configure {
		f(e.gw)
	}
	e.url, e.tls = serve(t, e.gw)
	return e
}

// serve serves gw on a TLS test server until the test ends, and returns
// its WebSocket URL and a TLS config that trusts it.
func serve(t *testing.T, gw *gateway.Gateway) (string, *tls.Config) {
	srv := httptest.NewTLSServer(gw)
	t.Cleanup(func() {
		gw.Close()
		srv.Close()
	})
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	return "wss" + strings.TrimPrefix(srv.URL, "https"), &tls.Config{RootCAs: pool}
}

func (e *env) dial(t *testing.T) *servertest.Client { return servertest.Dial(t, e.url, e.tls) }

func (e *env) register(t *testing.T) *servertest.Register {
	r := servertest.NewRegister(t)
	servertest.Enroll(t, e.store, r)
	return r
}

// expectRefused reads until a Refused arrives, checks its code, and checks
// that the server then closes the connection.
func expectRefused(t *testing.T, c *servertest.Client, code wire.RefuseCode) *wire.Refused {
	t.Helper()
	ref := servertest.Expect[*wire.Refused](t, c)
	if ref.Code != code {
		t.Fatalf("refused with code %d (%q), want %d", ref.Code, ref.Message, code)
	}
	if _, err := c.Recv(); err == nil {
		t.Fatal("connection still open after a refusal")
	} else if !websocket.IsCloseError(err, websocket.ClosePolicyViolation) {
		t.Logf("after the refusal: %v", err)
	}
	return ref
}

func TestHandshakeSettleAck(t *testing.T) {
	e := newEnv(t)
	opened := servertest.OpenCard(t, e.store, "04A1B2C3D4E5F6", 10000)
	r := e.register(t)
	c := e.dial(t)
	w := c.Handshake(t, r, 0)
	if w.LastSeq != 0 || w.LastHash != (journal.Hash{}) || w.ServerTime == 0 {
		t.Errorf("welcome %+v, want a fresh register", w)
	}
	cards := servertest.Expect[*wire.Cards](t, c)
	card, _ := e.store.Card(context.Background(), opened.CardNo)
	want := &wire.Cards{Cursor: card.Version, Cards: []wire.Card{card.Wire()}}
	if diff := cmp.Diff(want, cards); diff != "" {
		t.Errorf("initial cards (-want +got):\n%s", diff)
	}

	e1, e2 := r.Sale(t, opened.CardNo, 1250), r.Sale(t, opened.CardNo, 9000)
	if err := c.Send(&wire.Entries{Entries: [][]byte{e1, e2}}); err != nil {
		t.Fatal(err)
	}
	// The acks and the card delta of the same commit race to the wire.
	var acks *wire.Acks
	var pushed *wire.Cards
	for acks == nil || pushed == nil {
		m, err := c.Recv()
		if err != nil {
			t.Fatal(err)
		}
		switch m := m.(type) {
		case *wire.Acks:
			acks = m
		case *wire.Cards:
			pushed = m
		default:
			t.Fatalf("got %#v", m)
		}
	}
	if len(acks.Acks) != 2 || acks.Acks[0].Seq != 1 || acks.Acks[0].Balance != 8750 || acks.Acks[0].Outcome != wire.Settled ||
		acks.Acks[1].Outcome != wire.SettledOverdraft || acks.Acks[1].Balance != -250 || acks.Acks[1].TodayCount != 2 {
		t.Errorf("acks: %+v", acks.Acks)
	}
	// The register's own card changes come back as a delta too.
	if len(pushed.Cards) != 1 || pushed.Cards[0].Balance != -250 || pushed.Cursor != acks.Acks[1].Version {
		t.Errorf("pushed after the sales: %+v", pushed)
	}

	// Acks lost: the register resends; the server acks the same again.
	if err := c.Send(&wire.Entries{Entries: [][]byte{e1, e2}}); err != nil {
		t.Fatal(err)
	}
	again := servertest.Expect[*wire.Acks](t, c)
	if diff := cmp.Diff(acks, again); diff != "" {
		t.Errorf("replayed acks differ:\n%s", diff)
	}
	c.Conn.Close()

	// A new connection resumes after the last settled entry.
	c2 := e.dial(t)
	w = c2.Handshake(t, r, pushed.Cursor)
	if w.LastSeq != 2 || w.LastHash != r.Prev {
		t.Errorf("welcome after two sales: %+v", w)
	}
	if rep, err := e.store.Verify(context.Background()); err != nil || rep.Entries != 2 {
		t.Errorf("verify: %+v, %v", rep, err)
	}
}

func TestCardPush(t *testing.T) {
	e := newEnv(t, func(g *gateway.Gateway) { g.CardsPerFrame = 2 })
	for _, no := range []string{"0A01", "0A02", "0A03"} {
		servertest.OpenCard(t, e.store, no, 100)
	}
	r := e.register(t)
	c := e.dial(t)
	c.Handshake(t, r, 0)
	// A new register: three cards in frames of two, in card number order;
	// only the last frame carries a cursor, the card version when the list
	// began.
	first := servertest.Expect[*wire.Cards](t, c)
	second := servertest.Expect[*wire.Cards](t, c)
	if len(first.Cards) != 2 || len(second.Cards) != 1 || first.Cards[0].CardNo != "0A01" || second.Cards[0].CardNo != "0A03" ||
		first.Cursor != 0 || second.Cursor != second.Cards[0].Version {
		t.Fatalf("catch-up frames: %+v, %+v", first, second)
	}
	cursor := second.Cursor

	// Another register sells on a card: this register hears of it.
	other := e.register(t)
	if _, err := e.store.Settle(context.Background(), other.ID, [][]byte{other.Sale(t, "0A02", 30)}); err != nil {
		t.Fatal(err)
	}
	pushed := servertest.Expect[*wire.Cards](t, c)
	if len(pushed.Cards) != 1 || pushed.Cards[0].CardNo != "0A02" || pushed.Cards[0].Balance != 70 || pushed.Cursor <= cursor {
		t.Errorf("pushed after another register's sale: %+v", pushed)
	}
	// The office opens a card: pushed too.
	servertest.OpenCard(t, e.store, "0A04", 500)
	pushed = servertest.Expect[*wire.Cards](t, c)
	if len(pushed.Cards) != 1 || pushed.Cards[0].CardNo != "0A04" || pushed.Cards[0].Status != wire.CardActive {
		t.Errorf("pushed after a new card: %+v", pushed)
	}

	// A register reconnecting with its cursor gets only what is newer.
	c.Conn.Close()
	c2 := e.dial(t)
	c2.Handshake(t, r, cursor)
	catchUp := servertest.Expect[*wire.Cards](t, c2)
	if len(catchUp.Cards) != 2 || catchUp.Cards[0].CardNo != "0A02" || catchUp.Cards[1].CardNo != "0A04" {
		t.Errorf("catch-up from cursor %d: %+v", cursor, catchUp)
	}
}

func TestHandshakeRefusals(t *testing.T) {
	e := newEnv(t)
	r := e.register(t)

	t.Run("unknown register", func(t *testing.T) {
		stranger := servertest.NewRegister(t)
		stranger.ID = 4242
		c := e.dial(t)
		m, err := c.Hello(stranger, 0)
		if ref, ok := m.(*wire.Refused); err != nil || !ok || ref.Code != wire.RefuseUnknownTerminal {
			t.Fatalf("hello from an unknown register: %#v, %v", m, err)
		}
		if !strings.Contains(e.logs.String(), "unknown register 4242") {
			t.Errorf("refusal not logged:\n%s", e.logs)
		}
	})
	t.Run("wrong key", func(t *testing.T) {
		impostor := *r
		_, impostor.Key, _ = ed25519.GenerateKey(rand.Reader)
		c := e.dial(t)
		m, err := c.Hello(&impostor, 0)
		if ref, ok := m.(*wire.Refused); err != nil || !ok || ref.Code != wire.RefuseBadSignature {
			t.Fatalf("hello with the wrong key: %#v, %v", m, err)
		}
		alarms, _ := e.store.Alarms(context.Background(), 1)
		if len(alarms) != 1 || alarms[0].Code != "handshake" || alarms[0].Terminal != r.ID {
			t.Errorf("alarms: %+v", alarms)
		}
	})
	t.Run("not a hello", func(t *testing.T) {
		c := e.dial(t)
		servertest.Expect[*wire.Challenge](t, c)
		c.Send(&wire.Entries{})
		expectRefused(t, c, wire.RefuseMalformed)
	})
	t.Run("text frame", func(t *testing.T) {
		c := e.dial(t)
		servertest.Expect[*wire.Challenge](t, c)
		c.Conn.WriteMessage(websocket.TextMessage, []byte("hello"))
		expectRefused(t, c, wire.RefuseMalformed)
	})
	t.Run("oversized frame", func(t *testing.T) {
		c := e.dial(t)
		servertest.Expect[*wire.Challenge](t, c)
		c.Conn.WriteMessage(websocket.BinaryMessage, make([]byte, wire.MaxFrame+1))
		if _, err := c.Recv(); err == nil {
			t.Fatal("connection open after an oversized frame")
		}
	})
	t.Run("disabled", func(t *testing.T) {
		if err := e.store.SetTerminalDisabled(context.Background(), r.ID, true); err != nil {
			t.Fatal(err)
		}
		defer e.store.SetTerminalDisabled(context.Background(), r.ID, false)
		c := e.dial(t)
		m, err := c.Hello(r, 0)
		if ref, ok := m.(*wire.Refused); err != nil || !ok || ref.Code != wire.RefuseDisabled {
			t.Fatalf("hello from a disabled register: %#v, %v", m, err)
		}
	})
}

func TestStreamRefusals(t *testing.T) {
	tests := []struct {
		name  string
		bad   func(t *testing.T, r *servertest.Register) []byte
		code  wire.RefuseCode
		alarm string
	}{
		{"gap", func(t *testing.T, r *servertest.Register) []byte {
			r.Sale(t, "04A1", 100)
			return r.Sale(t, "04A1", 100)
		}, wire.RefuseChain, "chain"},
		{"broken chain", func(t *testing.T, r *servertest.Register) []byte {
			r.Prev[0] ^= 1
			return r.Sale(t, "04A1", 100)
		}, wire.RefuseChain, "chain"},
		{"forged signature", func(t *testing.T, r *servertest.Register) []byte {
			_, r.Key, _ = ed25519.GenerateKey(rand.Reader)
			return r.Sale(t, "04A1", 100)
		}, wire.RefuseBadSignature, "signature"},
		{"undecodable entry", func(t *testing.T, r *servertest.Register) []byte {
			return []byte{journal.Version, 9, 9}
		}, wire.RefuseMalformed, "malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			e := newEnv(t)
			servertest.OpenCard(t, e.store, "04A1", 1000)
			r := e.register(t)
			c := e.dial(t)
			c.Handshake(t, r, 0)
			if err := c.Send(&wire.Entries{Entries: [][]byte{r.Sale(t, "04A1", 100)}}); err != nil {
				t.Fatal(err)
			}
			servertest.Expect[*wire.Acks](t, c)
			good := r.Sale(t, "04A1", 100) // seq 2, valid, but refused with the bad one
			bad := *r
			if err := c.Send(&wire.Entries{Entries: [][]byte{good, tt.bad(t, &bad)}}); err != nil {
				t.Fatal(err)
			}
			ref := expectRefused(t, c, tt.code)
			t.Logf("refused: %s", ref.Message)
			if card, _ := e.store.Card(ctx, "04A1"); card.Balance != 900 {
				t.Errorf("balance %d: part of a refused batch was settled", card.Balance)
			}
			alarms, err := e.store.Alarms(ctx, 10)
			if err != nil || len(alarms) != 1 || alarms[0].Code != tt.alarm || alarms[0].Terminal != r.ID {
				t.Errorf("alarms: %+v, %v", alarms, err)
			}
			if !strings.Contains(e.logs.String(), "terminal: refused") {
				t.Errorf("refusal not logged:\n%s", e.logs)
			}
			// The register resends from the server's cursor and goes on.
			c2 := e.dial(t)
			if w := c2.Handshake(t, r, 0); w.LastSeq != 1 {
				t.Errorf("welcome after the refusal: %+v", w)
			}
			c2.Send(&wire.Entries{Entries: [][]byte{good}})
			if acks := servertest.Expect[*wire.Acks](t, c2); acks.Acks[0].Seq != 2 || acks.Acks[0].Balance != 800 {
				t.Errorf("acks after resending: %+v", acks)
			}
		})
	}
}

func TestSecondConnectionClosesFirst(t *testing.T) {
	e := newEnv(t)
	servertest.OpenCard(t, e.store, "04A1", 1000)
	r := e.register(t)
	c1 := e.dial(t)
	c1.Handshake(t, r, 0)
	servertest.Expect[*wire.Cards](t, c1)
	c2 := e.dial(t)
	c2.Handshake(t, r, 0)
	for {
		m, err := c1.Recv()
		if err != nil {
			break // closed, as it should be
		}
		if _, ok := m.(*wire.Cards); !ok {
			t.Fatalf("older connection got %#v, want it closed", m)
		}
	}
	c2.Send(&wire.Entries{Entries: [][]byte{r.Sale(t, "04A1", 100)}})
	if acks := servertest.Expect[*wire.Acks](t, c2); acks.Acks[0].Balance != 900 {
		t.Errorf("acks on the newer connection: %+v", acks)
	}
}

func TestCloseEndsSessions(t *testing.T) {
	e := newEnv(t)
	r := e.register(t)
	c := e.dial(t)
	c.Handshake(t, r, 0)
	done := make(chan error, 1)
	go func() {
		_, err := c.Recv()
		done <- err
	}()
	if err := e.gw.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !websocket.IsCloseError(err, websocket.CloseGoingAway) {
			t.Logf("closed with %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("session still open after Close")
	}
}

func TestPingKeepsIdleRegister(t *testing.T) {
	e := newEnv(t, func(g *gateway.Gateway) { g.PingInterval = 50 * time.Millisecond })
	r := e.register(t)
	c := e.dial(t)
	c.Handshake(t, r, 0)
	// Reading answers pings; an idle register that reads stays connected.
	c.Conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if _, _, err := c.Conn.ReadMessage(); err == nil {
		t.Fatal("unexpected message")
	} else if ne, ok := err.(interface{ Timeout() bool }); !ok || !ne.Timeout() {
		t.Fatalf("connection dropped while idle: %v", err)
	}
}

// syncBuffer is a bytes.Buffer safe for the logger's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

var _ gateway.Store = (*sqlite.DB)(nil)
var _ server.Store = (*sqlite.DB)(nil)

// TestCardBroadcast has registers join at different cursors while sales
// commit, some of them too slow for the broadcast: each must get every
// card's latest state, with a cursor that only goes up.
// listener is a register of TestCardBroadcast: the cards it heard of and
// its cursor.
type listener struct {
	c      *servertest.Client
	known  map[string]wire.Card
	cursor uint64
}

// keep keeps c, as a register does, unless it holds a newer state.
func (l *listener) keep(c wire.Card) {
	if old, ok := l.known[c.CardNo]; !ok || c.Version > old.Version {
		l.known[c.CardNo] = c
	}
}

func TestCardBroadcast(t *testing.T) {
	e := newEnv(t, func(g *gateway.Gateway) {
		g.CardsPerFrame = 3
		g.CardsInterval = time.Millisecond
	})
	cards := []string{"0B01", "0B02", "0B03", "0B04", "0B05", "0B06", "0B07"}
	for _, no := range cards {
		servertest.OpenCard(t, e.store, no, 1_000_000)
	}
	seller := e.register(t)
	sell := func(n int) {
		for i := range n {
			var b [][]byte
			for j := range 3 {
				b = append(b, seller.Sale(t, cards[(i+j)%len(cards)], 1))
			}
			if _, err := e.store.Settle(context.Background(), seller.ID, b); err != nil {
				t.Fatal(err)
			}
		}
	}
	sell(5)

	var ls []*listener
	for i := range 4 {
		r := e.register(t)
		c := e.dial(t)
		var start uint64
		if i%2 == 1 {
			last, err := e.store.Card(context.Background(), cards[len(cards)-1])
			if err != nil {
				t.Fatal(err)
			}
			start = last.Version // already holds everything so far
		}
		c.Handshake(t, r, start)
		ls = append(ls, &listener{c: c, known: map[string]wire.Card{}, cursor: start})
		sell(20) // while the others listen, or do not read yet
	}

	final := map[string]server.Card{}
	var top uint64
	for _, no := range cards {
		c, err := e.store.Card(context.Background(), no)
		if err != nil {
			t.Fatal(err)
		}
		final[no] = c
		top = max(top, c.Version)
	}
	for i, l := range ls {
		for l.cursor < top {
			m := servertest.Expect[*wire.Cards](t, l.c)
			// A new register's card list: frames without a cursor, then
			// one with; its cards may be newer than that cursor.
			listing := l.cursor == 0
			if m.Cursor == 0 && listing {
				for _, c := range m.Cards {
					l.keep(c)
				}
				continue
			}
			if m.Cursor <= l.cursor {
				t.Fatalf("listener %d: cursor %d after %d", i, m.Cursor, l.cursor)
			}
			for _, c := range m.Cards {
				if c.Version > m.Cursor && !listing {
					t.Fatalf("listener %d: card %s version %d above the frame's cursor %d", i, c.CardNo, c.Version, m.Cursor)
				}
				l.keep(c)
			}
			l.cursor = m.Cursor
		}
		for _, no := range cards {
			// A listener that started at the top of the first sales knows
			// only the cards that changed after.
			got, ok := l.known[no]
			if !ok {
				t.Errorf("listener %d never heard of card %s", i, no)
				continue
			}
			if want := final[no]; got.Version != want.Version || got.Balance != want.Balance {
				t.Errorf("listener %d: card %s at version %d balance %d, want %d and %d", i, no, got.Version, got.Balance, want.Version, want.Balance)
			}
		}
	}
}

// TestCardPushCursorAhead has a register claim a cursor beyond every
// change: the others still hear of each change.
func TestCardPushCursorAhead(t *testing.T) {
	e := newEnv(t)
	servertest.OpenCard(t, e.store, "0C01", 100)
	liar := e.dial(t)
	liar.Handshake(t, e.register(t), 1<<40)
	r := e.register(t)
	c := e.dial(t)
	c.Handshake(t, r, 0)
	if m := servertest.Expect[*wire.Cards](t, c); len(m.Cards) != 1 {
		t.Fatalf("catch-up: %+v", m)
	}
	if _, err := e.store.Settle(context.Background(), r.ID, [][]byte{r.Sale(t, "0C01", 30)}); err != nil {
		t.Fatal(err)
	}
	if m := servertest.Expect[*wire.Cards](t, c); len(m.Cards) != 1 || m.Cards[0].Balance != 70 {
		t.Errorf("pushed after a sale: %+v", m)
	}
}
