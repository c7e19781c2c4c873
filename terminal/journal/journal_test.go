package journal_test

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"path/filepath"
	"testing"
	"time"

	sj "github.com/fanka/fanka/shared/journal"
	"github.com/fanka/fanka/shared/money"
	"github.com/fanka/fanka/shared/wire"
	"github.com/fanka/fanka/terminal"
	"github.com/fanka/fanka/terminal/journal"
)

var key = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{3}, 32))

const card = "04A1B2C3D4E5F6"

var now = time.Date(2026, 11, 25, 12, 0, 0, 0, time.Local)

func mustOpen(t *testing.T, path string) *journal.Journal {
	t.Helper()
	j, err := journal.Open(path, 7, key)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	return j
}

func sale(amount int64) sj.Entry {
	return sj.Entry{Kind: sj.KindSale, Time: now.UnixMilli(), CardNo: card, Amount: money.Fen(amount)}
}

func TestRecordChainsAndSurvivesReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal.db")
	j := mustOpen(t, path)
	pub := key.Public().(ed25519.PublicKey)
	var prevHash sj.Hash
	for i := uint64(1); i <= 3; i++ {
		e, err := j.Record(sale(1250))
		if err != nil {
			t.Fatal(err)
		}
		if e.Seq != i || e.Terminal != 7 {
			t.Fatalf("entry %d: seq %d terminal %d", i, e.Seq, e.Terminal)
		}
		if err := e.Follows(i-1, prevHash); err != nil {
			t.Fatal(err)
		}
		if err := e.Verify(pub); err != nil {
			t.Fatal(err)
		}
		prevHash, _ = e.Hash()
	}
	j.Close()

	j = mustOpen(t, path)
	if b := j.Backlog(); b.Entries != 3 || b.Amount != 3750 {
		t.Fatalf("after reopen: backlog %+v", b)
	}
	e, err := j.Record(sale(1250))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Follows(3, prevHash); err != nil {
		t.Fatalf("chain broken across reopen: %v", err)
	}
	got, _ := j.Entries(0, 10)
	if len(got) != 4 {
		t.Fatalf("%d entries", len(got))
	}
	if _, err := journal.Open(path+".x", 7, key); err != nil {
		t.Fatal(err)
	}
}

func TestWrongTerminalRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal.db")
	j := mustOpen(t, path)
	j.Close()
	if _, err := journal.Open(path, 8, key); !errors.Is(err, journal.ErrWrongTerminal) {
		t.Fatalf("open with another register id: %v", err)
	}
}

func TestBalanceFollowsCacheAcksAndPending(t *testing.T) {
	j := mustOpen(t, filepath.Join(t.TempDir(), "journal.db"))
	if _, ok, _ := j.Card(card, now); ok {
		t.Fatal("unknown card found")
	}
	day := journal.Day(now)
	must(t, j.ApplyCards(&wire.Cards{Cursor: 5, Cards: []wire.Card{{Version: 5, CardNo: card, Name: "张三", Status: wire.CardActive, Balance: 10000, Day: day, TodayCount: 1}}}))
	view(t, j, 10000, 1)

	must2(t, j, sale(1250)) // seq 1
	must2(t, j, sale(1250)) // seq 2
	view(t, j, 7500, 3)

	// Ack for seq 1 carries the card at version 6: one sale still pending.
	must(t, j.ApplyAcks([]wire.Ack{{Seq: 1, Outcome: wire.Settled, CardNo: card, Balance: 8750, Version: 6, Day: day, TodayCount: 2}}))
	view(t, j, 7500, 3)
	// A delta older than what we hold changes nothing.
	must(t, j.ApplyCards(&wire.Cards{Cursor: 6, Cards: []wire.Card{{Version: 4, CardNo: card, Status: wire.CardActive, Balance: 99999, Day: day}}}))
	view(t, j, 7500, 3)
	// A recharge at version 7 (+50.00) and the ack of seq 2 at version 8.
	must(t, j.ApplyCards(&wire.Cards{Cursor: 7, Cards: []wire.Card{{Version: 7, CardNo: card, Status: wire.CardActive, Balance: 13750, Day: day, TodayCount: 2}}}))
	view(t, j, 12500, 3)
	must(t, j.ApplyAcks([]wire.Ack{{Seq: 2, Outcome: wire.Settled, CardNo: card, Balance: 12500, Version: 8, Day: day, TodayCount: 3}}))
	view(t, j, 12500, 3)
	if b := j.Backlog(); b != (terminal.Backlog{}) {
		t.Fatalf("backlog %+v after all acks", b)
	}
	if c, _ := j.CardCursor(); c != 7 {
		t.Fatalf("card cursor %d", c)
	}
	// Tomorrow the count starts again.
	if v, _, _ := j.Card(card, now.Add(24*time.Hour)); v.TodayCount != 0 {
		t.Fatalf("tomorrow's count %d", v.TodayCount)
	}
}

