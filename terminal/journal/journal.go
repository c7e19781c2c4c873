// Package journal keeps the register's durable state in bbolt: the signed,
// hash-chained journal of sales and voids, the card cache the server pushes,
// and where the stream to the server stands.
//
// Record returns only after the entry is fsync'd, so that a sale the display
// called 成功 survives a power cut or a SIGKILL. Entries are never rewritten
// or deleted: the server keeps its own copy forever, and the register keeps
// its own for audit. When the disk is full Record fails with an error
// wrapping terminal.ErrJournalFull, and nothing is recorded.
//
// The hotlist (hotlist.go) says which cards to refuse whatever the cache
// says.
//
// The card cache may hold millions of cards. They stay on disk: records
// are compact (cards.go), and the journal drops its mapping of the file's
// pages every few dozen cards it reads or writes, so that the register's
// resident memory does not grow with the size of the cache (DESIGN §10).
package journal

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
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
	bucketCards   = []byte("cards")   // card no → a card record (cards.go)
	// bucketReceipts holds the documents not yet printed: the receipt of
	// a sale or the slip of a void, seq (u64 BE) → nothing; and shift
	// reports, the last seq at sign-out (u64 BE) and the bucket's next
	// sequence (u64 BE) → the terminal.ShiftJob in JSON, which sorts
	// after the document of that seq. See QueueReceipts and QueueShift.
	bucketReceipts = []byte("receipts")

	keyTerminal   = []byte("terminal")    // u32: the register id the journal belongs to
	keyAcked      = []byte("acked")       // u64: the server's last settled seq
	keyCardCursor = []byte("card_cursor") // u64: highest card version held
	keyContact    = []byte("contact")     // i64: Unix ms when the register last heard from the server
	keyShift      = []byte("shift")       // the open shift, a terminal.ShiftJob in JSON (BeginShift)
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
	last      journal.Entry // the entry at lastSeq, decoded
	acked     uint64
	unsettled map[string]money.Fen    // card no → this register's entries not yet settled, summed
	days      map[cardDay]dayPending  // card no and day → the same, counted on the sale's day
	entries   map[uint64]pendingEntry // seq → an entry not yet settled
	backlog   terminal.Backlog        // all of them

	receipts bool // QueueReceipts was called: sales and voids are queued for their receipt or slip

	touched atomic.Int64 // cards read or written since the file's pages were last released
}

type cardDay struct {
	card string
	day  int32
}

type dayPending struct {
	count  int       // sales less voids
	amount money.Fen // the same in fen
}

type pendingEntry struct {
	card    string
	amount  money.Fen // signed: + for sales, − for voids
	day     int32     // the day it counts on: a sale's own, a void's sale's
	sale    bool
	offline bool
	time    int64 // the entry's Time
}

var _ terminal.Journal = (*Journal)(nil)

// Open opens (creating if needed) the journal file of register terminal,
// whose entries are signed with key.
func Open(path string, terminalID uint32, key ed25519.PrivateKey) (*Journal, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("open journal %s: %w", path, err)
	}
	j := &Journal{db: db, terminal: terminalID, key: key,
		unsettled: map[string]money.Fen{}, days: map[cardDay]dayPending{}, entries: map[uint64]pendingEntry{}}
	if err := j.load(); err != nil {
		db.Close()
		return nil, fmt.Errorf("open journal %s: %w", path, err)
	}
	return j, nil
}

