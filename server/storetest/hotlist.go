package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/fanka/fanka/server"
	"github.com/fanka/fanka/server/servertest"
	"github.com/fanka/fanka/shared/wire"
)

// hotlistEntry is what a register learns of a card from the hotlist.
type hotlistEntry struct {
	card   string
	status wire.CardStatus
}

// hotlistSince reads every hotlist change after version, in pages of two
// (so that paging is exercised), checks their order, and returns them.
func hotlistSince(t *testing.T, s server.Store, version uint64) []hotlistEntry {
	t.Helper()
	var out []hotlistEntry
	for {
		page, err := s.HotlistSince(context.Background(), version, 2)
		if err != nil {
			t.Fatalf("hotlist since %d: %v", version, err)
		}
		for _, e := range page {
			if e.Version <= version {
				t.Fatalf("hotlist since %d: version %d out of order in %+v", version, e.Version, page)
			}
			version = e.Version
			out = append(out, hotlistEntry{e.CardNo, e.Status})
		}
		if len(page) < 2 {
			return out
		}
	}
}

// hotlistSnapshot reads the listed cards in pages of two.
func hotlistSnapshot(t *testing.T, s server.Store) []hotlistEntry {
	t.Helper()
	var out []hotlistEntry
	after := ""
	for {
		page, err := s.HotlistSnapshot(context.Background(), after, 2)
		if err != nil {
			t.Fatalf("hotlist snapshot after %q: %v", after, err)
		}
		for _, e := range page {
			if e.CardNo <= after || !e.Listed() {
				t.Fatalf("hotlist snapshot after %q: %+v", after, page)
			}
			after = e.CardNo
			out = append(out, hotlistEntry{e.CardNo, e.Status})
		}
		if len(page) < 2 {
			return out
		}
	}
}

