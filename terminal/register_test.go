package terminal_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/fanka/fanka/shared/card"
	"github.com/fanka/fanka/shared/journal"
	"github.com/fanka/fanka/shared/money"
	"github.com/fanka/fanka/shared/wire"
	"github.com/fanka/fanka/terminal"
	tj "github.com/fanka/fanka/terminal/journal"
	"github.com/fanka/fanka/terminal/virtual"
)

// displayColumns is the width of the customer displays (DESIGN §9).
const displayColumns = 20

// screens records what the register shows, and fails the test for a line
// that does not fit a 20-column GBK display.
type screens struct {
	t   *testing.T
	all []terminal.Screen
}

func (s *screens) Show(sc terminal.Screen) error {
	for _, l := range sc.Lines {
		b, err := simplifiedchinese.GBK.NewEncoder().String(l)
		if err != nil || len(b) > displayColumns {
			s.t.Errorf("display line %q: %d GBK columns (err %v), the display has %d", l, len(b), err, displayColumns)
		}
	}
	if len(sc.Lines) > 2 {
		s.t.Errorf("screen of %d lines: the display has 2", len(sc.Lines))
	}
	s.all = append(s.all, sc)
	return nil
}

func (s *screens) last() terminal.Screen {
	if len(s.all) == 0 {
		return terminal.Screen{}
	}
	return s.all[len(s.all)-1]
}

// link is an uplink whose state the test sets.
type link struct {
	online  bool
	contact time.Time
	wakes   int
	reaches int
	reach   bool // what Reach brings: the link up or not
}

func (l *link) Wake()                  { l.wakes++ }
func (l *link) Online() bool           { return l.online }
func (l *link) LastContact() time.Time { return l.contact }
func (l *link) Reach(time.Duration) bool {
	l.reaches++
	if l.reach {
		l.online = true
	}
	return l.online
}

// logBuffer collects the register's log.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// noon is the rig's starting time: lunch.
var noon = time.Date(2026, 11, 25, 12, 0, 0, 0, time.Local)

var quiet = slog.New(slog.DiscardHandler)

var registerKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32))

// rig is a register on a real bbolt journal in a temp dir, a recording
// display, a link the test sets and a clock the test moves.
type rig struct {
	t       *testing.T
	reg     *terminal.Register
	journal *tj.Journal
	path    string
	display *screens
	link    *link
	now     time.Time
	log     *logBuffer
	// receipts is the register's receipt printer (printingRig); nil: none.
	receipts *terminal.ReceiptPrinter
}

// testRules are the rig's rules: the defaults, two cashiers, a supervisor,
// lunch and dinner presets.
func testRules() terminal.Rules {
	r := terminal.DefaultRules()
	r.Cashiers = []terminal.Staff{{ID: "C01", Code: "1111"}, {ID: "C02", Code: "2222"}}
	r.Supervisors = []terminal.Staff{{ID: "S01", Code: "9999"}}
	r.Meals = []terminal.MealPeriod{
		{Name: "午餐", Start: 11 * time.Hour, End: 13*time.Hour + 30*time.Minute, Presets: []money.Fen{1200, 850, 0}},
		{Name: "晚餐", Start: 17 * time.Hour, End: 19 * time.Hour, Presets: []money.Fen{1000}},
	}
	return r
}

func newRig(t *testing.T, change func(*terminal.Rules)) *rig {
	t.Helper()
	return newRigAt(t, filepath.Join(t.TempDir(), "journal.db"), change, nil)
}

// newRigAt returns a rig on the journal at path, opened (or created) with
// the rig's cards; setup, if not nil, completes the register's config
// before the register is made.
func newRigAt(t *testing.T, path string, change func(*terminal.Rules), setup func(*terminal.Config, *tj.Journal)) *rig {
	t.Helper()
	return newRigAs(t, path, 1, registerKey, change, setup)
}

// newRigAs is newRigAt for register id with key.
func newRigAs(t *testing.T, path string, id uint32, key ed25519.PrivateKey, change func(*terminal.Rules), setup func(*terminal.Config, *tj.Journal)) *rig {
	t.Helper()
	j, err := tj.Open(path, id, key)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	day := tj.Day(noon)
	err = j.ApplyCards(&wire.Cards{Cursor: 7, Cards: []wire.Card{
		{Version: 7, CardNo: "FK0001", Name: "周九", Status: wire.CardActive, Balance: 10000, Day: day},
		{Version: 1, CardNo: "A1", Name: "张三", Status: wire.CardActive, Balance: 10000, Day: day},
		{Version: 2, CardNo: "F1", Name: "李四", Status: wire.CardFrozen, Balance: 10000, Day: day},
		{Version: 3, CardNo: "L1", Name: "王五", Status: wire.CardLost, Balance: 10000, Day: day},
		{Version: 4, CardNo: "C1", Name: "赵六", Status: wire.CardClosed, Day: day},
		{Version: 5, CardNo: "D3", Name: "钱七", Status: wire.CardActive, Balance: 10000, Day: day, TodayCount: 3},
		{Version: 6, CardNo: "B2", Name: "孙八", Status: wire.CardActive, Balance: 10000, Day: day, TodayCount: 2},
	}})
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, journal: j, path: path, display: &screens{t: t}, now: noon, log: &logBuffer{},
		link: &link{online: true, contact: noon.Add(-time.Minute)}}
	rules := testRules()
	if change != nil {
		change(&rules)
	}
	cfg := terminal.Config{
		Rules:    &rules,
		Terminal: id,
		Now:      func() time.Time { return r.now },
		Logger:   slog.New(slog.NewTextHandler(r.log, nil)),
	}
	if setup != nil {
		setup(&cfg, j)
	}
	r.reg, err = terminal.NewRegister(cfg, j, r.display, r.link)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// do runs a script of steps, one per string:
