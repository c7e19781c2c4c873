package storetest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"

	"github.com/fanka/fanka/server"
	"github.com/fanka/fanka/server/servertest"
	"github.com/fanka/fanka/shared/journal"
	"github.com/fanka/fanka/shared/money"
	"github.com/fanka/fanka/shared/wire"
)

// RunModel runs n random operations on a store and on a simple in-memory
// model of the ledger, and fails at the first difference: sales and voids
// from several registers in batches, batches sent again, out of order and
// with duplicates, and every office operation, with bad amounts, wrong
// states and reused request ids among them. After every batch and
// operation the answer must be the model's; every few hundred, every
// card and the store's invariants (Verify) are checked; at the end, all
// of them and every balance.
//
// The seed is logged: FANKA_MODEL_SEED=<seed> runs the same operations
// again (see Seed).
func RunModel(t *testing.T, open Open, n int, seed uint64) {
	clock := servertest.NewClock(noon)
	s := open(t, clock.Now)
	t.Logf("model: %d operations, seed %d", n, seed)
	m := &model{t: t, s: s, rnd: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		cards: map[string]*modelCard{}, accounts: map[int64]*modelAccount{}, persons: map[string]*modelAccount{}, done: map[string]modelRequest{}}
	// Rules loose enough for a card to pay many times a day, and tight
	// enough that some sales break them.
	if _, err := s.SetRules(context.Background(), modelRules, "model"); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		r := servertest.NewRegister(t)
		r.Time = clock.Now
		servertest.Enroll(t, s, r)
		m.regs = append(m.regs, &modelRegister{r: r, entries: map[uint64]*modelEntry{}})
	}
	for i := 0; m.ops < n; i++ {
		switch k := m.rnd.IntN(100); {
		case k < 55:
			m.batch()
		case k < 60:
			m.resend()
		case k < 63:
			m.badBatch()
		case k < 70:
			m.open()
		default:
			m.office()
		}
		// Every card, often; the whole ledger (Verify checks every
		// entry's signature) now and then.
		if i%500 == 499 {
			m.checkCards()
		}
		if i%3000 == 2999 {
			m.checkLedger(false)
		}
	}
	m.checkCards()
	m.checkLedger(true)
}

// modelRules are the rules of the model test.
var modelRules = server.Rules{MaxSalesPerDay: 30, MaxSale: 2500}

type model struct {
	t        *testing.T
	s        server.Store
	rnd      *rand.Rand
	regs     []*modelRegister
	cards    map[string]*modelCard
	accounts map[int64]*modelAccount
	persons  map[string]*modelAccount // open accounts by person
	cardNos  []string                 // every card opened, in order
	done     map[string]modelRequest  // office requests made, by id
	ops      int
	nextCard int
	suspense money.Fen
}

type modelRegister struct {
	r       *servertest.Register
	entries map[uint64]*modelEntry
	sent    [][][]byte // batches settled, to send again
}

// modelEntry is a settled entry, as voids need it.
type modelEntry struct {
	sale    bool
	card    string
	amount  money.Fen
	account int64 // the account it posted to; 0: suspense
	day     int32
	voided  bool
}

type modelAccount struct {
	id      int64
	person  string
	balance money.Fen
	held    money.Fen
	paid    money.Fen // sales and captures less voids and refunds
	holds   map[int64]*modelHold
	closed  bool
}

type modelHold struct {
	amount money.Fen
	state  server.HoldState
}

type modelCard struct {
	no      string
	account *modelAccount
	status  server.CardStatus
	reason  string
	count   int
	counted bool // a sale was counted on the card: the store keeps its day
}

type modelRequest struct {
	op  server.CardOp
	res server.CardOpResult
}

func (m *model) fatalf(format string, args ...any) {
	m.t.Helper()
	m.t.Fatalf("after %d operations: "+format, append([]any{m.ops}, args...)...)
}

// pick returns a card number: mostly one opened, sometimes one never seen.
func (m *model) pick() string {
	if len(m.cardNos) == 0 || m.rnd.IntN(20) == 0 {
		return fmt.Sprintf("0BAD%04d", m.rnd.IntN(50))
	}
	return m.cardNos[m.rnd.IntN(len(m.cardNos))]
}

func (m *model) amount() money.Fen { return money.Fen(1 + m.rnd.IntN(3000)) }

func (m *model) spendable(c *modelCard) money.Fen { return c.account.balance - c.account.held }

