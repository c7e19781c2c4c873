package terminal_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fanka/fanka/shared/card"
	"github.com/fanka/fanka/terminal"
	tj "github.com/fanka/fanka/terminal/journal"
)

// The registers of the purse tests: register 1 (registerKey) and register 2.
var (
	register2Key = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{2}, 32))
	purseWriters = card.PurseKeys{
		1: registerKey.Public().(ed25519.PublicKey),
		2: register2Key.Public().(ed25519.PublicKey),
	}
)

// WritePurse writes p to the virtual card as terminal/pcsc does: SELECT,
// then WRITE PURSE.
func (s *appSigner) WritePurse(_ context.Context, p card.Purse) error {
	if s.gone {
		return errors.New("pcsc: connect: card removed")
	}
	s.card.Answer(card.Select)
	return card.ParseWritePurse(s.card.Answer(card.WritePurse(p)))
}

// insert puts the card in register r's reader: the event carries the
// purse record read as terminal/pcsc reads it (SELECT, READ IDENTITY,
// READ PURSE).
func (s *appSigner) insert(r *rig) {
	r.t.Helper()
	s.gone = false
	s.card.Answer(card.Select)
	ev := terminal.CardEvent{Present: true, CardNo: s.id.CardNo, At: r.now, Signer: s, PurseWriter: s}
	p, ok, err := card.ParseReadPurse(s.card.Answer(card.ReadPurse))
	if err != nil {
		r.t.Fatal(err)
	}
	if ok {
		ev.Purse = &p
	}
	r.reg.HandleCard(ev)
}

// purse returns the record on the card.
func (s *appSigner) purse(t *testing.T) card.Purse {
	t.Helper()
	p, ok := s.card.Fanka.Purse()
	if !ok {
		t.Fatal("the card holds no purse record")
	}
	return p
}

// newPurseRig is register id (1 or 2), offline, believing both registers'
// records, with dailyCount sales a day.
func newPurseRig(t *testing.T, id uint32, dailyCount int) *rig {
	t.Helper()
	key := map[uint32]ed25519.PrivateKey{1: registerKey, 2: register2Key}[id]
	r := newRigAs(t, filepath.Join(t.TempDir(), "journal.db"), id, key,
		func(rl *terminal.Rules) { rl.DailyCount = dailyCount },
		func(cfg *terminal.Config, _ *tj.Journal) { cfg.PurseKey, cfg.PurseKeys = key, purseWriters })
	r.link.online = false
	return r
}

// TestPurseAcrossOfflineRegisters: two registers, both offline, share a
// card. Each sale is recorded in the selling register's journal, then on
// the card; the other register reads the card and so holds "3 per day" and
// the balance across both.
func TestPurseAcrossOfflineRegisters(t *testing.T) {
	a, b := newPurseRig(t, 1, 3), newPurseRig(t, 2, 3)
	s := newAppSigner(t, "FK0001")

	s.insert(a)
	a.do("= 余额 100.00 | 周* 请输入金额", "k 12.50\r", "=+ 成功 消费 12.50 | 余额 87.50", "entries 1", "out")
	want := card.Purse{CardNo: "FK0001", Balance: 8750, Day: tj.Day(noon), TodayCount: 1, LastSale: noon.UnixMilli(), Seq: 1, Writer: 1}
	got := s.purse(t)
	if got.Sig = [64]byte{}; got != want {
		t.Fatalf("after register 1's sale the card holds %+v, want %+v", got, want)
	}
	if _, err := card.OpenPurse(s.purse(t).Marshal(), "FK0001", card.PurseKeys{1: purseWriters[1]}); err != nil {
		t.Fatalf("register 1's record: %v", err)
	}

	// Register 2's cache still says 100.00 and no sale today: the card
	// tells it of register 1's.
	b.now = noon.Add(time.Minute)
	s.insert(b)
	b.do("= 余额 87.50 | 周* 请输入金额", "k 10\r", "=+ 成功 消费 10.00 | 余额 77.50", "entries 1", "out")
	if p := s.purse(t); p.Seq != 2 || p.Writer != 2 || p.TodayCount != 2 || p.Balance != 7750 {
		t.Fatalf("after register 2's sale the card holds %+v", p)
	}
	if e := b.entry(1); e.Balance != 8750 || e.Amount != 1000 {
		t.Fatalf("register 2's entry: balance %s, amount %s; want the balance the card told", e.Balance, e.Amount)
	}

	// Back at register 1: its own view (87.50, one sale) is older than the
	// card's.
	a.now = noon.Add(2 * time.Minute)
	s.insert(a)
	a.do("= 余额 77.50 | 周* 请输入金额", "k 5\r", "=+ 成功 消费 5.00 | 余额 72.50", "entries 2", "out")
	if p := s.purse(t); p.Seq != 3 || p.TodayCount != 3 {
		t.Fatalf("after the third sale the card holds %+v", p)
	}
	// Register 2 has sold once; the card says three.
	b.now = noon.Add(3 * time.Minute)
	s.insert(b)
	b.do("=! 超出今日次数 | 今日已消费 3 次", "entries 1", "out")
	// So does register 1, which has sold twice.
	s.insert(a)
	a.do("=! 超出今日次数 | 今日已消费 3 次", "entries 2", "out")
	// Tomorrow the count starts again; the balance is each register's
	// own view (the record is yesterday's).
	a.now = noon.Add(24 * time.Hour)
	a.link.contact = a.now.Add(-time.Minute)
	s.insert(a)
	a.do("= 余额 82.50 | 周* 请输入金额", "out")
	if !strings.Contains(b.log.String(), "purse record newer than the cache") {
		t.Fatal("taking the card's record not logged")
	}
}

