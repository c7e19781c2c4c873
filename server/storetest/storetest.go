// Package storetest is the conformance suite of server.Store: every store
// back-end runs it (SQLite, and MySQL-compatible on MariaDB), so that they
// all settle, refuse and report alike.
package storetest

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/fanka/fanka/server"
	"github.com/fanka/fanka/server/servertest"
	"github.com/fanka/fanka/shared/journal"
	"github.com/fanka/fanka/shared/money"
	"github.com/fanka/fanka/shared/wire"
)

// Open returns an empty, open store whose clock is now, closed when the
// test ends.
type Open func(t *testing.T, now func() time.Time) server.Store

// Run runs the conformance suite on the stores open returns.
func Run(t *testing.T, open Open) {
	tests := []struct {
		name string
		fn   func(t *testing.T, open Open)
	}{
		{"SettleSale", testSettleSale},
		{"SettleReplay", testSettleReplay},
		{"SettleOverdraft", testSettleOverdraft},
		{"SettleUnknownCard", testSettleUnknownCard},
		{"SettleRefusals", testSettleRefusals},
		{"SettleBatchAtomic", testSettleBatchAtomic},
		{"SettleForgedMiddle", testSettleForgedMiddle},
		{"SettleConcurrentRegisters", testSettleConcurrentRegisters},
		{"SettleRegisterState", testSettleRegisterState},
		{"Void", testVoid},
		{"VoidRefused", testVoidRefused},
		{"VoidAfterRefund", testVoidAfterRefund},
		{"TodayCount", testTodayCount},
		{"OpenCard", testOpenCard},
		{"OpenCardIdempotent", testOpenCardIdempotent},
		{"CardFeed", testCardFeed},
		{"Terminals", testTerminals},
		{"Users", testUsers},
		{"Alarms", testAlarms},
		{"CardSignatures", testCardSignatures},
		{"OpenCardPublicKey", testOpenCardPublicKey},
		{"Sales", testSales},
		{"TerminalList", testTerminalList},
		{"DailyReport", testDailyReport},
		{"DailyReportSparse", testDailyReportSparse},
		{"Audit", testAudit},
		{"Canteens", testCanteens},
		{"Hotlist", testHotlist},
		{"TerminalStatus", testTerminalStatus},
	}
	tests = append(tests, opsTests...)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, open) })
	}
}

// noon is a fixed time of day far from midnight, so tests do not cross days.
var noon = time.Date(2026, 3, 2, 12, 0, 0, 0, time.Local)

func setup(t *testing.T, open Open) (server.Store, *servertest.Register, *servertest.Clock) {
	clock := servertest.NewClock(noon)
	s := open(t, clock.Now)
	// No limits: these tests are of settlement itself; the rules have
	// their own (testRules).
	if _, err := s.SetRules(context.Background(), server.Rules{}, "test"); err != nil {
		t.Fatal(err)
	}
	r := servertest.NewRegister(t)
	r.Time = clock.Now
	servertest.Enroll(t, s, r)
	return s, r, clock
}

func settle(t *testing.T, s server.Store, r *servertest.Register, entries ...[]byte) []wire.Ack {
	t.Helper()
	acks, err := s.Settle(context.Background(), r.ID, entries)
	if err != nil {
		t.Fatalf("settle: %v", err)
	}
	if len(acks) != len(entries) {
		t.Fatalf("settle: %d acks for %d entries", len(acks), len(entries))
	}
	return acks
}

func card(t *testing.T, s server.Store, cardNo string) server.Card {
	t.Helper()
	c, err := s.Card(context.Background(), cardNo)
	if err != nil {
		t.Fatalf("card %s: %v", cardNo, err)
	}
	return c
}

// verify fails the test unless the store's invariants hold, and returns
// what Verify counted.
func verify(t *testing.T, s server.Store) server.VerifyReport {
	t.Helper()
	rep, err := s.Verify(context.Background())
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	return rep
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := server.ErrorCode(err); got != code {
		t.Fatalf("error %v: code %q, want %q", err, got, code)
	}
}

