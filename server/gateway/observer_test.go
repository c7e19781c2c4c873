package gateway_test

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/fanka/fanka/server/gateway"
	"github.com/fanka/fanka/server/servertest"
	"github.com/fanka/fanka/shared/wire"
)

// recorder is an Observer that writes down what it is told.
type recorder struct {
	mu     sync.Mutex
	events []string
}

func (o *recorder) add(format string, args ...any) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.events = append(o.events, fmt.Sprintf(format, args...))
}

func (o *recorder) Session(terminal uint32, connected bool) {
	o.add("session %d %v", terminal, connected)
}

func (o *recorder) Batch(terminal uint32, entries [][]byte) func([]wire.Ack, error) {
	o.add("batch %d of %d", terminal, len(entries))
	return func(acks []wire.Ack, err error) {
		o.add("settled %d: %d acks, error %v", terminal, len(acks), err != nil)
	}
}

func (o *recorder) Refused(reason string) { o.add("refused %s", reason) }

// wait waits until the events are want.
func (o *recorder) wait(t *testing.T, want ...string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		o.mu.Lock()
		got := slices.Clone(o.events)
		o.mu.Unlock()
		if slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("observed %q, want %q", got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestObserver follows a register's session, a settled batch, a refused
// one, and a peer refused before the upgrade, through the Observer.
func TestObserver(t *testing.T) {
	o := &recorder{}
	e := newEnv(t, func(g *gateway.Gateway) { g.Observer = o })
	servertest.OpenCard(t, e.store, "04A1", 1000)
	r := e.register(t)
	c := e.dial(t)
	c.Handshake(t, r, 0)
	c.Send(&wire.Entries{Entries: [][]byte{r.Sale(t, "04A1", 100), r.Sale(t, "04A1", 100)}})
	servertest.Expect[*wire.Acks](t, c)
	r.Sale(t, "04A1", 100) // never sent: the next is a gap
	c.Send(&wire.Entries{Entries: [][]byte{r.Sale(t, "04A1", 100)}})
	expectRefused(t, c, wire.RefuseChain)
	id := r.ID
	o.wait(t,
		fmt.Sprintf("session %d true", id),
		fmt.Sprintf("batch %d of 2", id),
		fmt.Sprintf("settled %d: 2 acks, error false", id),
		fmt.Sprintf("batch %d of 1", id),
		fmt.Sprintf("settled %d: 0 acks, error true", id),
		"refused chain",
		fmt.Sprintf("session %d false", id),
	)

	o2 := &recorder{}
	e2 := newEnv(t, func(g *gateway.Gateway) {
		g.Observer = o2
		g.AllowedPeers = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	})
	d := websocket.Dialer{TLSClientConfig: e2.tls, HandshakeTimeout: 5 * time.Second}
	conn, resp, err := d.Dial(e2.url, nil)
	if err == nil {
		conn.Close()
		t.Fatal("a peer outside the allowed addresses connected")
	}
	if resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("dial: %v; want HTTP 403", err)
	}
	resp.Body.Close()
	o2.wait(t, "refused peer")
}

// slowAcks is an Observer that holds each batch's acks back a while after
// the batch settled, as a busy server might: long enough for the card
// change the batch made to be broadcast meanwhile.
type slowAcks struct{ hold time.Duration }

func (o slowAcks) Session(uint32, bool) {}
func (o slowAcks) Batch(uint32, [][]byte) func([]wire.Ack, error) {
	return func([]wire.Ack, error) { time.Sleep(o.hold) }
}
func (o slowAcks) Refused(string) {}

// TestAcksBeforeCards: a register gets a batch's acks before any card
// frame holding the changes the batch made; the other way round it would
// count its own sale twice (in the card's new balance and as pending) in
// the balance it shows until the ack came.
func TestAcksBeforeCards(t *testing.T) {
	e := newEnv(t, func(g *gateway.Gateway) { g.Observer = slowAcks{hold: 300 * time.Millisecond} })
	r := e.register(t)
	servertest.OpenCard(t, e.store, "04X1", 10000)
	cursor, err := e.store.CardVersion(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	c := e.dial(t)
	c.Handshake(t, r, cursor)
	for sale := range 3 {
		if err := c.Send(&wire.Entries{Entries: [][]byte{r.Sale(t, "04X1", 100)}}); err != nil {
			t.Fatal(err)
		}
		for acked := false; !acked; {
			m, err := c.Recv()
			if err != nil {
				t.Fatal(err)
			}
			switch m := m.(type) {
			case *wire.Acks:
				acked = true
			case *wire.Cards:
				for _, card := range m.Cards {
					if card.CardNo == "04X1" && card.Version > cursor {
						t.Errorf("sale %d: a card frame with its change (version %d) came before its ack", sale+1, card.Version)
					}
				}
			}
		}
		// The change follows the ack.
		for changed := false; !changed; {
			for _, card := range servertest.Expect[*wire.Cards](t, c).Cards {
				if card.CardNo == "04X1" {
					changed, cursor = true, card.Version
				}
			}
		}
	}
}
