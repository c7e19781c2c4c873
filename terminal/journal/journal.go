// Package journal keeps the register's durable state in bbolt: the signed,
// hash-chained journal of sales and voids, the card cache the server pushes,
// and where the stream to the server stands.
//
// Record returns only after the entry is fsync'd, so that a sale the display
// called 成功 survives a power cut or a SIGKILL. Entries are never rewritten
// or deleted: the server keeps its own copy forever, and the register keeps
// its own for audit.
package journal

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/fanka/fanka/shared/journal"
	"github.com/fanka/fanka/shared/money"
	"github.com/fanka/fanka/shared/wire"
	"github.com/fanka/fanka/terminal"
)

var (
	bucketEntries = []byte("entries") // seq (u64 BE) → canonical entry
	bucketMeta    = []byte("meta")    // see meta keys
	bucketCards   = []byte("cards")   // card no → encoded wire.Card

	keyTerminal   = []byte("terminal")    // u32: the register id the journal belongs to
	keyAcked      = []byte("acked")       // u64: the server's last settled seq
	keyCardCursor = []byte("card_cursor") // u64: highest card version held
)

// Errors returned by the journal.
var (
	// ErrWrongTerminal: the file belongs to another register.
	ErrWrongTerminal = errors.New("journal: file belongs to another register")
	// ErrServerAhead: the server claims entries this journal does not hold
	// (a replaced disk or a copied data dir): the stream must stop.
	ErrServerAhead = errors.New("journal: server knows entries this register does not have")
	// ErrDiverged: the server's entry at a seq differs from ours.
	ErrDiverged = errors.New("journal: server's chain differs from this register's")
)

// Journal is a register's bbolt file. It is safe for concurrent use: the
// register records sales while the uplink reads entries and applies acks.
type Journal struct {
	db       *bolt.DB
	terminal uint32
	key      ed25519.PrivateKey

	mu        sync.Mutex
	lastSeq   uint64
	lastHash  journal.Hash
	acked     uint64
	unsettled map[string]pending // card no → this register's sales not yet reflected
	entries   map[uint64]pendingEntry
	pendAmt   money.Fen
}

type pending struct {
	amount money.Fen
	count  int
}

type pendingEntry struct {
	card   string
	amount money.Fen // signed: + for sales, − for voids
	day    int32
}

// Open opens (creating if needed) the journal file of register terminal,
// whose entries are signed with key.
func Open(path string, terminalID uint32, key ed25519.PrivateKey) (*Journal, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("open journal %s: %w", path, err)
	}
	j := &Journal{db: db, terminal: terminalID, key: key,
		unsettled: map[string]pending{}, entries: map[uint64]pendingEntry{}}
	if err := j.load(); err != nil {
		db.Close()
		return nil, fmt.Errorf("open journal %s: %w", path, err)
	}
	return j, nil
}

func (j *Journal) load() error {
	return j.db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketEntries, bucketMeta, bucketCards} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		if v := meta.Get(keyTerminal); v != nil {
			if got := binary.BigEndian.Uint32(v); got != j.terminal {
				return fmt.Errorf("%w: register %d, not %d", ErrWrongTerminal, got, j.terminal)
			}
		} else if err := meta.Put(keyTerminal, binary.BigEndian.AppendUint32(nil, j.terminal)); err != nil {
			return err
		}
		j.acked = u64(meta.Get(keyAcked))
		c := tx.Bucket(bucketEntries).Cursor()
		if k, v := c.Last(); k != nil {
			j.lastSeq = binary.BigEndian.Uint64(k)
			j.lastHash = journal.HashBytes(v)
		}
		// Rebuild what is not yet settled.
		for k, v := c.Seek(seqKey(j.acked + 1)); k != nil; k, v = c.Next() {
			e, err := journal.Unmarshal(v)
			if err != nil {
				return fmt.Errorf("entry %d: %w", binary.BigEndian.Uint64(k), err)
			}
			j.addPending(e)
		}
		return nil
	})
}

// Close closes the file.
func (j *Journal) Close() error { return j.db.Close() }

// Terminal returns the register id.
func (j *Journal) Terminal() uint32 { return j.terminal }

