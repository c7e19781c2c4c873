package terminal_test

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fanka/fanka/shared/journal"
	"github.com/fanka/fanka/shared/money"
	"github.com/fanka/fanka/shared/wire"
	"github.com/fanka/fanka/terminal"
	tj "github.com/fanka/fanka/terminal/journal"
)

// screens records what the register shows.
type screens struct{ all []terminal.Screen }

func (s *screens) Show(sc terminal.Screen) error { s.all = append(s.all, sc); return nil }

func (s *screens) last() string {
	if len(s.all) == 0 {
		return ""
	}
	return strings.Join(s.all[len(s.all)-1].Lines, " | ")
}

// link is an uplink whose state the test sets.
type link struct {
	online bool
	wakes  int
}

func (l *link) Wake()        { l.wakes++ }
func (l *link) Online() bool { return l.online }

var now = time.Date(2026, 11, 25, 12, 0, 0, 0, time.Local)

type rig struct {
	reg     *terminal.Register
	journal *tj.Journal
	display *screens
	link    *link
}

func newRig(t *testing.T) *rig {
	t.Helper()
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32))
	j, err := tj.Open(filepath.Join(t.TempDir(), "journal.db"), 1, key)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	day := tj.Day(now)
	err = j.ApplyCards(&wire.Cards{Cursor: 4, Cards: []wire.Card{
		{Version: 1, CardNo: "A1", Name: "张三", Status: wire.CardActive, Balance: 10000, Day: day},
		{Version: 2, CardNo: "F1", Name: "李四", Status: wire.CardFrozen, Balance: 10000, Day: day},
		{Version: 3, CardNo: "L1", Name: "王五", Status: wire.CardLost, Balance: 10000, Day: day},
		{Version: 4, CardNo: "C1", Name: "赵六", Status: wire.CardClosed, Day: day},
	}})
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{journal: j, display: &screens{}, link: &link{online: true}}
	r.reg = terminal.NewRegister(terminal.Config{MaxSale: 200 * money.Yuan, Now: func() time.Time { return now }}, j, r.display, r.link)
	return r
}

func (r *rig) typeKeys(s string) {
	for _, c := range []byte(s) {
		switch {
		case c >= '0' && c <= '9':
			r.reg.HandleKey(terminal.Key{Kind: terminal.KeyDigit, Digit: c})
		case c == '.':
			r.reg.HandleKey(terminal.Key{Kind: terminal.KeyDot})
		case c == '\r':
			r.reg.HandleKey(terminal.Key{Kind: terminal.KeyConfirm})
		case c == 0x1b:
			r.reg.HandleKey(terminal.Key{Kind: terminal.KeyCancel})
		case c == 0x08:
			r.reg.HandleKey(terminal.Key{Kind: terminal.KeyBackspace})
		}
	}
}

func (r *rig) insert(card string) { r.reg.HandleCard(terminal.CardEvent{Present: true, CardNo: card}) }
func (r *rig) remove()            { r.reg.HandleCard(terminal.CardEvent{Present: false}) }

func (r *rig) want(t *testing.T, screen string) {
	t.Helper()
	if got := r.display.last(); got != screen {
		t.Fatalf("display %q, want %q", got, screen)
	}
}

func (r *rig) wantEntries(t *testing.T, n int) {
	t.Helper()
	if got := r.journal.Last(); got != uint64(n) {
		t.Fatalf("%d entries recorded, want %d", got, n)
	}
}

func TestSale(t *testing.T) {
	r := newRig(t)
	r.insert("A1")
	r.want(t, "余额 100.00 | 张* 请输入金额")
	r.typeKeys("12.5")
	r.want(t, "消费 12.5 | 余额 87.50")
	r.typeKeys("0")
	r.want(t, "消费 12.50 | 余额 87.50")
	r.typeKeys("\r")
	r.want(t, "成功 消费 12.50 | 余额 87.50")
	if !r.display.all[len(r.display.all)-1].Beep {
		t.Fatal("no beep on success")
	}
	r.wantEntries(t, 1)
	if r.link.wakes != 1 {
		t.Fatalf("uplink woken %d times", r.link.wakes)
	}
	es, _ := r.journal.Entries(0, 1)
	e, err := journal.Unmarshal(es[0])
	if err != nil {
		t.Fatal(err)
	}
	if e.Kind != journal.KindSale || e.CardNo != "A1" || e.Amount != 1250 || e.Balance != 10000 || e.Flags != 0 || e.Time != now.UnixMilli() {
		t.Fatalf("entry %+v", e)
	}
	// Keys after the sale do nothing until the card leaves.
	r.typeKeys("5\r")
	r.wantEntries(t, 1)
	r.remove()
	r.want(t, "请刷卡 | 待传 1")
	// The next insert sees the sale.
	r.insert("A1")
	r.want(t, "余额 87.50 | 张* 请输入金额")
}

