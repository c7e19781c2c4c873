package mysql

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
	"github.com/fanka/fanka/shared/wire"
)

// Settle implements server.Settler. The batch settles in one transaction
// that first locks the register's row: batches of one register settle one
// after the other, whichever server settles them, and a batch that waited
// for another sees what that one settled as replays. Batches of different
// registers meet at the card change counter (see the package doc).
func (db *DB) Settle(ctx context.Context, terminal uint32, raw [][]byte) ([]wire.Ack, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	entries, err := server.DecodeBatch(terminal, raw)
	if err != nil {
		return nil, err
	}

	// Authenticate the batch before the transaction, under the key the
	// register pinned, so that no lock is held meanwhile; the transaction
	// uses the result if the key it reads is the same.
	pinned, authErr := db.verifyAhead(ctx, terminal, entries, raw)
	if authErr != nil && pinned == nil {
		return nil, authErr // a broken link within the batch
	}
	// Card signatures are checked before the transaction too, with the keys
	// of the batch's cards read once (a key never changes once set).
	var cardSig []string
	if pinned != nil {
		keys, err := db.cardKeys(ctx, server.SaleCardNos(entries))
		if err != nil {
			return nil, fmt.Errorf("settle register %d: %w", terminal, err)
		}
		cardSig = server.CardSigNotes(entries, keys)
	}

	rules, err := db.rules.Get(time.Now(), func() (server.Rules, uint64, error) { return sqlops.ReadRules(ctx, db.db) })
	if err != nil {
		return nil, fmt.Errorf("settle register %d: %w", terminal, err)
	}
	var acks []wire.Ack
	changed := false
	err = db.inTx(ctx, func(tx *sql.Tx) error {
		acks, changed = nil, false // a run again starts afresh
		t, err := terminalIn(ctx, tx, terminal, true)
		if err != nil {
			return err
		}
		switch {
		case t.Disabled:
			return server.Errorf(server.EFORBIDDEN, "register %d is disabled", terminal)
		case !t.Enrolled():
			return server.Errorf(server.EFORBIDDEN, "register %d has not enrolled", terminal)
		}
		revenue, err := db.revenues.Account(ctx, tx, t.Canteen)
		if err != nil {
			return fmt.Errorf("settle register %d: %w", terminal, err)
		}
		s := settlement{tx: tx, books: newBooks(tx, revenue), terminal: terminal, revenue: revenue, now: db.Now(), rules: rules,
			cards: map[string]*server.Card{}, changed: map[string]bool{}, presetTx: map[uint64]int64{}}
		var cardNos []string
		for i := range entries {
			if entries[i].Seq > t.LastSeq {
				cardNos = append(cardNos, entries[i].CardNo)
			}
		}
		var version uint64
		if !t.PublicKey.Equal(pinned) {
			last := &entries[len(entries)-1]
			if authErr = last.Verify(t.PublicKey); authErr != nil {
				authErr = fmt.Errorf("settle %d/%d: %w", terminal, last.Seq, authErr)
			}
		}
		if authErr != nil {
			return authErr
		}
		if err := s.insertSaleTxs(ctx, entries, t.LastSeq); err != nil {
			return fmt.Errorf("settle register %d: %w", terminal, err)
		}
		if len(cardNos) > 0 { // not only replays
			if version, err = lockCardVersion(ctx, tx); err != nil {
				return fmt.Errorf("settle register %d: %w", terminal, err)
			}
			s.version = version
			if err := s.lockCards(ctx, cardNos); err != nil {
				return fmt.Errorf("settle register %d: %w", terminal, err)
			}
		}
		acks = make([]wire.Ack, 0, len(entries))
		lastSeq, lastHash := t.LastSeq, t.LastHash
		for i := range entries {
			e := &entries[i]
			h := journal.HashBytes(raw[i])
			if e.Seq <= t.LastSeq {
				ack, err := s.replay(ctx, e, h)
				if err != nil {
					return err
				}
				acks = append(acks, ack)
				continue
			}
			if err := e.Follows(lastSeq, lastHash); err != nil {
				return fmt.Errorf("settle %d/%d: %w", terminal, e.Seq, err)
			}
			r, err := s.settle(ctx, e)
			if err != nil {
				return fmt.Errorf("settle %d/%d: %w", terminal, e.Seq, err)
			}
			if cardSig != nil {
				r.flagCardSig(cardSig[i])
			}
			s.record(e, raw[i], h, r)
			changed = changed || r.cardChanged
			acks = append(acks, r.ack)
			lastSeq, lastHash = e.Seq, h
		}
		if err := s.flush(ctx); err != nil {
			return fmt.Errorf("settle register %d: %w", terminal, err)
		}
		if s.version != version {
			if err := setCardVersion(ctx, tx, s.version); err != nil {
				return fmt.Errorf("settle register %d: %w", terminal, err)
			}
		}
		if lastSeq > t.LastSeq {
			if _, err := tx.ExecContext(ctx, `UPDATE terminals SET last_seq = ?, last_hash = ?, last_seen = ? WHERE id = ?`,
				lastSeq, lastHash[:], ms(s.now), terminal); err != nil {
				return fmt.Errorf("settle register %d: advance to seq %d: %w", terminal, lastSeq, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if changed {
		db.cards.Notify()
	}
	return acks, nil
}

// verifyAhead authenticates the batch before the transaction, under the
// key the register pinned, so that no lock is held meanwhile: every
// entry's link to the previous one in the batch, and the signature of the
// last entry, which covers the whole chain back to the first entry's Prev
// (the transaction checks that against the register's last settled
// entry). It returns the key and the batch's error, or a nil key if the
// register cannot be read or has not enrolled: Settle then finds out why.
func (db *DB) verifyAhead(ctx context.Context, terminal uint32, entries []journal.Entry, raw [][]byte) (ed25519.PublicKey, error) {
	for i := 1; i < len(entries); i++ {
		if err := entries[i].Follows(entries[i-1].Seq, journal.HashBytes(raw[i-1])); err != nil {
			return nil, fmt.Errorf("settle %d/%d: %w", terminal, entries[i].Seq, err)
		}
	}
	t, err := db.Terminal(ctx, terminal)
	if err != nil || !t.Enrolled() {
		return nil, nil
	}
	last := &entries[len(entries)-1]
	if err := last.Verify(t.PublicKey); err != nil {
		return t.PublicKey, fmt.Errorf("settle %d/%d: %w", terminal, last.Seq, err)
	}
	return t.PublicKey, nil
}

// settlement is one batch being settled. It reads and locks the batch's
// cards first, keeps their state as its entries change it, and writes
// cards, balances, transactions, postings and entries once, at its end
// (flush), a few statements for the whole batch.
type settlement struct {
	rules    server.Rules // the rules sales are checked against
	tx       *sql.Tx
	books    *books
	terminal uint32
	revenue  int64 // the revenue account of the register's canteen
	now      time.Time
	version  uint64                  // the card change counter, locked, as this batch advanced it
	cards    map[string]*server.Card // the batch's cards that exist, locked
	changed  map[string]bool         // cards to write
	entries  []any                   // entries rows to insert, entryColumns values each

	pendingTx []pendingTx      // transactions rows to insert (see flushTx)
	flushedTx int64            // transactions rows flushTx inserted
	presetTx  map[uint64]int64 // sales' transactions rows inserted ahead, by seq
}

// entryColumns is the number of values of an entries row in
// settlement.entries; the fifth is the tx_id.
const entryColumns = 12

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

// replay returns the ack of an entry settled before, if e is that entry.
func (s *settlement) replay(ctx context.Context, e *journal.Entry, h journal.Hash) (wire.Ack, error) {
	var stored []byte
	var outcome string
	ack := wire.Ack{Seq: e.Seq, CardNo: e.CardNo}
	err := s.tx.QueryRowContext(ctx, `SELECT hash, outcome, balance, version, day, today_count FROM entries WHERE terminal_id = ? AND seq = ?`,
		s.terminal, e.Seq).Scan(&stored, &outcome, &ack.Balance, &ack.Version, &ack.Day, &ack.TodayCount)
	if errors.Is(err, sql.ErrNoRows) {
		return wire.Ack{}, fmt.Errorf("settle %d/%d: the entry is below the register's cursor but not stored", s.terminal, e.Seq)
	}
	if err != nil {
		return wire.Ack{}, fmt.Errorf("settle %d/%d: replay: %w", s.terminal, e.Seq, err)
	}
	if !bytes.Equal(stored, h[:]) {
		return wire.Ack{}, fmt.Errorf("settle %d/%d: %w: it differs from the entry settled at that seq", s.terminal, e.Seq, journal.ErrChain)
	}
	if ack.Outcome, err = server.ParseOutcome(outcome); err != nil {
		return wire.Ack{}, fmt.Errorf("settle %d/%d: replay: %w", s.terminal, e.Seq, err)
	}
	return ack, nil
}

// settle posts one new entry.
func (s *settlement) settle(ctx context.Context, e *journal.Entry) (result, error) {
	switch e.Kind {
	case journal.KindSale:
		return s.sale(ctx, e)
	case journal.KindVoid:
		return s.void(ctx, e)
	}
	return result{}, fmt.Errorf("%w: kind %v", journal.ErrInvalid, e.Kind)
}

// card returns a card the settlement locked, with its account's balance
// as posted so far: another card of the same account (a replaced card) may
// have changed it.
func (s *settlement) card(cardNo string) (*server.Card, bool) {
	c, ok := s.cards[cardNo]
	if ok {
		if bal, known := s.books.known[c.AccountID]; known {
			c.Balance = bal
		}
		if bal, known := s.books.known[c.SubsidyAccount]; known && c.SubsidyAccount != 0 {
			c.Subsidy = bal
		}
	}
	return c, ok
}

// saleTx returns the transactions row of a sale.
func (s *settlement) saleTx(e *journal.Entry) txRow {
	day := server.SaleDay(e.Time, s.now)
	return txRow{kind: server.TxSale, origin: server.TerminalOrigin(s.terminal, e.Seq), created: ms(s.now),
		terminal: s.terminal, seq: e.Seq, cardNo: e.CardNo, day: &day}
}

// insertSaleTxs inserts the transactions rows of the batch's new sales,
// which depend on nothing the card version and card locks guard, before
// those locks are taken: every settlement waits for the card version
// lock, so it must be held the shortest time. A sale that settles then
// uses its row (see sale); if the batch fails, the rows go with it.
func (s *settlement) insertSaleTxs(ctx context.Context, entries []journal.Entry, lastSeq uint64) error {
	for i := range entries {
		if e := &entries[i]; e.Seq > lastSeq && e.Kind == journal.KindSale {
			s.presetTx[e.Seq] = s.newTx(s.saleTx(e))
		}
	}
	return s.flushTx(ctx)
}

// sale posts a sale: the card's account (or suspense, for an unknown card)
// to revenue.
func (s *settlement) sale(ctx context.Context, e *journal.Entry) (result, error) {
	row := s.saleTx(e)
	day := *row.day
	txID, ok := s.presetTx[e.Seq]
	if !ok {
		txID = s.newTx(row)
	}
	card, found := s.card(e.CardNo)
	if !found {
		if _, err := s.books.post(ctx, txID, []server.Posting{
			{AccountID: server.SuspenseAccount, Amount: -e.Amount},
			{AccountID: s.revenue, Amount: e.Amount},
		}); err != nil {
			return result{}, err
		}
		return result{
			ack:  wire.Ack{Seq: e.Seq, Outcome: wire.Flagged, CardNo: e.CardNo, Day: day},
			txID: txID, note: "unknown card: posted to suspense",
		}, nil
	}

	balances, err := s.books.post(ctx, txID, server.SalePostings(card, e.Amount, s.revenue))
	if err != nil {
		return result{}, err
	}
	at := server.SaleTime(e.Time, s.now)
	note := s.rules.SaleNote(card, e, day, at)
	card.ApplyBalances(balances)
	card.CountSale(e, day, s.rules.Period(at))
	s.touch(card)
	r := server.SettleSale(card, e.Seq, note)
	return result{txID: txID, cardChanged: true, ack: r.Ack, note: r.Note}, nil
}

// void posts the reverse of the sale e.VoidSeq. A void that does not match
// a sale it may reverse posts nothing and is flagged.
func (s *settlement) void(ctx context.Context, e *journal.Entry) (result, error) {
	card, found := s.card(e.CardNo)
	flag := func(format string, args ...any) (result, error) {
		r := result{note: fmt.Sprintf("void of seq %d: ", e.VoidSeq) + fmt.Sprintf(format, args...) + ": nothing posted"}
		if found {
			r.ack = card.Ack(e.Seq, wire.Flagged)
		} else {
			r.ack = wire.Ack{Seq: e.Seq, Outcome: wire.Flagged, CardNo: e.CardNo}
		}
		return r, nil
	}

	// The sale and its void are this register's: the register's lock
	// keeps them as read here. The sale may be of this batch: its row is
	// written first.
	if err := s.flushTx(ctx); err != nil {
		return result{}, err
	}
	var saleID int64
	var kind string
	var saleCard sql.NullString
	var saleDay sql.NullInt64
	err := s.tx.QueryRowContext(ctx, `SELECT id, kind, card_no, day FROM transactions WHERE origin = ?`,
		server.TerminalOrigin(s.terminal, e.VoidSeq)).Scan(&saleID, &kind, &saleCard, &saleDay)
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
	err = s.tx.QueryRowContext(ctx, `SELECT id FROM transactions WHERE void_of = ?`, saleID).Scan(&voidID)
	if err == nil {
		return flag("already voided by transaction %d", voidID)
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return result{}, fmt.Errorf("find void of sale %d: %w", e.VoidSeq, err)
	}
	if saleCard.String != e.CardNo {
		return flag("the sale was on card %s, not %s", saleCard.String, e.CardNo)
	}
	reverse, err := s.postingsOf(ctx, saleID)
	if err != nil {
		return result{}, err
	}
	if sold := server.SaleAmount(reverse); sold != e.Amount {
		return flag("the sale was of %d fen, not %d", sold, e.Amount)
	}
	if found {
		// The batch's postings are kept back until its end: write them
		// (and the balances, first: see books.flush) for the query to see.
		if err := s.books.flush(ctx); err != nil {
			return result{}, err
		}
		note, err := sqlops.VoidPaysTwice(ctx, s.tx, reverse, card.AccountID)
		if err != nil {
			return result{}, fmt.Errorf("void of sale %d: %w", e.VoidSeq, err)
		}
		if note != "" {
			return flag("%s", note)
		}
	}

	day := int32(saleDay.Int64)
	txID := s.newTx(txRow{kind: server.TxVoid, origin: server.TerminalOrigin(s.terminal, e.Seq), created: ms(s.now),
		terminal: s.terminal, seq: e.Seq, cardNo: e.CardNo, day: &day, voidOf: saleID})
	balances, err := s.books.post(ctx, txID, reverse)
	if err != nil {
		return result{}, err
	}
	r := result{txID: txID, ack: wire.Ack{Seq: e.Seq, Outcome: wire.Settled, CardNo: e.CardNo}}
	if found {
		r.ack = card.Ack(e.Seq, wire.Settled)
	}
	// The card's count and version change only if the sale was paid from
	// its account (not from suspense, before the card was opened).
	if found {
		if card.PaidFrom(balances) {
			card.ApplyBalances(balances)
			card.CountVoid(day, e.Amount)
			s.touch(card)
			r.cardChanged = true
			r.ack = card.Ack(e.Seq, wire.Settled)
		}
	}
	return r, nil
}

// postingsOf returns the reverse of a transaction's postings.
func (s *settlement) postingsOf(ctx context.Context, txID int64) ([]server.Posting, error) {
	var out []server.Posting
	if posted, ok := s.books.postingsOf(txID); ok { // a sale of this batch
		for _, p := range posted {
			out = append(out, server.Posting{TxID: p.TxID, AccountID: p.AccountID, Amount: -p.Amount})
		}
		return out, nil
	}
	rows, err := s.tx.QueryContext(ctx, `SELECT account_id, amount FROM postings WHERE tx_id = ? ORDER BY id`, txID)
	if err != nil {
		return nil, fmt.Errorf("postings of transaction %d: %w", txID, err)
	}
	defer rows.Close()
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

// lockCards reads the cards numbered cardNos that exist, with their
// accounts, and locks them to the commit, in card number order: their
// balance, status and count stay as read until this transaction writes
// them.
func (s *settlement) lockCards(ctx context.Context, cardNos []string) error {
	slices.Sort(cardNos)
	cardNos = slices.Compact(cardNos)
	for len(cardNos) > 0 {
		n := min(len(cardNos), maxRowsPerStatement)
		args := make([]any, n)
		for i := range n {
			args[i] = cardNos[i]
		}
		rows, err := s.tx.QueryContext(ctx, `SELECT `+cardColumns+` FROM `+sqlops.CardFrom+`
			WHERE c.card_no IN (`+strings.TrimSuffix(strings.Repeat("?, ", n), ", ")+`) ORDER BY c.card_no FOR UPDATE`, args...)
		if err != nil {
			return fmt.Errorf("lock cards: %w", err)
		}
		for rows.Next() {
			c, err := scanCard(rows)
			if err != nil {
				rows.Close()
				return fmt.Errorf("lock cards: %w", err)
			}
			s.cards[c.CardNo] = &c
			s.books.lock(c.AccountID, c.Balance)
			if c.SubsidyAccount != 0 {
				s.books.lock(c.SubsidyAccount, c.Subsidy)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("lock cards: %w", err)
		}
		cardNos = cardNos[n:]
	}
	return nil
}

// touch gives the card the next version; flush writes it.
func (s *settlement) touch(c *server.Card) {
	s.version++
	c.Version = s.version
	s.changed[c.CardNo] = true
}

// record keeps the entry, to be stored forever with the ack it was given.
func (s *settlement) record(e *journal.Entry, raw []byte, h journal.Hash, r result) {
	var txID sql.NullInt64
	if r.txID != 0 {
		txID = sql.NullInt64{Int64: r.txID, Valid: true}
	}
	s.entries = append(s.entries, s.terminal, e.Seq, h[:], raw, txID, r.ack.Outcome.String(), r.note,
		int64(r.ack.Balance), r.ack.Version, r.ack.Day, r.ack.TodayCount, ms(s.now))
}

// flush writes the batch's cards, balances, transactions, postings and
// entries.
func (s *settlement) flush(ctx context.Context) error {
	var cards []any
	var listed []server.Card
	for _, no := range slices.Sorted(maps.Keys(s.changed)) {
		c := s.cards[no]
		cards = append(cards, c.CardNo, c.Version, c.Day, c.TodayCount, string(c.Status), c.Reason, int64(c.DayAmount), c.LastSale, c.Period, c.PeriodCount)
		if c.Status != server.CardActive {
			listed = append(listed, *c)
		}
	}
	if err := updateRows(ctx, s.tx, "cards", "card_no", []string{"version = ", "day = ", "today_count = ", "status = ", "reason = ",
		"day_amount = ", "last_sale = ", "period = ", "period_count = "}, cards); err != nil {
		return fmt.Errorf("update cards: %w", err)
	}
	// A sale that overdrew a card froze it; one on a card that is listed
	// gave it a new version: either way the hotlist takes the card's.
	if err := sqlops.ListCards(ctx, s.tx, listed); err != nil {
		return err
	}
	// The transactions before the postings and entries that refer to
	// them; after the cards, so that their rows are locked in the order
	// the package doc gives.
	if err := s.flushTx(ctx); err != nil {
		return err
	}
	if err := s.books.flush(ctx); err != nil {
		return err
	}
	err := insertRows(ctx, s.tx, `INSERT INTO entries (terminal_id, seq, hash, raw, tx_id, outcome, note, balance, version, day, today_count, settled_at) VALUES `,
		entryColumns, s.entries)
	if err != nil {
		return fmt.Errorf("record entries: %w", err)
	}
	return nil
}