func testSettleSale(t *testing.T, open Open) {
	s, r, _ := setup(t, open)
	servertest.OpenCard(t, s, "04A1B2C3D4E5F6", 100*money.Yuan)
	before := card(t, s, "04A1B2C3D4E5F6")
	acks := settle(t, s, r, r.Sale(t, "04A1B2C3D4E5F6", 1250))
	after := card(t, s, "04A1B2C3D4E5F6")
	want := wire.Ack{Seq: 1, Outcome: wire.Settled, CardNo: "04A1B2C3D4E5F6", Balance: 8750,
		Version: after.Version, Day: server.Day(noon), TodayCount: 1}
	if diff := cmp.Diff(want, acks[0]); diff != "" {
		t.Errorf("ack (-want +got):\n%s", diff)
	}
	if after.Balance != 8750 || after.Version <= before.Version || after.CountOn(server.Day(noon)) != 1 {
		t.Errorf("card after the sale: %+v", after)
	}
	term, err := s.Terminal(context.Background(), r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if term.LastSeq != 1 || term.LastHash != r.Prev {
		t.Errorf("register at %d/%s, want 1/%s", term.LastSeq, term.LastHash, r.Prev)
	}
	rep := verify(t, s)
	if rep.Transactions != 2 || rep.Entries != 1 || rep.Registers != 1 {
		t.Errorf("verify counted %+v, want 2 transactions, 1 entry, 1 register", rep)
	}
}

func testSettleReplay(t *testing.T, open Open) {
	s, r, _ := setup(t, open)
	servertest.OpenCard(t, s, "04A1", 10000)
	e1 := r.Sale(t, "04A1", 500)
	first := settle(t, s, r, e1)
	again := settle(t, s, r, e1)
	if diff := cmp.Diff(first, again); diff != "" {
		t.Errorf("replayed ack differs (-first +again):\n%s", diff)
	}
	// A resent batch: the settled entry again, then a new one.
	e2 := r.Sale(t, "04A1", 700)
	acks := settle(t, s, r, e1, e2)
	if diff := cmp.Diff(first[0], acks[0]); diff != "" {
		t.Errorf("replayed ack in a batch differs:\n%s", diff)
	}
	if acks[1].Seq != 2 || acks[1].Balance != 8800 {
		t.Errorf("second ack %+v, want seq 2 balance 8800", acks[1])
	}
	if c := card(t, s, "04A1"); c.Balance != 8800 || c.TodayCount != 2 {
		t.Errorf("card %+v, want balance 8800 and 2 sales", c)
	}
	if rep := verify(t, s); rep.Transactions != 3 {
		t.Errorf("%d transactions, want 3 (open and two sales): a replay posted", rep.Transactions)
	}
}

func testSettleOverdraft(t *testing.T, open Open) {
	s, r, _ := setup(t, open)
	servertest.OpenCard(t, s, "04A1", 100)
	acks := settle(t, s, r, r.Sale(t, "04A1", 500))
	if acks[0].Outcome != wire.SettledOverdraft || acks[0].Balance != -400 {
		t.Errorf("ack %+v, want settled-overdraft at -400", acks[0])
	}
	if c := card(t, s, "04A1"); c.Balance != -400 {
		t.Errorf("balance %d, want -400", c.Balance)
	}
	verify(t, s)
}

func testSettleUnknownCard(t *testing.T, open Open) {
	s, r, _ := setup(t, open)
	acks := settle(t, s, r, r.Sale(t, "0BADC0DE", 1500))
	want := wire.Ack{Seq: 1, Outcome: wire.Flagged, CardNo: "0BADC0DE", Day: server.Day(noon)}
	if diff := cmp.Diff(want, acks[0]); diff != "" {
		t.Errorf("ack (-want +got):\n%s", diff)
	}
	// The stream goes on after it.
	servertest.OpenCard(t, s, "04A1", 1000)
	if acks := settle(t, s, r, r.Sale(t, "04A1", 100)); acks[0].Outcome != wire.Settled {
		t.Errorf("next sale: %+v", acks[0])
	}
	if rep := verify(t, s); rep.Entries != 2 {
		t.Errorf("verify: %+v, want 2 entries", rep)
	}
}

func testSettleRefusals(t *testing.T, open Open) {
	ctx := context.Background()
	s, r, _ := setup(t, open)
	servertest.OpenCard(t, s, "04A1", 10000)
	settle(t, s, r, r.Sale(t, "04A1", 100)) // seq 1

	// Entries the register could have sent, each broken in its own way,
	// made from a copy of the register so that its chain stays good.
	fork := func() *servertest.Register { c := *r; return &c }

	gap := fork()
	gap.Sale(t, "04A1", 100) // seq 2, never sent
	skipped := gap.Sale(t, "04A1", 100)

	broken := fork()
	broken.Prev = journal.Hash{1}
	badPrev := broken.Sale(t, "04A1", 100)

	forger := fork()
	_, forger.Key, _ = ed25519.GenerateKey(rand.Reader)
	forged := forger.Sale(t, "04A1", 100)

	other := fork()
	other.Seq, other.Prev = 0, journal.Hash{}
	rewritten := other.Sale(t, "04A1", 999) // a different seq 1

	stranger := fork()
	stranger.ID = r.ID + 100
	wrongTerminal := stranger.Sale(t, "04A1", 100)

	tooBig := fork().Sale(t, "04A1", server.MaxAmount+1)

	tests := []struct {
		name  string
		entry []byte
		want  error
	}{
		{"gap", skipped, journal.ErrChain},
		{"broken chain", badPrev, journal.ErrChain},
		{"forged signature", forged, journal.ErrSignature},
		{"rewritten history", rewritten, journal.ErrChain},
		{"another register's entry", wrongTerminal, journal.ErrInvalid},
		{"amount too large", tooBig, journal.ErrInvalid},
		{"garbage", []byte{1, 2, 3}, journal.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			acks, err := s.Settle(ctx, r.ID, [][]byte{tt.entry})
			if !errors.Is(err, tt.want) {
				t.Fatalf("settle: %v, %v; want %v", acks, err, tt.want)
			}
			if c := card(t, s, "04A1"); c.Balance != 9900 {
				t.Errorf("balance %d after a refused entry, want 9900", c.Balance)
			}
			term, err := s.Terminal(ctx, r.ID)
			if err != nil || term.LastSeq != 1 {
				t.Errorf("register at seq %d (%v) after a refused entry, want 1", term.LastSeq, err)
			}
		})
	}
	if rep := verify(t, s); rep.Transactions != 2 || rep.Entries != 1 {
		t.Errorf("verify: %+v, want 2 transactions and 1 entry", rep)
	}
	// The good chain goes on where it stopped.
	if acks := settle(t, s, r, r.Sale(t, "04A1", 100)); acks[0].Seq != 2 || acks[0].Balance != 9800 {
		t.Errorf("next sale: %+v", acks[0])
	}

	unknown := servertest.NewRegister(t)
	unknown.ID = 9999
	_, err := s.Settle(ctx, unknown.ID, [][]byte{unknown.Sale(t, "04A1", 1)})
	wantCode(t, err, server.ENOTFOUND)
	big := make([][]byte, wire.MaxBatch+1)
	_, err = s.Settle(ctx, r.ID, big)
	wantCode(t, err, server.EINVALID)
}

