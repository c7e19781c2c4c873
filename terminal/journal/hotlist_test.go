package journal_test

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/fanka/fanka/shared/wire"
	"github.com/fanka/fanka/terminal/journal"
)

func applyHotlist(t *testing.T, j *journal.Journal, m *wire.Hotlist) {
	t.Helper()
	if err := j.ApplyHotlist(m); err != nil {
		t.Fatalf("apply %+v: %v", m, err)
	}
}

// status returns the status Card gives cardNo, or 0 if it is not found.
func status(t *testing.T, j *journal.Journal, cardNo string) wire.CardStatus {
	t.Helper()
	v, ok, err := j.Card(cardNo, time.Now())
	if err != nil {
		t.Fatalf("card %s: %v", cardNo, err)
	}
	if !ok {
		return 0
	}
	return v.Status
}

func hotCursor(t *testing.T, j *journal.Journal) uint64 {
	t.Helper()
	c, err := j.HotlistCursor()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestHotlist: the hotlist refuses cards the card cache does not hold, or
// holds at an older version; a newer cached state wins; changes keep the
// newer entry; and the list and its cursor survive a restart.
func TestHotlist(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal.db")
	j := mustOpen(t, path)
	if c := hotCursor(t, j); c != 0 {
		t.Fatalf("cursor of a new journal: %d", c)
	}
	if err := j.ApplyCards(&wire.Cards{Cursor: 5, Cards: []wire.Card{
		{Version: 3, CardNo: "OLD", Status: wire.CardActive, Balance: 100},
		{Version: 5, CardNo: "NEW", Status: wire.CardActive, Balance: 100},
	}}); err != nil {
		t.Fatal(err)
	}
	applyHotlist(t, j, &wire.Hotlist{Cursor: 4, Entries: []wire.HotlistEntry{
		{Version: 1, CardNo: "UNCACHED", Status: wire.CardLost},
		{Version: 2, CardNo: "GONE", Status: wire.CardClosed},
		{Version: 4, CardNo: "OLD", Status: wire.CardFrozen},
		// NEW was listed at 4, then unfrozen at 5: the cache holds 5.
	}})
	applyHotlist(t, j, &wire.Hotlist{Cursor: 4, Entries: nil})
	for card, want := range map[string]wire.CardStatus{"UNCACHED": wire.CardLost, "GONE": wire.CardClosed, "OLD": wire.CardFrozen, "NEW": wire.CardActive, "NONE": 0} {
		if got := status(t, j, card); got != want {
			t.Errorf("card %s: status %v, want %v", card, got, want)
		}
	}
	applyHotlist(t, j, &wire.Hotlist{Cursor: 6, Entries: []wire.HotlistEntry{{Version: 6, CardNo: "NEW", Status: wire.CardLost}}})
	if got := status(t, j, "NEW"); got != wire.CardLost {
		t.Errorf("card NEW listed after its cached version: %v", got)
	}
	// An entry older than the one held is ignored; taking a card off
	// leaves its cached state.
	applyHotlist(t, j, &wire.Hotlist{Cursor: 9, Entries: []wire.HotlistEntry{
		{Version: 5, CardNo: "NEW", Status: wire.CardActive}, // NEW is listed at 6
		{Version: 9, CardNo: "OLD", Status: wire.CardActive},
	}})
	if got := status(t, j, "NEW"); got != wire.CardLost {
		t.Errorf("an older entry took NEW off: %v", got)
	}
	if got := status(t, j, "OLD"); got != wire.CardActive {
		t.Errorf("OLD taken off: %v", got)
	}
	if c := hotCursor(t, j); c != 9 {
		t.Errorf("cursor %d, want 9", c)
	}
	j.Close()
	j = mustOpen(t, path)
	if c := hotCursor(t, j); c != 9 {
		t.Errorf("cursor after a restart %d, want 9", c)
	}
	if got := status(t, j, "UNCACHED"); got != wire.CardLost {
		t.Errorf("UNCACHED after a restart: %v", got)
	}
}

// TestHotlistSnapshot: a snapshot in parts replaces the list only with its
// last part; one cut short leaves the old list and cursor; a part without
// a first part is refused.
func TestHotlistSnapshot(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal.db")
	j := mustOpen(t, path)
	applyHotlist(t, j, &wire.Hotlist{Cursor: 3, Entries: []wire.HotlistEntry{{Version: 3, CardNo: "A", Status: wire.CardLost}}})

	if err := j.ApplyHotlist(&wire.Hotlist{Flags: wire.HotlistSnapshot, Cursor: 8}); !errors.Is(err, journal.ErrHotlistPart) {
		t.Fatalf("a part without its first: %v", err)
	}
	// Cut short: the first part only, then the journal is reopened.
	applyHotlist(t, j, &wire.Hotlist{Flags: wire.HotlistSnapshot | wire.HotlistFirst, Cursor: 8, Entries: []wire.HotlistEntry{{Version: 7, CardNo: "B", Status: wire.CardFrozen}}})
	if got := status(t, j, "A"); got != wire.CardLost || hotCursor(t, j) != 3 {
		t.Fatalf("mid-snapshot: A %v, cursor %d: want the old list and cursor", got, hotCursor(t, j))
	}
	if got := status(t, j, "B"); got != 0 {
		t.Fatalf("mid-snapshot: B %v: the part is not in force yet", got)
	}
	j.Close()
	j = mustOpen(t, path)
	if got := status(t, j, "A"); got != wire.CardLost || hotCursor(t, j) != 3 {
		t.Fatalf("after a restart mid-snapshot: A %v, cursor %d", got, hotCursor(t, j))
	}
	// A whole snapshot in three parts: A is off the list.
	applyHotlist(t, j, &wire.Hotlist{Flags: wire.HotlistSnapshot | wire.HotlistFirst, Cursor: 9, Entries: []wire.HotlistEntry{{Version: 7, CardNo: "B", Status: wire.CardFrozen}}})
	applyHotlist(t, j, &wire.Hotlist{Flags: wire.HotlistSnapshot, Cursor: 9, Entries: []wire.HotlistEntry{{Version: 2, CardNo: "C", Status: wire.CardClosed}}})
	applyHotlist(t, j, &wire.Hotlist{Flags: wire.HotlistSnapshot | wire.HotlistLast, Cursor: 9})
	for card, want := range map[string]wire.CardStatus{"A": 0, "B": wire.CardFrozen, "C": wire.CardClosed} {
		if got := status(t, j, card); got != want {
			t.Errorf("after the snapshot: card %s %v, want %v", card, got, want)
		}
	}
	if c := hotCursor(t, j); c != 9 {
		t.Errorf("cursor %d after the snapshot, want 9", c)
	}
	// The part without its first is refused again: the snapshot ended.
	if err := j.ApplyHotlist(&wire.Hotlist{Flags: wire.HotlistSnapshot | wire.HotlistLast, Cursor: 10}); !errors.Is(err, journal.ErrHotlistPart) {
		t.Fatalf("a last part after the snapshot ended: %v", err)
	}
	if c := hotCursor(t, j); c != 9 {
		t.Errorf("cursor %d after a refused part, want 9", c)
	}
}