func TestResume(t *testing.T) {
	j := mustOpen(t, filepath.Join(t.TempDir(), "journal.db"))
	e1 := must2(t, j, sale(100))
	must2(t, j, sale(100))
	h1, _ := e1.Hash()
	if err := j.Resume(3, sj.Hash{}); !errors.Is(err, journal.ErrServerAhead) {
		t.Fatalf("server ahead: %v", err)
	}
	if err := j.Resume(1, sj.Hash{9}); !errors.Is(err, journal.ErrDiverged) {
		t.Fatalf("diverged: %v", err)
	}
	must(t, j.Resume(1, h1))
	if j.Acked() != 1 {
		t.Fatalf("acked %d", j.Acked())
	}
	if n := j.Backlog().Entries; n != 1 {
		t.Fatalf("pending %d", n)
	}
	if err := j.ApplyAcks([]wire.Ack{{Seq: 5, Outcome: wire.Settled, CardNo: card}}); !errors.Is(err, journal.ErrServerAhead) {
		t.Fatalf("ack beyond journal: %v", err)
	}
	got, _ := j.Entries(j.Acked(), 10)
	if len(got) != 1 {
		t.Fatalf("%d entries to send", len(got))
	}
}

func TestRecordRefusesInvalid(t *testing.T) {
	j := mustOpen(t, filepath.Join(t.TempDir(), "journal.db"))
	e := sale(0)
	e.Amount = 0
	if _, err := j.Record(e); !errors.Is(err, sj.ErrInvalid) {
		t.Fatalf("zero amount recorded: %v", err)
	}
	if j.Last() != 0 {
		t.Fatal("a refused entry took a seq")
	}
}