// batch settles a batch of new sales and voids from one register.
func (m *model) batch() {
	reg := m.regs[m.rnd.IntN(len(m.regs))]
	n := 1 + m.rnd.IntN(80)
	raw := make([][]byte, n)
	want := make([]wire.Ack, n)
	for i := range raw {
		raw[i], want[i] = m.entry(reg)
	}
	acks, err := m.s.Settle(context.Background(), reg.r.ID, raw)
	if err != nil {
		m.fatalf("settle %d entries of register %d: %v", n, reg.r.ID, err)
	}
	for i := range want {
		got := acks[i]
		got.Version = 0
		if got != want[i] {
			m.fatalf("register %d entry %d: ack %+v, model %+v", reg.r.ID, want[i].Seq, got, want[i])
		}
	}
	reg.sent = append(reg.sent, raw)
	m.ops += n
}

// entry records the register's next entry, applies it to the model and
// returns it with the ack the model expects (Version aside).
func (m *model) entry(reg *modelRegister) ([]byte, wire.Ack) {
	day := server.Day(noon)
	// A void of one of the register's entries (matching or not), or a sale.
	if reg.r.Seq > 0 && m.rnd.IntN(6) == 0 {
		of := uint64(1 + m.rnd.IntN(int(reg.r.Seq)))
		e := reg.entries[of]
		cardNo, amount := e.card, e.amount
		switch m.rnd.IntN(8) {
		case 0:
			cardNo = m.pick()
		case 1:
			amount++
		}
		raw := reg.r.Void(m.t, cardNo, amount, of)
		seq := reg.r.Seq
		reg.entries[seq] = &modelEntry{card: cardNo, amount: amount}
		c := m.cards[cardNo]
		ack := wire.Ack{Seq: seq, Outcome: wire.Flagged, CardNo: cardNo}
		if c != nil {
			ack = m.cardAck(c, seq, wire.Flagged)
		}
		if !e.sale || e.voided || e.card != cardNo || e.amount != amount {
			return raw, ack // flagged, nothing posted
		}
		if c != nil && e.account == c.account.id && amount > c.account.paid {
			return raw, ack // the office refunded it: flagged, nothing posted
		}
		e.voided = true
		ack.Outcome = wire.Settled
		if e.account == 0 {
			m.suspense += amount
		} else {
			a := m.accounts[e.account]
			a.balance += amount
			a.paid -= amount
			if c != nil && c.account == a {
				if e.day == day && c.count > 0 {
					c.count--
				}
			}
		}
		if c != nil {
			ack = m.cardAck(c, seq, wire.Settled)
		}
		return raw, ack
	}
	cardNo, amount := m.pick(), m.amount()
	raw := reg.r.Sale(m.t, cardNo, amount)
	seq := reg.r.Seq
	c := m.cards[cardNo]
	if c == nil {
		reg.entries[seq] = &modelEntry{sale: true, card: cardNo, amount: amount, day: day}
		m.suspense -= amount
		return raw, wire.Ack{Seq: seq, Outcome: wire.Flagged, CardNo: cardNo, Day: day}
	}
	reg.entries[seq] = &modelEntry{sale: true, card: cardNo, amount: amount, account: c.account.id, day: day}
	broken := c.count >= modelRules.MaxSalesPerDay || amount > modelRules.MaxSale
	c.account.balance -= amount
	c.account.paid += amount
	c.count++
	c.counted = true
	outcome := wire.Settled
	switch {
	case c.status != server.CardActive || broken:
		outcome = wire.Flagged
	case m.spendable(c) < 0:
		outcome = wire.SettledOverdraft
	}
	// An active card overdrawn is frozen until a recharge covers it.
	if c.status == server.CardActive && m.spendable(c) < 0 {
		c.status, c.reason = server.CardFrozen, server.FrozenByOverdraft
	}
	return raw, m.cardAck(c, seq, outcome)
}

func (m *model) cardAck(c *modelCard, seq uint64, o wire.Outcome) wire.Ack {
	ack := wire.Ack{Seq: seq, Outcome: o, CardNo: c.no, Balance: m.spendable(c)}
	if c.counted {
		ack.Day, ack.TodayCount = server.Day(noon), uint16(c.count)
	}
	return ack
}