//
//	in CARD       a card is inserted      in?      an unreadable card
//	out           the card is removed     k KEYS   keys, in the ASCII keypad's notation
//	online        the link is up          offline  the link is down
//	+DURATION     the clock moves on      -DURATION the clock goes back
//	link          the link changed (HandleLinkChange)
//	= SCREEN      the display shows "line 1 | line 2", without a beep;
//	              "=+" wants the success beep with it, "=!" the refusal beep
//	entries N     the journal holds N entries
func (r *rig) do(steps ...string) {
	r.t.Helper()
	for _, s := range steps {
		verb, arg, _ := strings.Cut(s, " ")
		switch {
		case verb == "in":
			r.reg.HandleCard(terminal.CardEvent{Present: true, CardNo: arg, At: r.now})
		case verb == "in?":
			r.reg.HandleCard(terminal.CardEvent{Present: true, Err: errors.New("card: status 6A81"), At: r.now})
		case verb == "out":
			r.reg.HandleCard(terminal.CardEvent{Present: false, At: r.now})
		case verb == "k":
			keys, err := virtual.Keys(arg)
			if err != nil {
				r.t.Fatal(err)
			}
			for _, k := range keys {
				r.reg.HandleKey(k)
			}
		case verb == "online" || verb == "offline":
			r.link.online = verb == "online"
		case verb == "link":
			r.reg.HandleLinkChange()
		case strings.HasPrefix(verb, "+") || strings.HasPrefix(verb, "-"):
			d, err := time.ParseDuration(verb)
			if err != nil {
				r.t.Fatalf("step %q: %v", s, err)
			}
			r.now = r.now.Add(d)
		case verb == "=" || verb == "=+" || verb == "=!":
			got := r.display.last()
			if text := strings.Join(got.Lines, " | "); text != arg {
				r.t.Fatalf("step %q: display %q", s, text)
			}
			want := map[string]terminal.Beep{"=": terminal.BeepNone, "=+": terminal.BeepSuccess, "=!": terminal.BeepRefusal}[verb]
			if got.Beep != want {
				r.t.Fatalf("step %q: beep %v, want %v", s, got.Beep, want)
			}
		case verb == "entries":
			n, _ := strconv.Atoi(arg)
			if got := r.journal.Last(); got != uint64(n) {
				r.t.Fatalf("step %q: %d entries recorded", s, got)
			}
		default:
			r.t.Fatalf("unknown step %q", s)
		}
	}
}

// entry returns the journal's entry seq.
func (r *rig) entry(seq uint64) journal.Entry {
	r.t.Helper()
	es, err := r.journal.Entries(seq-1, 1)
	if err != nil || len(es) != 1 {
		r.t.Fatalf("entry %d: %v", seq, err)
	}
	e, err := journal.Unmarshal(es[0])
	if err != nil {
		r.t.Fatal(err)
	}
	return e
}