func (j *Journal) load() error {
	return j.db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketEntries, bucketMeta, bucketCards, bucketTaps, bucketReceipts, bucketHotlist} {
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
		entries := tx.Bucket(bucketEntries)
		c := entries.Cursor()
		if k, v := c.Last(); k != nil {
			e, err := journal.Unmarshal(v)
			if err != nil {
				return fmt.Errorf("last entry %d: %w", binary.BigEndian.Uint64(k), err)
			}
			j.lastSeq, j.lastHash, j.last = e.Seq, journal.HashBytes(v), e
		}
		// Rebuild what is not yet settled.
		for k, v := c.Seek(seqKey(j.acked + 1)); k != nil; k, v = c.Next() {
			e, err := journal.Unmarshal(v)
			if err != nil {
				return fmt.Errorf("entry %d: %w", binary.BigEndian.Uint64(k), err)
			}
			j.addPending(e, j.countDay(entries, e))
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
// returns the entry as recorded. On error nothing is recorded; when the
// disk is full the error wraps terminal.ErrJournalFull.
//
// Once QueueReceipts was called, a sale is queued for its receipt in the
// same transaction, and a void for its void slip, taking its sale's
// receipt off the queue if it was not printed yet: a receipt or slip is
// never lost, and a voided sale's receipt is not printed late.
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
	var day int32
	err = j.db.Update(func(tx *bolt.Tx) error {
		entries := tx.Bucket(bucketEntries)
		day = j.countDay(entries, e)
		if err := entries.Put(seqKey(e.Seq), b); err != nil {
			return err
		}
		if err := countTap(tx, e, day); err != nil {
			return err
		}
		if !j.receipts {
			return nil
		}
		switch e.Kind {
		case journal.KindSale:
			return tx.Bucket(bucketReceipts).Put(seqKey(e.Seq), nil)
		case journal.KindVoid:
			q := tx.Bucket(bucketReceipts)
			if err := q.Delete(seqKey(e.VoidSeq)); err != nil {
				return err
			}
			return q.Put(seqKey(e.Seq), nil)
		}
		return nil
	})
	if errors.Is(err, syscall.ENOSPC) {
		return journal.Entry{}, fmt.Errorf("record seq %d: %w: %w", e.Seq, terminal.ErrJournalFull, err)
	}
	if err != nil {
		return journal.Entry{}, fmt.Errorf("record seq %d: %w", e.Seq, err)
	}
	j.lastSeq, j.lastHash, j.last = e.Seq, journal.HashBytes(b), e
	j.addPending(e, day)
	return e, nil
}

// countDay returns the day an entry counts on: a sale's own day, and for
// a void the day of the sale it voids (as the server counts it). j.mu must
// be held.
func (j *Journal) countDay(entries *bolt.Bucket, e journal.Entry) int32 {
	if e.Kind == journal.KindVoid {
		if pe, ok := j.entries[e.VoidSeq]; ok {
			return pe.day
		}
		if v := entries.Get(seqKey(e.VoidSeq)); v != nil {
			if sale, err := journal.Unmarshal(v); err == nil {
				return Day(time.UnixMilli(sale.Time))
			}
		}
	}
	return Day(time.UnixMilli(e.Time))
}

// addPending counts e as not yet settled; j.mu must be held.
func (j *Journal) addPending(e journal.Entry, day int32) {
	pe := pendingEntry{card: e.CardNo, amount: e.Amount, day: day, sale: e.Kind == journal.KindSale,
		offline: e.Flags&journal.FlagOffline != 0, time: e.Time}
	if !pe.sale {
		pe.amount = -pe.amount
	}
	j.entries[e.Seq] = pe
	j.count(pe, 1)
}

// settle counts the entry seq as settled; j.mu must be held.
func (j *Journal) settle(seq uint64) {
	pe, ok := j.entries[seq]
	if !ok {
		return
	}
	delete(j.entries, seq)
	j.count(pe, -1)
}

// count adds (sign 1) or removes (sign −1) pe from the pending totals.
func (j *Journal) count(pe pendingEntry, sign int) {
	n := 1
	if !pe.sale {
		n = -1
	}
	amt := pe.amount * money.Fen(sign)
	if u := j.unsettled[pe.card] + amt; u != 0 {
		j.unsettled[pe.card] = u
	} else {
		delete(j.unsettled, pe.card)
	}
	k := cardDay{pe.card, pe.day}
	d := j.days[k]
	d.count += n * sign
	d.amount += amt
	if d == (dayPending{}) {
		delete(j.days, k)
	} else {
		j.days[k] = d
	}
	j.backlog.Entries += sign
	j.backlog.Amount += amt
	if pe.sale && pe.offline {
		j.backlog.OfflineSales += sign
		j.backlog.OfflineAmount += amt
	}
}

// Day returns the day number (days since 1970-01-01 in t's location) that
// daily counts are kept by.
func Day(t time.Time) int32 { return terminal.Day(t) }

// Card returns what the register knows of a card: the server's last word on
// it and this register's sales the server has not reflected yet. A card on
// the hotlist has the hotlist's status unless the cache holds a newer
// state of it, and is found even when the cache does not hold it.
func (j *Journal) Card(cardNo string, now time.Time) (terminal.CardView, bool, error) {
	// j.mu is held across the read so that an ack cannot be applied
	// between reading the card and reading what is pending: the card
	// would then count a sale twice, or not at all.
	j.mu.Lock()
	defer j.mu.Unlock()
	var c wire.Card
	var found bool
	var hot hotEntry
	var listed bool
	day := Day(now)
	var dayAmount money.Fen
	var lastSale time.Time
	err := j.db.View(func(tx *bolt.Tx) error {
		var err error
		if hot, listed, err = hotlisted(tx, cardNo); err != nil {
			return err
		}
		v := tx.Bucket(bucketCards).Get([]byte(cardNo))
		if v == nil {
			return nil
		}
		found = true
		dayAmount, lastSale = readTap(tx, cardNo, day)
		return decodeCard(cardNo, v, &c)
	})
	j.touch(1)
	if err != nil {
		return terminal.CardView{}, false, err
	}
	// The hotlist wins over a cached state that is not newer: the cache
	// may not have caught up (a million cards take a while), or may hold
	// an ack's version of the card, which carries no status.
	if listed && (!found || hot.version >= c.Version) {
		if !found {
			return terminal.CardView{CardNo: cardNo, Status: hot.status}, true, nil
		}
		c.Status = hot.status
	}
	if !found {
		return terminal.CardView{}, false, nil
	}
	today := int(c.TodayCount)
	if c.Day != day {
		today = 0
	}
	d := j.days[cardDay{cardNo, day}]
	return terminal.CardView{
		CardNo: c.CardNo, Name: c.Name, Status: c.Status,
		Balance:        c.Balance - j.unsettled[cardNo],
		TodayCount:     max(today+d.count, 0),
		UnsettledToday: d.amount,
		OwnToday:       dayAmount,
		OwnLastSale:    lastSale,
	}, true, nil
}

// Backlog returns what the server has not settled yet, from counters
// kept as entries are recorded and settled: it reads no entry.
func (j *Journal) Backlog() terminal.Backlog {
	j.mu.Lock()
	defer j.mu.Unlock()
	b := j.backlog
	// Entries settle in seq order: the oldest waiting follows the last
	// acked.
	if pe, ok := j.entries[j.acked+1]; ok {
		b.Oldest = time.UnixMilli(pe.time)
	}
	return b
}

// LastEntry returns the last entry recorded, and false when there is none.
func (j *Journal) LastEntry() (journal.Entry, bool, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.last, j.lastSeq > 0, nil
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
			if err := decodeCard(a.CardNo, v, &c); err != nil {
				return err
			}
			if a.Version <= c.Version {
				continue
			}
			c.Version, c.Balance, c.Day, c.TodayCount = a.Version, a.Balance, a.Day, a.TodayCount
			// The server froze an active card its entry overdrew, at this
			// version (server.Card.FreezeIfOverdrawn): the card delta of
			// that version is not taken after the ack, so the ack says it.
			if c.Balance < 0 && c.Status == wire.CardActive {
				c.Status = wire.CardFrozen
			}
			if err := cards.Put([]byte(c.CardNo), encodeCard(&c)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("journal: apply acks: %w", err)
	}
	j.touch(len(acks))
	return j.setAcked(last)
}

// releaseEvery is how many cards the journal reads or writes before it
// drops the process's mapping of the file's pages (releaseMapped). Each
// page fault on the file maps in up to 16 cached pages around the one read
// (the kernel's fault-around), so without it a day of card lookups, or one
// sync of the card list, would map in most of the cache file: the resident
// memory would grow with the number of cards, not with what the register
// does.
const releaseEvery = 64

// touch counts n cards read or written, and releases the file's pages
// every releaseEvery of them.
func (j *Journal) touch(n int) {
	if j.touched.Add(int64(n)) >= releaseEvery {
		j.touched.Store(0)
		j.releaseMapped() // best effort: memory, not data
	}
}

// ApplyCards stores card states pushed by the server, keeping for each card
// the state with the higher version.
func (j *Journal) ApplyCards(m *wire.Cards) error {
	err := j.db.Update(func(tx *bolt.Tx) error {
		cards := tx.Bucket(bucketCards)
		for i := range m.Cards {
			c := &m.Cards[i]
			if v := cards.Get([]byte(c.CardNo)); v != nil {
				var old wire.Card
				if err := decodeCard(c.CardNo, v, &old); err != nil {
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
	if err != nil {
		return fmt.Errorf("journal: apply cards: %w", err)
	}
	j.touch(len(m.Cards))
	return nil
}

// SaveContact records t as the last time the register heard from the
// server, so that a register restarted offline still knows how long it has
// been offline. An earlier t than the one recorded is recorded too: the
// clock may have been set back.
func (j *Journal) SaveContact(t time.Time) error {
	err := j.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(keyContact, binary.BigEndian.AppendUint64(nil, uint64(t.UnixMilli())))
	})
	if err != nil {
		return fmt.Errorf("journal: record last contact: %w", err)
	}
	return nil
}

// Contact returns the time SaveContact last recorded, the zero time if none.
func (j *Journal) Contact() (time.Time, error) {
	var t time.Time
	err := j.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketMeta).Get(keyContact); len(v) == 8 {
			t = time.UnixMilli(int64(binary.BigEndian.Uint64(v)))
		}
		return nil
	})
	return t, err
}

// ErrBroken is wrapped by Verify's errors: the journal file does not hold
// an unbroken chain of this register's signed entries.
var ErrBroken = errors.New("journal: chain broken")

// Verify reads every entry and checks that each decodes, is this
// register's, follows the one before it (seq and hash) and carries the
// register's signature by pub. It returns the number of entries checked.
// It reads the whole file: for audits and tests, not for every start.
func (j *Journal) Verify(pub ed25519.PublicKey) (uint64, error) {
	var n, prevSeq uint64
	var prevHash journal.Hash
	err := j.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketEntries).ForEach(func(k, v []byte) error {
			if len(k) != 8 {
				return fmt.Errorf("%w: key %x", ErrBroken, k)
			}
			seq := binary.BigEndian.Uint64(k)
			e, err := journal.Unmarshal(v)
			switch {
			case err != nil:
				return fmt.Errorf("%w: seq %d: %w", ErrBroken, seq, err)
			case e.Seq != seq || e.Terminal != j.terminal:
				return fmt.Errorf("%w: key %d holds register %d seq %d", ErrBroken, seq, e.Terminal, e.Seq)
			}
			if err := e.Follows(prevSeq, prevHash); err != nil {
				return fmt.Errorf("%w: %w", ErrBroken, err)
			}
			if err := e.Verify(pub); err != nil {
				return fmt.Errorf("%w: %w", ErrBroken, err)
			}
			prevSeq, prevHash = seq, journal.HashBytes(v)
			n++
			return nil
		})
	})
	return n, err
}

