package terminal_test

import (
	"testing"
	"time"

	"github.com/fanka/fanka/shared/money"
	"github.com/fanka/fanka/shared/wire"
	"github.com/fanka/fanka/terminal"
)

// serverRules are rules as a server pushes them: 2 sales a day, 20 yuan a
// sale, 30 a day, a 10-second double tap, lunch and dinner only.
func serverRules() *wire.Rules {
	return &wire.Rules{
		Version: 4, ServerTime: noon.UnixMilli(),
		MaxSalesPerDay: 2, MaxSale: 20 * money.Yuan, MaxDay: 30 * money.Yuan, MinGapSeconds: 10,
		Periods: []wire.MealPeriod{{Name: "lunch", Start: 11 * 60, End: 13*60 + 30}, {Name: "dinner", Start: 17 * 60, End: 19 * 60}},
		Classes: []wire.ClassRules{{Name: "staff", MaxSalesPerDay: 5}},
	}
}

// TestServerRules: the server's rules refuse, on the display and before
// anything is recorded, what settlement would flag, online and offline;
// the register's own limits still hold where they are lower.
func TestServerRules(t *testing.T) {
	tests := []struct {
		name   string
		change func(*wire.Rules)
		steps  []string
	}{
		{"the server's daily count, lower than the register's", nil,
			[]string{"in B2", "=! 超出今日次数 | 今日已消费 2 次", "k 5\r", "entries 0"}},
		{"the server's per-sale maximum", nil,
			[]string{"in A1", "k 25\r", "=! 超出单笔限额 | 限额 20.00", "entries 0", "k 20\r", "=+ 成功 消费 20.00 | 余额 80.00", "entries 1"}},
		{"the register's per-sale maximum where it is lower", func(m *wire.Rules) { m.MaxSale = 0 },
			[]string{"in A1", "k 250\r", "=! 超出单笔限额 | 限额 200.00", "entries 0"}},
		{"the per-day maximum, over this register's sales of the day", nil,
			[]string{"in A1", "k 18\r", "out", "+11s", "in A1", "k 15\r", "=! 超出每日限额 | 今日可用 12.00", "entries 1",
				"k 12\r", "=+ 成功 消费 12.00 | 余额 70.00", "entries 2"}},
		{"a void gives the day's amount back", nil,
			[]string{"in A1", "k 18\r", "k 9999\r", "k \r", "entries 2", "out", "+11s", "in A1", "k 20\r", "=+ 成功 消费 20.00 | 余额 80.00", "entries 3"}},
		{"a double tap", nil,
			[]string{"in A1", "k 5\r", "out", "+3s", "in A1", "=! 重复刷卡 | 7 秒后再试", "entries 1", "out",
				"+7s", "in A1", "= 余额 95.00 | 张* 请输入金额"}},
		{"a double tap offline", nil,
			[]string{"offline", "in A1", "k 5\r", "out", "+1s", "in A1", "=! 重复刷卡 | 9 秒后再试", "entries 1"}},
		{"outside the meal periods", nil,
			[]string{"+3h", "in A1", "=! 非用餐时间 | ", "entries 0"}},
		{"outside the meal periods, allowed", func(m *wire.Rules) { m.OutsidePeriods = true },
			[]string{"+3h", "in A1", "= 余额 100.00 | 张* 请输入金额"}},
		{"no limits but the register's", func(m *wire.Rules) { *m = wire.Rules{Version: 5} },
			[]string{"in B2", "= 余额 100.00 | 孙* 请输入金额", "out", "in D3", "=! 超出今日次数 | 今日已消费 3 次"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, nil)
			m := serverRules()
			if tt.change != nil {
				tt.change(m)
			}
			r.reg.SetServerRules(m)
			r.do(tt.steps...)
		})
	}
}

