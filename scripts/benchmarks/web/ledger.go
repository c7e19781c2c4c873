package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fanka/fanka/server"
	"github.com/fanka/fanka/server/sqlite"
	"github.com/fanka/fanka/shared/journal"
	"github.com/fanka/fanka/shared/money"
)

// ledger is what the benchmark knows of the ledger it wrote; it is kept
// beside the database as ledger.json, so that a later run may reuse both.
type ledger struct {
	Sales     int           `json:"sales"`
	PeakDate  string        `json:"peak_date"` // YYYY-MM-DD, local time
	PeakSales int           `json:"peak_sales"`
	PeakTotal money.Fen     `json:"peak_amount"`
	Took      time.Duration `json:"took"`
	Unsigned  bool          `json:"unsigned"` // entries written without their signatures
}

func readLedger(path string) (ledger, error) {
	var led ledger
	b, err := os.ReadFile(filepath.Join(filepath.Dir(path), "ledger.json"))
	if err != nil {
		return led, err
	}
	if _, err := os.Stat(path); err != nil {
		return led, err
	}
	if err := json.Unmarshal(b, &led); err != nil {
		return led, fmt.Errorf("ledger.json: %w", err)
	}
	return led, nil
}

// Bounds of the generated ledger.
const (
	deposit = 100_000_000 // fen per card: no sale overdraws
	rows    = 128         // rows per INSERT statement
)

// mealWindows are when the generated sales happen, with their weights:
// most at lunch, some outside every meal period.
var mealWindows = []struct {
	start, end time.Duration
	weight     int
}{
	{6 * time.Hour, 10 * time.Hour, 25},
	{10*time.Hour + 30*time.Minute, 14 * time.Hour, 50},
	{16*time.Hour + 30*time.Minute, 20 * time.Hour, 22},
	{0, 24 * time.Hour, 3},
}

// generated is one sale being written.
type generated struct {
	terminal int // index in registers
	card     int // index in cards
	amount   money.Fen
	at       time.Time
	balance  money.Fen // before the sale, as the register knew it
	version  uint64    // the card change counter after it
	count    int       // the card's sales that day, with it
	outcome  string    // as settlement acks it: settled or flagged
	note     string    // the rules it broke
	seq      uint64
	raw      []byte
	hash     journal.Hash
}

type register struct {
	id   uint32
	key  ed25519.PrivateKey
	seq  uint64
	prev journal.Hash
}

// generator draws the ledger's sales day after day, as registers would
// make them, and keeps what settlement keeps of the cards as it goes.
type generator struct {
	cfg       config
	regs      []*register
	days      []int // the sales of each day
	first     time.Time
	mid       int // the peak day's index
	rules     server.Rules
	cards     []server.Card // as settlement keeps them: balance, version, the day's counts
	version   uint64
	revenue   money.Fen
	rnd       *mrand.Rand
	peakTotal money.Fen
}

// newGenerator returns the generator of cfg's ledger: the peak day in the
// middle, ordinary days around it, from 2025-01-01 in the local time; the
// registers with new keys, the cards opened the day before.
func newGenerator(cfg config) (*generator, error) {
	g := &generator{cfg: cfg, first: time.Date(2025, 1, 1, 0, 0, 0, 0, time.Local), rnd: mrand.New(mrand.NewPCG(1, 2)),
		rules: server.DefaultRules()}
	for left := cfg.Sales - cfg.Peak; left > 0; left -= cfg.PerDay {
		g.days = append(g.days, min(left, cfg.PerDay))
	}
	g.mid = len(g.days) / 2
	g.days = slices.Insert(g.days, g.mid, cfg.Peak)
	g.regs = make([]*register, cfg.Registers)
	for i := range g.regs {
		_, key, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		g.regs[i] = &register{id: uint32(i + 1), key: key}
	}
	g.cards = make([]server.Card, cfg.Cards)
	for i := range g.cards {
		g.cards[i] = server.Card{CardNo: cardNo(i), AccountID: account(i), Status: server.CardActive, Balance: deposit, Version: uint64(i + 1)}
	}
	g.version = uint64(cfg.Cards)
	return g, nil
}

