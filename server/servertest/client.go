package servertest

import (
	"crypto/ed25519"
	"crypto/tls"
	"fmt"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/fanka/fanka/shared/wire"
)

// Client is a register's end of the WebSocket link, for tests: it speaks
// the wire protocol frame by frame and leaves every decision to the test.
type Client struct {
	Conn *websocket.Conn
	// Rules are the rules the server sent after its Welcome (Handshake).
	Rules *wire.Rules
	// Hotlist, if not nil, makes Hello say that the client takes Hotlist
	// messages, holding the hotlist up to *Hotlist.
	Hotlist *uint64
}

// Dial connects to the terminal endpoint at url (ws:// or wss://) and
// closes the connection when the test ends.
func Dial(tb testing.TB, url string, tlsConf *tls.Config) *Client {
	tb.Helper()
	d := websocket.Dialer{TLSClientConfig: tlsConf, HandshakeTimeout: 5 * time.Second}
	conn, resp, err := d.Dial(url, nil)
	if err != nil {
		tb.Fatalf("dial %s: %v", url, err)
	}
	resp.Body.Close()
	tb.Cleanup(func() { conn.Close() })
	return &Client{Conn: conn}
}

// Send writes one message.
func (c *Client) Send(m wire.Message) error {
	b, err := wire.Encode(m)
	if err != nil {
		return err
	}
	c.Conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return c.Conn.WriteMessage(websocket.BinaryMessage, b)
}

// Recv reads one message, waiting at most 30 seconds: a guard against a
// test hanging, long enough for a machine under load.
func (c *Client) Recv() (wire.Message, error) {
	c.Conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	typ, b, err := c.Conn.ReadMessage()
	if err != nil {
		return nil, err
	}
	if typ != websocket.BinaryMessage {
		return nil, fmt.Errorf("frame type %d, want binary", typ)
	}
	return wire.Decode(b)
}

// Hello answers the server's challenge as r, holding cards up to cursor,
// and returns the server's reply (Welcome or Refused).
func (c *Client) Hello(r *Register, cursor uint64) (wire.Message, error) {
	m, err := c.Recv()
	if err != nil {
		return nil, fmt.Errorf("read challenge: %w", err)
	}
	ch, ok := m.(*wire.Challenge)
	if !ok {
		return nil, fmt.Errorf("got %T, want a challenge", m)
	}
	h := &wire.Hello{Terminal: r.ID, CardCursor: cursor}
	if c.Hotlist != nil {
		h.Hotlist, h.HotlistCursor = true, *c.Hotlist
	}
	copy(h.Sig[:], ed25519.Sign(r.Key, wire.HelloMessage(ch.Nonce, r.ID)))
	if err := c.Send(h); err != nil {
		return nil, fmt.Errorf("send hello: %w", err)
	}
	return c.Recv()
}

// Handshake is Hello that fails the test unless the server welcomes r
// and sends its rules next, which it keeps in c.Rules, the same rules as
// RulesV1 after them, for registers that predate Rules, and then its
// request for the register's status.
func (c *Client) Handshake(tb testing.TB, r *Register, cursor uint64) *wire.Welcome {
	tb.Helper()
	m, err := c.Hello(r, cursor)
	if err != nil {
		tb.Fatalf("handshake: %v", err)
	}
	w, ok := m.(*wire.Welcome)
	if !ok {
		tb.Fatalf("handshake: got %#v, want a welcome", m)
	}
	if m, err = c.Recv(); err != nil {
		tb.Fatalf("handshake: read the rules after the welcome: %v", err)
	}
	if c.Rules, ok = m.(*wire.Rules); !ok {
		tb.Fatalf("handshake: got %#v after the welcome, want the rules", m)
	}
	if m, err = c.Recv(); err != nil {
		tb.Fatalf("handshake: read the RulesV1 after the rules: %v", err)
	}
	if v1, ok := m.(*wire.RulesV1); !ok || v1.Version != c.Rules.Version || v1.ServerTime != c.Rules.ServerTime {
		tb.Fatalf("handshake: got %#v after the rules, want them as RulesV1", m)
	}
	if m, err = c.Recv(); err != nil {
		tb.Fatalf("handshake: read the status request after the rules: %v", err)
	}
	if _, ok := m.(*wire.StatusRequest); !ok {
		tb.Fatalf("handshake: got %#v after the rules, want the status request", m)
	}
	return w
}

// Expect reads messages, skipping card deltas, rules (both forms) and
// the request for the register's status unless T is one of them, until one of type T arrives, and fails the
// test on anything else.
func Expect[T wire.Message](tb testing.TB, c *Client) T {
	tb.Helper()
	for {
		m, err := c.Recv()
		if err != nil {
			tb.Fatalf("read: %v", err)
		}
		if t, ok := m.(T); ok {
			return t
		}
		switch m.(type) {
		case *wire.Cards, *wire.Rules, *wire.RulesV1, *wire.StatusRequest:
			continue
		}
		var zero T
		tb.Fatalf("got %#v, want %T", m, zero)
	}
}
