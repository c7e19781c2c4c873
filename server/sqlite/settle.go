package sqlite

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/fanka/fanka/server"
	"github.com/fanka/fanka/server/sqlops"
	"github.com/fanka/fanka/shared/journal"
	"github.com/fanka/fanka/shared/money"
	"github.com/fanka/fanka/shared/wire"
)

// Group commit bounds: the writer settles the batches waiting for it, from
// every register, in one transaction of at most maxGroupEntries entries.
// Each transaction waits for its fsync, tens of milliseconds on a busy
// disk: at 2,000 entries that wait took half the writer's time at 20,000
// sales/s (scripts/bench settle: 19,200/s; 27,000–34,500/s at 6,000). A
// group is only as large as what waits: under a light load it is one batch.
const maxGroupEntries = 6000

// errClosed is returned to a batch that the closing store did not settle.
var errClosed = errors.New("sqlite: store closed")

// batch is one register's batch on its way to the writer.
type batch struct {
	terminal uint32
	raw      [][]byte
	entries  []journal.Entry
	hashes   []journal.Hash
	key      ed25519.PublicKey // the key the batch was authenticated under
	cardSig  []string          // per entry: why its card signature flags it (server.CardSigNotes); nil: none

	// set by the writer before done is closed
	acks []wire.Ack
	err  error
	done chan struct{}
}

// Settle implements server.Settler. The batch is authenticated in the
// caller's goroutine, so batches of different registers are checked in
// parallel: every entry's link to the one before it in the batch, and the
// signature of the last entry, which covers the whole chain back to the
// first entry's Prev. The single writer then settles it together with the
// batches of other registers waiting at the same time, in one database
// transaction (group commit), checking the first entry against the
// register's last settled one; a refused batch is left out of the group.
func (db *DB) Settle(ctx context.Context, terminal uint32, raw [][]byte) ([]wire.Ack, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	b, err := db.authenticate(ctx, terminal, raw)
	if err != nil {
		return nil, err
	}
	b.done = make(chan struct{})
	select {
	case db.settleq <- b:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-db.stopped:
		return nil, errClosed
	}
	select {
	case <-b.done:
	case <-db.stopped:
		select {
		case <-b.done:
		default:
			return nil, errClosed
		}
	}
	return b.acks, b.err
}

// authenticate decodes a batch and checks what needs no transaction: each
// entry's link to the previous one of the batch and the last entry's
// signature under the register's pinned key.
func (db *DB) authenticate(ctx context.Context, terminal uint32, raw [][]byte) (*batch, error) {
	entries, err := server.DecodeBatch(terminal, raw)
	if err != nil {
		return nil, err
	}
	b := &batch{terminal: terminal, raw: raw, entries: entries, hashes: make([]journal.Hash, len(raw))}
	for i := range raw {
		b.hashes[i] = journal.HashBytes(raw[i])
		if i > 0 {
			if err := entries[i].Follows(entries[i-1].Seq, b.hashes[i-1]); err != nil {
				return nil, fmt.Errorf("settle %d/%d: %w", terminal, entries[i].Seq, err)
			}
		}
	}
	if b.key, err = db.terminalKey(ctx, terminal); err != nil {
		return nil, err
	}
	last := &entries[len(entries)-1]
	if err := last.Verify(b.key); err != nil {
		return nil, fmt.Errorf("settle %d/%d: %w", terminal, last.Seq, err)
	}
	// Card signatures are checked here too, in parallel across registers,
	// with the keys of the batch's cards read once: the writer only flags.
	keys, err := db.cardKeys(ctx, server.SaleCardNos(entries))
	if err != nil {
		return nil, fmt.Errorf("settle register %d: %w", terminal, err)
	}
	b.cardSig = server.CardSigNotes(entries, keys)
	return b, nil
}

