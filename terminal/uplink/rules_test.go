package uplink_test

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/fanka/fanka/shared/money"
	"github.com/fanka/fanka/shared/wire"
	"github.com/fanka/fanka/terminal/uplink"
)

// TestRulesHandedOver: the rules the server sends after its welcome are
// recorded in the journal and handed to OnRules, and a register whose
// clock is 5 minutes off the server's logs a warning.
func TestRulesHandedOver(t *testing.T) {
	for _, tt := range []struct {
		skew time.Duration
		warn bool
	}{{5 * time.Minute, true}, {-5 * time.Minute, true}, {30 * time.Second, false}} {
		r := newRig(t)
		sent := &wire.Rules{Version: 9, MaxSalesPerDay: 3, MaxSale: 100 * money.Yuan, MinGapSeconds: 10,
			Periods: []wire.MealPeriod{{Name: "lunch", Start: 630, End: 840, MaxSales: 1}}}
		r.server.rules, r.server.skew = sent, tt.skew
		pin := r.start()
		logs := &logBuffer{}
		got := make(chan *wire.Rules, 1)
		up := uplink.New(uplink.Config{URL: "wss://" + r.addr + "/", Terminal: 1, Key: key, Fingerprint: pin, Journal: r.journal,
			Logger: slog.New(slog.NewTextHandler(logs, nil)), OnRules: func(m *wire.Rules) { got <- m }})
		ctx, stop := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			up.Run(ctx)
		}()
		var m *wire.Rules
		select {
		case m = <-got:
		case <-time.After(5 * time.Second):
			t.Fatalf("skew %v: no rules within 5 s", tt.skew)
		}
		stop()
		<-done
		r.stop()
		want := *sent
		want.ServerTime = m.ServerTime
		if diff := cmp.Diff(&want, m); diff != "" {
			t.Errorf("skew %v: rules handed over (-want +got):\n%s", tt.skew, diff)
		}
		if stored, ok, err := r.journal.ServerRules(); err != nil || !ok || stored.Version != 9 {
			t.Errorf("skew %v: journal holds %+v, %v, %v; want version 9", tt.skew, stored, ok, err)
		}
		if warned := strings.Contains(logs.String(), "clock skew: the register's clock differs"); warned != tt.warn {
			t.Errorf("skew %v: warned %v, want %v:\n%s", tt.skew, warned, tt.warn, logs)
		}
	}
}

// TestUnknownMessageSkipped: a message of a type the register does not
// know (a newer server's) is skipped, and the link stays up.
func TestUnknownMessageSkipped(t *testing.T) {
	r := newRig(t)
	r.server.raw = [][]byte{{wire.Version, 200, 1, 2, 3}}
	pin := r.start()
	defer r.stop()
	logs := &logBuffer{}
	up := r.uplinkLog(pin, slog.New(slog.NewTextHandler(logs, nil)))
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		up.Run(ctx)
	}()
	defer func() {
		stop()
		<-done
	}()
	waitFor(t, "the unknown message skipped", func() bool { return strings.Contains(logs.String(), "message of an unknown type skipped") })
	time.Sleep(100 * time.Millisecond)
	if !up.Online() || strings.Contains(logs.String(), "link down") {
		t.Fatalf("link dropped for an unknown message:\n%s", logs)
	}
}

// TestRulesV1: the gateway sends the rules as Rules, then as RulesV1 for
// registers that predate Rules. The register applies the Rules, with
// their preset prices and offline limits, and skips the RulesV1 of the
// same version; from a server that sends only RulesV1 (one that predates
// Rules) it applies those.
func TestRulesV1(t *testing.T) {
	full := &wire.Rules{Version: 7, MaxSalesPerDay: 3, MaxSale: 100 * money.Yuan,
		Periods: []wire.MealPeriod{{Name: "lunch", Start: 630, End: 840, Presets: []money.Fen{15 * money.Yuan, 0, 9 * money.Yuan}}},
		Offline: wire.OfflineLimits{MaxSale: 30 * money.Yuan, MaxAgeSeconds: 3600, HardCount: 50}}
	older := &wire.RulesV1{Rules: wire.Rules{Version: 8, MaxSalesPerDay: 2, MaxSale: 50 * money.Yuan}}
	for _, tt := range []struct {
		name string
		sent []wire.Message
		want []*wire.Rules // handed to OnRules, in order
	}{
		{"a server that knows Rules", []wire.Message{full, &wire.RulesV1{Rules: *full}}, []*wire.Rules{full}},
		{"a server that predates Rules", []wire.Message{older}, []*wire.Rules{&older.Rules}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			for _, m := range tt.sent {
				b, err := wire.Encode(m)
				if err != nil {
					t.Fatal(err)
				}
				r.server.raw = append(r.server.raw, b)
			}
			// A last message, to know the ones before were handled.
			r.server.raw = append(r.server.raw, []byte{wire.Version, 200})
			pin := r.start()
			defer r.stop()
			logs := &logBuffer{}
			var got []*wire.Rules
			var mu sync.Mutex
			up := uplink.New(uplink.Config{URL: "wss://" + r.addr + "/", Terminal: 1, Key: key, Fingerprint: pin, Journal: r.journal,
				Logger: slog.New(slog.NewTextHandler(logs, nil)), OnRules: func(m *wire.Rules) { mu.Lock(); got = append(got, m); mu.Unlock() }})
			ctx, stop := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() {
				defer close(done)
				up.Run(ctx)
			}()
			waitFor(t, "the last message", func() bool { return strings.Contains(logs.String(), "message of an unknown type skipped") })
			stop()
			<-done
			mu.Lock()
			defer mu.Unlock()
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("rules handed over (-want +got):\n%s", diff)
			}
			stored, ok, err := r.journal.ServerRules()
			if err != nil || !ok {
				t.Fatalf("journal: %v, %v", ok, err)
			}
			if diff := cmp.Diff(tt.want[len(tt.want)-1], stored); diff != "" {
				t.Errorf("rules in the journal (-want +got):\n%s", diff)
			}
		})
	}
}
