package storetest

import (
	"context"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/fanka/fanka/server"
	"github.com/fanka/fanka/server/servertest"
	"github.com/fanka/fanka/shared/money"
	"github.com/fanka/fanka/shared/wire"
)

// opsTests are the office operations' part of the suite.
var opsTests = []struct {
	name string
	fn   func(t *testing.T, open Open)
}{
	{"OpsMoney", testOpsMoney},
	{"OpsIdempotent", testOpsIdempotent},
	{"OpsStatus", testOpsStatus},
	{"OpsReplace", testOpsReplace},
	{"OpsClose", testOpsClose},
	{"OpsHolds", testOpsHolds},
	{"OpsEdit", testOpsEdit},
	{"OpsSearch", testOpsSearch},
	{"OpsBadInput", testOpsBadInput},
	{"Rules", testRules},
	{"RulesPeriods", testRulesPeriods},
	{"OverdraftFreezes", testOverdraftFreezes},
	{"Subsidies", testSubsidies},
}

var opSeq int

// op runs an office operation with a fresh request id and fails the test
// on an error.
func op(t *testing.T, s server.Store, o server.CardOp) server.CardOpResult {
	t.Helper()
	if o.RequestID == "" {
		opSeq++
		o.RequestID = fmt.Sprintf("op-%d", opSeq)
	}
	o.Operator = "office"
	res, err := s.CardOp(context.Background(), o)
	if err != nil {
		t.Fatalf("%s %s: %v", o.Kind, o.CardNo, err)
	}
	return res
}

// opErr runs an operation that must fail with code, and checks that it
// posted nothing and changed no card.
func opErr(t *testing.T, s server.Store, o server.CardOp, code string) {
	t.Helper()
	opSeq++
	o.RequestID = fmt.Sprintf("op-%d", opSeq)
	before := verify(t, s)
	var cardBefore server.Card
	if c, err := s.Card(context.Background(), o.CardNo); err == nil {
		cardBefore = c
	}
	_, err := s.CardOp(context.Background(), o)
	if got := server.ErrorCode(err); got != code {
		t.Fatalf("%s %s amount %d: error %v (code %q), want code %s", o.Kind, o.CardNo, o.Amount, err, got, code)
	}
	if after := verify(t, s); after.Transactions != before.Transactions {
		t.Errorf("%s %s refused with %v, but posted %d transactions", o.Kind, o.CardNo, err, after.Transactions-before.Transactions)
	}
	if c, err := s.Card(context.Background(), o.CardNo); err == nil && c.Version != cardBefore.Version {
		t.Errorf("%s %s refused with %v, but the card changed: %+v", o.Kind, o.CardNo, err, c)
	}
}

func testOpsMoney(t *testing.T, open Open) {
	s, r, _ := setup(t, open)
	servertest.OpenCard(t, s, "04A1", 1000)
	res := op(t, s, server.CardOp{Kind: server.OpRecharge, CardNo: "04A1", Amount: 2500})
	if res.Balance != 3500 || res.Status != server.CardActive || res.TxID == 0 {
		t.Errorf("recharge: %+v, want balance 3500", res)
	}
	settle(t, s, r, r.Sale(t, "04A1", 1200), r.Sale(t, "04A1", 300))
	// Refund: never more than was paid, net of refunds already made.
	opErr(t, s, server.CardOp{Kind: server.OpRefund, CardNo: "04A1", Amount: 1501}, server.EINVALID)
	if res := op(t, s, server.CardOp{Kind: server.OpRefund, CardNo: "04A1", Amount: 1000}); res.Balance != 3000 {
		t.Errorf("refund: %+v, want balance 3000", res)
	}
	opErr(t, s, server.CardOp{Kind: server.OpRefund, CardNo: "04A1", Amount: 501}, server.EINVALID)
	op(t, s, server.CardOp{Kind: server.OpRefund, CardNo: "04A1", Amount: 500})
	if c := card(t, s, "04A1"); c.Balance != 3500 {
		t.Errorf("balance %d, want 3500", c.Balance)
	}
	rep := verify(t, s)
	if rep.Transactions != 6 { // open, recharge, 2 sales, 2 refunds
		t.Errorf("%d transactions, want 6", rep.Transactions)
	}
}