// hotlistVersion returns the hotlist's version and checks that it is the
// version of the last change.
func hotlistVersion(t *testing.T, s server.Store) uint64 {
	t.Helper()
	v, err := s.HotlistVersion(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if after, _ := s.HotlistSince(context.Background(), v, 10); len(after) != 0 {
		t.Fatalf("hotlist changes after its version %d: %+v", v, after)
	}
	return v
}

// testHotlist: freezing, reporting lost, replacing, closing and an
// overdraft put cards on the hotlist, in the transaction that changes
// them; unfreezing and a recharge that pays a debt take them off; each
// change has the card's new version; a sale on a listed card lists it
// again at its new version; and the snapshot holds exactly the cards
// listed.
func testHotlist(t *testing.T, open Open) {
	s, r, clock := setup(t, open)
	ctx := context.Background()
	if v := hotlistVersion(t, s); v != 0 {
		t.Fatalf("hotlist version of an empty store: %d", v)
	}
	for _, no := range []string{"04A1", "04B2", "04C3", "04D4", "04E5"} {
		servertest.OpenCard(t, s, no, 1000)
	}
	if got := hotlistSince(t, s, 0); len(got) != 0 {
		t.Fatalf("hotlist of active cards: %+v", got)
	}
	if v := hotlistVersion(t, s); v != 0 {
		t.Fatalf("hotlist version with no card listed: %d", v)
	}

	op(t, s, server.CardOp{Kind: server.OpFreeze, CardNo: "04A1"})
	v1 := hotlistVersion(t, s)
	if c := card(t, s, "04A1"); v1 != c.Version {
		t.Fatalf("hotlist version %d after a freeze, want the card's version %d", v1, c.Version)
	}
	op(t, s, server.CardOp{Kind: server.OpLost, CardNo: "04B2"})
	op(t, s, server.CardOp{Kind: server.OpClose, CardNo: "04C3"})
	op(t, s, server.CardOp{Kind: server.OpRecharge, CardNo: "04E5", Amount: 100}) // an active card's change: not on the hotlist
	want := []hotlistEntry{{"04A1", wire.CardFrozen}, {"04B2", wire.CardLost}, {"04C3", wire.CardClosed}}
	if diff := cmp.Diff(want, hotlistSince(t, s, 0), cmp.AllowUnexported(hotlistEntry{})); diff != "" {
		t.Fatalf("hotlist since 0 (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want[1:], hotlistSince(t, s, v1), cmp.AllowUnexported(hotlistEntry{})); diff != "" {
		t.Fatalf("hotlist since the freeze (-want +got):\n%s", diff)
	}
	v2 := hotlistVersion(t, s)

	// Unfreeze takes 04A1 off; replacing 04D4 lists it as lost, its new
	// card is not listed; an overdraft freezes 04E5.
	op(t, s, server.CardOp{Kind: server.OpUnfreeze, CardNo: "04A1"})
	op(t, s, server.CardOp{Kind: server.OpReplace, CardNo: "04D4", NewCardNo: "04F6"})
	acks := settle(t, s, r, r.Sale(t, "04E5", 5000))
	if acks[0].Outcome != wire.SettledOverdraft {
		t.Fatalf("overdraft sale: %+v", acks[0])
	}
	want = []hotlistEntry{{"04A1", wire.CardActive}, {"04D4", wire.CardLost}, {"04E5", wire.CardFrozen}}
	if diff := cmp.Diff(want, hotlistSince(t, s, v2), cmp.AllowUnexported(hotlistEntry{})); diff != "" {
		t.Fatalf("hotlist since %d (-want +got):\n%s", v2, diff)
	}
	if v := hotlistVersion(t, s); v != acks[0].Version {
		t.Fatalf("hotlist version %d after the overdraft, want the ack's card version %d", v, acks[0].Version)
	}
	want = []hotlistEntry{{"04B2", wire.CardLost}, {"04C3", wire.CardClosed}, {"04D4", wire.CardLost}, {"04E5", wire.CardFrozen}}
	if diff := cmp.Diff(want, hotlistSnapshot(t, s), cmp.AllowUnexported(hotlistEntry{})); diff != "" {
		t.Fatalf("hotlist snapshot (-want +got):\n%s", diff)
	}

	// A sale on a listed card gives it a new version: the hotlist follows.
	clock.Add(time.Minute)
	v3 := hotlistVersion(t, s)
	ack := settle(t, s, r, r.Sale(t, "04B2", 100))[0]
	if got := hotlistSince(t, s, v3); len(got) != 1 || got[0] != (hotlistEntry{"04B2", wire.CardLost}) {
		t.Fatalf("hotlist after a sale on a lost card: %+v", got)
	}
	if v := hotlistVersion(t, s); v != ack.Version {
		t.Fatalf("hotlist version %d, want the sale's card version %d", v, ack.Version)
	}
	// A recharge that pays the debt takes 04E5 off.
	v4 := hotlistVersion(t, s)
	op(t, s, server.CardOp{Kind: server.OpRecharge, CardNo: "04E5", Amount: 5000})
	if got := hotlistSince(t, s, v4); len(got) != 1 || got[0] != (hotlistEntry{"04E5", wire.CardActive}) {
		t.Fatalf("hotlist after the debt was paid: %+v", got)
	}
	// A refused operation changes nothing on the hotlist.
	v5 := hotlistVersion(t, s)
	if _, err := s.CardOp(ctx, server.CardOp{Kind: server.OpUnfreeze, CardNo: "04B2", RequestID: "unfreeze-lost", Operator: "office"}); server.ErrorCode(err) != server.ECONFLICT {
		t.Fatalf("unfreeze a lost card: %v", err)
	}
	if v := hotlistVersion(t, s); v != v5 {
		t.Fatalf("hotlist version %d after a refused operation, was %d", v, v5)
	}
	want = []hotlistEntry{{"04B2", wire.CardLost}, {"04C3", wire.CardClosed}, {"04D4", wire.CardLost}}
	if diff := cmp.Diff(want, hotlistSnapshot(t, s), cmp.AllowUnexported(hotlistEntry{})); diff != "" {
		t.Fatalf("hotlist snapshot at the end (-want +got):\n%s", diff)
	}
	verify(t, s)
}