// resend sends a batch settled before again, alone or followed by new
// entries: the same acks, nothing posted twice.
func (m *model) resend() {
	reg := m.regs[m.rnd.IntN(len(m.regs))]
	if len(reg.sent) == 0 {
		return
	}
	old := reg.sent[m.rnd.IntN(len(reg.sent))]
	first, err := m.s.Settle(context.Background(), reg.r.ID, old)
	if err != nil {
		m.fatalf("resend %d entries to register %d: %v", len(old), reg.r.ID, err)
	}
	again, err := m.s.Settle(context.Background(), reg.r.ID, old)
	if err != nil {
		m.fatalf("resend again: %v", err)
	}
	for i := range first {
		if first[i] != again[i] {
			m.fatalf("a resent entry was answered %+v, then %+v", first[i], again[i])
		}
	}
	m.ops += 2 * len(old)
}

// badBatch sends a batch that must be refused whole: with a gap, with an
// entry twice, with a forged signature; then nothing may have changed.
func (m *model) badBatch() {
	reg := m.regs[m.rnd.IntN(len(m.regs))]
	saved := *reg.r
	var raw [][]byte
	var wantErr error
	switch m.rnd.IntN(3) {
	case 0: // a gap: the first entry skipped
		reg.r.Sale(m.t, m.pick(), m.amount())
		raw = [][]byte{reg.r.Sale(m.t, m.pick(), m.amount())}
		wantErr = journal.ErrChain
	case 1: // the same entry twice
		e := reg.r.Sale(m.t, m.pick(), m.amount())
		raw = [][]byte{e, e}
		wantErr = journal.ErrChain
	case 2: // signed by another key
		forger := *reg.r
		forger.Key = servertest.NewRegister(m.t).Key
		raw = [][]byte{forger.Sale(m.t, m.pick(), m.amount())}
		wantErr = journal.ErrSignature
	}
	*reg.r = saved
	before, err := m.s.Terminal(context.Background(), reg.r.ID)
	if err != nil {
		m.fatalf("register %d: %v", reg.r.ID, err)
	}
	if _, err := m.s.Settle(context.Background(), reg.r.ID, raw); !errors.Is(err, wantErr) {
		m.fatalf("bad batch: %v, want %v", err, wantErr)
	}
	after, err := m.s.Terminal(context.Background(), reg.r.ID)
	if err != nil || after.LastSeq != before.LastSeq || after.LastHash != before.LastHash {
		m.fatalf("a refused batch moved register %d from %d to %d (%v)", reg.r.ID, before.LastSeq, after.LastSeq, err)
	}
	m.ops += len(raw)
}

// open opens a card: for a new person, for a person whose card is open (a
// conflict), or for one whose card was closed.
func (m *model) open() {
	m.ops++
	m.nextCard++
	no := fmt.Sprintf("0C%05d", m.nextCard)
	person := fmt.Sprintf("P%05d", m.nextCard)
	conflict := false
	if len(m.cardNos) > 0 && m.rnd.IntN(5) == 0 {
		c := m.cards[m.cardNos[m.rnd.IntN(len(m.cardNos))]]
		person = c.account.person
		conflict = m.persons[person] != nil
	}
	deposit := m.amount() * 10
	opened, err := m.s.OpenCard(context.Background(), server.OpenCard{RequestID: "open-" + no, Operator: "model",
		PersonID: person, Name: "食客", Deposit: deposit, CardNo: no})
	if conflict {
		if server.ErrorCode(err) != server.ECONFLICT {
			m.fatalf("open a second card for %s: %v, want ECONFLICT", person, err)
		}
		return
	}
	if err != nil {
		m.fatalf("open card %s: %v", no, err)
	}
	a := &modelAccount{id: opened.AccountID, person: person, balance: deposit, holds: map[int64]*modelHold{}}
	m.accounts[a.id] = a
	m.persons[person] = a
	m.cards[no] = &modelCard{no: no, account: a, status: server.CardActive}
	m.cardNos = append(m.cardNos, no)
}

