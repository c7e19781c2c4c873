package gateway_test

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"maps"
	"sync/atomic"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/fanka/fanka/server"
	"github.com/fanka/fanka/server/gateway"
	"github.com/fanka/fanka/server/servertest"
	"github.com/fanka/fanka/shared/wire"
)

// hotlistRegister keeps a hotlist as a register does: snapshot parts
// collected and swapped in with the last, changes applied in order.
type hotlistRegister struct {
	list, next map[string]wire.CardStatus
	cursor     uint64
	snapshots  int // whole snapshots taken
	parts      int // frames of them
}

// apply takes one Hotlist message, failing the test if it breaks the
// protocol.
func (h *hotlistRegister) apply(t *testing.T, m *wire.Hotlist) {
	t.Helper()
	if m.Flags&wire.HotlistSnapshot == 0 {
		if h.next != nil {
			t.Fatalf("changes %+v in the middle of a snapshot", m)
		}
		for _, e := range m.Entries {
			if e.Version <= h.cursor {
				t.Fatalf("change %+v at or below the cursor %d", e, h.cursor)
			}
			if e.Listed() {
				h.list[e.CardNo] = e.Status
			} else {
				delete(h.list, e.CardNo)
			}
		}
		h.cursor = m.Cursor
		return
	}
	h.parts++
	if m.Flags&wire.HotlistFirst != 0 {
		h.next = map[string]wire.CardStatus{}
	}
	if h.next == nil {
		t.Fatalf("snapshot part %+v without its first", m)
	}
	for _, e := range m.Entries {
		h.next[e.CardNo] = e.Status
	}
	if m.Flags&wire.HotlistLast != 0 {
		h.list, h.next, h.cursor = h.next, nil, m.Cursor
		h.snapshots++
	}
}

// until reads messages, applying hotlists and skipping cards, until the
// register's hotlist equals want.
func (h *hotlistRegister) until(t *testing.T, c *servertest.Client, want map[string]wire.CardStatus) {
	t.Helper()
	for !maps.Equal(h.list, want) || h.next != nil {
		m, err := c.Recv()
		if err != nil {
			t.Fatalf("waiting for hotlist %v, holding %v: %v", want, h.list, err)
		}
		switch m := m.(type) {
		case *wire.Hotlist:
			h.apply(t, m)
		case *wire.Cards, *wire.Rules, *wire.Acks:
		default:
			t.Fatalf("got %#v", m)
		}
	}
}

var opSeq atomic.Int64

func cardOp(t *testing.T, s server.Store, kind server.OpKind, cardNo string) {
	t.Helper()
	_, err := s.CardOp(context.Background(), server.CardOp{Kind: kind, CardNo: cardNo, Operator: "office",
		RequestID: fmt.Sprintf("%s-%d", t.Name(), opSeq.Add(1))})
	if err != nil {
		t.Fatalf("%s %s: %v", kind, cardNo, err)
	}
}

// TestHotlistPush: a new register gets the whole hotlist, in parts; freeze,
// lost, close and unfreeze reach it as they commit; a register back from
// offline gets only the changes after its cursor; one whose cursor is
// ahead of the server's gets the whole list again.
func TestHotlistPush(t *testing.T) {
	e := newEnv(t, func(g *gateway.Gateway) { g.HotlistPerFrame = 2 })
	for _, no := range []string{"A1", "B2", "C3", "D4", "E5", "F6"} {
		servertest.OpenCard(t, e.store, no, 1000)
	}
	cardOp(t, e.store, server.OpFreeze, "A1")
	cardOp(t, e.store, server.OpLost, "B2")
	cardOp(t, e.store, server.OpClose, "C3")
	r := e.register(t)

	h := &hotlistRegister{}
	c := e.dial(t)
	c.Hotlist = new(uint64)
	c.Handshake(t, r, 0)
	h.until(t, c, map[string]wire.CardStatus{"A1": wire.CardFrozen, "B2": wire.CardLost, "C3": wire.CardClosed})
	if h.snapshots != 1 || h.parts != 2 {
		t.Fatalf("a new register: %d snapshots in %d parts, want 1 in 2 (3 cards, 2 a frame)", h.snapshots, h.parts)
	}
	if v, _ := e.store.HotlistVersion(context.Background()); h.cursor != v {
		t.Fatalf("cursor %d after the snapshot, want the hotlist's version %d", h.cursor, v)
	}

	// Changes while connected.
	cardOp(t, e.store, server.OpUnfreeze, "A1")
	cardOp(t, e.store, server.OpLost, "D4")
	h.until(t, c, map[string]wire.CardStatus{"B2": wire.CardLost, "C3": wire.CardClosed, "D4": wire.CardLost})
	c.Conn.Close()

	// Changes while offline; the register comes back with its cursor.
	cardOp(t, e.store, server.OpFreeze, "E5")
	cardOp(t, e.store, server.OpFreeze, "A1")
	c = e.dial(t)
	cursor := h.cursor
	c.Hotlist = &cursor
	c.Handshake(t, r, 0)
	h.until(t, c, map[string]wire.CardStatus{"A1": wire.CardFrozen, "B2": wire.CardLost, "C3": wire.CardClosed, "D4": wire.CardLost, "E5": wire.CardFrozen})
	if h.snapshots != 1 {
		t.Fatalf("a register back with its cursor got a snapshot (%d)", h.snapshots)
	}
	c.Conn.Close()

	// A cursor the server never reached (its database restored from an
	// older backup): the whole list, replacing what the register held.
	h.list["Z9"] = wire.CardLost
	c = e.dial(t)
	ahead := h.cursor + 1000
	c.Hotlist = &ahead
	c.Handshake(t, r, 0)
	h.cursor = 0
	h.until(t, c, map[string]wire.CardStatus{"A1": wire.CardFrozen, "B2": wire.CardLost, "C3": wire.CardClosed, "D4": wire.CardLost, "E5": wire.CardFrozen})
	if h.snapshots != 2 {
		t.Fatalf("a register ahead of the server: %d snapshots, want 2", h.snapshots)
	}
}