// terminalKey returns the key register terminal pinned at enrolment, which
// never changes: ENOTFOUND for an unknown register, EFORBIDDEN for one that
// has not enrolled.
func (db *DB) terminalKey(ctx context.Context, terminal uint32) (ed25519.PublicKey, error) {
	db.keyMu.Lock()
	key, ok := db.keys[terminal]
	db.keyMu.Unlock()
	if ok {
		return key, nil
	}
	t, err := db.Terminal(ctx, terminal)
	if err != nil {
		return nil, err
	}
	if !t.Enrolled() {
		return nil, server.Errorf(server.EFORBIDDEN, "register %d has not enrolled", terminal)
	}
	db.keyMu.Lock()
	db.keys[terminal] = t.PublicKey
	db.keyMu.Unlock()
	return t.PublicKey, nil
}

// settler is the single writer of settlements: it takes every batch
// waiting, up to maxGroupEntries entries, and settles them in one
// transaction, until ctx ends.
func (db *DB) settler(ctx context.Context) {
	defer close(db.stopped)
	for {
		var group []*batch
		select {
		case <-ctx.Done():
			return
		case b := <-db.settleq:
			group = append(group, b)
		}
		n := len(group[0].raw)
	collect:
		for n < maxGroupEntries {
			select {
			case b := <-db.settleq:
				group = append(group, b)
				n += len(b.raw)
			default:
				break collect
			}
		}
		// A group being settled is committed or rolled back even if the
		// store is closing.
		db.settleGroup(context.WithoutCancel(ctx), group)
	}
}

// settleGroup settles the batches in one transaction and answers each. A
// batch that is refused is answered with its error and the others settle
// without it; if the transaction itself fails, each batch is tried alone.
func (db *DB) settleGroup(ctx context.Context, group []*batch) {
	for len(group) > 0 {
		var refused *batch
		changed := false
		var g *groupSettlement
		err := db.inTx(ctx, func(tx *wtx) error {
			// The cache holds if no other write came between the last
			// group's and this one: none of this store's, and none of
			// another connection to the file (data_version).
			gen := db.writes.Load()
			var dataVersion int64
			if err := tx.QueryRowContext(ctx, `PRAGMA data_version`).Scan(&dataVersion); err != nil {
				return fmt.Errorf("data version: %w", err)
			}
			if db.cache.gen != gen-1 || db.cache.dataVersion != dataVersion || len(db.cache.cards) > maxCachedCards {
				db.cache = settleCache{cards: map[string]*server.Card{}, balances: map[int64]money.Fen{}}
			}
			db.cache.gen = 0
			g = newGroupSettlement(tx, db.Now(), &db.cache, &db.revenues)
			g.gen, g.dataVersion = gen, dataVersion
			rules, err := db.rules.Get(time.Now(), func() (server.Rules, uint64, error) { return sqlops.ReadRules(ctx, tx) })
			if err != nil {
				return err
			}
			g.rules = rules
			for _, b := range group {
				acks, err := g.batch(ctx, b)
				if err != nil {
					refused, b.err = b, err
					return err
				}
				b.acks = acks
			}
			changed = len(g.changed) > 0
			return g.flush(ctx)
		})
		switch {
		case err == nil:
			g.commitCache()
			for _, b := range group {
				close(b.done)
			}
			if changed {
				db.cards.Notify()
			}
			return
		case refused != nil:
			refused.acks = nil
			close(refused.done)
			group = slices.DeleteFunc(group, func(b *batch) bool { return b == refused })
		case len(group) == 1:
			group[0].acks, group[0].err = nil, err
			close(group[0].done)
			return
		default:
			for _, b := range group {
				db.settleGroup(ctx, []*batch{b})
			}
			return
		}
	}
}

// groupSettlement is a group of batches being settled in one transaction.
// It reads each card once, keeps its state as the group's entries change
// it, and writes cards, balances, transactions, postings and entries once,
// at the end (flush), in multi-row statements.
type groupSettlement struct {
	tx    *wtx
	now   time.Time
	books *groupBooks

	terminals map[uint32]*server.Terminal // the group's registers, as settled so far
	revenue   map[uint32]int64            // the revenue account of each register's canteen
	revenues  *sqlops.Revenues
	advanced  map[uint32]bool         // registers whose cursor moved
	cards     map[string]*server.Card // cards read; nil: no such card
	changed   map[string]bool         // cards to write
	version   uint64                  // the card change counter, as the group advanced it
	versioned bool                    // version has been read
	startVer  uint64

	cache       *settleCache // cards and balances before the group, if valid
	gen         uint64       // the group's write transaction
	dataVersion int64        // PRAGMA data_version in it

	rules server.Rules // the rules sales are checked against

	nextTx  int64 // the id of the next transaction; 0 until read
	txs     []any // transactions rows not yet inserted
	entries []any // entries rows not yet inserted
}