// TestTransitions walks every transition of the state machine (DESIGN §5),
// each from a fresh register, on the real journal.
func TestTransitions(t *testing.T) {
	offlineLimits := func(o terminal.OfflineLimits) func(*terminal.Rules) {
		return func(r *terminal.Rules) { r.Offline = o }
	}
	tests := []struct {
		name  string
		rules func(*terminal.Rules)
		steps []string
	}{
		// Idle.
		{"idle shows 请刷卡", nil, []string{"link", "= 请刷卡 | "}},
		{"idle offline shows the count waiting", nil, []string{"offline", "link", "= 请刷卡 | 离线 待传 0"}},
		{"idle: cancel, backspace and confirm do nothing", nil, []string{"link", "k \x1b\b\r", "= 请刷卡 | ", "entries 0"}},
		{"idle: an amount before the card", nil, []string{"k 12.", "=! 请先刷卡 | ", "k \x1b", "= 请刷卡 | "}},
		{"idle: a preset key before the card", nil, []string{"k A", "=! 请先刷卡 | "}},

		// Card in.
		{"good card: balance and initial", nil, []string{"in A1", "= 余额 100.00 | 张* 请输入金额"}},
		{"unknown card", nil, []string{"in FFFF", "=! 未开卡 | 请到管理中心", "k 1\r", "entries 0", "out", "= 请刷卡 | "}},
		{"frozen card", nil, []string{"in F1", "=! 卡已冻结 | 请到管理中心", "entries 0"}},
		{"lost card", nil, []string{"in L1", "=! 挂失卡 | 请留卡"}},
		{"closed card", nil, []string{"in C1", "=! 卡已注销 | 请到管理中心"}},
		{"unreadable card", nil, []string{"in?", "=! 读卡失败 | 请重新刷卡", "out", "= 请刷卡 | "}},
		{"daily count reached", nil, []string{"in D3", "=! 超出今日次数 | 今日已消费 3 次"}},
		{"daily count off", func(r *terminal.Rules) { r.DailyCount = 0 }, []string{"in D3", "= 余额 100.00 | 钱* 请输入金额"}},
		{"the third sale of the day, then no fourth", nil, []string{
			"in B2", "k 1\r", "=+ 成功 消费 1.00 | 余额 99.00", "out",
			"in B2", "=! 超出今日次数 | 今日已消费 3 次"}},
		{"tomorrow the count starts again", nil, []string{"+24h", "in D3", "= 余额 100.00 | 钱* 请输入金额"}},
		{"a card replaces a card", nil, []string{"in F1", "in A1", "= 余额 100.00 | 张* 请输入金额"}},

		// Amount entry.
		{"digits and dot", nil, []string{"in A1", "k 12.5", "= 消费 12.5 | 余额 87.50", "k 0", "= 消费 12.50 | 余额 87.50"}},
		{"a second dot is ignored", nil, []string{"in A1", "k 12..3", "= 消费 12.3 | 余额 87.70"}},
		{"backspace", nil, []string{"in A1", "k 12.3\b\b", "= 消费 12 | 余额 88.00", "k \b\b", "= 余额 100.00 | 张* 请输入金额", "k \b", "= 余额 100.00 | 张* 请输入金额"}},
		{"cancel clears the amount", nil, []string{"in A1", "k 12\x1b", "= 余额 100.00 | 张* 请输入金额", "k \r", "entries 0"}},
		{"at most 11 keys", nil, []string{"in A1", "k 123456789012345", "= 消费 12345678901 | 余额不足 100.00"}},
		{"more than the balance shows 余额不足", nil, []string{"in A1", "k 100.01", "= 消费 100.01 | 余额不足 100.00"}},
		{"confirm with nothing keyed", nil, []string{"in A1", "k \r", "= 余额 100.00 | 张* 请输入金额", "entries 0"}},
		{"card out mid-entry: nothing recorded", nil, []string{"in A1", "k 12", "out", "= 请刷卡 | ", "k .50\r", "entries 0", "k \x1b", "= 请刷卡 | "}},

		// Preset meal keys.
		{"preset A at lunch", nil, []string{"in A1", "k A", "= 消费 12.00 | 余额 88.00", "k \r", "=+ 成功 消费 12.00 | 余额 88.00"}},
		{"a preset replaces what was keyed", nil, []string{"in A1", "k 3.5B", "= 消费 8.50 | 余额 91.50"}},
		{"a preset can be corrected", nil, []string{"in A1", "k B\b\b", "= 消费 8. | 余额 92.00"}},
		{"preset without a meal", nil, []string{"in A1", "k 5C", "=! 无此套餐 | 请输入金额", "k \r", "=+ 成功 消费 5.00 | 余额 95.00"}},
		{"preset beyond the priced keys", nil, []string{"in A1", "k H", "=! 无此套餐 | 请输入金额"}},
		{"preset at dinner", nil, []string{"+6h", "in A1", "k A", "= 消费 10.00 | 余额 90.00"}},
		{"preset outside meals", nil, []string{"+3h", "in A1", "k A", "=! 无此套餐 | 请输入金额"}},

		// Confirm.
		{"sale", nil, []string{"in A1", "k 12.50\r", "=+ 成功 消费 12.50 | 余额 87.50", "entries 1", "out", "= 请刷卡 | 待传 1", "in A1", "= 余额 87.50 | 张* 请输入金额"}},
		{"amount 0", nil, []string{"in A1", "k 0\r", "=! 金额无效 | 须大于0", "k 0.00\r", "=! 金额无效 | 须大于0", "entries 0"}},
		{"three decimals", nil, []string{"in A1", "k 1.234\r", "=! 金额无效 | 最多两位小数"}},
		{"a lone dot", nil, []string{"in A1", "k .\r", "=! 金额无效 | 请重新输入"}},
		{"above the per-sale maximum", nil, []string{"in A1", "k 200.01\r", "=! 超出单笔限额 | 限额 200.00"}},
		{"above the balance", nil, []string{"in A1", "k 100.01\r", "=! 余额不足 | 余额 100.00", "entries 0", "k 100\r", "=+ 成功 消费 100.00 | 余额 0.00"}},
		{"after a refusal the cashier keys again", nil, []string{"in A1", "k 0\r1\r", "=+ 成功 消费 1.00 | 余额 99.00"}},
		{"keys after the sale make no sale", nil, []string{"in A1", "k 5\r", "k 5\r", "entries 1", "k .A", "entries 1"}},
		{"confirm, then the card leaves: recorded once", nil, []string{"in A1", "k 5\r", "out", "entries 1", "= 请刷卡 | 待传 1"}},

		// Offline.
		{"offline sale", nil, []string{"offline", "in A1", "k 60\r", "=+ 成功 消费 60.00 | 余额 40.00", "out", "= 请刷卡 | 离线 待传 1",
			"in A1", "= 余额 40.00 | 张* 请输入金额", "k 50\r", "=! 余额不足 | 余额 40.00"}},
		{"offline per-sale limit", offlineLimits(terminal.OfflineLimits{MaxSale: 2000}), []string{
			"offline", "in A1", "k 20.01\r", "=! 超出离线限额 | 单笔 20.00", "k 20\r", "=+ 成功 消费 20.00 | 余额 80.00"}},
		{"online, the offline per-sale limit does not apply", offlineLimits(terminal.OfflineLimits{MaxSale: 2000}), []string{
			"in A1", "k 50\r", "=+ 成功 消费 50.00 | 余额 50.00"}},
		{"offline per card per day", offlineLimits(terminal.OfflineLimits{MaxCardDay: 3000}), []string{
			"offline", "in A1", "k 20\r", "out", "in A1", "k 10.01\r", "=! 超出离线限额 | 离线可用 10.00", "k 10\r", "=+ 成功 消费 10.00 | 余额 70.00"}},
		{"offline per card per day: another card is not held back", offlineLimits(terminal.OfflineLimits{MaxCardDay: 3000}), []string{
			"offline", "in A1", "k 30\r", "out", "in B2", "k 30\r", "=+ 成功 消费 30.00 | 余额 70.00"}},
		{"offline unsynced total", offlineLimits(terminal.OfflineLimits{MaxUnsynced: 5000}), []string{
			"offline", "in A1", "k 40\r", "out", "in B2", "k 10.01\r", "=! 超出离线限额 | 离线可用 10.00", "k 10\r", "entries 2"}},
		{"offline too long", offlineLimits(terminal.OfflineLimits{MaxAge: time.Hour}), []string{
			"offline", "+59m", "in A1", "= 余额 100.00 | 张* 请输入金额", "out", "+2m", "in A1", "=! 离线时间过长 | 请联网后消费", "k 1\r", "entries 0"}},
		{"offline too long: online again sells", offlineLimits(terminal.OfflineLimits{MaxAge: time.Hour}), []string{
			"offline", "+2h", "online", "in A1", "k 1\r", "=+ 成功 消费 1.00 | 余额 99.00"}},
		{"offline hard count", offlineLimits(terminal.OfflineLimits{HardCount: 2}), []string{
			"offline", "in A1", "k 1\r", "out", "in A1", "k 1\r", "out", "in A1", "=! 离线笔数已满 | 请联网后消费", "entries 2"}},

		// Staff codes, sign-in.
		{"code entry is masked", nil, []string{"k 12", "= 工号 ** | ", "k \b", "= 工号 * | ", "k \b", "= 请刷卡 | "}},
		{"code entry cancelled", nil, []string{"link", "k 123\x1b", "= 请刷卡 | "}},
		{"code entry: a dot starts over", nil, []string{"k 12.", "=! 请先刷卡 | ", "k \r", "=! 请先刷卡 | "}},
		{"wrong code", nil, []string{"k 1234\r", "=! 工号无效 | 请重新输入"}},
		{"too many wrong codes lock code entry", nil, []string{
			"k 1234\r1234\r1234\r1234\r", "=! 工号无效 | 请重新输入", "k 1234\r", "=! 错误次数过多 | 请稍后再试",
			"k 1111\r", "=! 错误次数过多 | 请稍后再试", "+61s", "k 1111\r", "= 请刷卡 | C01 已签到"}},
		{"cashier signs in and out", nil, []string{"k 1111\r", "= 请刷卡 | C01 已签到", "k 1111\r", "= 请刷卡 | 已签退 C01"}},
		{"another cashier takes over", nil, []string{"k 1111\r2222\r", "= 请刷卡 | C02 已签到"}},
		{"sign-in required: idle asks for it", func(r *terminal.Rules) { r.RequireCashier = true }, []string{"link", "= 请签到 | "}},
		{"sign-in required: no sale without a cashier", func(r *terminal.Rules) { r.RequireCashier = true }, []string{
			"in A1", "=! 收银员未签到 | 请先签到", "k 5\r", "entries 0"}},
		{"sign-in required: signing in with the card in lets it buy", func(r *terminal.Rules) { r.RequireCashier = true }, []string{
			"in A1", "k 1111\r", "= 余额 100.00 | 张* 请输入金额", "k 5\r", "=+ 成功 消费 5.00 | 余额 95.00"}},
		{"sign-in required: signing out stops sales", func(r *terminal.Rules) { r.RequireCashier = true }, []string{
			"k 1111\r", "k 1111\r", "= 请签到 | 已签退 C01", "in A1", "=! 收银员未签到 | 请先签到"}},
		{"a card ends a code entry", nil, []string{"k 11", "in A1", "= 余额 100.00 | 张* 请输入金额", "k 11\r", "=+ 成功 消费 11.00 | 余额 89.00"}},

		// Void.
		{"void the last sale, card still in", nil, []string{
			"in A1", "k 15\r", "k 9999\r", "= 撤销 消费 15.00 | 确认撤销 取消返回", "k \r", "entries 2", "= 余额 100.00 | 张* 请输入金额",
			"k 1.50\r", "=+ 成功 消费 1.50 | 余额 98.50", "entries 3"}},
		{"void the last sale after the card left", nil, []string{
			"in A1", "k 15\r", "out", "+4m", "k 9999\r", "= 撤销 消费 15.00 | 确认撤销 取消返回", "k \r", "=+ 已撤销 15.00 | 余额 100.00",
			"entries 2", "k \x1b", "= 请刷卡 | 待传 2"}},
		{"void cancelled", nil, []string{"in A1", "k 15\r", "k 9999\r\x1b", "= 成功 消费 15.00 | 余额 85.00", "entries 1"}},
		{"void: keys other than confirm and cancel do nothing", nil, []string{"in A1", "k 15\r", "k 9999\r", "k 12.A\b", "= 撤销 消费 15.00 | 确认撤销 取消返回"}},
		{"void: the card leaving ends it", nil, []string{"in A1", "k 15\r", "k 9999\r", "out", "k \r", "entries 1"}},
		{"void with nothing sold", nil, []string{"k 9999\r", "=! 无可撤销交易 | "}},
		{"no second void", nil, []string{"in A1", "k 15\r", "k 9999\r\r", "out", "k 9999\r", "=! 无可撤销交易 | ", "entries 2"}},
		{"void too late", nil, []string{"in A1", "k 15\r", "out", "+5m1s", "k 9999\r", "=! 已超撤销时限 | 时限 5 分钟"}},
		{"void window passes at the confirm screen", nil, []string{"in A1", "k 15\r", "out", "+4m", "k 9999\r", "+2m", "k \r", "=! 已超撤销时限 | 时限 5 分钟", "entries 1"}},
		{"voids off", func(r *terminal.Rules) { r.VoidWindow = 0 }, []string{"in A1", "k 15\r", "k 9999\r", "=! 不允许撤销 | "}},
		{"a cashier's code does not void", nil, []string{"in A1", "k 15\r", "k 1111\r", "= C01 已签到 | ", "entries 1"}},
		{"a void gives back today's count", nil, []string{
			"in B2", "k 1\r", "out", "in B2", "=! 超出今日次数 | 今日已消费 3 次", "k 9999\r\r", "= 余额 100.00 | 孙* 请输入金额"}},
		{"offline void", nil, []string{"offline", "in A1", "k 15\r", "k 9999\r\r", "out", "= 请刷卡 | 离线 待传 2"}},

		// Cancel at every step.
		{"cancel in a refusal changes nothing", nil, []string{"in F1", "k \x1b", "= 卡已冻结 | 请到管理中心", "entries 0"}},
		{"cancel after a sale changes nothing", nil, []string{"in A1", "k 5\r\x1b", "= 成功 消费 5.00 | 余额 95.00", "entries 1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			newRig(t, tt.rules).do(tt.steps...)
		})
	}
}