// TestPurseBalanceAcrossOfflineRegisters: what one offline register sold
// is not spent again at another.
func TestPurseBalanceAcrossOfflineRegisters(t *testing.T) {
	a, b := newPurseRig(t, 1, 0), newPurseRig(t, 2, 0)
	s := newAppSigner(t, "FK0001")
	s.insert(a)
	a.do("k 90\r", "=+ 成功 消费 90.00 | 余额 10.00", "out")
	s.insert(b)
	b.do("= 余额 10.00 | 周* 请输入金额", "k 20\r", "=! 余额不足 | 余额 10.00", "entries 0",
		"k 10\r", "=+ 成功 消费 10.00 | 余额 0.00", "entries 1", "out")
	s.insert(a)
	a.do("k 0.01\r", "=! 余额不足 | 余额 0.00", "entries 1")
}

// TestPurseCardLeavesBeforeWrite: the card left between its signature and
// the purse write. The sale is recorded once (the journal comes first) and
// shown as made; the card keeps its older record, and says so to the next
// register, which sees only its own cache.
func TestPurseCardLeavesBeforeWrite(t *testing.T) {
	a, b := newPurseRig(t, 1, 3), newPurseRig(t, 2, 3)
	s := newAppSigner(t, "FK0001")
	s.insert(a)
	a.do("k 12.50\r", "=+ 成功 消费 12.50 | 余额 87.50", "entries 1", "out")
	s.leave = true
	s.insert(a)
	a.do("k 2\r", "=+ 成功 消费 2.00 | 余额 85.50", "entries 2", "out")
	if !strings.Contains(a.log.String(), "purse record not written") {
		t.Fatal("the failed write not logged")
	}
	if p := s.purse(t); p.Seq != 1 || p.Balance != 8750 {
		t.Fatalf("the card holds %+v, want the first sale's record", p)
	}
	if e := a.entry(2); e.Amount != 200 {
		t.Fatalf("entry 2: %+v", e)
	}
	// Register 2 learns of the first sale only.
	s.leave = false
	s.insert(b)
	b.do("= 余额 87.50 | 周* 请输入金额", "k 1\r", "=+ 成功 消费 1.00 | 余额 86.50", "out")
	if p := s.purse(t); p.Seq != 2 || p.TodayCount != 2 {
		t.Fatalf("after register 2's sale the card holds %+v", p)
	}
}

// TestPurseRecordJournalFirst: a sale the journal could not record writes
// no purse record either.
func TestPurseRecordJournalFirst(t *testing.T) {
	r := newPurseRig(t, 1, 3)
	reg, err := terminal.NewRegister(terminal.Config{Terminal: 1, Now: func() time.Time { return r.now }, Logger: quiet,
		PurseKey: registerKey, PurseKeys: purseWriters}, failing{r.journal, terminal.ErrJournalFull}, r.display, r.link)
	if err != nil {
		t.Fatal(err)
	}
	r.reg = reg
	s := newAppSigner(t, "FK0001")
	s.insert(r)
	r.do("k 10\r", "=! 存储空间已满 | 请联系管理员", "entries 0")
	if p, ok := s.card.Fanka.Purse(); ok {
		t.Fatalf("the card holds %+v for a sale not recorded", p)
	}
}