// office runs a random office operation, or a request made before again.
func (m *model) office() {
	m.ops++
	if len(m.done) > 0 && m.rnd.IntN(10) == 0 {
		m.replay()
		return
	}
	kinds := []server.OpKind{server.OpRecharge, server.OpRecharge, server.OpRefund, server.OpFreeze, server.OpUnfreeze,
		server.OpLost, server.OpReplace, server.OpClose, server.OpEdit, server.OpHold, server.OpHold, server.OpRelease, server.OpCapture}
	op := server.CardOp{RequestID: fmt.Sprintf("req-%d", m.ops), Operator: "model", Kind: kinds[m.rnd.IntN(len(kinds))], CardNo: m.pick()}
	switch op.Kind {
	case server.OpRecharge, server.OpRefund, server.OpHold:
		op.Amount = m.amount()
		switch m.rnd.IntN(12) {
		case 0:
			op.Amount = 0
		case 1:
			op.Amount = -op.Amount
		case 2:
			op.Amount = server.MaxAmount + 1
		}
	case server.OpReplace:
		m.nextCard++
		op.NewCardNo = fmt.Sprintf("0C%05d", m.nextCard)
		if m.rnd.IntN(8) == 0 && len(m.cardNos) > 0 {
			op.NewCardNo = m.cardNos[m.rnd.IntN(len(m.cardNos))] // taken
		}
	case server.OpEdit:
		op.Name = fmt.Sprintf("食客%d", m.ops)
	case server.OpRelease, server.OpCapture:
		op.HoldID = int64(1 + m.rnd.IntN(m.ops/10+1))
	}
	want, code := m.decide(op)
	res, err := m.s.CardOp(context.Background(), op)
	if got := server.ErrorCode(err); got != code {
		m.fatalf("%s %s (amount %d, hold %d): error %v, model wants %q", op.Kind, op.CardNo, op.Amount, op.HoldID, err, code)
	}
	if code != "" {
		return
	}
	res.TxID = 0
	hold := res.HoldID
	res.HoldID = 0
	if res != want {
		m.fatalf("%s %s: %+v, model %+v", op.Kind, op.CardNo, res, want)
	}
	if op.Kind == server.OpHold {
		m.cards[op.CardNo].account.holds[hold] = &modelHold{amount: op.Amount, state: server.HoldHeld}
	}
	res.HoldID = hold
	m.done[op.RequestID] = modelRequest{op: op, res: res}
}

// replay makes a request again: the same answer; with another amount, a
// conflict.
func (m *model) replay() {
	for id, req := range m.done { // map order: a random one
		res, err := m.s.CardOp(context.Background(), req.op)
		if err != nil {
			m.fatalf("replay %s: %v", id, err)
		}
		res.TxID = 0
		if res != req.res {
			m.fatalf("replay %s: %+v, first %+v", id, res, req.res)
		}
		other := req.op
		other.Amount++
		if _, err := m.s.CardOp(context.Background(), other); server.ErrorCode(err) != server.ECONFLICT {
			m.fatalf("request %s reused for another amount: %v, want ECONFLICT", id, err)
		}
		return
	}
}

