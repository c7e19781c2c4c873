package journal

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/fanka/fanka/shared/journal"
	"github.com/fanka/fanka/shared/money"
	"github.com/fanka/fanka/shared/wire"
)

// The server's rules and this register's own sales per card, so that a
// register restarted while the server is out of reach still applies the
// rules it last got:
//
//	meta  "rules"      the last rules the server sent, a wire.Rules frame (a
//	                   wire.RulesV1 frame if written before Rules existed)
//	taps  card no  →   day:i32 amount:i64 last:i64   (this register's sales
//	                   of the card on day, less voids, and the Unix ms time
//	                   of its last sale)
var (
	bucketTaps = []byte("taps")
	keyRules   = []byte("rules")
)

// SaveRules records m as the server's rules in force. The rules already
// recorded, but for the time the server sent them, are not written again.
func (j *Journal) SaveRules(m *wire.Rules) error {
	b, err := wire.Encode(m)
	if err != nil {
		return fmt.Errorf("journal: record rules version %d: %w", m.Version, err)
	}
	err = j.db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if old := meta.Get(keyRules); old != nil {
			if prev, err := decodeRules(old); err == nil {
				prev.ServerTime = m.ServerTime
				if same, err := wire.Encode(prev); err == nil && bytes.Equal(same, b) {
					return nil
				}
			}
		}
		return meta.Put(keyRules, b)
	})
	if err != nil {
		return fmt.Errorf("journal: record rules version %d: %w", m.Version, err)
	}
	return nil
}

// ServerRules returns the rules SaveRules last recorded, and false if the
// server never sent any.
func (j *Journal) ServerRules() (*wire.Rules, bool, error) {
	var m *wire.Rules
	err := j.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketMeta).Get(keyRules)
		if b == nil {
			return nil
		}
		r, err := decodeRules(b)
		m = r
		return err
	})
	if err != nil {
		return nil, false, fmt.Errorf("journal: read the server's rules: %w", err)
	}
	return m, m != nil, nil
}

// decodeRules decodes a recorded rules frame: Rules, or RulesV1 as a
// journal written before Rules existed holds.
func decodeRules(b []byte) (*wire.Rules, error) {
	msg, err := wire.Decode(b)
	if err != nil {
		return nil, err
	}
	switch m := msg.(type) {
	case *wire.Rules:
		return m, nil
	case *wire.RulesV1:
		return &m.Rules, nil
	}
	return nil, fmt.Errorf("a %T, not rules", msg)
}

// tap is this register's sales of a card on one day.
type tap struct {
	day    int32
	amount money.Fen // sales less voids that day
	last   int64     // Unix ms of the last sale, any day
}

func decodeTap(b []byte) tap {
	if len(b) != 20 {
		return tap{}
	}
	return tap{day: int32(binary.BigEndian.Uint32(b)), amount: money.Fen(binary.BigEndian.Uint64(b[4:])),
		last: int64(binary.BigEndian.Uint64(b[12:]))}
}

func (t tap) encode() []byte {
	b := binary.BigEndian.AppendUint32(make([]byte, 0, 20), uint32(t.day))
	b = binary.BigEndian.AppendUint64(b, uint64(t.amount))
	return binary.BigEndian.AppendUint64(b, uint64(t.last))
}

// countTap counts e, on day, in its card's tap, in tx.
func countTap(tx *bolt.Tx, e journal.Entry, day int32) error {
	taps := tx.Bucket(bucketTaps)
	t := decodeTap(taps.Get([]byte(e.CardNo)))
	switch e.Kind {
	case journal.KindSale:
		if t.day != day {
			t.day, t.amount = day, 0
		}
		t.amount += e.Amount
		t.last = max(t.last, e.Time)
	case journal.KindVoid:
		if t.day != day {
			return nil
		}
		t.amount = max(t.amount-e.Amount, 0)
	default:
		return nil
	}
	return taps.Put([]byte(e.CardNo), t.encode())
}

// readTap returns this register's sales of the card cardNo on day, and
// the time of its last sale (zero if none), in tx.
func readTap(tx *bolt.Tx, cardNo string, day int32) (money.Fen, time.Time) {
	t := decodeTap(tx.Bucket(bucketTaps).Get([]byte(cardNo)))
	var last time.Time
	if t.last != 0 {
		last = time.UnixMilli(t.last)
	}
	if t.day != day {
		return 0, last
	}
	return t.amount, last
}