// settleCache is what the settler knows of cards and balances between
// groups: as its last group committed them, valid only while no other
// write transaction has run since (gen).
type settleCache struct {
	gen         uint64                  // the write transaction it is of; 0: none
	dataVersion int64                   // PRAGMA data_version then: others' commits change it
	cards       map[string]*server.Card // nil: no such card; Balance is not kept here
	balances    map[int64]money.Fen     // the accounts of the cards
}

// maxCachedCards bounds the settler's cache.
const maxCachedCards = 200_000

// commitCache keeps the group's cards and balances, once it committed.
func (g *groupSettlement) commitCache() {
	for no, c := range g.cards {
		if c == nil {
			g.cache.cards[no] = nil
			continue
		}
		cc := *c
		g.cache.cards[no] = &cc
	}
	maps.Copy(g.cache.balances, g.books.known)
	for account := range g.books.unread {
		delete(g.cache.balances, account)
	}
	g.cache.gen, g.cache.dataVersion = g.gen, g.dataVersion
}

func newGroupSettlement(tx *wtx, now time.Time, cache *settleCache, revenues *sqlops.Revenues) *groupSettlement {
	return &groupSettlement{tx: tx, now: now, books: newGroupBooks(tx), cache: cache, revenues: revenues,
		terminals: map[uint32]*server.Terminal{}, revenue: map[uint32]int64{}, advanced: map[uint32]bool{},
		cards: map[string]*server.Card{}, changed: map[string]bool{}}
}

// result is how one entry settled.
type result struct {
	ack         wire.Ack
	txID        int64  // the transaction posted; 0 if none
	note        string // why it was flagged
	cardChanged bool
}

// flagCardSig flags the entry for a card signature that is missing or bad
// (note, from server.CardSigNote; "" if it verified): it settles all the
// same, for the register signed it, but a person reviews it.
func (r *result) flagCardSig(note string) {
	if note == "" {
		return
	}
	r.ack.Outcome = wire.Flagged
	if r.note != "" {
		r.note += "; "
	}
	r.note += note
}

// batch settles one register's batch within the group. On an error the
// group's state is not to be used any more: the transaction rolls back.
func (g *groupSettlement) batch(ctx context.Context, b *batch) ([]wire.Ack, error) {
	terminal := b.terminal
	t, ok := g.terminals[terminal]
	if !ok {
		tt, err := terminalIn(ctx, g.tx, terminal)
		if err != nil {
			return nil, err
		}
		t = &tt
		g.terminals[terminal] = t
		revenue, err := g.revenues.Account(ctx, g.tx, t.Canteen)
		if err != nil {
			return nil, fmt.Errorf("settle register %d: %w", terminal, err)
		}
		g.revenue[terminal] = revenue
	}
	switch {
	case t.Disabled:
		return nil, server.Errorf(server.EFORBIDDEN, "register %d is disabled", terminal)
	case !t.Enrolled():
		return nil, server.Errorf(server.EFORBIDDEN, "register %d has not enrolled", terminal)
	case !t.PublicKey.Equal(b.key):
		last := &b.entries[len(b.entries)-1]
		if err := last.Verify(t.PublicKey); err != nil {
			return nil, fmt.Errorf("settle %d/%d: %w", terminal, last.Seq, err)
		}
	}
	acks := make([]wire.Ack, 0, len(b.entries))
	settled := t.LastSeq
	for i := range b.entries {
		e, h := &b.entries[i], b.hashes[i]
		if e.Seq <= settled {
			ack, err := g.replay(ctx, terminal, e, h)
			if err != nil {
				return nil, err
			}
			acks = append(acks, ack)
			continue
		}
		// The batch's own links were checked before: only its first new
		// entry's link to the settled chain is new here, but checking each
		// costs nothing.
		if err := e.Follows(t.LastSeq, t.LastHash); err != nil {
			return nil, fmt.Errorf("settle %d/%d: %w", terminal, e.Seq, err)
		}
		r, err := g.settle(ctx, terminal, e)
		if err != nil {
			return nil, fmt.Errorf("settle %d/%d: %w", terminal, e.Seq, err)
		}
		if b.cardSig != nil {
			r.flagCardSig(b.cardSig[i])
		}
		g.record(terminal, e, b.raw[i], h, r)
		acks = append(acks, r.ack)
		t.LastSeq, t.LastHash = e.Seq, h
		g.advanced[terminal] = true
	}
	return acks, nil
}