// QueueReceipts makes Record queue each sale for its receipt, and each
// void for its void slip, from now on: the register has a receipt printer. Receipts queued before are kept
// either way, so that a register restarted without its printer prints
// them once it has one again.
func (j *Journal) QueueReceipts() {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.receipts = true
}

// NextReceipt returns the first document queued and not yet printed, in
// the order of the queue's keys (an entry's receipt or void slip, then the
// shift reports queued after it), and false when there is none. For a
// void it also returns the sale it voids, for a shift report the entries
// of the shift.
func (j *Journal) NextReceipt() (terminal.QueuedReceipt, bool, error) {
	var r terminal.QueuedReceipt
	var found bool
	err := j.db.View(func(tx *bolt.Tx) error {
		k, job := tx.Bucket(bucketReceipts).Cursor().First()
		switch len(k) {
		case 0:
			return nil
		case 16:
			r, found = j.queuedShift(tx, k, job), true
			return nil
		}
		seq := u64(k)
		v := tx.Bucket(bucketEntries).Get(k)
		if v == nil {
			return fmt.Errorf("journal: receipt queued for seq %d, which is not recorded", seq)
		}
		e, err := journal.Unmarshal(v)
		if err != nil {
			return fmt.Errorf("journal: receipt of seq %d: %w", seq, err)
		}
		r = terminal.QueuedReceipt{ID: terminal.ReceiptID{Seq: seq}, Entry: e, Hash: journal.HashBytes(v)}
		if e.Kind == journal.KindVoid {
			// A voided sale that cannot be read leaves Voided zero: the
			// slip cannot be rendered, and is skipped, not retried forever.
			if sv := tx.Bucket(bucketEntries).Get(seqKey(e.VoidSeq)); sv != nil {
				if sale, err := journal.Unmarshal(sv); err == nil {
					r.Voided, r.VoidedHash = sale, journal.HashBytes(sv)
				}
			}
		}
		found = true
		return nil
	})
	return r, found, err
}