func testOpsIdempotent(t *testing.T, open Open) {
	s, _, _ := setup(t, open)
	servertest.OpenCard(t, s, "04A1", 1000)
	o := server.CardOp{RequestID: "recharge-1", Kind: server.OpRecharge, CardNo: "04A1", Amount: 500}
	first := op(t, s, o)
	op(t, s, server.CardOp{Kind: server.OpRecharge, CardNo: "04A1", Amount: 100}) // the card moves on
	again := op(t, s, o)
	if diff := cmp.Diff(first, again); diff != "" {
		t.Errorf("replay answered differently (-first +again):\n%s", diff)
	}
	if c := card(t, s, "04A1"); c.Balance != 1600 {
		t.Errorf("balance %d, want 1600: the replay posted again", c.Balance)
	}
	// The same id with another body is a conflict, and changes nothing.
	o.Amount = 501
	if _, err := s.CardOp(context.Background(), o); server.ErrorCode(err) != server.ECONFLICT {
		t.Errorf("request id reused for another amount: %v, want ECONFLICT", err)
	}
	o.Amount, o.Kind = 500, server.OpRefund
	if _, err := s.CardOp(context.Background(), o); server.ErrorCode(err) != server.ECONFLICT {
		t.Errorf("request id reused for a refund: %v, want ECONFLICT", err)
	}
	// An open-card request id is not a freeze's either.
	if _, err := s.OpenCard(context.Background(), server.OpenCard{RequestID: "open-04B2", PersonID: "P04B2", Name: "x", Deposit: 1, CardNo: "04B2"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CardOp(context.Background(), server.CardOp{RequestID: "open-04B2", Operator: "x", Kind: server.OpFreeze, CardNo: "04B2"}); server.ErrorCode(err) != server.ECONFLICT {
		t.Errorf("open-card request id reused for a freeze: %v, want ECONFLICT", err)
	}
	if c := card(t, s, "04A1"); c.Balance != 1600 || c.Status != server.CardActive {
		t.Errorf("card %+v after refused reuses", c)
	}
}

func testOpsStatus(t *testing.T, open Open) {
	s, r, _ := setup(t, open)
	servertest.OpenCard(t, s, "04A1", 1000)
	v0 := card(t, s, "04A1").Version
	if res := op(t, s, server.CardOp{Kind: server.OpFreeze, CardNo: "04A1", Reason: "dispute"}); res.Status != server.CardFrozen {
		t.Errorf("freeze: %+v", res)
	}
	c := card(t, s, "04A1")
	if c.Status != server.CardFrozen || c.Reason != server.FrozenByOffice || c.Version <= v0 {
		t.Errorf("frozen card %+v: want frozen by the office, a new version", c)
	}
	opErr(t, s, server.CardOp{Kind: server.OpFreeze, CardNo: "04A1"}, server.ECONFLICT)
	// A sale on a frozen card settles (the meal was eaten) but is flagged.
	if acks := settle(t, s, r, r.Sale(t, "04A1", 100)); acks[0].Outcome != wire.Flagged {
		t.Errorf("sale on a frozen card: %+v, want flagged", acks[0])
	}
	op(t, s, server.CardOp{Kind: server.OpRecharge, CardNo: "04A1", Amount: 100}) // allowed while frozen
	if c := card(t, s, "04A1"); c.Status != server.CardFrozen {
		t.Errorf("a recharge unfroze a card the office froze: %+v", c)
	}
	op(t, s, server.CardOp{Kind: server.OpUnfreeze, CardNo: "04A1"})
	opErr(t, s, server.CardOp{Kind: server.OpUnfreeze, CardNo: "04A1"}, server.ECONFLICT)
	op(t, s, server.CardOp{Kind: server.OpLost, CardNo: "04A1"})
	opErr(t, s, server.CardOp{Kind: server.OpUnfreeze, CardNo: "04A1"}, server.ECONFLICT)
	opErr(t, s, server.CardOp{Kind: server.OpRecharge, CardNo: "04A1", Amount: 100}, server.ECONFLICT)
	opErr(t, s, server.CardOp{Kind: server.OpFreeze, CardNo: "04A1"}, server.ECONFLICT)
	opErr(t, s, server.CardOp{Kind: server.OpLost, CardNo: "04A1"}, server.ECONFLICT)
	if c := card(t, s, "04A1"); c.Status != server.CardLost || c.Balance != 1000 {
		t.Errorf("lost card %+v, want lost with 1000", c)
	}
	verify(t, s)
}

func testOpsReplace(t *testing.T, open Open) {
	s, r, _ := setup(t, open)
	servertest.OpenCard(t, s, "04A1", 1000)
	servertest.OpenCard(t, s, "04B2", 1000)
	op(t, s, server.CardOp{Kind: server.OpLost, CardNo: "04A1"})
	opErr(t, s, server.CardOp{Kind: server.OpReplace, CardNo: "04A1", NewCardNo: "04B2"}, server.ECONFLICT)
	res := op(t, s, server.CardOp{Kind: server.OpReplace, CardNo: "04A1", NewCardNo: "04C3"})
	if res.CardNo != "04C3" || res.Status != server.CardActive || res.Balance != 1000 {
		t.Errorf("replace: %+v, want card 04C3 active with 1000", res)
	}
	old, nu := card(t, s, "04A1"), card(t, s, "04C3")
	if old.Status != server.CardLost || nu.AccountID != old.AccountID || nu.Balance != 1000 {
		t.Errorf("old %+v new %+v: want the old lost, the new on the same account", old, nu)
	}
	opErr(t, s, server.CardOp{Kind: server.OpReplace, CardNo: "04A1", NewCardNo: "04D4"}, server.ECONFLICT)
	opErr(t, s, server.CardOp{Kind: server.OpClose, CardNo: "04A1"}, server.ECONFLICT)
	// The new card pays; the old one's sale is flagged, from the same account.
	acks := settle(t, s, r, r.Sale(t, "04C3", 200), r.Sale(t, "04A1", 100))
	if acks[0].Outcome != wire.Settled || acks[1].Outcome != wire.Flagged || card(t, s, "04C3").Balance != 700 {
		t.Errorf("acks %+v, balance %d", acks, card(t, s, "04C3").Balance)
	}
	// A replaced active card: the old one becomes lost.
	op(t, s, server.CardOp{Kind: server.OpReplace, CardNo: "04C3", NewCardNo: "04E5"})
	if c := card(t, s, "04C3"); c.Status != server.CardLost {
		t.Errorf("replaced card %+v, want lost", c)
	}
	verify(t, s)
}

func testOpsClose(t *testing.T, open Open) {
	s, r, _ := setup(t, open)
	ctx := context.Background()
	servertest.OpenCard(t, s, "04A1", 1000)
	settle(t, s, r, r.Sale(t, "04A1", 1300)) // owes 300
	opErr(t, s, server.CardOp{Kind: server.OpClose, CardNo: "04A1"}, server.EINVALID)
	op(t, s, server.CardOp{Kind: server.OpRecharge, CardNo: "04A1", Amount: 800})
	res := op(t, s, server.CardOp{Kind: server.OpClose, CardNo: "04A1"})
	if res.Status != server.CardClosed || res.Balance != 0 || res.TxID == 0 {
		t.Errorf("close: %+v, want closed, 0, a payout", res)
	}
	for _, kind := range []server.OpKind{server.OpRecharge, server.OpFreeze, server.OpUnfreeze, server.OpLost, server.OpClose, server.OpHold} {
		opErr(t, s, server.CardOp{Kind: kind, CardNo: "04A1", Amount: 100}, server.ECONFLICT)
	}
	opErr(t, s, server.CardOp{Kind: server.OpReplace, CardNo: "04A1", NewCardNo: "04F6"}, server.ECONFLICT)
	// The person may open a card again now; while it is open, not twice.
	reopen := server.OpenCard{RequestID: "reopen", Operator: "office", PersonID: "P04A1", Name: "again", Deposit: 100, CardNo: "04B2"}
	if _, err := s.OpenCard(ctx, reopen); err != nil {
		t.Fatalf("reopen after close: %v", err)
	}
	reopen.RequestID, reopen.CardNo = "reopen-2", "04C3"
	if _, err := s.OpenCard(ctx, reopen); server.ErrorCode(err) != server.ECONFLICT {
		t.Errorf("a second open card for the person: %v, want ECONFLICT", err)
	}
	verify(t, s)
}

func testOpsHolds(t *testing.T, open Open) {
	s, r, _ := setup(t, open)
	ctx := context.Background()
	servertest.OpenCard(t, s, "04A1", 1000)
	opErr(t, s, server.CardOp{Kind: server.OpHold, CardNo: "04A1", Amount: 1001}, server.EINVALID)
	h1 := op(t, s, server.CardOp{Kind: server.OpHold, CardNo: "04A1", Amount: 600, Reason: "争议"})
	if h1.HoldID == 0 || h1.Held != 600 || h1.Balance != 1000 {
		t.Errorf("hold: %+v", h1)
	}
	c := card(t, s, "04A1")
	if c.Held != 600 || c.Wire().Balance != 400 {
		t.Errorf("card %+v: registers must see 400 spendable", c)
	}
	// Held money cannot be spent: a sale beyond the rest settles as an
	// overdraft of what is spendable.
	acks := settle(t, s, r, r.Sale(t, "04A1", 500))
	if acks[0].Balance != -100 {
		t.Errorf("ack %+v, want spendable -100", acks[0])
	}
	opErr(t, s, server.CardOp{Kind: server.OpHold, CardNo: "04A1", Amount: 1}, server.EINVALID)
	opErr(t, s, server.CardOp{Kind: server.OpClose, CardNo: "04A1"}, server.EINVALID)
	opErr(t, s, server.CardOp{Kind: server.OpRelease, CardNo: "04A1", HoldID: h1.HoldID + 100}, server.ENOTFOUND)
	cap := op(t, s, server.CardOp{Kind: server.OpCapture, CardNo: "04A1", HoldID: h1.HoldID})
	if cap.Balance != -100 || cap.Held != 0 || cap.TxID == 0 {
		t.Errorf("capture: %+v, want balance -100, nothing held", cap)
	}
	opErr(t, s, server.CardOp{Kind: server.OpRelease, CardNo: "04A1", HoldID: h1.HoldID}, server.ECONFLICT)
	op(t, s, server.CardOp{Kind: server.OpRecharge, CardNo: "04A1", Amount: 1100})
	h2 := op(t, s, server.CardOp{Kind: server.OpHold, CardNo: "04A1", Amount: 300})
	rel := op(t, s, server.CardOp{Kind: server.OpRelease, CardNo: "04A1", HoldID: h2.HoldID})
	if rel.Balance != 1000 || rel.Held != 0 {
		t.Errorf("release: %+v", rel)
	}
	holds, err := s.Holds(ctx, "04A1")
	if err != nil || len(holds) != 2 || holds[0].State != server.HoldReleased || holds[1].State != server.HoldCaptured || holds[1].Reason != "争议" {
		t.Errorf("holds %+v (%v)", holds, err)
	}
	// Refund counts the capture as paid.
	op(t, s, server.CardOp{Kind: server.OpRefund, CardNo: "04A1", Amount: 1100})
	verify(t, s)
}

func testOpsEdit(t *testing.T, open Open) {
	s, _, _ := setup(t, open)
	servertest.OpenCard(t, s, "04A1", 1000)
	v0 := card(t, s, "04A1").Version
	op(t, s, server.CardOp{Kind: server.OpEdit, CardNo: "04A1", Name: "李四", UserClass: "staff", PhoneSealed: []byte("sealed"), PhoneKey: "k"})
	c := card(t, s, "04A1")
	if c.Name != "李四" || c.UserClass != "staff" || string(c.PhoneSealed) != "sealed" || c.Version <= v0 {
		t.Errorf("edited card %+v", c)
	}
	op(t, s, server.CardOp{Kind: server.OpEdit, CardNo: "04A1", UserClass: "student"})
	if c := card(t, s, "04A1"); c.Name != "李四" || c.UserClass != "student" || string(c.PhoneSealed) != "sealed" {
		t.Errorf("a partial edit changed other fields: %+v", c)
	}
}

func testOpsSearch(t *testing.T, open Open) {
	s, _, _ := setup(t, open)
	ctx := context.Background()
	for _, no := range []string{"04A1", "04A2", "05B1"} {
		servertest.OpenCard(t, s, no, 100)
	}
	op(t, s, server.CardOp{Kind: server.OpEdit, CardNo: "05B1", Name: "王_五%"})
	for _, tc := range []struct {
		q    server.CardQuery
		want []string
	}{
		{server.CardQuery{Text: "04A", Limit: 10}, []string{"04A1", "04A2"}},
		{server.CardQuery{Text: "04A", Limit: 1}, []string{"04A1"}},
		{server.CardQuery{Text: "王_", Limit: 10}, []string{"05B1"}},
		{server.CardQuery{Text: "_", Limit: 10}, nil}, // LIKE wildcards are escaped
		{server.CardQuery{PersonID: "P04A2", Limit: 10}, []string{"04A2"}},
		{server.CardQuery{Text: "nobody", Limit: 10}, nil},
	} {
		cards, err := s.SearchCards(ctx, tc.q)
		if err != nil {
			t.Fatalf("search %+v: %v", tc.q, err)
		}
		var got []string
		for _, c := range cards {
			got = append(got, c.CardNo)
		}
		if !cmp.Equal(got, tc.want) {
			t.Errorf("search %+v: %v, want %v", tc.q, got, tc.want)
		}
	}
	for _, q := range []server.CardQuery{{Text: "04", Limit: 0}, {Text: "04", Limit: server.MaxSearch + 1}, {Limit: 10}} {
		if _, err := s.SearchCards(ctx, q); server.ErrorCode(err) != server.EINVALID {
			t.Errorf("search %+v: %v, want EINVALID", q, err)
		}
	}
}

// testOpsBadInput tries every operation with bad amounts, unknown cards
// and malformed fields: each a clear error, nothing posted.
func testOpsBadInput(t *testing.T, open Open) {
	s, _, _ := setup(t, open)
	servertest.OpenCard(t, s, "04A1", 1000)
	for _, kind := range []server.OpKind{server.OpRecharge, server.OpRefund, server.OpHold} {
		for _, amount := range []money.Fen{0, -1, -100, server.MaxAmount + 1, money.Fen(1 << 62)} {
			opErr(t, s, server.CardOp{Kind: kind, CardNo: "04A1", Amount: amount}, server.EINVALID)
		}
	}
	for _, kind := range []server.OpKind{server.OpRecharge, server.OpFreeze, server.OpLost, server.OpClose} {
		opErr(t, s, server.CardOp{Kind: kind, CardNo: "0BADC0DE", Amount: 100}, server.ENOTFOUND)
	}
	for _, o := range []server.CardOp{
		{Kind: "steal", CardNo: "04A1"},
		{Kind: server.OpRecharge, CardNo: "", Amount: 100},
		{Kind: server.OpRecharge, CardNo: "04a1", Amount: 100},
		{Kind: server.OpReplace, CardNo: "04A1"},
		{Kind: server.OpReplace, CardNo: "04A1", NewCardNo: "04A1"},
		{Kind: server.OpReplace, CardNo: "04A1", NewCardNo: "04B2", NewCardPublicKey: []byte{4, 1, 2}},
		{Kind: server.OpEdit, CardNo: "04A1"},
		{Kind: server.OpEdit, CardNo: "04A1", Name: "\x00"},
		{Kind: server.OpEdit, CardNo: "04A1", UserClass: "Staff!"},
		{Kind: server.OpRelease, CardNo: "04A1"},
		{Kind: server.OpFreeze, CardNo: "04A1", Reason: string(make([]byte, server.MaxReason+1))},
	} {
		opErr(t, s, o, server.EINVALID)
	}
	// Amounts that would take a balance past MaxBalance.
	for range 9 {
		op(t, s, server.CardOp{Kind: server.OpRecharge, CardNo: "04A1", Amount: server.MaxAmount})
	}
	opErr(t, s, server.CardOp{Kind: server.OpRecharge, CardNo: "04A1", Amount: server.MaxAmount}, server.EINVALID)
	// A request id that is too long or not printable.
	if _, err := s.CardOp(context.Background(), server.CardOp{RequestID: "a b", Kind: server.OpFreeze, CardNo: "04A1"}); server.ErrorCode(err) != server.EINVALID {
		t.Errorf("request id with a space: %v, want EINVALID", err)
	}
	verify(t, s)
}