// replay returns the ack of an entry settled before, if e is that entry.
func (g *groupSettlement) replay(ctx context.Context, terminal uint32, e *journal.Entry, h journal.Hash) (wire.Ack, error) {
	if err := g.flushRows(ctx); err != nil { // it may be of this group
		return wire.Ack{}, err
	}
	var stored []byte
	var outcome string
	ack := wire.Ack{Seq: e.Seq, CardNo: e.CardNo}
	err := g.tx.QueryRowContext(ctx, `SELECT hash, outcome, balance, version, day, today_count FROM entries WHERE terminal_id = ? AND seq = ?`,
		terminal, e.Seq).Scan(&stored, &outcome, &ack.Balance, &ack.Version, &ack.Day, &ack.TodayCount)
	if errors.Is(err, sql.ErrNoRows) {
		return wire.Ack{}, fmt.Errorf("settle %d/%d: the entry is below the register's cursor but not stored", terminal, e.Seq)
	}
	if err != nil {
		return wire.Ack{}, fmt.Errorf("settle %d/%d: replay: %w", terminal, e.Seq, err)
	}
	if !bytes.Equal(stored, h[:]) {
		return wire.Ack{}, fmt.Errorf("settle %d/%d: %w: it differs from the entry settled at that seq", terminal, e.Seq, journal.ErrChain)
	}
	if ack.Outcome, err = server.ParseOutcome(outcome); err != nil {
		return wire.Ack{}, fmt.Errorf("settle %d/%d: replay: %w", terminal, e.Seq, err)
	}
	return ack, nil
}

// settle posts one new entry.
func (g *groupSettlement) settle(ctx context.Context, terminal uint32, e *journal.Entry) (result, error) {
	switch e.Kind {
	case journal.KindSale:
		return g.sale(ctx, terminal, e)
	case journal.KindVoid:
		return g.void(ctx, terminal, e)
	}
	return result{}, fmt.Errorf("%w: kind %v", journal.ErrInvalid, e.Kind)
}

// sale posts a sale: the card's account (or suspense, for an unknown card)
// to revenue.
func (g *groupSettlement) sale(ctx context.Context, terminal uint32, e *journal.Entry) (result, error) {
	day := server.SaleDay(e.Time, g.now)
	row := txRow{kind: server.TxSale, origin: server.TerminalOrigin(terminal, e.Seq), created: ms(g.now),
		terminal: terminal, seq: e.Seq, cardNo: e.CardNo, day: &day}
	card, err := g.card(ctx, e.CardNo)
	if err != nil {
		return result{}, err
	}
	txID, err := g.insertTx(ctx, row)
	if err != nil {
		return result{}, err
	}
	revenue := g.revenue[terminal]
	if card == nil {
		if _, err := g.books.post(ctx, txID, []server.Posting{
			{AccountID: server.SuspenseAccount, Amount: -e.Amount},
			{AccountID: revenue, Amount: e.Amount},
		}); err != nil {
			return result{}, err
		}
		return result{
			ack:  wire.Ack{Seq: e.Seq, Outcome: wire.Flagged, CardNo: e.CardNo, Day: day},
			txID: txID, note: "unknown card: posted to suspense",
		}, nil
	}
	balances, err := g.books.post(ctx, txID, server.SalePostings(card, e.Amount, revenue))
	if err != nil {
		return result{}, err
	}
	at := server.SaleTime(e.Time, g.now)
	note := g.rules.SaleNote(card, e, day, at)
	card.ApplyBalances(balances)
	card.CountSale(e, day, g.rules.Period(at))
	if err := g.touch(ctx, card); err != nil {
		return result{}, err
	}
	r := server.SettleSale(card, e.Seq, note)
	return result{txID: txID, cardChanged: true, ack: r.Ack, note: r.Note}, nil
}

