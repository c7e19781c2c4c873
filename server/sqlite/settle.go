package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/fanka/fanka/server"
	"github.com/fanka/fanka/shared/journal"
	"github.com/fanka/fanka/shared/money"
	"github.com/fanka/fanka/shared/wire"
)

// Settle implements server.Settler. The batch settles in one transaction
// on the single writer connection, so batches from all registers are
// serialized.
func (db *DB) Settle(ctx context.Context, terminal uint32, raw [][]byte) ([]wire.Ack, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	entries, err := server.DecodeBatch(terminal, raw)
	if err != nil {
		return nil, err
	}

	var acks []wire.Ack
	changed := false
	err = db.inTx(ctx, func(tx *wtx) error {
		t, err := terminalIn(ctx, tx, terminal)
		if err != nil {
			return err
		}
		switch {
		case t.Disabled:
			return server.Errorf(server.EFORBIDDEN, "register %d is disabled", terminal)
		case !t.Enrolled():
			return server.Errorf(server.EFORBIDDEN, "register %d has not enrolled", terminal)
		}
		s := settlement{tx: tx, books: books{tx: tx, hot: map[int64]money.Fen{}}, terminal: terminal, now: db.Now()}
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
			if err := e.Verify(t.PublicKey); err != nil {
				return fmt.Errorf("settle %d/%d: %w", terminal, e.Seq, err)
			}
			r, err := s.settle(ctx, e)
			if err != nil {
				return fmt.Errorf("settle %d/%d: %w", terminal, e.Seq, err)
			}
			if err := s.record(ctx, e, raw[i], h, r); err != nil {
				return fmt.Errorf("settle %d/%d: %w", terminal, e.Seq, err)
			}
			changed = changed || r.cardChanged
			acks = append(acks, r.ack)
			lastSeq, lastHash = e.Seq, h
		}
		if err := s.books.flush(ctx); err != nil {
			return fmt.Errorf("settle register %d: %w", terminal, err)
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

// settlement is one batch being settled.
type settlement struct {
	tx       *wtx
	books    books
	terminal uint32
	now      time.Time
}

// result is how one entry settled.
type result struct {
	ack         wire.Ack
	txID        int64  // the transaction posted; 0 if none
	note        string // why it was flagged
	cardChanged bool
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

// sale posts a sale: the card's account (or suspense, for an unknown card)
// to revenue.
func (s *settlement) sale(ctx context.Context, e *journal.Entry) (result, error) {
	day := server.SaleDay(e.Time, s.now)
	row := txRow{kind: server.TxSale, origin: server.TerminalOrigin(s.terminal, e.Seq), created: ms(s.now),
		terminal: s.terminal, seq: e.Seq, cardNo: e.CardNo, day: &day}
	card, found, err := s.card(ctx, e.CardNo)
	if err != nil {
		return result{}, err
	}
	if !found {
		txID, err := insertTx(ctx, s.tx, row)
		if err != nil {
			return result{}, err
		}
		if _, err := s.books.post(ctx, txID, []server.Posting{
			{AccountID: server.SuspenseAccount, Amount: -e.Amount},
			{AccountID: server.RevenueAccount, Amount: e.Amount},
		}); err != nil {
			return result{}, err
		}
		return result{
			ack:  wire.Ack{Seq: e.Seq, Outcome: wire.Flagged, CardNo: e.CardNo, Day: day},
			txID: txID, note: "unknown card: posted to suspense",
		}, nil
	}

	txID, err := insertTx(ctx, s.tx, row)
	if err != nil {
		return result{}, err
	}
	balances, err := s.books.post(ctx, txID, []server.Posting{
		{AccountID: card.AccountID, Amount: -e.Amount},
		{AccountID: server.RevenueAccount, Amount: e.Amount},
	})
	if err != nil {
		return result{}, err
	}
	card.Balance = balances[card.AccountID]
	card.CountSale(day)
	if err := s.touchCard(ctx, &card); err != nil {
		return result{}, err
	}
	r := result{txID: txID, cardChanged: true, ack: card.Ack(e.Seq, server.SaleOutcome(card.Status, card.Balance))}
	if r.ack.Outcome == wire.Flagged {
		r.note = fmt.Sprintf("sale on a %s card", card.Status)
	}
	return r, nil
}

// void posts the reverse of the sale e.VoidSeq. A void that does not match
// a sale it may reverse posts nothing and is flagged.
func (s *settlement) void(ctx context.Context, e *journal.Entry) (result, error) {
	card, found, err := s.card(ctx, e.CardNo)
	if err != nil {
		return result{}, err
	}
	flag := func(format string, args ...any) (result, error) {
		r := result{note: fmt.Sprintf("void of seq %d: ", e.VoidSeq) + fmt.Sprintf(format, args...) + ": nothing posted"}
		if found {
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
	err = s.tx.QueryRowContext(ctx, `SELECT id, kind, card_no, day FROM transactions WHERE origin = ?`,
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
	var revenue money.Fen
	for _, p := range reverse {
		if p.AccountID == server.RevenueAccount {
			revenue -= p.Amount
		}
	}
	if revenue != e.Amount {
		return flag("the sale was of %d fen, not %d", revenue, e.Amount)
	}

	day := int32(saleDay.Int64)
	txID, err := insertTx(ctx, s.tx, txRow{kind: server.TxVoid, origin: server.TerminalOrigin(s.terminal, e.Seq), created: ms(s.now),
		terminal: s.terminal, seq: e.Seq, cardNo: e.CardNo, day: &day, voidOf: saleID})
	if err != nil {
		return result{}, err
	}
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
	if bal, ok := balances[card.AccountID]; found && ok {
		card.Balance = bal
		card.CountVoid(day)
		if err := s.touchCard(ctx, &card); err != nil {
			return result{}, err
		}
		r.cardChanged = true
		r.ack = card.Ack(e.Seq, wire.Settled)
	}
	return r, nil
}

// postingsOf returns the reverse of a transaction's postings.
func (s *settlement) postingsOf(ctx context.Context, txID int64) ([]server.Posting, error) {
	rows, err := s.tx.QueryContext(ctx, `SELECT account_id, amount FROM postings WHERE tx_id = ? ORDER BY id`, txID)
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

// card reads a card within the batch's transaction.
func (s *settlement) card(ctx context.Context, cardNo string) (server.Card, bool, error) {
	c, err := scanCard(s.tx.QueryRowContext(ctx,
		`SELECT `+cardColumns+` FROM cards c JOIN accounts a ON a.id = c.account_id WHERE c.card_no = ?`, cardNo))
	if errors.Is(err, sql.ErrNoRows) {
		return server.Card{}, false, nil
	}
	if err != nil {
		return server.Card{}, false, fmt.Errorf("card %s: %w", cardNo, err)
	}
	return c, true, nil
}

// touchCard gives the card a new version and stores its daily count.
func (s *settlement) touchCard(ctx context.Context, c *server.Card) error {
	v, err := nextCardVersion(ctx, s.tx)
	if err != nil {
		return err
	}
	c.Version = v
	if _, err := s.tx.ExecContext(ctx, `UPDATE cards SET version = ?, day = ?, today_count = ? WHERE card_no = ?`,
		c.Version, c.Day, c.TodayCount, c.CardNo); err != nil {
		return fmt.Errorf("update card %s: %w", c.CardNo, err)
	}
	return nil
}

// record stores the entry, kept forever, with the ack it was given.
func (s *settlement) record(ctx context.Context, e *journal.Entry, raw []byte, h journal.Hash, r result) error {
	var txID sql.NullInt64
	if r.txID != 0 {
		txID = sql.NullInt64{Int64: r.txID, Valid: true}
	}
	_, err := s.tx.ExecContext(ctx, `INSERT INTO entries (terminal_id, seq, hash, raw, tx_id, outcome, note, balance, version, day, today_count, settled_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		s.terminal, e.Seq, h[:], raw, txID, r.ack.Outcome.String(), r.note,
		r.ack.Balance, r.ack.Version, r.ack.Day, r.ack.TodayCount, ms(s.now))
	if err != nil {
		return fmt.Errorf("record entry: %w", err)
	}
	return nil
}
