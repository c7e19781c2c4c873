package gateway_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/fanka/fanka/server/gateway"
	"github.com/fanka/fanka/server/servertest"
	"github.com/fanka/fanka/server/sqlite"
	"github.com/fanka/fanka/shared/wire"
)

func TestRateLimit(t *testing.T) {
	tests := []struct {
		name      string
		configure func(g *gateway.Gateway)
		frames    int
		perFrame  int
		atLeast   time.Duration
	}{
		// Burst 2 at 5/s: frames 3 to 6 each wait 200 ms, longer than a
		// frame takes to settle even on a busy machine (a slower settle
		// would refill the bucket, and no frame would wait).
		{"frames", func(g *gateway.Gateway) {
			g.FramesPerSecond, g.FrameBurst, g.EntriesPerSecond = 5, 2, 0
		}, 6, 1, 600 * time.Millisecond},
		// Burst 100 at 100/s: the fourth frame of 50 waits 500 ms.
		{"entries", func(g *gateway.Gateway) {
			g.FramesPerSecond, g.EntriesPerSecond, g.EntryBurst = 0, 100, 100
		}, 4, 50, 400 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, tt.configure)
			servertest.OpenCard(t, e.store, "0E01", 1_000_000)
			r := e.register(t)
			c := e.dial(t)
			c.Handshake(t, r, 0)
			var frames []*wire.Entries
			for range tt.frames {
				f := &wire.Entries{}
				for range tt.perFrame {
					f.Entries = append(f.Entries, r.Sale(t, "0E01", 1))
				}
				frames = append(frames, f)
			}
			start := time.Now()
			go func() {
				for _, f := range frames {
					if err := c.Send(f); err != nil {
						return
					}
				}
			}()
			var seq uint64
			for range tt.frames {
				acks := servertest.Expect[*wire.Acks](t, c)
				for _, a := range acks.Acks {
					if seq++; a.Seq != seq || a.Outcome != wire.Settled {
						t.Fatalf("ack %+v, want seq %d settled", a, seq)
					}
				}
			}
			if d := time.Since(start); d < tt.atLeast {
				t.Errorf("%d frames of %d settled in %v: not slowed to the limit (at least %v)", tt.frames, tt.perFrame, d, tt.atLeast)
			}
			if n := strings.Count(e.logs.String(), "rate limit"); n != 1 {
				t.Errorf("logged %d times, want once per episode:\n%s", n, e.logs)
			}
			wantBalance(t, e, "0E01", 1_000_000-int64(tt.frames*tt.perFrame), int64(tt.frames*tt.perFrame))
		})
	}
}

func TestAllowedPeers(t *testing.T) {
	t.Run("refused", func(t *testing.T) {
		e := newEnv(t, func(g *gateway.Gateway) {
			g.AllowedPeers = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
		})
		for range 3 {
			d := websocket.Dialer{TLSClientConfig: e.tls, HandshakeTimeout: 5 * time.Second}
			conn, resp, err := d.Dial(e.url, nil)
			if err == nil {
				conn.Close()
				t.Fatal("a peer outside the allowed addresses connected")
			}
			if resp == nil || resp.StatusCode != http.StatusForbidden {
				t.Fatalf("dial: %v, %+v; want HTTP 403", err, resp)
			}
			resp.Body.Close()
		}
		alarms, err := e.store.Alarms(context.Background(), 10)
		if err != nil || len(alarms) != 1 || alarms[0].Code != "refused_peer" || alarms[0].Terminal != 0 ||
			!strings.Contains(alarms[0].Message, "127.0.0.1") {
			t.Errorf("alarms: %+v, %v; want one refused_peer", alarms, err)
		}
		if n := strings.Count(e.logs.String(), "refused peer"); n != 3 {
			t.Errorf("logged %d refusals, want 3:\n%s", n, e.logs)
		}
	})
	t.Run("allowed", func(t *testing.T) {
		e := newEnv(t, func(g *gateway.Gateway) {
			g.AllowedPeers = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("127.0.0.0/8")}
		})
		e.dial(t).Handshake(t, e.register(t), 0)
		if alarms, _ := e.store.Alarms(context.Background(), 10); len(alarms) != 0 {
			t.Errorf("alarms: %+v", alarms)
		}
	})
}