// void posts the reverse of the sale e.VoidSeq. A void that does not match
// a sale it may reverse posts nothing and is flagged.
func (g *groupSettlement) void(ctx context.Context, terminal uint32, e *journal.Entry) (result, error) {
	// The sale may be of this group: write the rows kept back first.
	if err := g.flushRows(ctx); err != nil {
		return result{}, err
	}
	card, err := g.card(ctx, e.CardNo)
	if err != nil {
		return result{}, err
	}
	flag := func(format string, args ...any) (result, error) {
		r := result{note: fmt.Sprintf("void of seq %d: ", e.VoidSeq) + fmt.Sprintf(format, args...) + ": nothing posted"}
		if card != nil {
			r.ack = card.Ack(e.Seq, wire.Flagged)
		} else {
			r.ack = wire.Ack{Seq: e.Seq, Outcome: wire.Flagged, CardNo: e.CardNo}
		}
		return r, nil
	}

	var saleID int64
	var kind string
	var saleCard sql.NullString
	var saleDay sql.NullInt64
	err = g.tx.QueryRowContext(ctx, `SELECT id, kind, card_no, day FROM transactions WHERE origin = ?`,
		server.TerminalOrigin(terminal, e.VoidSeq)).Scan(&saleID, &kind, &saleCard, &saleDay)
	if errors.Is(err, sql.ErrNoRows) {
		return flag("no such sale")
	}
	if err != nil {
		return result{}, fmt.Errorf("find sale %d: %w", e.VoidSeq, err)
	}
	if server.TxKind(kind) != server.TxSale {
		return flag("a %s, not a sale", kind)
	}
	var voidID int64
	err = g.tx.QueryRowContext(ctx, `SELECT id FROM transactions WHERE void_of = ?`, saleID).Scan(&voidID)
	if err == nil {
		return flag("already voided by transaction %d", voidID)
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return result{}, fmt.Errorf("find void of sale %d: %w", e.VoidSeq, err)
	}
	if saleCard.String != e.CardNo {
		return flag("the sale was on card %s, not %s", saleCard.String, e.CardNo)
	}
	reverse, err := g.postingsOf(ctx, saleID)
	if err != nil {
		return result{}, err
	}
	if sold := server.SaleAmount(reverse); sold != e.Amount {
		return flag("the sale was of %d fen, not %d", sold, e.Amount)
	}
	if card != nil {
		// The group's postings are written (flushRows above).
		note, err := sqlops.VoidPaysTwice(ctx, g.tx, reverse, card.AccountID)
		if err != nil {
			return result{}, fmt.Errorf("void of sale %d: %w", e.VoidSeq, err)
		}
		if note != "" {
			return flag("%s", note)
		}
	}

	day := int32(saleDay.Int64)
	txID, err := g.insertTx(ctx, txRow{kind: server.TxVoid, origin: server.TerminalOrigin(terminal, e.Seq), created: ms(g.now),
		terminal: terminal, seq: e.Seq, cardNo: e.CardNo, day: &day, voidOf: saleID})
	if err != nil {
		return result{}, err
	}
	balances, err := g.books.post(ctx, txID, reverse)
	if err != nil {
		return result{}, err
	}
	r := result{txID: txID, ack: wire.Ack{Seq: e.Seq, Outcome: wire.Settled, CardNo: e.CardNo}}
	// The card's count and version change only if the sale was paid from
	// its account (not from suspense, before the card was opened).
	if card != nil {
		r.ack = card.Ack(e.Seq, wire.Settled)
		if card.PaidFrom(balances) {
			card.ApplyBalances(balances)
			card.CountVoid(day, e.Amount)
			if err := g.touch(ctx, card); err != nil {
				return result{}, err
			}
			r.cardChanged = true
			r.ack = card.Ack(e.Seq, wire.Settled)
		}
	}
	return r, nil
}