// TestEntries checks what the sale and void entries hold.
func TestEntries(t *testing.T) {
	r := newRig(t, nil)
	r.do("k 1111\r", "in A1", "k 12.50\r", "+1m", "k 9999\r\r", "offline", "k 3\r")
	sale, void, third := r.entry(1), r.entry(2), r.entry(3)
	if sale.Kind != journal.KindSale || sale.CardNo != "A1" || sale.Amount != 1250 || sale.Balance != 10000 ||
		sale.Flags != 0 || sale.Time != noon.UnixMilli() || sale.Cashier != "C01" || sale.VoidSeq != 0 {
		t.Fatalf("sale %+v", sale)
	}
	if void.Kind != journal.KindVoid || void.VoidSeq != 1 || void.CardNo != "A1" || void.Amount != 1250 ||
		void.Balance != 8750 || void.Cashier != "S01" || void.Time != noon.Add(time.Minute).UnixMilli() {
		t.Fatalf("void %+v", void)
	}
	if third.Flags != journal.FlagOffline || third.Balance != 10000 || third.Cashier != "C01" {
		t.Fatalf("offline sale %+v", third)
	}
	if r.link.wakes != 3 {
		t.Fatalf("uplink woken %d times for 3 entries", r.link.wakes)
	}
	if n, err := r.journal.Verify(registerKey.Public().(ed25519.PublicKey)); n != 3 || err != nil {
		t.Fatalf("chain: %d %v", n, err)
	}
}