// Record completes e with the register id, the next seq, the previous
// entry's hash and the register's signature, appends it and fsyncs it. It
// returns the entry as recorded. On error nothing is recorded.
func (j *Journal) Record(e journal.Entry) (journal.Entry, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	e.Terminal = j.terminal
	e.Seq = j.lastSeq + 1
	e.Prev = j.lastHash
	if err := e.Sign(j.key); err != nil {
		return journal.Entry{}, fmt.Errorf("record seq %d: %w", e.Seq, err)
	}
	b, err := e.Marshal()
	if err != nil {
		return journal.Entry{}, fmt.Errorf("record seq %d: %w", e.Seq, err)
	}
	err = j.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketEntries).Put(seqKey(e.Seq), b)
	})
	if err != nil {
		return journal.Entry{}, fmt.Errorf("record seq %d: %w", e.Seq, err)
	}
	j.lastSeq, j.lastHash = e.Seq, journal.HashBytes(b)
	j.addPending(e)
	return e, nil
}

func (j *Journal) addPending(e journal.Entry) {
	amt := e.Amount
	if e.Kind == journal.KindVoid {
		amt = -amt
	}
	p := j.unsettled[e.CardNo]
	p.amount += amt
	if e.Kind == journal.KindSale {
		p.count++
	} else {
		p.count--
	}
	j.unsettled[e.CardNo] = p
	j.entries[e.Seq] = pendingEntry{card: e.CardNo, amount: amt, day: Day(time.UnixMilli(e.Time))}
	j.pendAmt += amt
}

func (j *Journal) settle(seq uint64) {
	pe, ok := j.entries[seq]
	if !ok {
		return
	}
	delete(j.entries, seq)
	p := j.unsettled[pe.card]
	p.amount -= pe.amount
	if pe.amount > 0 {
		p.count--
	} else {
		p.count++
	}
	if p.amount == 0 && p.count == 0 {
		delete(j.unsettled, pe.card)
	} else {
		j.unsettled[pe.card] = p
	}
	j.pendAmt -= pe.amount
}

// Day returns the day number (days since 1970-01-01 in t's location) that
// daily counts are kept by.
func Day(t time.Time) int32 {
	y, m, d := t.Date()
	return int32(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400)
}

// Card returns what the register knows of a card: the server's last word on
// it and this register's sales the server has not reflected yet.
func (j *Journal) Card(cardNo string, now time.Time) (terminal.CardView, bool, error) {
	var c wire.Card
	var found bool
	err := j.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketCards).Get([]byte(cardNo))
		if v == nil {
			return nil
		}
		found = true
		return decodeCard(v, &c)
	})
	if err != nil || !found {
		return terminal.CardView{}, false, err
	}
	j.mu.Lock()
	p := j.unsettled[cardNo]
	j.mu.Unlock()
	today := int(c.TodayCount)
	if c.Day != Day(now) {
		today = 0
	}
	return terminal.CardView{
		CardNo: c.CardNo, Name: c.Name, Status: c.Status,
		Balance: c.Balance - p.amount, TodayCount: today + p.count,
	}, true, nil
}

// Pending returns the number of entries the server has not settled and
// their total amount.
func (j *Journal) Pending() (int, money.Fen) {
	j.mu.Lock()
	defer j.mu.Unlock()
	return len(j.entries), j.pendAmt
}

// Last returns the last recorded seq.
func (j *Journal) Last() uint64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.lastSeq
}

// Resume takes the server's word on where its copy of the journal ends
// (wire.Welcome) and returns the seq to stream from. It fails when the
// server's chain is not a prefix of this journal.
func (j *Journal) Resume(lastSeq uint64, lastHash journal.Hash) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if lastSeq > j.lastSeq {
		return fmt.Errorf("%w: server at seq %d, journal at %d", ErrServerAhead, lastSeq, j.lastSeq)
	}
	if lastSeq > 0 {
		var h journal.Hash
		err := j.db.View(func(tx *bolt.Tx) error {
			h = journal.HashBytes(tx.Bucket(bucketEntries).Get(seqKey(lastSeq)))
			return nil
		})
		if err != nil {
			return err
		}
		if h != lastHash {
			return fmt.Errorf("%w: at seq %d", ErrDiverged, lastSeq)
		}
	}
	return j.setAcked(lastSeq)
}

