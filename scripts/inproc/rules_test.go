package inproc_test

import (
	"context"
	"crypto/sha256"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fanka/fanka/server"
	"github.com/fanka/fanka/server/gateway"
	"github.com/fanka/fanka/server/servertest"
	"github.com/fanka/fanka/server/sqlite"
	sj "github.com/fanka/fanka/shared/journal"
	"github.com/fanka/fanka/shared/money"
	"github.com/fanka/fanka/shared/wire"
	"github.com/fanka/fanka/terminal"
	"github.com/fanka/fanka/terminal/journal"
	"github.com/fanka/fanka/terminal/uplink"
	"github.com/fanka/fanka/terminal/virtual"
)

// display records what the register shows.
type display struct {
	mu   sync.Mutex
	last terminal.Screen
}

func (d *display) Show(s terminal.Screen) error {
	d.mu.Lock()
	d.last = s
	d.mu.Unlock()
	return nil
}

func (d *display) text() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return strings.Join(d.last.Lines, " | ")
}

// clock is the register's clock, which the test moves.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// TestServerRulesReachTheRegister runs a real gateway on a real store and a
// real register (journal, uplink, state machine): the rules an office sets
// reach the register, which refuses on its display a 4th sale of the day
// on a card and a double tap, the very sales settlement would flag; and
// after a restart without the server it still refuses them.
func TestServerRulesReachTheRegister(t *testing.T) {
	ctx := context.Background()
	store := servertest.MustOpenSQLite(t, nil)
	const cardNo = "04A1B2C3"
	servertest.OpenCard(t, store, cardNo, 100*money.Yuan)
	rules := server.DefaultRules()
	rules.MaxSalesPerDay, rules.MinGapSeconds, rules.OutsidePeriods = 3, 30, true
	version, err := store.SetRules(ctx, rules, "admin")
	if err != nil {
		t.Fatal(err)
	}
	site := startSite(t, store, 20*time.Millisecond)
	// The register's own rules set no daily count: the server's 3 is the
	// one that refuses.
	own := terminal.DefaultRules()
	own.DailyCount = 0
	clk := &clock{t: time.Now()}
	open := site.opener(t, &own, clk)
	j, reg, up, d := open()
	stop := run(up)
	waitFor(t, "the server's rules on the register", func() bool {
		m := reg.ServerRules()
		return m != nil && m.Version == version && m.MinGapSeconds == 30
	})
	waitFor(t, "the card from the server", func() bool {
		_, ok, _ := j.Card(cardNo, clk.Now())
		return ok
	})

	// tap inserts the card, keys amount yuan and confirms (if the card is
	// taken), and returns what the display says then.
	tap := func(reg *terminal.Register, d *display, amount string) string {
		t.Helper()
		reg.HandleCard(terminal.CardEvent{Present: true, CardNo: cardNo, At: clk.Now()})
		if strings.Contains(d.text(), "请输入金额") {
			keys, err := virtual.Keys(amount + "\r")
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range keys {
				reg.HandleKey(k)
			}
		}
		shown := d.text()
		reg.HandleCard(terminal.CardEvent{Present: false, At: clk.Now()})
		return shown
	}
	// wouldFlag is what settlement would note for a sale of amount now.
	wouldFlag := func(amount money.Fen) string {
		t.Helper()
		c, err := store.Card(ctx, cardNo)
		if err != nil {
			t.Fatal(err)
		}
		now := clk.Now()
		e := &sj.Entry{Kind: sj.KindSale, CardNo: cardNo, Amount: amount, Time: now.UnixMilli()}
		return rules.SaleNote(&c, e, server.SaleDay(e.Time, now), server.SaleTime(e.Time, now))
	}

	if got := tap(reg, d, "5"); !strings.HasPrefix(got, "成功") {
		t.Fatalf("first sale: display %q", got)
	}
	waitFor(t, "the first sale settled", func() bool { return j.Acked() == 1 })
	clk.add(2 * time.Second)
	if got := tap(reg, d, "5"); got != "重复刷卡 | 28 秒后再试" {
		t.Errorf("a tap 2 s after a sale: display %q, want 重复刷卡", got)
	}
	if note := wouldFlag(500); !strings.Contains(note, "double tap") {
		t.Errorf("settlement would not flag the double tap the register refused: note %q", note)
	}
	for i := 2; i <= 3; i++ {
		clk.add(31 * time.Second)
		if got := tap(reg, d, "5"); !strings.HasPrefix(got, "成功") {
			t.Fatalf("sale %d: display %q", i, got)
		}
	}
	if j.Last() != 3 {
		t.Fatalf("%d entries recorded, want 3 sales", j.Last())
	}
	waitFor(t, "three sales settled", func() bool { return j.Acked() == 3 })
	clk.add(31 * time.Second)
	if got := tap(reg, d, "5"); got != "超出今日次数 | 今日已消费 3 次" {
		t.Errorf("4th sale of the day: display %q, want 超出今日次数", got)
	}
	if note := wouldFlag(500); !strings.Contains(note, "sale 4 of the day") {
		t.Errorf("settlement would not flag the 4th sale the register refused: note %q", note)
	}
	if j.Last() != 3 {
		t.Fatalf("%d entries recorded after the refusals, want 3", j.Last())
	}

	// Restarted with the server out of reach: the register still applies
	// the rules it got last.
	stop()
	j.Close()
	site.gw.Close()
	j, reg, _, d = open()
	defer j.Close()
	if m := reg.ServerRules(); m == nil || m.Version != version {
		t.Fatalf("after a restart: server rules %+v, want version %d", m, version)
	}
	if got := tap(reg, d, "5"); got != "超出今日次数 | 今日已消费 3 次" {
		t.Errorf("4th sale after a restart, offline: display %q, want 超出今日次数", got)
	}
	if j.Last() != 3 {
		t.Fatalf("%d entries recorded after the restart, want 3", j.Last())
	}
}