func view(t *testing.T, j *journal.Journal, balance int64, count int) {
	t.Helper()
	v, ok, err := j.Card(card, now)
	if err != nil || !ok {
		t.Fatalf("card: %v %v", ok, err)
	}
	if int64(v.Balance) != balance || v.TodayCount != count {
		t.Fatalf("balance %s count %d; want %d, %d", v.Balance, v.TodayCount, balance, count)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func must2(t *testing.T, j *journal.Journal, e sj.Entry) sj.Entry {
	t.Helper()
	e, err := j.Record(e)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestBacklogCountsDaysVoidsAndOffline: what waits to be settled is counted
// per card and per day (a void on its sale's day), offline sales apart, and
// all of it is rebuilt on reopen and drops with the acks.
func TestBacklogCountsDaysVoidsAndOffline(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal.db")
	j := mustOpen(t, path)
	day := journal.Day(now)
	must(t, j.ApplyCards(&wire.Cards{Cursor: 1, Cards: []wire.Card{{Version: 1, CardNo: card, Status: wire.CardActive, Balance: 10000, Day: day, TodayCount: 1}}}))
	yesterday := sale(500)
	yesterday.Time = now.Add(-24 * time.Hour).UnixMilli()
	yesterday.Flags = sj.FlagOffline
	must2(t, j, yesterday) // seq 1: yesterday, offline
	off := sale(1000)
	off.Flags = sj.FlagOffline
	must2(t, j, off)        // seq 2: today, offline
	must2(t, j, sale(2000)) // seq 3: today, online
	v := cardView(t, j)
	if v.Balance != 6500 || v.TodayCount != 3 || v.UnsettledToday != 3000 {
		t.Fatalf("view %+v; want balance 65.00, 3 today (1 settled + 2), 30.00 unsettled today", v)
	}
	oldest := time.UnixMilli(yesterday.Time)
	want := terminal.Backlog{Entries: 3, Amount: 3500, OfflineSales: 2, OfflineAmount: 1500, Oldest: oldest}
	if b := j.Backlog(); b != want {
		t.Fatalf("backlog %+v, want %+v", b, want)
	}
	// A void of seq 3 (recorded tomorrow) counts on seq 3's day.
	void := sj.Entry{Kind: sj.KindVoid, Time: now.Add(24 * time.Hour).UnixMilli(), CardNo: card, Amount: 2000, VoidSeq: 3}
	must2(t, j, void) // seq 4
	v = cardView(t, j)
	if v.Balance != 8500 || v.TodayCount != 2 || v.UnsettledToday != 1000 {
		t.Fatalf("after the void: view %+v", v)
	}
	if e, ok, err := j.LastEntry(); err != nil || !ok || e.Seq != 4 || e.Kind != sj.KindVoid {
		t.Fatalf("last entry %+v %v %v", e, ok, err)
	}
	want = terminal.Backlog{Entries: 4, Amount: 1500, OfflineSales: 2, OfflineAmount: 1500, Oldest: oldest}
	if b := j.Backlog(); b != want {
		t.Fatalf("backlog %+v, want %+v", b, want)
	}
	j.Close()

	// Reopened, the same; and the void still counts on its sale's day
	// once the sale is settled and only the void waits.
	j = mustOpen(t, path)
	if b := j.Backlog(); b != want {
		t.Fatalf("reopened: backlog %+v, want %+v", b, want)
	}
	if e, ok, _ := j.LastEntry(); !ok || e.Seq != 4 {
		t.Fatalf("reopened: last entry %d", e.Seq)
	}
	must(t, j.ApplyAcks([]wire.Ack{
		{Seq: 1, Outcome: wire.Settled, CardNo: card, Balance: 9500, Version: 2, Day: day, TodayCount: 1},
		{Seq: 2, Outcome: wire.Settled, CardNo: card, Balance: 8500, Version: 3, Day: day, TodayCount: 2},
		{Seq: 3, Outcome: wire.Settled, CardNo: card, Balance: 6500, Version: 4, Day: day, TodayCount: 3},
	}))
	v = cardView(t, j)
	if v.Balance != 8500 || v.TodayCount != 2 || v.UnsettledToday != -2000 {
		t.Fatalf("only the void waits: view %+v", v)
	}
	if b := j.Backlog(); b != (terminal.Backlog{Entries: 1, Amount: -2000, Oldest: time.UnixMilli(void.Time)}) {
		t.Fatalf("only the void waits: backlog %+v", b)
	}
}

func cardView(t *testing.T, j *journal.Journal) terminal.CardView {
	t.Helper()
	v, ok, err := j.Card(card, now)
	if err != nil || !ok {
		t.Fatalf("card: %v %v", ok, err)
	}
	return v
}

func TestContactSurvivesReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal.db")
	j := mustOpen(t, path)
	if c, err := j.Contact(); err != nil || !c.IsZero() {
		t.Fatalf("new journal: contact %v %v", c, err)
	}
	must(t, j.SaveContact(now))
	j.Close()
	j = mustOpen(t, path)
	if c, err := j.Contact(); err != nil || !c.Equal(now) {
		t.Fatalf("contact %v %v, want %v", c, err, now)
	}
}

func TestVerify(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal.db")
	j := mustOpen(t, path)
	pub := key.Public().(ed25519.PublicKey)
	if n, err := j.Verify(pub); n != 0 || err != nil {
		t.Fatalf("empty journal: %d %v", n, err)
	}
	for range 5 {
		must2(t, j, sale(100))
	}
	if n, err := j.Verify(pub); n != 5 || err != nil {
		t.Fatalf("verify: %d %v", n, err)
	}
	other := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{4}, 32)).Public().(ed25519.PublicKey)
	if _, err := j.Verify(other); !errors.Is(err, journal.ErrBroken) || !errors.Is(err, sj.ErrSignature) {
		t.Fatalf("another register's key: %v", err)
	}
}