func testSettleBatchAtomic(t *testing.T, open Open) {
	s, r, _ := setup(t, open)
	servertest.OpenCard(t, s, "04A1", 10000)
	good := r.Sale(t, "04A1", 100)
	c := *r
	_, c.Key, _ = ed25519.GenerateKey(rand.Reader)
	forged := c.Sale(t, "04A1", 100)
	if _, err := s.Settle(context.Background(), r.ID, [][]byte{good, forged}); !errors.Is(err, journal.ErrSignature) {
		t.Fatalf("settle: %v, want a bad signature", err)
	}
	if b := card(t, s, "04A1").Balance; b != 10000 {
		t.Errorf("balance %d: part of a refused batch was posted", b)
	}
	if rep := verify(t, s); rep.Entries != 0 {
		t.Errorf("%d entries stored from a refused batch", rep.Entries)
	}
}

// testSettleForgedMiddle checks that a batch is authenticated as a whole:
// stores may verify only the last entry's signature, which covers every
// entry before it through the hash chain, so an entry changed anywhere in
// the batch must still be refused and nothing of the batch posted.
func testSettleForgedMiddle(t *testing.T, open Open) {
	ctx := context.Background()
	s, r, _ := setup(t, open)
	servertest.OpenCard(t, s, "04A1", 10000)
	settle(t, s, r, r.Sale(t, "04A1", 100)) // seq 1

	// The register's true batch, seq 2 to 4.
	fork := func() *servertest.Register { c := *r; return &c }
	honest := fork()
	batch := [][]byte{honest.Sale(t, "04A1", 100), honest.Sale(t, "04A1", 100), honest.Sale(t, "04A1", 100)}

	// Someone without the key raises the middle sale and mends the chain
	// after it: every link holds, the signatures are the register's, but
	// the last one no longer matches its entry.
	mended := func() [][]byte {
		out := append([][]byte(nil), batch...)
		e, err := journal.Unmarshal(out[1])
		if err != nil {
			t.Fatal(err)
		}
		e.Amount = 5000
		if out[1], err = e.Marshal(); err != nil {
			t.Fatal(err)
		}
		last, err := journal.Unmarshal(out[2])
		if err != nil {
			t.Fatal(err)
		}
		last.Prev = journal.HashBytes(out[1])
		if out[2], err = last.Marshal(); err != nil {
			t.Fatal(err)
		}
		return out
	}()
	// The same change without mending the chain.
	unmended := append([][]byte(nil), mended[:2]...)
	unmended = append(unmended, batch[2])

	// Someone with a key of their own signs the rest of the chain.
	forger := fork()
	first := forger.Sale(t, "04A1", 100) // seq 2, the register's
	_, forger.Key, _ = ed25519.GenerateKey(rand.Reader)
	resigned := [][]byte{first, forger.Sale(t, "04A1", 5000), forger.Sale(t, "04A1", 100)}

	tests := []struct {
		name    string
		entries [][]byte
		want    error
	}{
		{"middle entry changed, chain mended", mended, journal.ErrSignature},
		{"middle entry changed", unmended, journal.ErrChain},
		{"rest of the chain signed by another key", resigned, journal.ErrSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			acks, err := s.Settle(ctx, r.ID, tt.entries)
			if !errors.Is(err, tt.want) {
				t.Fatalf("settle: %v, %v; want %v", acks, err, tt.want)
			}
			if c := card(t, s, "04A1"); c.Balance != 9900 {
				t.Errorf("balance %d after a refused batch, want 9900", c.Balance)
			}
			if term, err := s.Terminal(ctx, r.ID); err != nil || term.LastSeq != 1 {
				t.Errorf("register at seq %d (%v) after a refused batch, want 1", term.LastSeq, err)
			}
		})
	}
	// The true batch settles.
	if acks := settle(t, s, r, batch...); acks[2].Seq != 4 || acks[2].Balance != 9600 {
		t.Errorf("the true batch: %+v", acks)
	}
	if rep := verify(t, s); rep.Entries != 4 {
		t.Errorf("verify: %+v, want 4 entries", rep)
	}
}