// TestDefaultCashier: with nobody signed in, entries carry Config.Cashier.
func TestDefaultCashier(t *testing.T) {
	j, err := tj.Open(filepath.Join(t.TempDir(), "journal.db"), 1, registerKey)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	j.ApplyCards(&wire.Cards{Cursor: 1, Cards: []wire.Card{{Version: 1, CardNo: "A1", Status: wire.CardActive, Balance: 500}}})
	reg, err := terminal.NewRegister(terminal.Config{Cashier: "till-1", Logger: quiet}, j, &screens{t: t}, &link{online: true})
	if err != nil {
		t.Fatal(err)
	}
	reg.HandleCard(terminal.CardEvent{Present: true, CardNo: "A1"})
	keys, _ := virtual.Keys("1\r")
	for _, k := range keys {
		reg.HandleKey(k)
	}
	e, _, _ := j.LastEntry()
	if e.Cashier != "till-1" || e.Amount != 100 {
		t.Fatalf("entry %+v", e)
	}
}

// TestSoftCount: past the soft count of waiting offline sales the register
// tries the server first; a sale made once it is back is not offline.
func TestSoftCount(t *testing.T) {
	r := newRig(t, func(rl *terminal.Rules) { rl.Offline.SoftCount, rl.DailyCount = 2, 0 })
	r.do("offline", "in A1", "k 1\r", "out", "in A1", "k 1\r", "out")
	if r.link.reaches != 0 {
		t.Fatalf("reached for the server %d times below the soft count", r.link.reaches)
	}
	// The server stays away: the register tried, and sells offline.
	r.do("in A1", "k 1\r", "=+ 成功 消费 1.00 | 余额 97.00", "out")
	if r.link.reaches != 1 {
		t.Fatalf("reached %d times", r.link.reaches)
	}
	if !hasScreen(r.display, "正在联网 | 请稍候") {
		t.Fatal("no 正在联网 while trying the server")
	}
	if e := r.entry(3); e.Flags != journal.FlagOffline {
		t.Fatalf("sale 3 flags %v", e.Flags)
	}
	// The server answers: the sale is made online.
	r.link.reach = true
	r.do("in A1", "k 1\r", "=+ 成功 消费 1.00 | 余额 96.00")
	if e := r.entry(4); e.Flags != 0 || r.link.reaches != 2 {
		t.Fatalf("sale 4 flags %v after %d reaches", e.Flags, r.link.reaches)
	}
}

