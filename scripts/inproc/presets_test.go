package inproc_test

import (
	"context"
	"testing"
	"time"

	"github.com/fanka/fanka/server"
	"github.com/fanka/fanka/server/gateway"
	"github.com/fanka/fanka/server/servertest"
	"github.com/fanka/fanka/shared/money"
	"github.com/fanka/fanka/shared/wire"
	"github.com/fanka/fanka/terminal"
	"github.com/fanka/fanka/terminal/virtual"
)

// TestServerPresetsReachTheRegister runs a real gateway on a real store and
// a real register: the lunch prices and offline limits an office sets
// reach the register, whose preset key A then sells the server's lunch
// price (settled as such), and which keeps to the server's offline limit
// once the server is gone, across a restart.
func TestServerPresetsReachTheRegister(t *testing.T) {
	ctx := context.Background()
	store := servertest.MustOpenSQLite(t, nil)
	const cardNo = "04A1B2C4"
	servertest.OpenCard(t, store, cardNo, 100*money.Yuan)
	// Lunch all day long, so the test does not depend on the hour.
	rules := server.DefaultRules()
	rules.Periods = []server.MealPeriod{{Name: "lunch", Start: "00:00", End: "23:59", Presets: []money.Fen{16 * money.Yuan, 0, 9 * money.Yuan}}}
	rules.MinGapSeconds = 0
	rules.Offline = server.OfflineLimits{MaxSale: 10 * money.Yuan, MaxHours: 72, SoftCount: 100, HardCount: 1000}
	version, err := store.SetRules(ctx, rules, "admin")
	if err != nil {
		t.Fatal(err)
	}
	site := startSite(t, store, gateway.DefaultRulesInterval)
	// The register's own: lunch at 12.00 on key A, looser offline limits.
	own := terminal.DefaultRules()
	own.Meals = []terminal.MealPeriod{{Name: "午餐", Start: 0, End: 23*time.Hour + 59*time.Minute, Presets: []money.Fen{12 * money.Yuan}}}
	own.Offline.MaxSale = 50 * money.Yuan
	// Periods are taken on the register's clock here, and the server
	// settles on its own: both at noon today would need a server clock,
	// so the register runs on the real one and lunch is all day.
	clk := &clock{t: time.Now()}
	if clk.t.Hour() == 23 && clk.t.Minute() >= 58 {
		t.Skip("too close to midnight for the day-long meal period")
	}
	open := site.opener(t, &own, clk)
	j, reg, up, d := open()
	stop := run(up)
	waitFor(t, "the server's rules on the register", func() bool {
		m := reg.ServerRules()
		return m != nil && m.Version == version && len(m.Periods) == 1 && len(m.Periods[0].Presets) == 3
	})
	waitFor(t, "the card from the server", func() bool {
		_, ok, _ := j.Card(cardNo, clk.Now())
		return ok
	})
	keys := func(reg *terminal.Register, s string) {
		t.Helper()
		ks, err := virtual.Keys(s)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range ks {
			reg.HandleKey(k)
		}
	}

	reg.HandleCard(terminal.CardEvent{Present: true, CardNo: cardNo, At: clk.Now()})
	keys(reg, "A")
	if got := d.text(); got != "消费 16.00 | 余额 84.00" {
		t.Fatalf("preset A at lunch: display %q, want the server's 16.00", got)
	}
	keys(reg, "\r")
	if got := d.text(); got != "成功 消费 16.00 | 余额 84.00" {
		t.Fatalf("preset A confirmed: display %q", got)
	}
	reg.HandleCard(terminal.CardEvent{Present: false, At: clk.Now()})
	waitFor(t, "the sale settled", func() bool { return j.Acked() == 1 })
	if c, err := store.Card(ctx, cardNo); err != nil || c.Balance != 84*money.Yuan {
		t.Fatalf("card on the server after preset A: %+v, %v; want 84.00", c, err)
	}

	// Restarted without the server: its offline limit of 10.00 a sale
	// holds, not the register's 50.00.
	stop()
	j.Close()
	site.gw.Close()
	j, reg, _, d = open()
	defer j.Close()
	reg.HandleCard(terminal.CardEvent{Present: true, CardNo: cardNo, At: clk.Now()})
	keys(reg, "A\r")
	if got := d.text(); got != "超出离线限额 | 单笔 10.00" {
		t.Errorf("preset A offline, above the server's offline limit: display %q", got)
	}
	keys(reg, "C\r")
	if got := d.text(); got != "成功 消费 9.00 | 余额 75.00" {
		t.Errorf("preset C offline: display %q, want the server's 9.00", got)
	}
	if j.Last() != 2 {
		t.Errorf("%d entries, want 2 sales", j.Last())
	}
}

// TestDefaultOfflineLimits: the server's default offline limits are the
// register's own defaults, so that pushing them changes nothing at a
// register left at its defaults.
func TestDefaultOfflineLimits(t *testing.T) {
	s, o := server.DefaultOfflineLimits(), terminal.DefaultRules().Offline
	if s.MaxSale != o.MaxSale || s.MaxCardDay != o.MaxCardDay || s.MaxUnsynced != o.MaxUnsynced ||
		time.Duration(s.MaxHours)*time.Hour != o.MaxAge || s.SoftCount != o.SoftCount || s.HardCount != o.HardCount {
		t.Errorf("server default offline limits %+v, the register's %+v", s, o)
	}
	if int(wire.MaxPresets) != server.MaxPresets || server.MaxPresets != terminal.MaxPresets {
		t.Errorf("preset bounds: wire %d, server %d, register %d", wire.MaxPresets, server.MaxPresets, terminal.MaxPresets)
	}
}