// TestHotlistOverdraft: a sale that overdraws a card freezes it, and the
// register that sold learns it from the hotlist.
func TestHotlistOverdraft(t *testing.T) {
	e := newEnv(t)
	servertest.OpenCard(t, e.store, "A1", 1000)
	r := e.register(t)
	h := &hotlistRegister{}
	c := e.dial(t)
	c.Hotlist = new(uint64)
	c.Handshake(t, r, 0)
	h.until(t, c, map[string]wire.CardStatus{})
	if err := c.Send(&wire.Entries{Entries: [][]byte{r.Sale(t, "A1", 1500)}}); err != nil {
		t.Fatal(err)
	}
	h.until(t, c, map[string]wire.CardStatus{"A1": wire.CardFrozen})
}

// TestHotlistOldRegister: a register whose Hello has no hotlist cursor
// (older than the Hotlist message) is sent none.
func TestHotlistOldRegister(t *testing.T) {
	e := newEnv(t)
	servertest.OpenCard(t, e.store, "A1", 1000)
	cardOp(t, e.store, server.OpLost, "A1")
	r := e.register(t)
	c := e.dial(t)
	c.Handshake(t, r, 0)
	cards := servertest.Expect[*wire.Cards](t, c) // Expect fails on a Hotlist
	if len(cards.Cards) != 1 || cards.Cards[0].Status != wire.CardLost {
		t.Fatalf("cards %+v", cards)
	}
	// Settling still works, and no Hotlist arrives before the ack.
	if err := c.Send(&wire.Entries{Entries: [][]byte{r.Sale(t, "A1", 100)}}); err != nil {
		t.Fatal(err)
	}
	servertest.Expect[*wire.Acks](t, c)
}

// TestHotlistBadHello: a Hello whose hotlist cursor is cut short, or
// followed by more bytes, is refused as malformed; so is a Hotlist sent to
// the server.
func TestHotlistBadHello(t *testing.T) {
	e := newEnv(t)
	r := e.register(t)
	for _, tt := range []struct {
		name  string
		extra []byte
	}{
		{"cursor cut short", []byte{0, 0, 1}},
		{"a byte after the cursor", make([]byte, 9)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := e.dial(t)
			ch := servertest.Expect[*wire.Challenge](t, c)
			h := &wire.Hello{Terminal: r.ID}
			copy(h.Sig[:], ed25519.Sign(r.Key, wire.HelloMessage(ch.Nonce, r.ID)))
			b, _ := wire.Encode(h)
			if err := c.Conn.WriteMessage(websocket.BinaryMessage, append(b, tt.extra...)); err != nil {
				t.Fatal(err)
			}
			ref := expectRefused(t, c, wire.RefuseMalformed)
			t.Logf("refused: %s", ref.Message)
		})
	}
	t.Run("a hotlist to the server", func(t *testing.T) {
		c := e.dial(t)
		c.Hotlist = new(uint64)
		c.Handshake(t, r, 0)
		if err := c.Send(&wire.Hotlist{}); err != nil {
			t.Fatal(err)
		}
		for {
			m, err := c.Recv()
			if err != nil {
				t.Fatal(err)
			}
			if ref, ok := m.(*wire.Refused); ok {
				if ref.Code != wire.RefuseMalformed {
					t.Fatalf("refused %+v, want malformed", ref)
				}
				return
			}
		}
	})
}