// decide applies op to the model: the result it expects, or the error
// code. It is written from the rules, not from server.CardOp.Plan.
func (m *model) decide(op server.CardOp) (server.CardOpResult, string) {
	switch op.Kind {
	case server.OpRecharge, server.OpRefund, server.OpHold:
		if op.Amount <= 0 || op.Amount > server.MaxAmount {
			return server.CardOpResult{}, server.EINVALID
		}
	}
	if op.Kind == server.OpReplace && op.NewCardNo == op.CardNo {
		return server.CardOpResult{}, server.EINVALID
	}
	c := m.cards[op.CardNo]
	if c == nil {
		return server.CardOpResult{}, server.ENOTFOUND
	}
	a := c.account
	in := func(ss ...server.CardStatus) bool {
		for _, s := range ss {
			if c.status == s {
				return true
			}
		}
		return false
	}
	successor := ""
	for _, no := range m.cardNos {
		if o := m.cards[no]; o != c && o.account == a && (o.status == server.CardActive || o.status == server.CardFrozen) {
			successor = no
		}
	}
	res := func() (server.CardOpResult, string) {
		return server.CardOpResult{CardNo: c.no, Status: c.status, Balance: a.balance, Held: a.held}, ""
	}
	conflict := func() (server.CardOpResult, string) { return server.CardOpResult{}, server.ECONFLICT }
	invalid := func() (server.CardOpResult, string) { return server.CardOpResult{}, server.EINVALID }
	switch op.Kind {
	case server.OpRecharge, server.OpRefund:
		if !in(server.CardActive, server.CardFrozen) {
			return conflict()
		}
		if op.Kind == server.OpRefund && op.Amount > a.paid {
			return invalid()
		}
		if a.balance+op.Amount > server.MaxBalance {
			return invalid()
		}
		a.balance += op.Amount
		if op.Kind == server.OpRefund {
			a.paid -= op.Amount
		}
		if c.status == server.CardFrozen && c.reason == server.FrozenByOverdraft && a.balance-a.held >= 0 {
			c.status, c.reason = server.CardActive, ""
		}
	case server.OpFreeze:
		if !in(server.CardActive) {
			return conflict()
		}
		c.status, c.reason = server.CardFrozen, server.FrozenByOffice
	case server.OpUnfreeze:
		if !in(server.CardFrozen) {
			return conflict()
		}
		if a.balance-a.held < 0 {
			return invalid()
		}
		c.status, c.reason = server.CardActive, ""
	case server.OpLost:
		if !in(server.CardActive, server.CardFrozen) {
			return conflict()
		}
		c.status, c.reason = server.CardLost, ""
	case server.OpReplace:
		if !in(server.CardActive, server.CardFrozen, server.CardLost) || successor != "" || m.cards[op.NewCardNo] != nil {
			return conflict()
		}
		nc := &modelCard{no: op.NewCardNo, account: a, status: server.CardActive}
		if c.status == server.CardFrozen {
			nc.status, nc.reason = server.CardFrozen, c.reason
		}
		c.status, c.reason = server.CardLost, ""
		m.cards[nc.no] = nc
		m.cardNos = append(m.cardNos, nc.no)
		return server.CardOpResult{CardNo: nc.no, Status: nc.status, Balance: a.balance, Held: a.held}, ""
	case server.OpClose:
		if !in(server.CardActive, server.CardFrozen, server.CardLost) || successor != "" {
			return conflict()
		}
		if a.held != 0 || a.balance < 0 {
			return invalid()
		}
		a.balance = 0
		a.closed = true
		delete(m.persons, a.person)
		c.status, c.reason = server.CardClosed, ""
	case server.OpEdit:
		if !in(server.CardActive, server.CardFrozen, server.CardLost) {
			return conflict()
		}
	case server.OpHold:
		if !in(server.CardActive, server.CardFrozen) {
			return conflict()
		}
		if op.Amount > a.balance-a.held {
			return invalid()
		}
		a.held += op.Amount
	case server.OpRelease, server.OpCapture:
		h := a.holds[op.HoldID]
		switch {
		case h == nil:
			return server.CardOpResult{}, server.ENOTFOUND
		case h.state != server.HoldHeld:
			return conflict()
		}
		a.held -= h.amount
		h.state = server.HoldReleased
		if op.Kind == server.OpCapture {
			h.state = server.HoldCaptured
			a.balance -= h.amount
			a.paid += h.amount
		}
	}
	return res()
}

// checkCards compares every card with the model.
func (m *model) checkCards() {
	m.t.Helper()
	ctx := context.Background()
	for _, no := range m.cardNos {
		c := m.cards[no]
		got, err := m.s.Card(ctx, no)
		if err != nil {
			m.fatalf("card %s: %v", no, err)
		}
		if got.Balance != c.account.balance || got.Held != c.account.held || got.Status != c.status || got.Reason != c.reason || got.TodayCount != c.count {
			m.fatalf("card %s: store %+v, model balance %d held %d %s (%s) count %d", no, got, c.account.balance, c.account.held, c.status, c.reason, c.count)
		}
	}
}

// checkLedger runs Verify; at the end it also counts the entries.
func (m *model) checkLedger(final bool) {
	m.t.Helper()
	rep, err := m.s.Verify(context.Background())
	if err != nil {
		m.fatalf("verify: %v", err)
	}
	if final {
		var entries int64
		for _, reg := range m.regs {
			entries += int64(reg.r.Seq)
		}
		if rep.Entries != entries {
			m.fatalf("verify counted %d entries, the registers made %d", rep.Entries, entries)
		}
		m.t.Logf("model: %d operations, %d cards, %d entries, %d transactions: the store agrees", m.ops, len(m.cardNos), rep.Entries, rep.Transactions)
	}
}

// ModelOps is the number of operations RunModel runs: 100,000, or
// FANKA_MODEL_OPS.
func ModelOps(t *testing.T) int {
	if v := os.Getenv("FANKA_MODEL_OPS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("FANKA_MODEL_OPS=%q: want a positive number", v)
		}
		return n
	}
	return 100_000
}

// ModelSeed is RunModel's seed: FANKA_MODEL_SEED, or a random one (logged).
func ModelSeed(t *testing.T) uint64 {
	if v := os.Getenv("FANKA_MODEL_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("FANKA_MODEL_SEED=%q: want a number", v)
		}
		return n
	}
	return rand.Uint64()
}