// setAcked records the server's settled point; j.mu must be held.
func (j *Journal) setAcked(seq uint64) error {
	if seq <= j.acked {
		return nil
	}
	err := j.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(keyAcked, seqKey(seq))
	})
	if err != nil {
		return fmt.Errorf("journal: record ack %d: %w", seq, err)
	}
	for s := j.acked + 1; s <= seq; s++ {
		j.settle(s)
	}
	j.acked = seq
	return nil
}

// Acked returns the server's last settled seq as last heard.
func (j *Journal) Acked() uint64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.acked
}

// Entries returns up to max encoded entries after seq, in order.
func (j *Journal) Entries(after uint64, max int) ([][]byte, error) {
	var out [][]byte
	err := j.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketEntries).Cursor()
		for k, v := c.Seek(seqKey(after + 1)); k != nil && len(out) < max; k, v = c.Next() {
			out = append(out, bytes.Clone(v))
		}
		return nil
	})
	return out, err
}

// ApplyAcks records that the server settled the acknowledged entries and
// takes the card states they carry. Acks must follow the journal in order.
func (j *Journal) ApplyAcks(acks []wire.Ack) error {
	if len(acks) == 0 {
		return nil
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	last := acks[len(acks)-1].Seq
	if last > j.lastSeq {
		return fmt.Errorf("%w: ack for seq %d, journal at %d", ErrServerAhead, last, j.lastSeq)
	}
	err := j.db.Update(func(tx *bolt.Tx) error {
		cards := tx.Bucket(bucketCards)
		for _, a := range acks {
			v := cards.Get([]byte(a.CardNo))
			if v == nil {
				continue // an unknown card: the server pushes it if it becomes known
			}
			var c wire.Card
			if err := decodeCard(v, &c); err != nil {
				return err
			}
			if a.Version <= c.Version {
				continue
			}
			c.Version, c.Balance, c.Day, c.TodayCount = a.Version, a.Balance, a.Day, a.TodayCount
			if err := cards.Put([]byte(c.CardNo), encodeCard(&c)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("journal: apply acks: %w", err)
	}
	return j.setAcked(last)
}

// ApplyCards stores card states pushed by the server, keeping for each card
// the state with the higher version.
func (j *Journal) ApplyCards(m *wire.Cards) error {
	return j.db.Update(func(tx *bolt.Tx) error {
		cards := tx.Bucket(bucketCards)
		for i := range m.Cards {
			c := &m.Cards[i]
			if v := cards.Get([]byte(c.CardNo)); v != nil {
				var old wire.Card
				if err := decodeCard(v, &old); err != nil {
					return err
				}
				if old.Version >= c.Version {
					continue
				}
			}
			if err := cards.Put([]byte(c.CardNo), encodeCard(c)); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		if m.Cursor > u64(meta.Get(keyCardCursor)) {
			return meta.Put(keyCardCursor, seqKey(m.Cursor))
		}
		return nil
	})
}

// CardCursor returns the highest card version held.
func (j *Journal) CardCursor() (uint64, error) {
	var v uint64
	err := j.db.View(func(tx *bolt.Tx) error {
		v = u64(tx.Bucket(bucketMeta).Get(keyCardCursor))
		return nil
	})
	return v, err
}

func seqKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

func u64(b []byte) uint64 {
	if len(b) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

// encodeCard stores a card as a one-card wire.Cards frame: the same codec,
// with its bounds, as on the wire.
func encodeCard(c *wire.Card) []byte {
	b, err := wire.Encode(&wire.Cards{Cards: []wire.Card{*c}})
	if err != nil {
		panic(fmt.Sprintf("journal: encode card %q: %v", c.CardNo, err)) // fields come from a decoded frame
	}
	return b
}

func decodeCard(b []byte, c *wire.Card) error {
	m, err := wire.Decode(b)
	if err != nil {
		return fmt.Errorf("journal: stored card: %w", err)
	}
	cs, ok := m.(*wire.Cards)
	if !ok || len(cs.Cards) != 1 {
		return fmt.Errorf("journal: stored card: unexpected %T", m)
	}
	*c = cs.Cards[0]
	return nil
}
