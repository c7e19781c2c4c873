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

	r.link.online = false
	rules := testRules()
	reg, err := terminal.NewRegister(terminal.Config{Rules: &rules, Now: func() time.Time { return r.now }, Logger: quiet}, r.journal, r.display, r.link)
	if err != nil {
		t.Fatal(err)
	}
	r.reg = reg
	if got := reg.ServerRules(); got == nil || got.Version != m.Version {
		t.Fatalf("after a restart: server rules %+v, want version %d", got, m.Version)
	}
	r.do("+2s", "in A1", "=! 重复刷卡 | 8 秒后再试", "out",
		"+10s", "in A1", "k 15\r", "=! 超出每日限额 | 今日可用 12.00",
		"out", "in B2", "=! 超出今日次数 | 今日已消费 2 次", "entries 1")
}
