package uplink_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/fanka/fanka/shared/wire"
)

func encode(t *testing.T, m wire.Message) []byte {
	t.Helper()
	b, err := wire.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestHotlistReceived: the register says in its Hello that it takes the
// hotlist, from its cursor; the hotlist the server sends is stored, and a
// listed card the card cache does not hold is refused; the next Hello
// carries the new cursor. A malformed hotlist frame (a byte too many) ends
// the connection, with a log line, and stores nothing.
func TestHotlistReceived(t *testing.T) {
	r := newRig(t)
	r.server.raw = [][]byte{
		encode(t, &wire.Hotlist{Flags: wire.HotlistSnapshot | wire.HotlistFirst, Cursor: 7, Entries: []wire.HotlistEntry{{Version: 5, CardNo: "LOST1", Status: wire.CardLost}}}),
		encode(t, &wire.Cards{Cursor: 0, Cards: []wire.Card{{Version: 6, CardNo: "GOOD1", Status: wire.CardActive, Balance: 100}}}),
		encode(t, &wire.Hotlist{Flags: wire.HotlistSnapshot | wire.HotlistLast, Cursor: 7, Entries: []wire.HotlistEntry{{Version: 7, CardNo: "SHUT1", Status: wire.CardClosed}}}),
	}
	pin := r.start()
	logs := &logBuffer{}
	run := func() func() {
		up := r.uplinkLog(pin, slog.New(slog.NewTextHandler(logs, nil)))
		ctx, stop := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			up.Run(ctx)
		}()
		return func() {
			stop()
			<-done
		}
	}
	end := run()
	waitFor(t, "the hotlist stored", func() bool { c, _ := r.journal.HotlistCursor(); return c == 7 })
	for card, want := range map[string]wire.CardStatus{"LOST1": wire.CardLost, "SHUT1": wire.CardClosed, "GOOD1": wire.CardActive} {
		v, ok, err := r.journal.Card(card, time.Now())
		if err != nil || !ok || v.Status != want {
			t.Errorf("card %s: %+v %v %v, want status %v", card, v, ok, err, want)
		}
	}
	end()

	// Again: the Hello carries cursor 7; the server sends a bad frame.
	bad := encode(t, &wire.Hotlist{Cursor: 9, Entries: []wire.HotlistEntry{{Version: 9, CardNo: "LOST1", Status: wire.CardActive}}})
	r.server.mu.Lock()
	r.server.raw = [][]byte{append(bad, 0)}
	r.server.mu.Unlock()
	end = run()
	defer end()
	waitFor(t, "the bad frame refused", func() bool { return strings.Contains(logs.String(), "trailing bytes") })
	r.server.mu.Lock()
	hellos := append([]*wire.Hello(nil), r.server.hellos...)
	r.server.mu.Unlock()
	if len(hellos) < 2 || !hellos[0].Hotlist || hellos[0].HotlistCursor != 0 || !hellos[1].Hotlist || hellos[1].HotlistCursor != 7 {
		for _, h := range hellos {
			t.Logf("hello %+v", h)
		}
		t.Fatal("hellos: want the hotlist taken, from cursor 0 then 7")
	}
	if c, _ := r.journal.HotlistCursor(); c != 7 {
		t.Errorf("cursor %d after a malformed frame, want 7", c)
	}
	if v, _, _ := r.journal.Card("LOST1", time.Now()); v.Status != wire.CardLost {
		t.Errorf("card LOST1 after a malformed frame: %+v", v)
	}
}