// queuedShift returns the shift report queued at key k with job, and the
// entries of its shift. A job that cannot be read leaves Shift nil: the
// report cannot be rendered, and is skipped, not retried forever.
func (j *Journal) queuedShift(tx *bolt.Tx, k, job []byte) terminal.QueuedReceipt {
	r := terminal.QueuedReceipt{ID: terminal.ReceiptID{Seq: u64(k[:8]), Shift: u64(k[8:])}}
	var s terminal.ShiftJob
	if err := json.Unmarshal(job, &s); err != nil {
		return r
	}
	if s.FirstSeq > 0 {
		c := tx.Bucket(bucketEntries).Cursor()
		for k, v := c.Seek(seqKey(s.FirstSeq)); k != nil && u64(k) <= s.LastSeq; k, v = c.Next() {
			e, err := journal.Unmarshal(v)
			if err != nil {
				return r
			}
			r.ShiftEntries = append(r.ShiftEntries, e)
		}
	}
	r.Shift = &s
	return r
}

// receiptKey is the queue's key of document id.
func receiptKey(id terminal.ReceiptID) []byte {
	k := seqKey(id.Seq)
	if id.Shift != 0 {
		k = binary.BigEndian.AppendUint64(k, id.Shift)
	}
	return k
}

// ReceiptDone takes document id off the queue: it was printed, or given up
// on. An id not queued is no error.
func (j *Journal) ReceiptDone(id terminal.ReceiptID) error {
	err := j.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketReceipts).Delete(receiptKey(id))
	})
	if err != nil {
		return fmt.Errorf("journal: take the document %s off the queue: %w", id, err)
	}
	return nil
}