// TestReceiptQueue checks the queue of receipts kept with the entries: a
// sale is queued only once QueueReceipts was called, receipts come out in
// seq order with the entry's hash, a void takes its sale's receipt off
// and queues its void slip with the sale it voids, and the queue survives
// reopening the file.
func TestReceiptQueue(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal.db")
	j := mustOpen(t, path)
	next := func(j *journal.Journal) (uint64, sj.Hash) {
		t.Helper()
		r, ok, err := j.NextReceipt()
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return 0, sj.Hash{}
		}
		return r.Entry.Seq, r.Hash
	}
	if _, err := j.Record(sale(100)); err != nil { // no printer yet
		t.Fatal(err)
	}
	if seq, _ := next(j); seq != 0 {
		t.Fatalf("without QueueReceipts: receipt of seq %d queued", seq)
	}
	j.QueueReceipts()
	for range 3 { // seqs 2, 3, 4
		if _, err := j.Record(sale(100)); err != nil {
			t.Fatal(err)
		}
	}
	void := sj.Entry{Kind: sj.KindVoid, Time: now.UnixMilli(), CardNo: card, Amount: 100, VoidSeq: 3}
	if _, err := j.Record(void); err != nil {
		t.Fatal(err)
	}
	if n, err := j.QueuedReceipts(); err != nil || n != 3 {
		t.Fatalf("queued %d (%v), want 3: sales 2 and 4, void 5's slip; sale 3 voided", n, err)
	}
	seq, h := next(j)
	es, err := j.Entries(1, 1)
	if err != nil || len(es) != 1 {
		t.Fatalf("entry 2: %v", err)
	}
	if seq != 2 || h != sj.HashBytes(es[0]) {
		t.Fatalf("first receipt: seq %d hash %v, want seq 2 hash %v", seq, h, sj.HashBytes(es[0]))
	}
	if err := j.ReceiptDone(terminal.ReceiptID{Seq: 2}); err != nil {
		t.Fatal(err)
	}
	if err := j.ReceiptDone(terminal.ReceiptID{Seq: 2}); err != nil {
		t.Fatalf("a receipt done twice: %v", err)
	}
	j.Close()
	j = mustOpen(t, path) // a restart: the queue is still there, printing or not
	if seq, _ := next(j); seq != 4 {
		t.Fatalf("after reopening: next receipt seq %d, want 4", seq)
	}
	if err := j.ReceiptDone(terminal.ReceiptID{Seq: 4}); err != nil {
		t.Fatal(err)
	}
	r, ok, err := j.NextReceipt()
	es, eerr := j.Entries(2, 1)
	if err != nil || !ok || eerr != nil || len(es) != 1 {
		t.Fatalf("the void slip: %v %v %v", ok, err, eerr)
	}
	if r.Entry.Seq != 5 || r.Entry.Kind != sj.KindVoid || r.Voided.Seq != 3 || r.VoidedHash != sj.HashBytes(es[0]) {
		t.Fatalf("the void slip: entry %d (%s) voiding %d with hash %v; want 5, a void of 3 with hash %v",
			r.Entry.Seq, r.Entry.Kind, r.Voided.Seq, r.VoidedHash, sj.HashBytes(es[0]))
	}
	if _, err := j.Record(sale(100)); err != nil {
		t.Fatal(err)
	}
	if n, err := j.QueuedReceipts(); err != nil || n != 1 {
		t.Fatalf("reopened without QueueReceipts: %d queued (%v), want 1 (the void slip)", n, err)
	}
}

