package uplink_test

import (
	"context"
	"log/slog"
	"strings"
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