// TestForgedPurse: records that do not verify are ignored and logged, and
// none raises the balance: signed with an unknown key under a known
// register's id, from an unknown writer, another card's; nor does a good
// record replayed from before a sale the register knows of.
func TestForgedPurse(t *testing.T) {
	forger := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, 32))
	rich := card.Purse{CardNo: "FK0001", Balance: 1_000_000, Day: tj.Day(noon), TodayCount: 2, LastSale: noon.UnixMilli(), Seq: 9, Writer: 2}
	sign := func(p card.Purse, key ed25519.PrivateKey) card.Purse {
		p, err := card.SignPurse(p, key)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	// The forged records also claim the day's 3 sales: believed, they
	// would refuse the card.
	forged := rich
	forged.TodayCount = 3
	unknownWriter := forged
	unknownWriter.Writer = 7
	for _, tt := range []struct {
		name string
		p    card.Purse
	}{
		{"a known register's id, another key", sign(forged, forger)},
		{"an unknown writer", sign(unknownWriter, forger)},
		{"a good record, altered", func() card.Purse { p := sign(rich, register2Key); p.TodayCount++; return p }()},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newPurseRig(t, 1, 3)
			s := newAppSigner(t, "FK0001")
			s.card.Answer(card.Select)
			if err := card.ParseWritePurse(s.card.Answer(card.WritePurse(tt.p))); err != nil {
				t.Fatal(err) // the card does not check signatures: anyone may write one
			}
			s.insert(r)
			r.do("= 余额 100.00 | 周* 请输入金额", "k 100.01\r", "=! 余额不足 | 余额 100.00", "entries 0")
			if !strings.Contains(r.log.String(), "purse record ignored") {
				t.Fatal("the forged record not logged")
			}
			// The register's sale replaces it, above its sequence.
			r.do("k 1\r", "=+ 成功 消费 1.00 | 余额 99.00", "entries 1")
			if p := s.purse(t); p.Seq != 10 || p.Writer != 1 || p.Balance != 9900 || p.TodayCount != 1 {
				t.Fatalf("after the sale the card holds %+v", p)
			}
		})
	}

	// A record register 2 really wrote, that counts more sales than
	// register 1 knows of but with more money than register 1's view: the
	// count is taken, the balance is not raised.
	r := newPurseRig(t, 1, 3)
	s := newAppSigner(t, "FK0001")
	s.insert(r)
	r.do("k 30\r", "=+ 成功 消费 30.00 | 余额 70.00", "out")
	s.card.Answer(card.Select)
	if err := card.ParseWritePurse(s.card.Answer(card.WritePurse(sign(rich, register2Key)))); err != nil {
		t.Fatal(err)
	}
	s.insert(r)
	r.do("= 余额 70.00 | 周* 请输入金额", "k 1\r", "=+ 成功 消费 1.00 | 余额 69.00", "out")
	s.insert(r)
	r.do("=! 超出今日次数 | 今日已消费 3 次")
}

// TestPurseOnline: online, the server's word decides, not the card's
// record; the register still rewrites the record after the sale, for
// offline registers later.
func TestPurseOnline(t *testing.T) {
	a, b := newPurseRig(t, 1, 3), newPurseRig(t, 2, 3)
	s := newAppSigner(t, "FK0001")
	s.insert(a)
	a.do("k 12.50\r", "out")
	s.insert(a)
	a.do("k 12.50\r", "=+ 成功 消费 12.50 | 余额 75.00", "out")
	b.link.online = true
	s.insert(b)
	b.do("= 余额 100.00 | 周* 请输入金额", "k 1\r", "=+ 成功 消费 1.00 | 余额 99.00", "out")
	if p := s.purse(t); p.Seq != 3 || p.Writer != 2 || p.Balance != 9900 || p.TodayCount != 1 {
		t.Fatalf("after the online sale the card holds %+v", p)
	}
}

// TestPurseVoid: offline, a void of the sale whose record the card holds,
// with the card still in, writes the sale back out of the record: the
// diner may buy again at once with the money back; a void made after the
// card left is written back when it comes again. A record another
// register wrote since is left as it is: it counts the voided sale, which
// only makes the card look poorer offline, never richer.
func TestPurseVoid(t *testing.T) {
	r := newPurseRig(t, 1, 3)
	s := newAppSigner(t, "FK0001")
	s.insert(r)
	r.do("k 15\r", "=+ 成功 消费 15.00 | 余额 85.00", "k 9999\r\r", "entries 2", "= 余额 100.00 | 周* 请输入金额")
	if p := s.purse(t); p.Seq != 2 || p.Balance != 10000 || p.TodayCount != 0 || p.Writer != 1 {
		t.Fatalf("after the void the card holds %+v", p)
	}
	r.do("k 20\r", "=+ 成功 消费 20.00 | 余额 80.00", "out")
	if p := s.purse(t); p.Seq != 3 || p.Balance != 8000 || p.TodayCount != 1 {
		t.Fatalf("after the next sale the card holds %+v", p)
	}

	// Voided after the card left: the record is written back when the
	// card comes again.
	s.insert(r)
	r.do("out", "k 9999\r\r", "entries 4")
	if p := s.purse(t); p.Seq != 3 {
		t.Fatalf("a void without the card rewrote its record: %+v", p)
	}
	s.insert(r)
	r.do("= 余额 100.00 | 周* 请输入金额", "out")
	if p := s.purse(t); p.Seq != 4 || p.Balance != 10000 || p.TodayCount != 0 {
		t.Fatalf("after the void, the card back: %+v", p)
	}
	// Another register wrote the card in between: the record is its, and
	// stays; register 1, offline, believes it (poorer, never richer).
	b := newPurseRig(t, 2, 3)
	s.insert(r)
	r.do("k 30\r", "=+ 成功 消费 30.00 | 余额 70.00", "out")
	s.insert(b)
	b.do("= 余额 70.00 | 周* 请输入金额", "k 5\r", "=+ 成功 消费 5.00 | 余额 65.00", "out")
	r.do("k 9999\r\r", "entries 6")
	s.insert(r)
	r.do("= 余额 65.00 | 周* 请输入金额")
	if p := s.purse(t); p.Writer != 2 {
		t.Fatalf("register 1 rewrote register 2's record: %+v", p)
	}
}