// slowStore is a store whose Settle waits for a gate, then takes a while,
// and counts the batches in flight.
type slowStore struct {
	*sqlite.DB
	gate            chan struct{}
	calls, inFlight atomic.Int32
	mostInFlight    atomic.Int32
	delay           time.Duration
}

func (s *slowStore) Settle(ctx context.Context, terminal uint32, entries [][]byte) ([]wire.Ack, error) {
	s.calls.Add(1)
	n := s.inFlight.Add(1)
	defer s.inFlight.Add(-1)
	for {
		most := s.mostInFlight.Load()
		if n <= most || s.mostInFlight.CompareAndSwap(most, n) {
			break
		}
	}
	select {
	case <-s.gate:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	time.Sleep(s.delay)
	return s.DB.Settle(ctx, terminal, entries)
}

// TestSlowStoreBackpressure streams frames from a register much faster
// than the store settles them: the gateway holds one batch at a time and
// reads the next only once it is acked, so the rest waits in the network
// and then on the register, which cannot write on.
func TestSlowStoreBackpressure(t *testing.T) {
	db := servertest.MustOpenSQLite(t, nil)
	servertest.NoLimits(t, db)
	store := &slowStore{DB: db, gate: make(chan struct{}), delay: 5 * time.Millisecond}
	logs := &syncBuffer{}
	gw := gateway.New(store, slog.New(slog.NewTextHandler(logs, nil)))
	gw.FramesPerSecond, gw.EntriesPerSecond = 0, 0 // backpressure alone
	srv := httptest.NewTLSServer(gw)
	t.Cleanup(func() {
		gw.Close()
		srv.Close()
	})
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	e := &env{store: db, gw: gw, tls: &tls.Config{RootCAs: pool}, url: "wss" + strings.TrimPrefix(srv.URL, "https"), logs: logs}

	servertest.OpenCard(t, db, "0E02", 1_000_000)
	r := e.register(t)
	c := e.dial(t)
	c.Handshake(t, r, 0)
	// A full frame, sent again and again: about 30 MB, more than the
	// network's buffers hold. Once settled, each resend is a replay.
	frame := &wire.Entries{}
	for range wire.MaxBatch {
		frame.Entries = append(frame.Entries, r.Sale(t, "0E02", 1))
	}
	b, err := wire.Encode(frame)
	if err != nil {
		t.Fatal(err)
	}
	const resends = 30 << 20
	n := resends / len(b)
	var sent atomic.Int32
	sendDone := make(chan struct{})
	go func() {
		defer close(sendDone)
		for range n {
			c.Conn.SetWriteDeadline(time.Now().Add(30 * time.Second))
			if err := c.Conn.WriteMessage(websocket.BinaryMessage, b); err != nil {
				return
			}
			sent.Add(1)
		}
	}()

	// While the store is stuck, the gateway reads nothing more: one batch
	// in flight, and the register's writes block.
	deadline := time.Now().Add(5 * time.Second)
	for store.calls.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	if calls := store.calls.Load(); calls != 1 {
		t.Errorf("%d batches taken while the store was stuck, want 1", calls)
	}
	select {
	case <-sendDone:
		t.Errorf("the register wrote all %d frames while the store was stuck: the gateway buffered them", n)
	default:
		t.Logf("register blocked after %d of %d frames of %d bytes", sent.Load(), n, len(b))
	}

	// The store goes on, slowly: each frame is acked in turn, one at a time.
	close(store.gate)
	for i := range 5 {
		acks := servertest.Expect[*wire.Acks](t, c)
		if len(acks.Acks) != wire.MaxBatch || acks.Acks[0].Seq != 1 || acks.Acks[wire.MaxBatch-1].Seq != wire.MaxBatch {
			t.Fatalf("acks of frame %d: %d acks from seq %d", i, len(acks.Acks), acks.Acks[0].Seq)
		}
	}
	if most := store.mostInFlight.Load(); most != 1 {
		t.Errorf("%d batches in flight at once, want 1", most)
	}
	card, err := db.Card(context.Background(), "0E02")
	if err != nil || card.Balance != 1_000_000-wire.MaxBatch {
		t.Errorf("balance %d, %v: want every entry settled once", card.Balance, err)
	}
}