func hasScreen(s *screens, want string) bool {
	for _, sc := range s.all {
		if strings.Join(sc.Lines, " | ") == want {
			return true
		}
	}
	return false
}

// TestOfflineNeverContacted: a register that never heard from the server
// does not sell offline when a maximum age is set.
func TestOfflineNeverContacted(t *testing.T) {
	r := newRig(t, nil)
	r.link.contact = time.Time{}
	r.do("offline", "in A1", "=! 离线时间过长 | 请联网后消费")
}

// TestClockGoesBack: entries carry the clock as it reads, the journal's seq
// keeps their order, and the register says so in its log.
func TestClockGoesBack(t *testing.T) {
	r := newRig(t, func(rl *terminal.Rules) { rl.Offline.MaxAge = time.Hour })
	r.do("in A1", "k 1\r", "out", "-2h", "offline", "in A1", "k 2\r", "=+ 成功 消费 2.00 | 余额 97.00", "out")
	first, second := r.entry(1), r.entry(2)
	if first.Time != noon.UnixMilli() || second.Time != noon.Add(-2*time.Hour).UnixMilli() || second.Seq != 2 {
		t.Fatalf("entries at %d and %d, seq %d", first.Time, second.Time, second.Seq)
	}
	for _, want := range []string{"clock went back", "clock is before the last contact"} {
		if !strings.Contains(r.log.String(), want) {
			t.Fatalf("log lacks %q:\n%s", want, r.log.String())
		}
	}
	// The sale this run made can be voided on the monotonic clock.
	r.do("k 9999\r", "= 撤销 消费 2.00 | 确认撤销 取消返回", "k \x1b")
	// After a restart with the clock gone back further, the last sale lies
	// in the future: it cannot be voided.
	rules := testRules()
	reg, err := terminal.NewRegister(terminal.Config{Rules: &rules, Now: func() time.Time { return r.now }, Logger: quiet}, r.journal, r.display, r.link)
	if err != nil {
		t.Fatal(err)
	}
	r.reg = reg
	r.do("-1h", "k 9999\r", "=! 已超撤销时限 | 时限 5 分钟")
	if n, err := r.journal.Verify(registerKey.Public().(ed25519.PublicKey)); n != 2 || err != nil {
		t.Fatalf("chain: %d %v", n, err)
	}
}

