package gateway_test

import (
	"context"
	"crypto/ed25519"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gorilla/websocket"

	"github.com/fanka/fanka/server"
	"github.com/fanka/fanka/server/servertest"
	"github.com/fanka/fanka/shared/wire"
)

// Frame attacks: what a hostile or broken peer can send on the link, and
// what the gateway must do with it. After each, nothing is posted that the
// register did not sign in order, and the register can resume.

// waitAlarm waits for an alarm with code about terminal.
func waitAlarm(t *testing.T, e *env, code string, terminal uint32) server.Alarm {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		alarms, err := e.store.Alarms(context.Background(), 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range alarms {
			if a.Code == code && a.Terminal == terminal {
				return a
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no alarm %q for register %d: %+v", code, terminal, alarms)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// wantBalance checks a card's balance and that the ledger verifies with
// entries entries.
func wantBalance(t *testing.T, e *env, cardNo string, balance int64, entries int64) {
	t.Helper()
	ctx := context.Background()
	card, err := e.store.Card(ctx, cardNo)
	if err != nil {
		t.Fatal(err)
	}
	if int64(card.Balance) != balance {
		t.Errorf("card %s balance %d, want %d", cardNo, card.Balance, balance)
	}
	rep, err := e.store.Verify(ctx)
	if err != nil || rep.Entries != entries {
		t.Errorf("verify: %+v, %v; want %d entries", rep, err, entries)
	}
}

func TestAttackReplayedFrame(t *testing.T) {
	e := newEnv(t)
	servertest.OpenCard(t, e.store, "0D01", 1000)
	r := e.register(t)
	c := e.dial(t)
	c.Handshake(t, r, 0)
	frame := &wire.Entries{Entries: [][]byte{r.Sale(t, "0D01", 100), r.Sale(t, "0D01", 200)}}
	if err := c.Send(frame); err != nil {
		t.Fatal(err)
	}
	first := servertest.Expect[*wire.Acks](t, c)
	for range 3 {
		if err := c.Send(frame); err != nil {
			t.Fatal(err)
		}
		again := servertest.Expect[*wire.Acks](t, c)
		if diff := cmp.Diff(first, again); diff != "" {
			t.Errorf("acks of the replayed frame (-first +again):\n%s", diff)
		}
	}
	// The same frame on a new connection too.
	c.Conn.Close()
	c2 := e.dial(t)
	c2.Handshake(t, r, 0)
	c2.Send(frame)
	if again := servertest.Expect[*wire.Acks](t, c2); !cmp.Equal(first, again) {
		t.Errorf("acks on a new connection: %+v, want %+v", again, first)
	}
	wantBalance(t, e, "0D01", 700, 2)
}

func TestAttackReorderedFrames(t *testing.T) {
	e := newEnv(t)
	servertest.OpenCard(t, e.store, "0D02", 1000)
	r := e.register(t)
	early := &wire.Entries{Entries: [][]byte{r.Sale(t, "0D02", 10), r.Sale(t, "0D02", 20)}}
	late := &wire.Entries{Entries: [][]byte{r.Sale(t, "0D02", 30), r.Sale(t, "0D02", 40)}}

	c := e.dial(t)
	c.Handshake(t, r, 0)
	c.Send(late) // seq 3-4 first: a gap after 0
	c.Send(early)
	ref := expectRefused(t, c, wire.RefuseChain)
	t.Logf("refused: %s", ref.Message)
	waitAlarm(t, e, "chain", r.ID)
	wantBalance(t, e, "0D02", 1000, 0)

	// The register resumes from the server's cursor, in order.
	c2 := e.dial(t)
	if w := c2.Handshake(t, r, 0); w.LastSeq != 0 {
		t.Fatalf("welcome after the gap: %+v", w)
	}
	for i, f := range []*wire.Entries{early, late} {
		c2.Send(f)
		acks := servertest.Expect[*wire.Acks](t, c2)
		if len(acks.Acks) != 2 || acks.Acks[0].Seq != uint64(2*i+1) || acks.Acks[1].Seq != uint64(2*i+2) {
			t.Errorf("acks of frame %d: %+v", i, acks)
		}
	}
	wantBalance(t, e, "0D02", 900, 4)
}

func TestAttackBadFrames(t *testing.T) {
	tests := []struct {
		name  string
		send  func(t *testing.T, c *servertest.Client, entry []byte)
		code  wire.RefuseCode // 0: the connection is just closed
		alarm string          // "" for none
	}{
		{"truncated", func(t *testing.T, c *servertest.Client, entry []byte) {
			b, err := wire.Encode(&wire.Entries{Entries: [][]byte{entry}})
			if err != nil {
				t.Fatal(err)
			}
			c.Conn.WriteMessage(websocket.BinaryMessage, b[:len(b)-7])
		}, wire.RefuseMalformed, ""},
		{"cut to the header", func(t *testing.T, c *servertest.Client, entry []byte) {
			b, _ := wire.Encode(&wire.Entries{Entries: [][]byte{entry}})
			c.Conn.WriteMessage(websocket.BinaryMessage, b[:2])
		}, wire.RefuseMalformed, ""},
		{"text frame", func(t *testing.T, c *servertest.Client, entry []byte) {
			c.Conn.WriteMessage(websocket.TextMessage, []byte(`{"entries":[]}`))
		}, wire.RefuseMalformed, ""},
		{"oversized", func(t *testing.T, c *servertest.Client, entry []byte) {
			b, _ := wire.Encode(&wire.Entries{Entries: [][]byte{entry}})
			c.Conn.WriteMessage(websocket.BinaryMessage, append(b, make([]byte, wire.MaxFrame)...))
		}, 0, "oversized"},
		{"hello again", func(t *testing.T, c *servertest.Client, entry []byte) {
			c.Send(&wire.Hello{Terminal: 1})
		}, wire.RefuseMalformed, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			servertest.OpenCard(t, e.store, "0D03", 1000)
			r := e.register(t)
			c := e.dial(t)
			c.Handshake(t, r, 0)
			entry := r.Sale(t, "0D03", 100)
			tt.send(t, c, entry)
			if tt.code != 0 {
				expectRefused(t, c, tt.code)
			} else {
				for {
					m, err := c.Recv()
					if err != nil {
						break
					}
					if _, ok := m.(*wire.Cards); !ok {
						if ref, ok := m.(*wire.Refused); !ok || ref.Code != wire.RefuseMalformed {
							t.Fatalf("got %#v, want the connection closed", m)
						}
					}
				}
			}
			if tt.alarm != "" {
				waitAlarm(t, e, tt.alarm, r.ID)
			}
			if !strings.Contains(e.logs.String(), "terminal: refused") {
				t.Errorf("not logged:\n%s", e.logs)
			}
			wantBalance(t, e, "0D03", 1000, 0)

			// The register resends the entry properly and goes on.
			c2 := e.dial(t)
			c2.Handshake(t, r, 0)
			c2.Send(&wire.Entries{Entries: [][]byte{entry}})
			if acks := servertest.Expect[*wire.Acks](t, c2); acks.Acks[0].Balance != 900 {
				t.Errorf("acks after the bad frame: %+v", acks)
			}
		})
	}
}

// TestAttackReplayedHello replays a register's Hello, signed over the
// nonce of one connection, on another: the nonce is fresh, so the
// signature does not verify.
func TestAttackReplayedHello(t *testing.T) {
	e := newEnv(t)
	servertest.OpenCard(t, e.store, "0D04", 1000)
	r := e.register(t)
	c1 := e.dial(t)
	ch := servertest.Expect[*wire.Challenge](t, c1)
	hello := &wire.Hello{Terminal: r.ID}
	copy(hello.Sig[:], ed25519.Sign(r.Key, wire.HelloMessage(ch.Nonce, r.ID)))
	c1.Send(hello)
	servertest.Expect[*wire.Welcome](t, c1)

	// The eavesdropper's connection: its own challenge, the old Hello.
	c2 := e.dial(t)
	servertest.Expect[*wire.Challenge](t, c2)
	c2.Send(hello)
	expectRefused(t, c2, wire.RefuseBadSignature)
	waitAlarm(t, e, "handshake", r.ID)

	// The register's own connection was not replaced.
	c1.Send(&wire.Entries{Entries: [][]byte{r.Sale(t, "0D04", 100)}})
	if acks := servertest.Expect[*wire.Acks](t, c1); acks.Acks[0].Balance != 900 {
		t.Errorf("acks on the register's connection: %+v", acks)
	}
}

// TestAttackOtherRegistersEntries sends register A's validly signed
// entries on register B's connection.
func TestAttackOtherRegistersEntries(t *testing.T) {
	e := newEnv(t)
	servertest.OpenCard(t, e.store, "0D05", 1000)
	a, b := e.register(t), e.register(t)
	stolen := &wire.Entries{Entries: [][]byte{a.Sale(t, "0D05", 100)}}

	cb := e.dial(t)
	cb.Handshake(t, b, 0)
	cb.Send(stolen)
	ref := expectRefused(t, cb, wire.RefuseMalformed)
	t.Logf("refused: %s", ref.Message)
	waitAlarm(t, e, "malformed", b.ID)
	wantBalance(t, e, "0D05", 1000, 0)

	// A itself may send them.
	ca := e.dial(t)
	ca.Handshake(t, a, 0)
	ca.Send(stolen)
	if acks := servertest.Expect[*wire.Acks](t, ca); acks.Acks[0].Balance != 900 {
		t.Errorf("acks on A's connection: %+v", acks)
	}
}