// TestShiftQueue checks that a shift report is queued after the documents
// of the entries recorded before it and before those after, comes back
// with the shift's entries, and is taken off by its id; and that queueing
// it ends the open shift.
func TestShiftQueue(t *testing.T) {
	j := mustOpen(t, filepath.Join(t.TempDir(), "journal.db"))
	j.QueueReceipts()
	for range 2 {
		if _, err := j.Record(sale(100)); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok, err := j.OpenShift(); ok || err != nil {
		t.Fatalf("an open shift before any began (%v)", err)
	}
	if err := j.BeginShift(terminal.ShiftJob{Register: 1, Cashier: "C01", Start: now, FirstSeq: 2}); err != nil {
		t.Fatal(err)
	}
	if s, ok, err := j.OpenShift(); !ok || err != nil || s.Cashier != "C01" || s.FirstSeq != 2 || !s.Start.Equal(now) {
		t.Fatalf("the open shift: %+v %v %v", s, ok, err)
	}
	if err := j.QueueShift(terminal.ShiftJob{Register: 1, Cashier: "C01", Start: now, End: now, FirstSeq: 2, LastSeq: 2}); err != nil {
		t.Fatal(err)
	}
	if s, ok, err := j.OpenShift(); ok || err != nil {
		t.Fatalf("the shift reported is still open: %+v (%v)", s, err)
	}
	if _, err := j.Record(sale(100)); err != nil {
		t.Fatal(err)
	}
	if err := j.QueueShift(terminal.ShiftJob{Register: 1, Cashier: "C02", Start: now, End: now}); err != nil {
		t.Fatal(err)
	}
	want := []terminal.ReceiptID{{Seq: 1}, {Seq: 2}, {Seq: 2, Shift: 1}, {Seq: 3}, {Seq: 3, Shift: 2}}
	for _, id := range want {
		r, ok, err := j.NextReceipt()
		if err != nil || !ok || r.ID != id {
			t.Fatalf("next document: %v %v %v, want %v", r.ID, ok, err, id)
		}
		if id.Shift == 1 && (r.Shift == nil || r.Shift.Cashier != "C01" || len(r.ShiftEntries) != 1 || r.ShiftEntries[0].Seq != 2) {
			t.Fatalf("shift report 1: %+v with %d entries", r.Shift, len(r.ShiftEntries))
		}
		if err := j.ReceiptDone(id); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok, err := j.NextReceipt(); ok || err != nil {
		t.Fatalf("after all: a document left (%v)", err)
	}
}

// TestAckOfOverdraftFreezes: the server freezes an active card that an
// entry overdrew, at the ack's version; the card delta of that version is
// not taken after the ack, so the ack itself freezes the cached card, and
// a recharge's delta (a higher version) unfreezes it.
func TestAckOfOverdraftFreezes(t *testing.T) {
	j := mustOpen(t, filepath.Join(t.TempDir(), "journal.db"))
	day := journal.Day(now)
	must(t, j.ApplyCards(&wire.Cards{Cursor: 5, Cards: []wire.Card{{Version: 5, CardNo: card, Name: "张三", Status: wire.CardActive, Balance: 500, Day: day}}}))
	must2(t, j, sale(800)) // seq 1, offline: the balance goes to -3.00
	must(t, j.ApplyAcks([]wire.Ack{{Seq: 1, Outcome: wire.SettledOverdraft, CardNo: card, Balance: -300, Version: 6, Day: day, TodayCount: 1}}))
	// The server's delta at version 6 says frozen too: it is not newer.
	must(t, j.ApplyCards(&wire.Cards{Cursor: 6, Cards: []wire.Card{{Version: 6, CardNo: card, Status: wire.CardFrozen, Balance: -300, Day: day, TodayCount: 1}}}))
	if v, _, err := j.Card(card, now); err != nil || v.Status != wire.CardFrozen || v.Balance != -300 {
		t.Fatalf("after the overdraft's ack: %+v %v, want frozen at -3.00", v, err)
	}
	must(t, j.ApplyCards(&wire.Cards{Cursor: 7, Cards: []wire.Card{{Version: 7, CardNo: card, Status: wire.CardActive, Balance: 1700, Day: day, TodayCount: 1}}}))
	if v, _, err := j.Card(card, now); err != nil || v.Status != wire.CardActive || v.Balance != 1700 {
		t.Fatalf("after the recharge: %+v %v, want active at 17.00", v, err)
	}
	// A card already frozen by the office, or lost, keeps its status.
	must(t, j.ApplyCards(&wire.Cards{Cursor: 8, Cards: []wire.Card{{Version: 8, CardNo: card, Status: wire.CardLost, Balance: 100, Day: day, TodayCount: 1}}}))
	must2(t, j, sale(500)) // seq 2
	must(t, j.ApplyAcks([]wire.Ack{{Seq: 2, Outcome: wire.Flagged, CardNo: card, Balance: -400, Version: 9, Day: day, TodayCount: 2}}))
	if v, _, err := j.Card(card, now); err != nil || v.Status != wire.CardLost {
		t.Fatalf("a lost card after an overdraft's ack: %+v %v, want lost", v, err)
	}
}