// TestVoidOfEarlierRunSale: after a restart the void window is measured
// on the entry's time.
func TestVoidOfEarlierRunSale(t *testing.T) {
	r := newRig(t, nil)
	r.do("in A1", "k 7\r", "out")
	rules := testRules()
	reg, err := terminal.NewRegister(terminal.Config{Rules: &rules, Now: func() time.Time { return r.now }, Logger: quiet}, r.journal, r.display, r.link)
	if err != nil {
		t.Fatal(err)
	}
	r.reg = reg
	r.do("+4m", "k 9999\r", "= 撤销 消费 7.00 | 确认撤销 取消返回", "k \x1b", "+2m", "k 9999\r", "=! 已超撤销时限 | 时限 5 分钟")
}

// failing is a journal whose Record fails with err.
type failing struct {
	*tj.Journal
	err error
}

func (f failing) Record(journal.Entry) (journal.Entry, error) { return journal.Entry{}, f.err }

func TestRecordFailures(t *testing.T) {
	for _, tt := range []struct {
		err    error
		screen string
	}{
		{fmt.Errorf("record seq 1: %w: no space left on device", terminal.ErrJournalFull), "存储空间已满 | 请联系管理员"},
		{errors.New("database not open"), "记录失败 | 请联系管理员"},
	} {
		r := newRig(t, nil)
		reg, err := terminal.NewRegister(terminal.Config{Now: func() time.Time { return r.now }, Logger: quiet}, failing{r.journal, tt.err}, r.display, r.link)
		if err != nil {
			t.Fatal(err)
		}
		r.reg = reg
		r.do("in A1", "k 10\r", "=! "+tt.screen, "entries 0")
		if r.link.wakes != 0 {
			t.Fatal("uplink woken for a failed sale")
		}
	}
}

func TestRules(t *testing.T) {
	for _, tt := range []struct {
		name   string
		change func(*terminal.Rules)
		want   string // in the error; "" for valid rules
	}{
		{"defaults", func(*terminal.Rules) {}, ""},
		{"test rules", nil, ""},
		{"no max sale", func(r *terminal.Rules) { r.MaxSale = 0 }, "max sale"},
		{"short code", func(r *terminal.Rules) { r.Cashiers[0].Code = "12" }, "code must be"},
		{"code with letters", func(r *terminal.Rules) { r.Cashiers[0].Code = "12a4" }, "code must be"},
		{"shared code", func(r *terminal.Rules) { r.Supervisors[0].Code = "1111" }, "already belongs"},
		{"long id", func(r *terminal.Rules) { r.Cashiers[0].ID = strings.Repeat("x", 17) }, "id must be"},
		{"same id twice", func(r *terminal.Rules) { r.Cashiers[1].ID = "C01" }, "id used twice"},
		{"sign-in without cashiers", func(r *terminal.Rules) { r.Cashiers, r.RequireCashier = nil, true }, "no cashier"},
		{"overlapping meals", func(r *terminal.Rules) { r.Meals[1].Start = 13 * time.Hour }, "overlap at 13:00"},
		{"a meal past midnight", func(r *terminal.Rules) {
			r.Meals = append(r.Meals, terminal.MealPeriod{Name: "夜宵", Start: 22 * time.Hour, End: 2 * time.Hour})
		}, ""},
		{"a meal past midnight overlapping", func(r *terminal.Rules) {
			r.Meals = append(r.Meals, terminal.MealPeriod{Name: "夜宵", Start: 22 * time.Hour, End: 12 * time.Hour})
		}, "overlap at 11:00"},
		{"preset above the max sale", func(r *terminal.Rules) { r.Meals[0].Presets[0] = 20001 }, "preset A"},
		{"negative offline limit", func(r *terminal.Rules) { r.Offline.HardCount = -1 }, "negative"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := testRules()
			if tt.change != nil {
				if tt.name == "defaults" {
					r = terminal.DefaultRules()
				}
				tt.change(&r)
			}
			err := r.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("valid rules refused: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, terminal.ErrRules)):
				t.Fatalf("error %v, want one about %q", err, tt.want)
			}
		})
	}
	// A meal past midnight holds both sides of it.
	r := testRules()
	r.Meals = []terminal.MealPeriod{{Name: "夜宵", Start: 22 * time.Hour, End: 2 * time.Hour, Presets: []money.Fen{600}}}
	for _, at := range []time.Time{noon.Add(11 * time.Hour), noon.Add(13 * time.Hour)} {
		if p, ok := r.Preset(at, 0); !ok || p != 600 {
			t.Fatalf("preset at %v: %v %v", at, p, ok)
		}
	}
	if _, ok := r.Preset(noon, 0); ok {
		t.Fatal("夜宵 at noon")
	}
}