// testSettleConcurrentRegisters settles batches of many registers at once,
// as the gateway does, one of them refused: the refused one posts nothing
// and the others settle in full, whether or not the store commits them
// together.
func testSettleConcurrentRegisters(t *testing.T, open Open) {
	ctx := context.Background()
	clock := servertest.NewClock(noon)
	s := open(t, clock.Now)
	servertest.OpenCard(t, s, "04A1", 100000)
	servertest.OpenCard(t, s, "04A2", 100000)
	const registers, rounds, perBatch = 6, 5, 4
	regs := make([]*servertest.Register, registers)
	for i := range regs {
		regs[i] = servertest.NewRegister(t)
		regs[i].Time = clock.Now
		servertest.Enroll(t, s, regs[i])
	}
	bad := regs[0] // its second batch skips a seq
	errs := make(chan error, registers)
	for i, r := range regs {
		go func() {
			for round := range rounds {
				var b [][]byte
				for range perBatch {
					b = append(b, r.Sale(t, []string{"04A1", "04A2"}[i%2], 10))
				}
				if r == bad && round == 1 {
					b = b[1:]
				}
				acks, err := s.Settle(ctx, r.ID, b)
				if r == bad && round == 1 {
					if !errors.Is(err, journal.ErrChain) {
						errs <- fmt.Errorf("register %d: a batch with a gap: %v, want a broken chain", r.ID, err)
						return
					}
					errs <- nil
					return
				}
				if err != nil {
					errs <- fmt.Errorf("register %d round %d: %w", r.ID, round, err)
					return
				}
				if len(acks) != len(b) {
					errs <- fmt.Errorf("register %d round %d: %d acks for %d entries", r.ID, round, len(acks), len(b))
					return
				}
			}
			errs <- nil
		}()
	}
	for range regs {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	// Every register but the bad one settled every sale; the bad one
	// only its first batch.
	want := money.Fen(0)
	for _, r := range regs {
		term, err := s.Terminal(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		n := uint64(rounds * perBatch)
		if r == bad {
			n = perBatch
		}
		if term.LastSeq != n {
			t.Errorf("register %d at seq %d, want %d", r.ID, term.LastSeq, n)
		}
		want += money.Fen(n) * 10
	}
	if got := 200000 - card(t, s, "04A1").Balance - card(t, s, "04A2").Balance; got != want {
		t.Errorf("the cards paid %d, want %d", got, want)
	}
	if rep := verify(t, s); rep.Entries != int64((registers-1)*rounds*perBatch+perBatch) {
		t.Errorf("verify: %+v", rep)
	}
}

func testSettleRegisterState(t *testing.T, open Open) {
	ctx := context.Background()
	clock := servertest.NewClock(noon)
	s := open(t, clock.Now)
	r := servertest.NewRegister(t)
	hash := sha256.Sum256([]byte("code"))
	term, err := s.CreateTerminal(ctx, "till 1", 0, hash, noon.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	r.ID = term.ID
	_, err = s.Settle(ctx, r.ID, [][]byte{r.Sale(t, "04A1", 100)})
	wantCode(t, err, server.EFORBIDDEN) // not enrolled

	if _, err := s.EnrollTerminal(ctx, hash, r.Public()); err != nil {
		t.Fatal(err)
	}
	if err := s.SetTerminalDisabled(ctx, r.ID, true); err != nil {
		t.Fatal(err)
	}
	r.Seq, r.Prev = 0, journal.Hash{}
	e := r.Sale(t, "04A1", 100)
	_, err = s.Settle(ctx, r.ID, [][]byte{e})
	wantCode(t, err, server.EFORBIDDEN)
	if err := s.SetTerminalDisabled(ctx, r.ID, false); err != nil {
		t.Fatal(err)
	}
	settle(t, s, r, e)
	wantCode(t, s.SetTerminalDisabled(ctx, 999, true), server.ENOTFOUND)
}

func testVoid(t *testing.T, open Open) {
	s, r, _ := setup(t, open)
	servertest.OpenCard(t, s, "04A1", 10000)
	settle(t, s, r, r.Sale(t, "04A1", 1250))
	acks := settle(t, s, r, r.Void(t, "04A1", 1250, 1))
	c := card(t, s, "04A1")
	want := wire.Ack{Seq: 2, Outcome: wire.Settled, CardNo: "04A1", Balance: 10000, Version: c.Version,
		Day: server.Day(noon), TodayCount: 0}
	if diff := cmp.Diff(want, acks[0]); diff != "" {
		t.Errorf("void ack (-want +got):\n%s", diff)
	}
	if c.Balance != 10000 || c.TodayCount != 0 {
		t.Errorf("card after the void: %+v", c)
	}
	// A void of a sale to suspense reverses it there.
	settle(t, s, r, r.Sale(t, "0BAD", 300))
	if acks := settle(t, s, r, r.Void(t, "0BAD", 300, 3)); acks[0].Outcome != wire.Settled {
		t.Errorf("void of an unknown card's sale: %+v", acks[0])
	}
	if rep := verify(t, s); rep.Transactions != 5 {
		t.Errorf("verify: %+v, want 5 transactions", rep)
	}
}

func testVoidRefused(t *testing.T, open Open) {
	s, r, _ := setup(t, open)
	servertest.OpenCard(t, s, "04A1", 10000)
	servertest.OpenCard(t, s, "04B2", 10000)
	settle(t, s, r, r.Sale(t, "04A1", 1250))    // 1
	settle(t, s, r, r.Void(t, "04A1", 1250, 1)) // 2
	settle(t, s, r, r.Sale(t, "04A1", 500))     // 3
	tests := []struct {
		name string
		card string
		amt  money.Fen
		of   uint64
	}{
		{"already voided", "04A1", 1250, 1}, // 4
		{"a void", "04A1", 1250, 2},         // 5
		{"a refused void", "04A1", 1250, 4}, // 6
		{"other card", "04B2", 500, 3},      // 7
		{"other amount", "04A1", 400, 3},    // 8
	}
	for _, tt := range tests {
		acks := settle(t, s, r, r.Void(t, tt.card, tt.amt, tt.of))
		if acks[0].Outcome != wire.Flagged {
			t.Errorf("%s: ack %+v, want flagged", tt.name, acks[0])
		}
	}
	if c := card(t, s, "04A1"); c.Balance != 9500 || c.TodayCount != 1 {
		t.Errorf("card %+v, want balance 9500 and 1 sale", c)
	}
	if c := card(t, s, "04B2"); c.Balance != 10000 {
		t.Errorf("other card's balance %d, want 10000", c.Balance)
	}
	if rep := verify(t, s); rep.Transactions != 5 || rep.Entries != 8 {
		t.Errorf("verify: %+v, want 5 transactions and 8 entries", rep)
	}
}

// testVoidAfterRefund: a void never pays a card back what the office has
// refunded it already. What was tried: voids of sales the office refunded
// in full and in part, after the refund; a void of a later sale, and of a
// sale in the same batch as its void, which the refund did not cover.
func testVoidAfterRefund(t *testing.T, open Open) {
	s, r, _ := setup(t, open)
	servertest.OpenCard(t, s, "04A1", 10000)
	settle(t, s, r, r.Sale(t, "04A1", 1000)) // 1
	settle(t, s, r, r.Sale(t, "04A1", 500))  // 2
	op(t, s, server.CardOp{Kind: server.OpRefund, CardNo: "04A1", Amount: 1200})
	// 300 fen paid and not paid back: neither sale may be voided.
	for _, v := range []struct {
		of  uint64
		amt money.Fen
	}{{1, 1000}, {2, 500}} {
		acks := settle(t, s, r, r.Void(t, "04A1", v.amt, v.of))
		if acks[0].Outcome != wire.Flagged || acks[0].Balance != 9700 {
			t.Errorf("void of sale %d (%d fen) after a refund of 1200 of 1500: ack %+v, want flagged at balance 9700", v.of, v.amt, acks[0])
		}
	}
	// A later sale is the card's to void; so is one in the void's batch.
	settle(t, s, r, r.Sale(t, "04A1", 800)) // 5
	if acks := settle(t, s, r, r.Void(t, "04A1", 800, 5)); acks[0].Outcome != wire.Settled || acks[0].Balance != 9700 {
		t.Errorf("void of a sale made after the refund: ack %+v, want settled at balance 9700", acks[0])
	}
	acks := settle(t, s, r, r.Sale(t, "04A1", 400), r.Void(t, "04A1", 400, 7))
	if acks[1].Outcome != wire.Settled || acks[1].Balance != 9700 {
		t.Errorf("void of a sale in its batch: ack %+v, want settled at balance 9700", acks[1])
	}
	if c := card(t, s, "04A1"); c.Balance != 9700 {
		t.Errorf("balance %d, want 9700: 10000 - 1500 + 1200", c.Balance)
	}
	// open, 2 sales, the refund, a sale and its void, a sale and its void.
	if rep := verify(t, s); rep.Transactions != 8 || rep.Entries != 8 {
		t.Errorf("verify: %+v, want 8 transactions and 8 entries", rep)
	}
}

func testTodayCount(t *testing.T, open Open) {
	s, r, clock := setup(t, open)
	servertest.OpenCard(t, s, "04A1", 10000)
	today := server.Day(noon)
	settle(t, s, r, r.Sale(t, "04A1", 100))
	acks := settle(t, s, r, r.Sale(t, "04A1", 100))
	if acks[0].Day != today || acks[0].TodayCount != 2 {
		t.Errorf("second sale today: %+v", acks[0])
	}
	clock.Add(24 * time.Hour)
	acks = settle(t, s, r, r.Sale(t, "04A1", 100))
	if acks[0].Day != today+1 || acks[0].TodayCount != 1 {
		t.Errorf("first sale the next day: %+v", acks[0])
	}
	// An offline sale from yesterday arrives late: it counts on its own day,
	// which leaves today's count alone.
	late := r.Record(t, journal.Entry{Kind: journal.KindSale, CardNo: "04A1", Amount: 100, Time: noon.Add(time.Hour).UnixMilli()})
	acks = settle(t, s, r, late)
	if acks[0].Day != today+1 || acks[0].TodayCount != 1 || acks[0].Balance != 9600 {
		t.Errorf("late sale: %+v", acks[0])
	}
	// A register clock ahead of the server's counts as today.
	ahead := r.Record(t, journal.Entry{Kind: journal.KindSale, CardNo: "04A1", Amount: 100, Time: noon.Add(72 * time.Hour).UnixMilli()})
	if acks = settle(t, s, r, ahead); acks[0].Day != today+1 || acks[0].TodayCount != 2 {
		t.Errorf("sale from a clock ahead: %+v", acks[0])
	}
	if c := card(t, s, "04A1"); c.CountOn(today+1) != 2 || c.CountOn(today) != 0 {
		t.Errorf("card %+v", c)
	}
}

func testOpenCard(t *testing.T, open Open) {
	ctx := context.Background()
	s := open(t, servertest.NewClock(noon).Now)
	got, err := s.OpenCard(ctx, server.OpenCard{RequestID: "r1", Operator: "admin", PersonID: "110101199001011234", Name: "张三", Deposit: 5000})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(got.CardNo, "FK") || !journal.ValidCardNo(got.CardNo) || got.Balance != 5000 || got.AccountID == 0 {
		t.Errorf("allocated card: %+v", got)
	}
	c := card(t, s, got.CardNo)
	want := server.Card{CardNo: got.CardNo, AccountID: got.AccountID, PersonID: "110101199001011234", Name: "张三",
		Status: server.CardActive, Balance: 5000, Version: c.Version}
	if diff := cmp.Diff(want, c); diff != "" {
		t.Errorf("card (-want +got):\n%s", diff)
	}
	got2, err := s.OpenCard(ctx, server.OpenCard{RequestID: "r2", PersonID: "13800000000", Name: "李四", Deposit: 1, CardNo: "04A1B2C3"})
	if err != nil || got2.CardNo != "04A1B2C3" || got2.AccountID == got.AccountID {
		t.Errorf("open with a card number: %+v, %v", got2, err)
	}

	for _, tt := range []struct {
		name string
		op   server.OpenCard
		code string
	}{
		{"card taken", server.OpenCard{RequestID: "r3", PersonID: "x1", Name: "A", Deposit: 1, CardNo: "04A1B2C3"}, server.ECONFLICT},
		{"person has a card", server.OpenCard{RequestID: "r4", PersonID: "13800000000", Name: "A", Deposit: 1}, server.ECONFLICT},
		{"no deposit", server.OpenCard{RequestID: "r5", PersonID: "x2", Name: "A"}, server.EINVALID},
		{"negative deposit", server.OpenCard{RequestID: "r6", PersonID: "x2", Name: "A", Deposit: -1}, server.EINVALID},
		{"huge deposit", server.OpenCard{RequestID: "r6", PersonID: "x2", Name: "A", Deposit: server.MaxAmount + 1}, server.EINVALID},
		{"bad card number", server.OpenCard{RequestID: "r7", PersonID: "x2", Name: "A", Deposit: 1, CardNo: "04a1"}, server.EINVALID},
		{"no name", server.OpenCard{RequestID: "r8", PersonID: "x2", Deposit: 1}, server.EINVALID},
		{"long name", server.OpenCard{RequestID: "r8", PersonID: "x2", Name: strings.Repeat("张", 22), Deposit: 1}, server.EINVALID},
		{"no person", server.OpenCard{RequestID: "r9", Name: "A", Deposit: 1}, server.EINVALID},
		{"no request id", server.OpenCard{PersonID: "x2", Name: "A", Deposit: 1}, server.EINVALID},
	} {
		_, err := s.OpenCard(ctx, tt.op)
		if server.ErrorCode(err) != tt.code {
			t.Errorf("%s: %v, want %s", tt.name, err, tt.code)
		}
	}
	_, err = s.Card(ctx, "FFFF")
	wantCode(t, err, server.ENOTFOUND)
	if rep := verify(t, s); rep.Transactions != 2 {
		t.Errorf("verify: %+v, want 2 transactions", rep)
	}
}

func testOpenCardIdempotent(t *testing.T, open Open) {
	ctx := context.Background()
	s := open(t, servertest.NewClock(noon).Now)
	op := server.OpenCard{RequestID: "req-1", PersonID: "p1", Name: "王五", Deposit: 2000}
	first, err := s.OpenCard(ctx, op)
	if err != nil {
		t.Fatal(err)
	}
	again, err := s.OpenCard(ctx, op)
	if err != nil || again != first {
		t.Errorf("replay: %+v, %v; want %+v", again, err, first)
	}
	op.Deposit = 3000
	_, err = s.OpenCard(ctx, op)
	wantCode(t, err, server.ECONFLICT)
	if rep := verify(t, s); rep.Transactions != 1 {
		t.Errorf("%d transactions, want 1", rep.Transactions)
	}
	if c := card(t, s, first.CardNo); c.Balance != 2000 {
		t.Errorf("balance %d, want 2000", c.Balance)
	}
}

func testCardFeed(t *testing.T, open Open) {
	ctx := context.Background()
	s, r, _ := setup(t, open)
	ch, stop := s.SubscribeCards()
	defer stop()
	woken := func() bool {
		select {
		case <-ch:
			return true
		case <-time.After(2 * time.Second):
			return false
		}
	}
	if v, err := s.CardVersion(ctx); err != nil || v != 0 {
		t.Errorf("card version of an empty store: %d, %v", v, err)
	}
	servertest.OpenCard(t, s, "04A1", 1000)
	if !woken() {
		t.Fatal("no wake-up after a card was opened")
	}
	servertest.OpenCard(t, s, "04B2", 2000)
	servertest.OpenCard(t, s, "04C3", 3000)
	woken()
	all, err := s.CardsSince(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 3 || all[0].CardNo != "04A1" || all[2].CardNo != "04C3" {
		t.Fatalf("cards since 0: %+v", all)
	}
	for i := 1; i < len(all); i++ {
		if all[i].Version <= all[i-1].Version {
			t.Errorf("versions out of order: %+v", all)
		}
	}
	if two, _ := s.CardsSince(ctx, 0, 2); len(two) != 2 {
		t.Errorf("limit 2: %d cards", len(two))
	}
	// By card number, in pages.
	servertest.OpenCard(t, s, "0499", 100)
	woken()
	var byNo []string
	for after := ""; ; {
		page, err := s.CardsAfter(ctx, after, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range page {
			byNo = append(byNo, c.CardNo)
			after = c.CardNo
		}
		if len(page) < 2 {
			break
		}
	}
	if want := []string{"0499", "04A1", "04B2", "04C3"}; !slices.Equal(byNo, want) {
		t.Errorf("cards by number: %v, want %v", byNo, want)
	}
	all, err = s.CardsSince(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	cursor := all[3].Version
	if none, _ := s.CardsSince(ctx, cursor, 100); len(none) != 0 {
		t.Errorf("cards after the last: %+v", none)
	}
	settle(t, s, r, r.Sale(t, "04A1", 100))
	if !woken() {
		t.Fatal("no wake-up after a sale")
	}
	changed, err := s.CardsSince(ctx, cursor, 100)
	if err != nil || len(changed) != 1 || changed[0].CardNo != "04A1" || changed[0].Balance != 900 || changed[0].Name != "张三" {
		t.Errorf("cards after a sale: %+v, %v", changed, err)
	}
	// An unknown card's sale changes no card: no wake-up is needed.
	settle(t, s, r, r.Sale(t, "0BAD", 100))
	if c, _ := s.CardsSince(ctx, changed[0].Version, 100); len(c) != 0 {
		t.Errorf("cards after an unknown card's sale: %+v", c)
	}
	if v, err := s.CardVersion(ctx); err != nil || v != changed[0].Version {
		t.Errorf("card version %d (%v), want the last change's %d", v, err, changed[0].Version)
	}
}

func testTerminals(t *testing.T, open Open) {
	ctx := context.Background()
	clock := servertest.NewClock(noon)
	s := open(t, clock.Now)
	code := sha256.Sum256([]byte("one"))
	term, err := s.CreateTerminal(ctx, "一号窗口", 0, code, noon.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if term.ID == 0 || term.Name != "一号窗口" || term.Enrolled() || term.LastSeq != 0 {
		t.Errorf("created: %+v", term)
	}
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	_, err = s.EnrollTerminal(ctx, code, pub[:5])
	wantCode(t, err, server.EINVALID)
	_, err = s.EnrollTerminal(ctx, sha256.Sum256([]byte("two")), pub)
	wantCode(t, err, server.EUNAUTHORIZED)
	got, err := s.EnrollTerminal(ctx, code, pub)
	if err != nil || got.ID != term.ID || !got.PublicKey.Equal(pub) {
		t.Fatalf("enrol: %+v, %v", got, err)
	}
	other, _, _ := ed25519.GenerateKey(rand.Reader)
	_, err = s.EnrollTerminal(ctx, code, other)
	wantCode(t, err, server.EUNAUTHORIZED) // single use
	if got, _ := s.Terminal(ctx, term.ID); !got.PublicKey.Equal(pub) {
		t.Errorf("a used code re-pinned the key")
	}

	late := sha256.Sum256([]byte("late"))
	if _, err := s.CreateTerminal(ctx, "二号窗口", 0, late, noon.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	clock.Add(2 * time.Hour)
	_, err = s.EnrollTerminal(ctx, late, pub)
	wantCode(t, err, server.EUNAUTHORIZED) // expired

	_, err = s.Terminal(ctx, 999)
	wantCode(t, err, server.ENOTFOUND)
	_, err = s.CreateTerminal(ctx, " ", 0, sha256.Sum256([]byte("x")), noon)
	wantCode(t, err, server.EINVALID)
	if err := s.TouchTerminal(ctx, term.ID, clock.Now()); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Terminal(ctx, term.ID); !got.LastSeen.Equal(clock.Now()) {
		t.Errorf("last seen %v, want %v", got.LastSeen, clock.Now())
	}
	wantCode(t, s.TouchTerminal(ctx, 999, noon), server.ENOTFOUND)
}

func testUsers(t *testing.T, open Open) {
	ctx := context.Background()
	clock := servertest.NewClock(noon)
	s := open(t, clock.Now)
	u := server.User{Name: "admin", PasswordHash: "$argon2id$x", Role: server.RoleAdmin}
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	wantCode(t, s.CreateUser(ctx, u), server.ECONFLICT)
	wantCode(t, s.CreateUser(ctx, server.User{Name: "x", PasswordHash: "h", Role: "boss"}), server.EINVALID)
	got, err := s.User(ctx, "admin")
	if err != nil || got.Name != "admin" || got.PasswordHash != u.PasswordHash || got.Role != server.RoleAdmin {
		t.Errorf("user: %+v, %v", got, err)
	}
	_, err = s.User(ctx, "nobody")
	wantCode(t, err, server.ENOTFOUND)

	tok := server.Token{Hash: sha256.Sum256([]byte("token")), User: "admin", Expires: noon.Add(time.Hour)}
	if err := s.CreateToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	wantCode(t, s.CreateToken(ctx, server.Token{Hash: sha256.Sum256([]byte("t2")), User: "nobody", Expires: noon.Add(time.Hour)}), server.ENOTFOUND)
	if got, err := s.TokenUser(ctx, tok.Hash, noon); err != nil || got.Name != "admin" {
		t.Errorf("token user: %+v, %v", got, err)
	}
	_, err = s.TokenUser(ctx, sha256.Sum256([]byte("wrong")), noon)
	wantCode(t, err, server.EUNAUTHORIZED)
	_, err = s.TokenUser(ctx, tok.Hash, noon.Add(time.Hour))
	wantCode(t, err, server.EUNAUTHORIZED) // expired

	if err := s.DeleteToken(ctx, tok.Hash); err != nil {
		t.Fatalf("delete token: %v", err)
	}
	_, err = s.TokenUser(ctx, tok.Hash, noon)
	wantCode(t, err, server.EUNAUTHORIZED) // signed out
	if err := s.DeleteToken(ctx, tok.Hash); err != nil {
		t.Errorf("delete a deleted token: %v", err)
	}

	if err := s.CreateUser(ctx, server.User{Name: "audit", PasswordHash: "$argon2id$y", Role: server.RoleAuditor}); err != nil {
		t.Fatal(err)
	}
	users, err := s.Users(ctx)
	if err != nil || len(users) != 2 || users[0].Name != "admin" || users[1].Name != "audit" || users[1].Role != server.RoleAuditor {
		t.Errorf("users: %+v, %v; want admin and audit, by name", users, err)
	}
}

func testAlarms(t *testing.T, open Open) {
	ctx := context.Background()
	s := open(t, servertest.NewClock(noon).Now)
	a, err := s.RaiseAlarm(ctx, server.Alarm{Terminal: 3, Code: "chain", Message: "gap after seq 4"})
	if err != nil || a.ID == 0 || !a.Created.Equal(noon) {
		t.Fatalf("raise: %+v, %v", a, err)
	}
	if _, err := s.RaiseAlarm(ctx, server.Alarm{Code: "other", Message: "m"}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Alarms(ctx, 10)
	if err != nil || len(got) != 2 || got[1].Code != "chain" || got[1].Terminal != 3 || got[0].Terminal != 0 {
		t.Errorf("alarms: %+v, %v", got, err)
	}
}