func TestAmountEditing(t *testing.T) {
	r := newRig(t)
	r.insert("A1")
	r.typeKeys("12..3")
	r.want(t, "消费 12.3 | 余额 87.70")
	r.typeKeys("\b\b")
	r.want(t, "消费 12 | 余额 88.00")
	r.typeKeys("\x1b")
	r.want(t, "余额 100.00 | 张* 请输入金额")
	r.typeKeys("\r") // confirm with nothing keyed
	r.wantEntries(t, 0)
	r.typeKeys("123456789012345") // at most 11 keys
	r.want(t, "消费 12345678901 | 余额不足 100.00")
}

func TestRefusedAmounts(t *testing.T) {
	tests := []struct {
		keys, screen string
	}{
		{"0\r", "金额无效 | 须大于0"},
		{"0.00\r", "金额无效 | 须大于0"},
		{"1.234\r", "金额无效 | 最多两位小数"},
		{".\r", "金额无效 | 请重新输入"},
		{"200.01\r", "超出单笔限额 | 限额 200.00"},
		{"100.01\r", "余额不足 | 余额 100.00"},
	}
	for _, tt := range tests {
		r := newRig(t)
		r.insert("A1")
		r.typeKeys(tt.keys)
		r.want(t, tt.screen)
		r.wantEntries(t, 0)
		// The cashier can key again at once.
		r.typeKeys("100\r")
		r.want(t, "成功 消费 100.00 | 余额 0.00")
	}
}

func TestRefusedCards(t *testing.T) {
	tests := []struct {
		ev     terminal.CardEvent
		screen string
	}{
		{terminal.CardEvent{Present: true, CardNo: "FFFF"}, "未开卡 | 请到管理中心"},
		{terminal.CardEvent{Present: true, CardNo: "F1"}, "卡已冻结 | 请到管理中心"},
		{terminal.CardEvent{Present: true, CardNo: "L1"}, "挂失卡 | 请留卡"},
		{terminal.CardEvent{Present: true, CardNo: "C1"}, "卡已注销 | 请到管理中心"},
		{terminal.CardEvent{Present: true, Err: errors.New("card: status 6A81")}, "读卡失败 | 请重新刷卡"},
	}
	for _, tt := range tests {
		r := newRig(t)
		r.reg.HandleCard(tt.ev)
		r.want(t, tt.screen)
		r.typeKeys("1\r")
		r.want(t, tt.screen)
		r.wantEntries(t, 0)
		r.remove()
		r.want(t, "请刷卡 | ")
	}
}

func TestCardRemovedMidEntry(t *testing.T) {
	r := newRig(t)
	r.insert("A1")
	r.typeKeys("12")
	r.remove()
	r.typeKeys(".50\r")
	r.wantEntries(t, 0)
	r.want(t, "请刷卡 | ")
}

func TestOfflineSale(t *testing.T) {
	r := newRig(t)
	r.link.online = false
	r.insert("A1")
	r.typeKeys("60\r")
	r.remove()
	r.want(t, "请刷卡 | 离线 待传 1")
	r.insert("A1")
	r.want(t, "余额 40.00 | 张* 请输入金额")
	r.typeKeys("50\r")
	r.want(t, "余额不足 | 余额 40.00")
	es, _ := r.journal.Entries(0, 5)
	e, _ := journal.Unmarshal(es[0])
	if e.Flags&journal.FlagOffline == 0 {
		t.Fatal("offline sale not flagged")
	}
}

func TestJournalFailureShowsNoSuccess(t *testing.T) {
	r := newRig(t)
	r.insert("A1")
	r.journal.Close() // the disk is gone
	r.typeKeys("10\r")
	r.want(t, "记录失败 | 请联系管理员")
	if r.link.wakes != 0 {
		t.Fatal("uplink woken for a failed sale")
	}
}