// TestServerRulesRemoved: without the server's rules the register's own
// apply again.
func TestServerRulesRemoved(t *testing.T) {
	r := newRig(t, nil)
	r.reg.SetServerRules(serverRules())
	r.do("in B2", "=! 超出今日次数 | 今日已消费 2 次", "out")
	r.reg.SetServerRules(nil)
	r.do("in B2", "= 余额 100.00 | 孙* 请输入金额")
}

// TestServerRulesAfterRestart: the rules the uplink recorded in the
// journal apply from the start of the next run, before the server is
// reached, and so does what this register sold that day.
func TestServerRulesAfterRestart(t *testing.T) {
	r := newRig(t, nil)
	m := serverRules()
	if err := r.journal.SaveRules(m); err != nil {
		t.Fatal(err)
	}
	r.reg.SetServerRules(m)
	r.do("in A1", "k 18\r", "=+ 成功 消费 18.00 | 余额 82.00", "out")

	r.restartOffline()
	if got := r.reg.ServerRules(); got == nil || got.Version != m.Version {
		t.Fatalf("after a restart: server rules %+v, want version %d", got, m.Version)
	}
	r.do("+2s", "in A1", "=! 重复刷卡 | 8 秒后再试", "out",
		"+10s", "in A1", "k 15\r", "=! 超出每日限额 | 今日可用 12.00",
		"out", "in B2", "=! 超出今日次数 | 今日已消费 2 次", "entries 1")
}

// TestServerPresetsAndOfflineLimits: in a server meal period that prices
// the preset keys, the keys sell the server's prices, not the register's
// own; elsewhere the register's own hold. The offline limits in force are
// the stricter of the server's and the register's, limit by limit.
func TestServerPresetsAndOfflineLimits(t *testing.T) {
	// The rig's own presets: lunch A 12.00, B 8.50, C none; dinner A 10.00.
	priced := func(m *wire.Rules) { m.Periods[0].Presets = []money.Fen{15 * money.Yuan, 0, 9 * money.Yuan} }
	offline := func(o wire.OfflineLimits) func(*wire.Rules) { return func(m *wire.Rules) { m.Offline = o } }
	tests := []struct {
		name   string
		own    func(*terminal.Rules)
		server func(*wire.Rules)
		steps  []string
	}{
		{"key A sells the server's lunch price", nil, priced,
			[]string{"in A1", "k A", "= 消费 15.00 | 余额 85.00", "k \r", "=+ 成功 消费 15.00 | 余额 85.00", "entries 1"}},
		{"key B has no meal on the server, though the register prices it", nil, priced,
			[]string{"in A1", "k B", "=! 无此套餐 | 请输入金额", "k \r", "entries 0"}},
		{"key C has the server's meal, though the register has none", nil, priced,
			[]string{"in A1", "k C", "= 消费 9.00 | 余额 91.00"}},
		{"a key beyond the server's prices has no meal", nil, priced,
			[]string{"in A1", "k D", "=! 无此套餐 | 请输入金额"}},
		{"a server period without prices leaves the register's own", nil, priced,
			[]string{"+6h", "in A1", "k A", "= 消费 10.00 | 余额 90.00"}},
		{"without server prices the register's own lunch prices hold", nil, nil,
			[]string{"in A1", "k B", "= 消费 8.50 | 余额 91.50"}},
		{"the server's offline per-sale limit, lower", nil, offline(wire.OfflineLimits{MaxSale: 15 * money.Yuan}),
			[]string{"offline", "in A1", "k 15.01\r", "=! 超出离线限额 | 单笔 15.00", "entries 0", "k 15\r", "=+ 成功 消费 15.00 | 余额 85.00"}},
		{"the server's offline per-sale limit does not apply online", nil, offline(wire.OfflineLimits{MaxSale: 15 * money.Yuan}),
			[]string{"in A1", "k 18\r", "=+ 成功 消费 18.00 | 余额 82.00"}},
		{"the register's offline per-sale limit, lower than the server's",
			func(r *terminal.Rules) { r.Offline.MaxSale = 10 * money.Yuan }, offline(wire.OfflineLimits{MaxSale: 15 * money.Yuan}),
			[]string{"offline", "in A1", "k 10.01\r", "=! 超出离线限额 | 单笔 10.00", "entries 0"}},
		{"the register's offline limit where the server sets none",
			func(r *terminal.Rules) { r.Offline.MaxSale = 10 * money.Yuan }, offline(wire.OfflineLimits{}),
			[]string{"offline", "in A1", "k 10.01\r", "=! 超出离线限额 | 单笔 10.00", "entries 0"}},
		{"the server's offline card-day limit", nil, offline(wire.OfflineLimits{MaxCardDay: 25 * money.Yuan}),
			[]string{"offline", "in A1", "k 20\r", "out", "+11s", "in A1", "k 5.01\r", "=! 超出离线限额 | 离线可用 5.00", "entries 1"}},
		{"the server's unsynced total", nil, offline(wire.OfflineLimits{MaxUnsynced: 25 * money.Yuan}),
			[]string{"offline", "in A1", "k 20\r", "out", "in FK0001", "k 5.01\r", "=! 超出离线限额 | 离线可用 5.00", "entries 1"}},
		{"the server's hours offline, fewer than the register's 72", nil, offline(wire.OfflineLimits{MaxAgeSeconds: 3600}),
			[]string{"offline", "+58m", "in A1", "= 余额 100.00 | 张* 请输入金额", "out", "+2m", "in A1", "=! 离线时间过长 | 请联网后消费", "entries 0"}},
		{"the server's hard count, lower than the register's 1,000", nil, offline(wire.OfflineLimits{HardCount: 1}),
			[]string{"offline", "in A1", "k 1\r", "out", "+11s", "in A1", "=! 离线笔数已满 | 请联网后消费", "entries 1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, tt.own)
			m := serverRules()
			if tt.server != nil {
				tt.server(m)
			}
			r.reg.SetServerRules(m)
			r.do(tt.steps...)
		})
	}
}