// site is a real gateway over TLS on a store, with one register enrolled.
type site struct {
	gw  *gateway.Gateway
	url string
	pin []byte
	reg *servertest.Register
}

// startSite serves a gateway on store over TLS, reading the rules every
// interval, and enrols a register.
func startSite(t *testing.T, store *sqlite.DB, interval time.Duration) *site {
	t.Helper()
	gw := gateway.New(store, nil)
	gw.RulesInterval = interval
	srv := httptest.NewTLSServer(gw)
	t.Cleanup(func() {
		gw.Close()
		srv.Close()
	})
	pin := sha256.Sum256(srv.Certificate().Raw)
	sr := servertest.NewRegister(t)
	servertest.Enroll(t, store, sr)
	return &site{gw: gw, url: "wss" + strings.TrimPrefix(srv.URL, "https"), pin: pin[:], reg: sr}
}

// opener returns what opens (and, called again, restarts) the site's
// register on a journal of its own, with its own rules own and clock clk:
// its journal, the register, its uplink to the site (not running) and
// what its display shows. The uplink hands the server's rules to the
// register.
func (s *site) opener(t *testing.T, own *terminal.Rules, clk *clock) func() (*journal.Journal, *terminal.Register, *uplink.Uplink, *display) {
	path := filepath.Join(t.TempDir(), "journal.db")
	log := slog.New(slog.DiscardHandler)
	return func() (*journal.Journal, *terminal.Register, *uplink.Uplink, *display) {
		t.Helper()
		j, err := journal.Open(path, s.reg.ID, s.reg.Key)
		if err != nil {
			t.Fatal(err)
		}
		var reg *terminal.Register
		up := uplink.New(uplink.Config{URL: s.url, Terminal: s.reg.ID, Key: s.reg.Key, Fingerprint: s.pin, Journal: j, Logger: log,
			OnRules: func(m *wire.Rules) { reg.SetServerRules(m) }})
		d := &display{}
		reg, err = terminal.NewRegister(terminal.Config{Rules: own, Terminal: s.reg.ID, Now: clk.Now, Logger: log}, j, d, up)
		if err != nil {
			t.Fatal(err)
		}
		return j, reg, up, d
	}
}

// run runs up until the returned function is called, which waits for it
// to end.
func run(up *uplink.Uplink) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		up.Run(ctx)
	}()
	return func() {
		cancel()
		<-done
	}
}

// logBuffer collects a log.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
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

// waitFor polls cond for at most 10 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