// postingsOf returns the reverse of a transaction's postings.
func (g *groupSettlement) postingsOf(ctx context.Context, txID int64) ([]server.Posting, error) {
	rows, err := g.tx.QueryContext(ctx, `SELECT account_id, amount FROM postings WHERE tx_id = ? ORDER BY id`, txID)
	if err != nil {
		return nil, fmt.Errorf("postings of transaction %d: %w", txID, err)
	}
	defer rows.Close()
	var out []server.Posting
	for rows.Next() {
		var p server.Posting
		if err := rows.Scan(&p.AccountID, &p.Amount); err != nil {
			return nil, fmt.Errorf("postings of transaction %d: %w", txID, err)
		}
		p.Amount = -p.Amount
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postings of transaction %d: %w", txID, err)
	}
	return out, nil
}

// card returns a card as the group left it, reading it the first time; nil
// if there is no such card.
func (g *groupSettlement) card(ctx context.Context, cardNo string) (*server.Card, error) {
	if c, ok := g.cards[cardNo]; ok {
		if c != nil {
			// Another card of the same account (a replaced card) may have
			// changed the balances since.
			g.knowBalances(c)
		}
		return c, nil
	}
	if c, ok := g.cache.cards[cardNo]; ok {
		if c == nil {
			g.cards[cardNo] = nil
			return nil, nil
		}
		bal, ok := g.cache.balances[c.AccountID]
		sub, subOK := g.cache.balances[c.SubsidyAccount]
		if ok && (subOK || c.SubsidyAccount == 0) {
			cc := *c
			cc.Balance, cc.Subsidy = bal, sub
			g.knowBalances(&cc)
			g.cards[cardNo] = &cc
			return &cc, nil
		}
	}
	c, err := scanCard(g.tx.QueryRowContext(ctx,
		`SELECT `+cardColumns+` FROM `+sqlops.CardFrom+` WHERE c.card_no = ?`, cardNo))
	if errors.Is(err, sql.ErrNoRows) {
		g.cards[cardNo] = nil
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("card %s: %w", cardNo, err)
	}
	// Another card of the same account may have changed its balances in
	// this group already.
	g.knowBalances(&c)
	g.cards[cardNo] = &c
	return &c, nil
}

// knowBalances makes the card's balances those the group has posted to
// its accounts, or records them as read.
func (g *groupSettlement) knowBalances(c *server.Card) {
	c.Balance = g.books.know(c.AccountID, c.Balance)
	if c.SubsidyAccount != 0 {
		c.Subsidy = g.books.know(c.SubsidyAccount, c.Subsidy)
	}
}

// touch gives the card the next version; flush writes it.
func (g *groupSettlement) touch(ctx context.Context, c *server.Card) error {
	if !g.versioned {
		if err := g.tx.QueryRowContext(ctx, `SELECT value FROM counters WHERE name = 'card_version'`).Scan(&g.version); err != nil {
			return fmt.Errorf("card version: %w", err)
		}
		g.versioned, g.startVer = true, g.version
	}
	g.version++
	c.Version = g.version
	g.changed[c.CardNo] = true
	return nil
}

