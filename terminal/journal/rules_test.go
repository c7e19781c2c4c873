package journal_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	bolt "go.etcd.io/bbolt"

	sj "github.com/fanka/fanka/shared/journal"
	"github.com/fanka/fanka/shared/money"
	"github.com/fanka/fanka/shared/wire"
)

func TestServerRulesSurviveReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.db")
	j := mustOpen(t, path)
	if m, ok, err := j.ServerRules(); m != nil || ok || err != nil {
		t.Fatalf("a new journal holds rules %+v, %v, %v", m, ok, err)
	}
	m := &wire.Rules{Version: 2, ServerTime: 1764000000000, MaxSalesPerDay: 3, MinGapSeconds: 10,
		Periods: []wire.MealPeriod{{Name: "lunch", Start: 630, End: 840, MaxSales: 1}}}
	if err := j.SaveRules(m); err != nil {
		t.Fatal(err)
	}
	// The same version again is not rewritten: the first one's time stays.
	again := *m
	again.ServerTime++
	if err := j.SaveRules(&again); err != nil {
		t.Fatal(err)
	}
	j.Close()
	j = mustOpen(t, path)
	got, ok, err := j.ServerRules()
	if err != nil || !ok {
		t.Fatalf("after reopening: %v, %v", ok, err)
	}
	if diff := cmp.Diff(m, got); diff != "" {
		t.Fatalf("rules after reopening (-want +got):\n%s", diff)
	}
	// The same version with preset prices and offline limits (a server
	// that learnt them, on the same rules) replaces them.
	priced := *m
	priced.Periods = []wire.MealPeriod{{Name: "lunch", Start: 630, End: 840, MaxSales: 1, Presets: []money.Fen{1200, 800}}}
	priced.Offline = wire.OfflineLimits{MaxSale: 3000, HardCount: 500}
	if err := j.SaveRules(&priced); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := j.ServerRules(); !cmp.Equal(got, &priced) {
		t.Fatalf("after the same version with presets: %+v", got)
	}
	// A new version replaces them.
	if err := j.SaveRules(&wire.Rules{Version: 3}); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := j.ServerRules(); got.Version != 3 || got.MaxSalesPerDay != 0 || got.Offline.HardCount != 0 {
		t.Fatalf("after version 3: %+v", got)
	}
}

// TestServerRulesOfAnOlderJournal: a journal that recorded the server's
// rules as a RulesV1 frame (before Rules existed) still gives them, with
// neither presets nor offline limits.
func TestServerRulesOfAnOlderJournal(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.db")
	j := mustOpen(t, path)
	j.Close()
	old := wire.Rules{Version: 4, ServerTime: 1764000000000, MaxSalesPerDay: 2, MaxSale: 2000,
		Periods: []wire.MealPeriod{{Name: "lunch", Start: 660, End: 810}}}
	frame, err := wire.Encode(&wire.RulesV1{Rules: old})
	if err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error { return tx.Bucket([]byte("meta")).Put([]byte("rules"), frame) })
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	j = mustOpen(t, path)
	got, ok, err := j.ServerRules()
	if err != nil || !ok {
		t.Fatalf("rules of an older journal: %v, %v", ok, err)
	}
	if diff := cmp.Diff(&old, got); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
}

// TestOwnSalesOfTheDay: a card's view holds this register's sales of the
// card today, settled or not, less voids, and its last sale's time, across
// a reopen; a new day starts at zero.
func TestOwnSalesOfTheDay(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.db")
	j := mustOpen(t, path)
	const card = "04A1"
	if err := j.ApplyCards(&wire.Cards{Cursor: 1, Cards: []wire.Card{{Version: 1, CardNo: card, Status: wire.CardActive, Balance: 10000}}}); err != nil {
		t.Fatal(err)
	}
	noon := time.Date(2026, 11, 25, 12, 0, 0, 0, time.Local)
	record := func(e sj.Entry) sj.Entry {
		t.Helper()
		got, err := j.Record(e)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	record(sj.Entry{Kind: sj.KindSale, CardNo: card, Amount: 700, Time: noon.Add(-24 * time.Hour).UnixMilli()})
	record(sj.Entry{Kind: sj.KindSale, CardNo: card, Amount: 1200, Time: noon.UnixMilli()})
	s2 := record(sj.Entry{Kind: sj.KindSale, CardNo: card, Amount: 800, Time: noon.Add(time.Minute).UnixMilli()})
	record(sj.Entry{Kind: sj.KindVoid, CardNo: card, Amount: 800, Time: noon.Add(2 * time.Minute).UnixMilli(), VoidSeq: s2.Seq})
	// The first two settle: they still count as this register's.
	if err := j.ApplyAcks([]wire.Ack{{Seq: 1, Outcome: wire.Settled, CardNo: card, Balance: 9300, Version: 2}, {Seq: 2, Outcome: wire.Settled, CardNo: card, Balance: 8100, Version: 3}}); err != nil {
		t.Fatal(err)
	}
	j.Close()
	j = mustOpen(t, path)
	v, ok, err := j.Card(card, noon.Add(time.Hour))
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	if v.OwnToday != money.Fen(1200) || !v.OwnLastSale.Equal(noon.Add(time.Minute)) {
		t.Errorf("today: own %s, last sale %v; want 12.00 at 12:01", v.OwnToday, v.OwnLastSale)
	}
	v, _, _ = j.Card(card, noon.Add(24*time.Hour))
	if v.OwnToday != 0 || !v.OwnLastSale.Equal(noon.Add(time.Minute)) {
		t.Errorf("the next day: own %s, last sale %v; want 0 and the last sale kept", v.OwnToday, v.OwnLastSale)
	}
}