// TestServerSoftCount: the server's soft count, lower than the
// register's 100, makes the register try the server before the next
// offline sale.
func TestServerSoftCount(t *testing.T) {
	r := newRig(t, nil)
	m := serverRules()
	m.Offline.SoftCount = 1
	r.reg.SetServerRules(m)
	r.do("offline", "in A1", "k 1\r", "out")
	if r.link.reaches != 0 {
		t.Fatalf("tried the server %d times before the soft count", r.link.reaches)
	}
	r.do("+11s", "in A1", "k 1\r", "=+ 成功 消费 1.00 | 余额 98.00")
	if r.link.reaches != 1 {
		t.Fatalf("tried the server %d times past the soft count, want 1", r.link.reaches)
	}
}

// TestServerPresetsAfterRestart: the server's prices and offline limits
// the journal recorded apply from the start of the next run.
func TestServerPresetsAfterRestart(t *testing.T) {
	r := newRig(t, nil)
	m := serverRules()
	m.Periods[0].Presets = []money.Fen{15 * money.Yuan}
	m.Offline = wire.OfflineLimits{MaxSale: 12 * money.Yuan}
	if err := r.journal.SaveRules(m); err != nil {
		t.Fatal(err)
	}
	r.restartOffline()
	r.do("in A1", "k A", "= 消费 15.00 | 余额 85.00", "k \r", "=! 超出离线限额 | 单笔 12.00", "entries 0",
		"k 12\r", "=+ 成功 消费 12.00 | 余额 88.00", "entries 1")
}

// restartOffline replaces the rig's register with a new one on the same
// journal, the server out of reach, as after a restart.
func (r *rig) restartOffline() {
	r.t.Helper()
	r.link.online = false
	rules := testRules()
	reg, err := terminal.NewRegister(terminal.Config{Rules: &rules, Now: func() time.Time { return r.now }, Logger: quiet}, r.journal, r.display, r.link)
	if err != nil {
		r.t.Fatal(err)
	}
	r.reg = reg
}