// QueueShift queues the report of shift s, to print after the documents
// of the entries recorded so far, and ends the open shift (BeginShift) in
// the same transaction. It queues it even without QueueReceipts: a
// register only asks once it has a printer.
func (j *Journal) QueueShift(s terminal.ShiftJob) error {
	v, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("journal: queue the shift report of %s: %w", s.Cashier, err)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	err = j.db.Update(func(tx *bolt.Tx) error {
		q := tx.Bucket(bucketReceipts)
		n, err := q.NextSequence()
		if err != nil {
			return err
		}
		if err := q.Put(receiptKey(terminal.ReceiptID{Seq: j.lastSeq, Shift: n}), v); err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Delete(keyShift)
	})
	if err != nil {
		return fmt.Errorf("journal: queue the shift report of %s: %w", s.Cashier, err)
	}
	return nil
}

// QueuedReceipts returns how many receipts wait to be printed.
func (j *Journal) QueuedReceipts() (int, error) {
	var n int
	err := j.db.View(func(tx *bolt.Tx) error {
		n = tx.Bucket(bucketReceipts).Stats().KeyN
		return nil
	})
	return n, err
}

// BeginShift records s as the open shift, replacing any: the shift of the
// cashier who just signed in, reported by QueueShift when it ends.
func (j *Journal) BeginShift(s terminal.ShiftJob) error {
	v, err := json.Marshal(s)
	if err == nil {
		err = j.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(keyShift, v) })
	}
	if err != nil {
		return fmt.Errorf("journal: record the shift of %s: %w", s.Cashier, err)
	}
	return nil
}

// OpenShift returns the open shift (BeginShift), and false when there is
// none.
func (j *Journal) OpenShift() (terminal.ShiftJob, bool, error) {
	var s terminal.ShiftJob
	var found bool
	err := j.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketMeta).Get(keyShift)
		if v == nil {
			return nil
		}
		found = true
		return json.Unmarshal(v, &s)
	})
	if err != nil {
		return terminal.ShiftJob{}, false, fmt.Errorf("journal: the open shift: %w", err)
	}
	return s, found, nil
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