// opened is when the cards were opened: the day before the first.
func (g *generator) opened() time.Time { return g.first.AddDate(0, 0, -1) }

// day draws day d's sales in time order and makes their journal entries.
// Each is checked against the default rules and counted on its card with
// the settler's own functions (server.Rules.SaleNote, server.Card.CountSale,
// server.SettleSale), so that it is flagged, with its note, as settlement
// would flag it.
func (g *generator) day(d int) ([]generated, error) {
	date := g.first.AddDate(0, 0, d)
	dayNo := server.Day(date)
	sales := make([]generated, g.days[d])
	for i := range sales {
		sales[i].at = date.Add(saleTime(g.rnd))
	}
	slices.SortFunc(sales, func(a, b generated) int { return a.at.Compare(b.at) })
	for i := range sales {
		s := &sales[i]
		s.terminal, s.card, s.amount = g.rnd.IntN(len(g.regs)), g.rnd.IntN(g.cfg.Cards), money.Fen(300+g.rnd.IntN(2200))
		c := &g.cards[s.card]
		e := journal.Entry{Kind: journal.KindSale, CardNo: c.CardNo, Amount: s.amount, Time: s.at.UnixMilli()}
		note := g.rules.SaleNote(c, &e, dayNo, s.at)
		s.balance = c.Balance
		c.Balance -= s.amount
		c.CountSale(&e, dayNo, g.rules.Period(s.at))
		g.version++
		c.Version = g.version
		settled := server.SettleSale(c, 0, note)
		s.outcome, s.note, s.count, s.version = settled.Ack.Outcome.String(), settled.Note, c.TodayCount, c.Version
		g.revenue += s.amount
		if d == g.mid {
			g.peakTotal += s.amount
		}
	}
	return sales, sign(sales, g.regs, g.cfg.Unsigned)
}

// dayOf is a day's sales, drawn ahead of the writer.
type dayOf struct {
	d     int
	sales []generated
	err   error
}

// writeLedger makes the store's schema with its migrations, then loads
// cfg.Sales sales directly: the days are drawn and signed by a goroutine
// a day ahead of the one writer, which writes each day in one transaction
// with statements prepared once. The index whose rows come in random
// order is dropped while loading and made again, as the schema has it, at
// the end (see deferredIndexes).
func writeLedger(ctx context.Context, cfg config, path string) (ledger, error) {
	g, err := newGenerator(cfg)
	if err != nil {
		return ledger{}, err
	}
	return load(ctx, g, path, nil)
}