// TestSetRules: new rules apply from the next event; bad ones are refused.
func TestSetRules(t *testing.T) {
	r := newRig(t, nil)
	rules := r.reg.Rules()
	rules.MaxSale = 1500
	if err := r.reg.SetRules(rules); err != nil {
		t.Fatal(err)
	}
	r.do("in A1", "k 15.01\r", "=! 超出单笔限额 | 限额 15.00")
	rules.MaxSale = -1
	if err := r.reg.SetRules(rules); !errors.Is(err, terminal.ErrRules) {
		t.Fatalf("bad rules: %v", err)
	}
	if r.reg.Rules().MaxSale != 1500 {
		t.Fatal("bad rules replaced good ones")
	}
	bad := testRules()
	bad.DailyCount = -1
	if _, err := terminal.NewRegister(terminal.Config{Rules: &bad}, r.journal, r.display, r.link); !errors.Is(err, terminal.ErrRules) {
		t.Fatalf("NewRegister with bad rules: %v", err)
	}
}

// appSigner signs sales with a virtual fanka card's application, as the
// PC/SC reader's signer does through pcscd: SELECT, SIGN SALE, and a check
// against the identity read when the card came.
type appSigner struct {
	card virtual.Card
	id   card.Identity
	gone bool
	// leave makes the card leave once it has signed: the diner pulled it
	// while the sale was being recorded.
	leave bool
}

func newAppSigner(t *testing.T, cardNo string) *appSigner {
	t.Helper()
	app, err := virtual.NewFankaApp(cardNo)
	if err != nil {
		t.Fatal(err)
	}
	return &appSigner{card: virtual.Card{Fanka: app}, id: card.Identity{CardNo: cardNo, PublicKey: app.PublicKey()}}
}

func (s *appSigner) SignSale(_ context.Context, ch card.Challenge) ([]byte, error) {
	if s.gone {
		return nil, errors.New("pcsc: connect: card removed")
	}
	s.card.Answer(card.Select)
	sig, err := card.ParseSignSale(s.card.Answer(card.SignSale(ch)))
	if err != nil {
		return nil, err
	}
	if err := card.VerifySale(s.id.PublicKey, s.id.CardNo, ch, sig); err != nil {
		return nil, err
	}
	s.gone = s.gone || s.leave
	return sig.Marshal(), nil
}

// TestCardSignsSale: a fanka card signs each sale's entry (register id,
// seq, amount, time, its counter) and the signature is in the entry; a
// card that cannot sign (gone, swapped, refusing) makes no sale.
func TestCardSignsSale(t *testing.T) {
	r := newRig(t, func(rl *terminal.Rules) { rl.DailyCount = 0 })
	s := newAppSigner(t, "FK0001")
	insert := func() { r.reg.HandleCard(terminal.CardEvent{Present: true, CardNo: "FK0001", Signer: s, At: r.now}) }
	insert()
	r.do("k 12.50\r", "=+ 成功 消费 12.50 | 余额 87.50", "out")
	insert()
	r.do("+1m", "k 2\r", "=+ 成功 消费 2.00 | 余额 85.50", "out")
	for i, want := range []card.Challenge{
		{Terminal: 1, Seq: 1, Amount: 1250, Time: noon.UnixMilli()},
		{Terminal: 1, Seq: 2, Amount: 200, Time: noon.Add(time.Minute).UnixMilli()},
	} {
		e := r.entry(uint64(i + 1))
		sig, err := card.ParseSaleSignature(e.CardSig)
		if err != nil {
			t.Fatal(err)
		}
		if sig.Counter != uint32(i+1) {
			t.Fatalf("entry %d: card counter %d", e.Seq, sig.Counter)
		}
		if err := card.VerifySale(s.id.PublicKey, "FK0001", want, sig); err != nil {
			t.Fatalf("entry %d: %v", e.Seq, err)
		}
	}

	// The card left before 确认 reached it: nothing recorded.
	insert()
	s.gone = true
	r.do("k 5\r", "=! 读卡失败 | 请重新刷卡", "entries 2")
	// It is back: the cashier confirms again.
	s.gone = false
	r.do("k 5\r", "=+ 成功 消费 5.00 | 余额 80.50", "entries 3", "out")

	// Another card now in the reader signs, but not as the card read.
	insert()
	s.card = newAppSigner(t, "FK0001").card
	r.do("k 5\r", "=! 读卡失败 | 请重新刷卡", "entries 3", "out")
	// A card that refuses to sign (its counter is used up).
	s = newAppSigner(t, "FK0001")
	s.card.Fanka.SetCounter(^uint32(0))
	insert()
	r.do("k 5\r", "=! 读卡失败 | 请重新刷卡", "entries 3")
	if !strings.Contains(r.log.String(), "card did not sign the sale") {
		t.Fatal("refused signatures not logged")
	}
}
