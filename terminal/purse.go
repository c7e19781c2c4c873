package terminal

import (
	"context"
	"math"
	"time"

	"github.com/fanka/fanka/shared/card"
	"github.com/fanka/fanka/shared/journal"
	"github.com/fanka/fanka/shared/money"
)

// The purse record (shared/card.Purse) is how offline registers learn what
// other offline registers sold on a fanka card. After each sale is durable
// in the journal (the journal is the truth), the register writes the card
// a new record: the balance after the sale, today's count with it, the
// sale's time and the next sequence, signed with its own key; a void of
// that sale writes it back out, with the card still in or when it next
// comes here with that record. When a card comes, the register verifies the record the card holds against the key
// of the register that wrote it (Config.PurseKeys); a record that does not
// verify is logged and ignored.
//
// Online, the server's word (the card cache less this register's
// unsettled sales) decides, and the record is only rewritten. Offline, the
// register takes the card's record when it is newer by day and count: of
// today and counting more of today's sales than the register knows of.
// Then its count is today's count, and the balance is the lower of the
// record's and the register's own: a signed record can be replayed by a
// cloned card, so the record may lower what the register lets the card
// spend but never raise it. An older record (another day, or fewer sales
// today) leaves the register's view as it is: a recharge the cache has
// seen stays spendable.

// withPurse returns view, the register's view of the card in, with the
// card's purse record taken into account.
func (r *Register) withPurse(view CardView) CardView {
	p := r.purse
	if p == nil {
		return view
	}
	if err := card.VerifyPurse(*p, view.CardNo, r.writers); err != nil {
		r.log.Warn("purse record ignored", "card", view.CardNo, "writer", p.Writer, "seq", p.Seq, "err", err)
		return view
	}
	if r.uplink.Online() {
		return view
	}
	if p.Day != Day(r.now()) || int(p.TodayCount) <= view.TodayCount {
		return view
	}
	r.log.Info("purse record newer than the cache: taken", "card", view.CardNo, "writer", p.Writer, "seq", p.Seq,
		"today", p.TodayCount, "cache_today", view.TodayCount, "balance", p.Balance.String(), "cache_balance", view.Balance.String())
	view.TodayCount = int(p.TodayCount)
	view.Balance = min(view.Balance, p.Balance)
	return view
}

// writePurse writes the card in a new purse record for sale, just recorded
// at now, after which the card's balance is after. A card that left, or refuses,
// keeps its older record: the sale stands, recorded once in the journal.
func (r *Register) writePurse(sale journal.Entry, after money.Fen, now time.Time) {
	w := r.event.PurseWriter
	if w == nil || r.cfg.PurseKey == nil {
		return
	}
	seq := uint64(1)
	if r.purse != nil {
		if r.purse.Seq == math.MaxUint64 {
			r.log.Warn("purse record not written: its sequence is at its maximum", "card", sale.CardNo)
			return
		}
		seq = r.purse.Seq + 1 // above the card's, even when the card's did not verify
	}
	p, err := card.SignPurse(card.Purse{
		CardNo: sale.CardNo, Balance: after, Day: Day(now),
		TodayCount: uint16(min(r.card.TodayCount+1, math.MaxUint16)), LastSale: sale.Time,
		Seq: seq, Writer: r.cfg.Terminal,
	}, r.cfg.PurseKey)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), cardSignWait)
		err = w.WritePurse(ctx, p)
		cancel()
	}
	if err != nil {
		r.log.Warn("purse record not written: the card keeps an older one", "card", sale.CardNo, "seq", sale.Seq, "err", err)
		return
	}
	r.purse = &p
	r.written.purse, r.written.sale, r.written.voided = p, sale.Seq, 0
}

// voidPurse notes that sale was voided at now. If this register wrote the
// purse record for that sale, the record is written back (the sale's
// amount returned, one sale fewer) as soon as the card is in with that
// record still on it: now, or when it next comes (unwritePurse).
func (r *Register) voidPurse(sale journal.Entry) {
	if r.written.sale == 0 || r.written.sale != sale.Seq {
		return
	}
	r.written.voided = sale.Amount
	r.unwritePurse()
}

// unwritePurse writes the card in its record back out of a voided sale,
// when the card still holds the record this register wrote for the sale.
// A record that cannot be written back counts the voided sale, which
// offline only makes the card look poorer (see withPurse), never richer.
func (r *Register) unwritePurse() {
	w := r.event.PurseWriter
	if r.written.voided == 0 || w == nil || r.cfg.PurseKey == nil || !r.present || r.purse == nil ||
		*r.purse != r.written.purse || r.purse.Seq == math.MaxUint64 {
		return
	}
	p := *r.purse
	p.Balance += r.written.voided
	if p.TodayCount > 0 {
		p.TodayCount--
	}
	p.LastSale, p.Seq = r.now().UnixMilli(), p.Seq+1
	p, err := card.SignPurse(p, r.cfg.PurseKey)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), cardSignWait)
		err = w.WritePurse(ctx, p)
		cancel()
	}
	if err != nil {
		r.log.Warn("purse record not written back after a void: the card keeps the sale's", "card", p.CardNo, "err", err)
		return
	}
	r.log.Info("purse record written back after a void", "card", p.CardNo, "seq", p.Seq)
	r.purse = &p
	r.written.purse, r.written.sale, r.written.voided = p, 0, 0
}

// Day returns the day number (days since 1970-01-01 in t's location) that
// daily counts are kept by: wire.Card.Day, card.Purse.Day.
func Day(t time.Time) int32 {
	y, m, d := t.Date()
	return int32(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400)
}