// load writes g's ledger at path; each, if not nil, is given each day's
// sales once they are written.
func load(ctx context.Context, g *generator, path string, each func([]generated) error) (ledger, error) {
	start := time.Now()
	cfg := g.cfg
	os.Remove(filepath.Join(filepath.Dir(path), "ledger.json"))
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		os.Remove(p)
	}
	db, err := openLoader(ctx, path)
	if err != nil {
		return ledger{}, err
	}
	defer db.Close()
	indexes, err := dropIndexes(ctx, db)
	if err != nil {
		return ledger{}, err
	}
	if err := writeSetup(ctx, db, g.regs, cfg.Cards, g.opened()); err != nil {
		return ledger{}, err
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	days := make(chan dayOf, 1)
	go func() {
		defer close(days)
		for d := range g.days {
			sales, err := g.day(d)
			select {
			case days <- dayOf{d, sales, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	nextTx := int64(cfg.Cards + 1)
	written := 0
	for day := range days {
		if day.err != nil {
			return ledger{}, day.err
		}
		date := g.first.AddDate(0, 0, day.d)
		if err := writeDay(ctx, db, day.sales, g.regs, nextTx, server.Day(date)); err != nil {
			return ledger{}, fmt.Errorf("day %s: %w", date.Format(time.DateOnly), err)
		}
		if each != nil {
			if err := each(day.sales); err != nil {
				return ledger{}, err
			}
		}
		nextTx += int64(len(day.sales))
		written += len(day.sales)
		if day.d%10 == 0 || day.d == len(g.days)-1 {
			el := time.Since(start).Seconds()
			note("%s: %d sales in all, %.0f s, %.0f sales/s", date.Format(time.DateOnly), written, el, float64(written)/el)
		}
	}
	if err := ctx.Err(); err != nil {
		return ledger{}, err
	}
	if err := writeEnd(ctx, db, g); err != nil {
		return ledger{}, err
	}
	loaded := time.Now()
	for _, ix := range indexes {
		if _, err := db.ExecContext(ctx, ix); err != nil {
			return ledger{}, fmt.Errorf("%s: %w", ix, err)
		}
	}
	note("indexes made again in %.0f s", time.Since(loaded).Seconds())
	if _, err := db.ExecContext(ctx, `PRAGMA journal_mode = WAL`); err != nil {
		return ledger{}, err
	}
	// No ANALYZE: settlement runs none, so a settled ledger has no
	// statistics either (the report names its index); and on 50,000,000
	// sales it ran for more than 19 minutes, PRAGMA analysis_limit
	// notwithstanding.
	led := ledger{Sales: cfg.Sales, PeakDate: g.first.AddDate(0, 0, g.mid).Format(time.DateOnly), PeakSales: cfg.Peak,
		PeakTotal: g.peakTotal, Took: time.Since(start), Unsigned: cfg.Unsigned}
	b, _ := json.Marshal(led)
	if err := os.WriteFile(filepath.Join(filepath.Dir(path), "ledger.json"), b, 0o600); err != nil {
		return ledger{}, err
	}
	return led, nil
}

// openLoader makes the store's schema in a new database at path with the
// store's own migrations, and opens it for loading: no journal, no sync
// (a crash loses the ledger, which is then written again), a big cache,
// one connection.
func openLoader(ctx context.Context, path string) (*sql.DB, error) {
	st := sqlite.New(path)
	if err := st.Open(ctx); err != nil {
		return nil, err
	}
	if err := st.Close(); err != nil {
		return nil, err
	}
	db, err := sql.Open(sqlite.Driver, "file:"+path+"?_journal_mode=OFF&_synchronous=OFF&_cache_size=-2000000&_foreign_keys=0")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	// The deferred index sorts tens of millions of rows: in files, not
	// in memory (the driver's connections keep temporaries in memory).
	if _, err := db.ExecContext(ctx, `PRAGMA temp_store = FILE`); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// deferredIndexes are the indexes the loader makes after the rows: the
// postings' by account, whose rows come in the random order of the cards.
// The others stay: their rows come nearly in order (by transaction id, by
// day and register), as do those of the unique keys (a transaction's
// origin, an entry's register and seq), which are the ledger's
// constraints.
var deferredIndexes = []string{"postings_account"}

// dropIndexes drops the deferred indexes and returns the statements that
// make them again, as the schema wrote them.
func dropIndexes(ctx context.Context, db *sql.DB) ([]string, error) {
	var out []string
	for _, name := range deferredIndexes {
		var stmt string
		if err := db.QueryRowContext(ctx, `SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?`, name).Scan(&stmt); err != nil {
			return nil, fmt.Errorf("index %s: %w", name, err)
		}
		if _, err := db.ExecContext(ctx, `DROP INDEX `+name); err != nil {
			return nil, err
		}
		out = append(out, stmt)
	}
	return out, nil
}

// saleTime draws when in its day a sale happens.
func saleTime(rnd *mrand.Rand) time.Duration {
	w := rnd.IntN(100)
	for _, m := range mealWindows {
		if w < m.weight {
			return m.start + time.Duration(rnd.Int64N(int64(m.end-m.start)))
		}
		w -= m.weight
	}
	return 12 * time.Hour
}

// sign makes the day's journal entries, each register's chained in time
// order, the registers in parallel. Unsigned leaves each entry's
// signature zero (the same 64 bytes in the row): the chain of hashes is
// whole, but verify refuses the entries.
func sign(sales []generated, regs []*register, unsigned bool) error {
	byReg := make([][]int, len(regs))
	for i := range sales {
		byReg[sales[i].terminal] = append(byReg[sales[i].terminal], i)
	}
	next := make(chan int)
	errs := make(chan error, len(regs))
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range next {
				reg := regs[r]
				for _, i := range byReg[r] {
					s := &sales[i]
					reg.seq++
					e := journal.Entry{Kind: journal.KindSale, Terminal: reg.id, Seq: reg.seq, Time: s.at.UnixMilli(),
						CardNo: cardNo(s.card), Amount: s.amount, Balance: s.balance, Cashier: "1", Prev: reg.prev}
					if !unsigned {
						if err := e.Sign(reg.key); err != nil {
							errs <- err
							return
						}
					}
					raw, err := e.Marshal()
					if err != nil {
						errs <- err
						return
					}
					s.seq, s.raw, s.hash = reg.seq, raw, journal.HashBytes(raw)
					reg.prev = s.hash
				}
			}
		}()
	}
	for r := range regs {
		next <- r
	}
	close(next)
	wg.Wait()
	close(errs)
	return <-errs
}

func cardNo(i int) string { return fmt.Sprintf("BC%08d", i+1) }

// account is the id of card i's account: after the canteen's own four.
func account(i int) int64 { return int64(i) + 5 }

// writeSetup writes the registers, and the cards with their accounts and
// opening deposits.
func writeSetup(ctx context.Context, db *sql.DB, regs []*register, cards int, at time.Time) error {
	return inTx(ctx, db, func(tx *sql.Tx) error {
		for _, r := range regs {
			code := make([]byte, 32)
			rand.Read(code)
			if _, err := tx.ExecContext(ctx, `INSERT INTO terminals (id, name, public_key, enrol_code_hash, enrol_expires, enrolled, created)
				VALUES (?, ?, ?, ?, ?, ?, ?)`, r.id, fmt.Sprintf("%d号窗口", r.id), []byte(r.key.Public().(ed25519.PublicKey)), code,
				at.UnixMilli(), at.UnixMilli(), at.UnixMilli()); err != nil {
				return err
			}
		}
		ms := at.UnixMilli()
		var accounts, cardRows, txs, postings []any
		for i := range cards {
			accounts = append(accounts, account(i), "diner", fmt.Sprintf("P%09d", i+1), fmt.Sprintf("食客%d", i+1), ms)
			cardRows = append(cardRows, cardNo(i), account(i), "active", i+1, ms)
			txs = append(txs, i+1, "open", fmt.Sprintf("Rbench-open-%d", i+1), ms, "bench")
			postings = append(postings, i+1, server.CashAccount, -deposit, i+1, account(i), deposit)
		}
		if err := insert(ctx, tx, `INSERT INTO accounts (id, kind, person_id, name, created) VALUES `, 5, accounts); err != nil {
			return err
		}
		if err := insert(ctx, tx, `INSERT INTO cards (card_no, account_id, status, version, created) VALUES `, 5, cardRows); err != nil {
			return err
		}
		if err := insert(ctx, tx, `INSERT INTO transactions (id, kind, origin, created, operator) VALUES `, 5, txs); err != nil {
			return err
		}
		return insert(ctx, tx, `INSERT INTO postings (tx_id, account_id, amount) VALUES `, 3, postings)
	})
}

// writeDay writes a day's sales as settlement does, the first taking
// transaction id firstTx: transactions, postings, entries.
func writeDay(ctx context.Context, db *sql.DB, sales []generated, regs []*register, firstTx int64, day int32) error {
	return inTx(ctx, db, func(tx *sql.Tx) error {
		txs := make([]any, 0, 8*len(sales))
		postings := make([]any, 0, 6*len(sales))
		entries := make([]any, 0, 12*len(sales))
		for i := range sales {
			s := &sales[i]
			id := firstTx + int64(i)
			term := regs[s.terminal].id
			settled := s.at.Add(30 * time.Millisecond).UnixMilli()
			txs = append(txs, id, "sale", server.TerminalOrigin(term, s.seq), settled, term, s.seq, cardNo(s.card), day)
			postings = append(postings, id, account(s.card), -int64(s.amount), id, server.RevenueAccount, int64(s.amount))
			entries = append(entries, term, s.seq, s.hash[:], s.raw, id, s.outcome, s.note, int64(s.balance-s.amount), s.version, day, s.count, settled)
		}
		if err := insert(ctx, tx, `INSERT INTO transactions (id, kind, origin, created, terminal_id, seq, card_no, day) VALUES `, 8, txs); err != nil {
			return fmt.Errorf("transactions: %w", err)
		}
		if err := insert(ctx, tx, `INSERT INTO postings (tx_id, account_id, amount) VALUES `, 3, postings); err != nil {
			return fmt.Errorf("postings: %w", err)
		}
		if err := insert(ctx, tx, `INSERT INTO entries (terminal_id, seq, hash, raw, tx_id, outcome, note, balance, version, day, today_count, settled_at) VALUES `,
			12, entries); err != nil {
			return fmt.Errorf("entries: %w", err)
		}
		return nil
	})
}

// writeEnd writes what settlement keeps up to date as it goes: balances,
// cards, the card change counter, the registers' cursors.
func writeEnd(ctx context.Context, db *sql.DB, g *generator) error {
	return inTx(ctx, db, func(tx *sql.Tx) error {
		acct, err := tx.PrepareContext(ctx, `UPDATE accounts SET balance = ? WHERE id = ?`)
		if err != nil {
			return err
		}
		defer acct.Close()
		card, err := tx.PrepareContext(ctx, `UPDATE cards SET status = ?, reason = ?, version = ?, day = ?, today_count = ?,
			day_amount = ?, last_sale = ?, period = ?, period_count = ? WHERE card_no = ?`)
		if err != nil {
			return err
		}
		defer card.Close()
		for _, c := range g.cards {
			if _, err := acct.ExecContext(ctx, int64(c.Balance), c.AccountID); err != nil {
				return err
			}
			if _, err := card.ExecContext(ctx, string(c.Status), c.Reason, c.Version, c.Day, c.TodayCount,
				int64(c.DayAmount), c.LastSale, c.Period, c.PeriodCount, c.CardNo); err != nil {
				return err
			}
		}
		if _, err := acct.ExecContext(ctx, int64(g.revenue), server.RevenueAccount); err != nil {
			return err
		}
		if _, err := acct.ExecContext(ctx, -int64(g.cfg.Cards)*deposit, server.CashAccount); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE counters SET value = ? WHERE name = 'card_version'`, g.version); err != nil {
			return err
		}
		for _, r := range g.regs {
			if _, err := tx.ExecContext(ctx, `UPDATE terminals SET last_seq = ?, last_hash = ? WHERE id = ?`, r.seq, r.prev[:], r.id); err != nil {
				return err
			}
		}
		return nil
	})
}

func inTx(ctx context.Context, db *sql.DB, fn func(tx *sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// insert runs the INSERT that prefix starts with for args, rows of columns
// values one after the other, in statements of up to rows rows.
func insert(ctx context.Context, tx *sql.Tx, prefix string, columns int, args []any) error {
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", columns), ", ") + ")"
	stmts := map[int]*sql.Stmt{}
	defer func() {
		for _, st := range stmts {
			st.Close()
		}
	}()
	for len(args) > 0 {
		n := min(rows, len(args)/columns)
		st, ok := stmts[n]
		if !ok {
			var err error
			st, err = tx.PrepareContext(ctx, prefix+strings.TrimSuffix(strings.Repeat(row+", ", n), ", "))
			if err != nil {
				return err
			}
			stmts[n] = st
		}
		if _, err := st.ExecContext(ctx, args[:n*columns]...); err != nil {
			return err
		}
		args = args[n*columns:]
	}
	if len(args) != 0 {
		return errors.New("insert: a partial row")
	}
	return nil
}