// insertTx keeps a transactions row to insert and returns its id.
func (g *groupSettlement) insertTx(ctx context.Context, r txRow) (int64, error) {
	if g.nextTx == 0 {
		if err := g.tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(id), 0) + 1 FROM transactions`).Scan(&g.nextTx); err != nil {
			return 0, fmt.Errorf("next transaction id: %w", err)
		}
	}
	id := g.nextTx
	g.nextTx++
	var terminal, seq, voidOf, day sql.NullInt64
	if r.terminal != 0 {
		terminal = sql.NullInt64{Int64: int64(r.terminal), Valid: true}
		seq = sql.NullInt64{Int64: int64(r.seq), Valid: true}
	}
	if r.voidOf != 0 {
		voidOf = sql.NullInt64{Int64: r.voidOf, Valid: true}
	}
	if r.day != nil {
		day = sql.NullInt64{Int64: int64(*r.day), Valid: true}
	}
	g.txs = append(g.txs, id, string(r.kind), r.origin, r.created, terminal, seq, nullString(r.cardNo), day, voidOf, nullString(r.operator))
	return id, nil
}

// record keeps the entry, to be stored forever with the ack it was given.
func (g *groupSettlement) record(terminal uint32, e *journal.Entry, raw []byte, h journal.Hash, r result) {
	var txID sql.NullInt64
	if r.txID != 0 {
		txID = sql.NullInt64{Int64: r.txID, Valid: true}
	}
	g.entries = append(g.entries, terminal, e.Seq, h[:], raw, txID, r.ack.Outcome.String(), r.note,
		int64(r.ack.Balance), r.ack.Version, r.ack.Day, r.ack.TodayCount, ms(g.now))
}

// flushRows inserts the transactions, postings and entries kept back, in
// that order, for their foreign keys.
func (g *groupSettlement) flushRows(ctx context.Context) error {
	if err := insertRows(ctx, g.tx, `INSERT INTO transactions (id, kind, origin, created, terminal_id, seq, card_no, day, void_of, operator) VALUES `,
		10, g.txs); err != nil {
		if isConstraint(err) {
			return server.Errorf(server.ECONFLICT, "a transaction of the batch already exists")
		}
		return fmt.Errorf("insert transactions: %w", err)
	}
	g.txs = g.txs[:0]
	if err := insertRows(ctx, g.tx, `INSERT INTO postings (tx_id, account_id, amount) VALUES `, 3, g.books.postings); err != nil {
		return fmt.Errorf("insert postings: %w", err)
	}
	g.books.postings = g.books.postings[:0]
	if err := insertRows(ctx, g.tx, `INSERT INTO entries (terminal_id, seq, hash, raw, tx_id, outcome, note, balance, version, day, today_count, settled_at) VALUES `,
		12, g.entries); err != nil {
		return fmt.Errorf("record entries: %w", err)
	}
	g.entries = g.entries[:0]
	return nil
}

// flush writes everything the group kept back: rows, balances, cards, the
// card change counter and the registers' cursors.
func (g *groupSettlement) flush(ctx context.Context) error {
	if err := g.flushRows(ctx); err != nil {
		return err
	}
	if err := g.books.flush(ctx); err != nil {
		return err
	}
	cards := make([]any, 0, 4*len(g.changed))
	var listed []server.Card
	for _, no := range slices.Sorted(maps.Keys(g.changed)) {
		c := g.cards[no]
		cards = append(cards, c.CardNo, c.Version, c.Day, c.TodayCount, string(c.Status), c.Reason, int64(c.DayAmount), c.LastSale, c.Period, c.PeriodCount)
		if c.Status != server.CardActive {
			listed = append(listed, *c)
		}
	}
	if err := updateRows(ctx, g.tx, "cards", "card_no", "version = v.column2, day = v.column3, today_count = v.column4, status = v.column5, "+
		"reason = v.column6, day_amount = v.column7, last_sale = v.column8, period = v.column9, period_count = v.column10", 10, cards); err != nil {
		return fmt.Errorf("update cards: %w", err)
	}
	// A sale that overdrew a card froze it; one on a card that is listed
	// gave it a new version: either way the hotlist takes the card's.
	if err := sqlops.ListCards(ctx, g.tx, listed); err != nil {
		return err
	}
	if g.versioned && g.version != g.startVer {
		if _, err := g.tx.ExecContext(ctx, `UPDATE counters SET value = ? WHERE name = 'card_version'`, g.version); err != nil {
			return fmt.Errorf("card version: %w", err)
		}
	}
	for _, id := range slices.Sorted(maps.Keys(g.advanced)) {
		t := g.terminals[id]
		if _, err := g.tx.ExecContext(ctx, `UPDATE terminals SET last_seq = ?, last_hash = ?, last_seen = ? WHERE id = ?`,
			t.LastSeq, t.LastHash[:], ms(g.now), id); err != nil {
			return fmt.Errorf("settle register %d: advance to seq %d: %w", id, t.LastSeq, err)
		}
	}
	return nil
}

// groupBooks posts a group's transactions and writes them at its end
// (flush): the postings in multi-row statements and each balance once,
// however many postings changed it. Balances of the diner accounts whose
// cards the group read are kept here; others are changed, not read.
type groupBooks struct {
	tx       *wtx
	known    map[int64]money.Fen // accounts read: balance as posted so far
	delta    map[int64]money.Fen // change not yet written, by account
	unread   map[int64]bool      // accounts changed but not read
	postings []any               // rows not yet inserted: tx_id, account_id, amount
}

func newGroupBooks(tx *wtx) *groupBooks {
	return &groupBooks{tx: tx, known: map[int64]money.Fen{}, delta: map[int64]money.Fen{}, unread: map[int64]bool{}}
}

// know records the balance of an account as read, unless the group knows
// it already, and returns the balance as the group left it.
func (b *groupBooks) know(account int64, balance money.Fen) money.Fen {
	if bal, ok := b.known[account]; ok {
		return bal
	}
	b.known[account] = balance
	return balance
}

// post posts transaction txID and returns the new balances of the known
// accounts it changed. The postings must sum to zero.
func (b *groupBooks) post(ctx context.Context, txID int64, postings []server.Posting) (map[int64]money.Fen, error) {
	var sum money.Fen
	for _, p := range postings {
		var ok bool
		if sum, ok = money.Add(sum, p.Amount); !ok {
			return nil, fmt.Errorf("post transaction %d: amounts overflow", txID)
		}
	}
	if sum != 0 {
		return nil, fmt.Errorf("post transaction %d: postings sum to %d, not 0", txID, sum)
	}
	balances := make(map[int64]money.Fen, len(postings))
	for _, p := range postings {
		d, ok := money.Add(b.delta[p.AccountID], p.Amount)
		if !ok {
			return nil, fmt.Errorf("post transaction %d: account %d overflows", txID, p.AccountID)
		}
		b.delta[p.AccountID] = d
		if bal, known := b.known[p.AccountID]; known {
			if bal, ok = money.Add(bal, p.Amount); !ok {
				return nil, fmt.Errorf("post transaction %d: account %d overflows", txID, p.AccountID)
			}
			b.known[p.AccountID] = bal
			balances[p.AccountID] = bal
		} else {
			b.unread[p.AccountID] = true
		}
		b.postings = append(b.postings, txID, p.AccountID, int64(p.Amount))
	}
	return balances, nil
}

// flush applies the balance changes.
func (b *groupBooks) flush(ctx context.Context) error {
	changes := make([]any, 0, 2*len(b.delta))
	for _, account := range slices.Sorted(maps.Keys(b.delta)) {
		if d := b.delta[account]; d != 0 {
			changes = append(changes, account, int64(d))
		}
	}
	clear(b.delta)
	if err := updateRows(ctx, b.tx, "accounts", "id", "balance = balance + v.column2", 2, changes); err != nil {
		return fmt.Errorf("update balances: %w", err)
	}
	return nil
}

// insertRows runs the INSERT that prefix starts with, whose rows have
// columns values each, for args holding the rows one after the other. It
// cuts them into statements of a power of two rows, at most maxRows, so
// that a handful of statement texts, each prepared once, serve any count.
func insertRows(ctx context.Context, tx *wtx, prefix string, columns int, args []any) error {
	const maxRows = 128
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", columns), ", ") + ")"
	for len(args) > 0 {
		n := maxRows
		for n > len(args)/columns {
			n /= 2
		}
		query := prefix + strings.TrimSuffix(strings.Repeat(row+", ", n), ", ")
		if _, err := tx.ExecContext(ctx, query, args[:n*columns]...); err != nil {
			return err
		}
		args = args[n*columns:]
	}
	return nil
}

// updateRows updates rows of table by its key column, many in one
// statement: rows holds, one row after the other, the key and the other
// values of a row, columns in all, which set names as v.column1 (the key),
// v.column2 and on. Like insertRows, it cuts them into statements of a
// power of two rows.
func updateRows(ctx context.Context, tx *wtx, table, key, set string, columns int, rows []any) error {
	const maxRows = 128
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", columns), ", ") + ")"
	for len(rows) > 0 {
		n := maxRows
		for n > len(rows)/columns {
			n /= 2
		}
		query := "UPDATE " + table + " SET " + set + " FROM (VALUES " + strings.TrimSuffix(strings.Repeat(row+", ", n), ", ") +
			") AS v WHERE " + table + "." + key + " = v.column1"
		if _, err := tx.ExecContext(ctx, query, rows[:n*columns]...); err != nil {
			return err
		}
		rows = rows[n*columns:]
	}
	return nil
}
