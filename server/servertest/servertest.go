// Package servertest helps test the server with real parts: a register that
// signs and chains journal entries as a real one does, a WebSocket client
// that speaks the wire protocol, SQLite stores in temporary directories
// and MySQL stores in temporary databases.
package servertest

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/fanka/fanka/server"
	"github.com/fanka/fanka/server/sqlite"
	"github.com/fanka/fanka/shared/journal"
	"github.com/fanka/fanka/shared/money"
)

// Register makes a register's journal entries: each one numbered, chained
// to the one before and signed with Key.
type Register struct {
	ID   uint32
	Key  ed25519.PrivateKey
	Seq  uint64       // the last seq recorded
	Prev journal.Hash // the last entry's hash
	// Time is the register clock written into entries; time.Now if nil.
	Time func() time.Time
}

// NewRegister returns a register with a fresh key and no entries. Its ID
// is set when it enrols (see Enroll).
func NewRegister(tb testing.TB) *Register {
	tb.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatalf("register key: %v", err)
	}
	return &Register{Key: key}
}

// Public returns the register's public key.
func (r *Register) Public() ed25519.PublicKey { return r.Key.Public().(ed25519.PublicKey) }

// Record completes e as the next entry (terminal, seq, previous hash, time
// if unset, signature), advances the register and returns the encoding.
func (r *Register) Record(tb testing.TB, e journal.Entry) []byte {
	tb.Helper()
	e.Terminal = r.ID
	e.Seq = r.Seq + 1
	e.Prev = r.Prev
	if e.Time == 0 {
		now := time.Now
		if r.Time != nil {
			now = r.Time
		}
		e.Time = now().UnixMilli()
	}
	if err := e.Sign(r.Key); err != nil {
		tb.Fatalf("sign entry %d: %v", e.Seq, err)
	}
	b, err := e.Marshal()
	if err != nil {
		tb.Fatalf("marshal entry %d: %v", e.Seq, err)
	}
	r.Seq, r.Prev = e.Seq, journal.HashBytes(b)
	return b
}

// Sale records a sale of amount on cardNo.
func (r *Register) Sale(tb testing.TB, cardNo string, amount money.Fen) []byte {
	tb.Helper()
	return r.Record(tb, journal.Entry{Kind: journal.KindSale, CardNo: cardNo, Amount: amount})
}

// Void records the void of the sale at seq, of amount on cardNo.
func (r *Register) Void(tb testing.TB, cardNo string, amount money.Fen, seq uint64) []byte {
	tb.Helper()
	return r.Record(tb, journal.Entry{Kind: journal.KindVoid, CardNo: cardNo, Amount: amount, VoidSeq: seq})
}

// Enroll creates a register in s, enrols r's key with its code and sets
// r.ID.
func Enroll(tb testing.TB, s server.TerminalStore, r *Register) server.Terminal {
	tb.Helper()
	ctx := context.Background()
	code := make([]byte, 16)
	rand.Read(code)
	hash := sha256.Sum256(code)
	t, err := s.CreateTerminal(ctx, "till", 0, hash, time.Now().Add(time.Hour))
	if err != nil {
		tb.Fatalf("create register: %v", err)
	}
	t, err = s.EnrollTerminal(ctx, hash, r.Public())
	if err != nil {
		tb.Fatalf("enrol register %d: %v", t.ID, err)
	}
	r.ID = t.ID
	return t
}

// OpenCard opens a card with a deposit, with the card number as the person
// id and a fresh request id.
func OpenCard(tb testing.TB, s server.CardStore, cardNo string, deposit money.Fen) server.OpenedCard {
	tb.Helper()
	id := make([]byte, 8)
	rand.Read(id)
	c, err := s.OpenCard(context.Background(), server.OpenCard{
		RequestID: "test-" + cardNo + "-" + hex.EncodeToString(id), PersonID: "P" + cardNo, Name: "张三", Deposit: deposit, CardNo: cardNo,
	})
	if err != nil {
		tb.Fatalf("open card %s: %v", cardNo, err)
	}
	return c
}

// MustOpenSQLite opens a SQLite store in a temporary directory, with the
// given clock (time.Now if nil), and closes it when the test ends.
func MustOpenSQLite(tb testing.TB, now func() time.Time) *sqlite.DB {
	tb.Helper()
	db := sqlite.New(tb.TempDir() + "/fanka.db")
	if now != nil {
		db.Now = now
	}
	if err := db.Open(context.Background()); err != nil {
		tb.Fatalf("open store: %v", err)
	}
	tb.Cleanup(func() {
		if err := db.Close(); err != nil {
			tb.Errorf("close store: %v", err)
		}
	})
	return db
}

// Clock is a settable clock for tests. It is safe for concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock that reads t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Set sets the clock's time.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// Add moves the clock by d.
func (c *Clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// MustRawSQLite opens the SQLite file at path beside the store, for tests
// that look at or tamper with rows directly; closed when the test ends.
func MustRawSQLite(tb testing.TB, path string) *sql.DB {
	tb.Helper()
	if _, err := os.Stat(path); err != nil {
		tb.Fatal(err)
	}
	raw, err := sql.Open(sqlite.Driver, "file:"+path+"?_busy_timeout=5000")
	if err != nil {
		tb.Fatal(err)
	}
	raw.SetMaxOpenConns(1)
	tb.Cleanup(func() { raw.Close() })
	return raw
}

// NoLimits sets rules without limits on s: for tests of settlement and
// sync, whose registers sell on one card many times a second; the rules
// have tests of their own.
func NoLimits(tb testing.TB, s server.RuleStore) {
	tb.Helper()
	if _, err := s.SetRules(context.Background(), server.Rules{}, "test"); err != nil {
		tb.Fatalf("set rules: %v", err)
	}
}
