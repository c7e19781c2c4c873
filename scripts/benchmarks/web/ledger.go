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

// writeLedger makes the store's schema with its migrations, then writes
// cfg.Sales sales directly, day after day, each day in one transaction.
func writeLedger(ctx context.Context, cfg config, path string) (ledger, error) {
	start := time.Now()
	os.Remove(filepath.Join(filepath.Dir(path), "ledger.json"))
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		os.Remove(p)
	}
	st := sqlite.New(path)
	if err := st.Open(ctx); err != nil {
		return ledger{}, err
	}
	if err := st.Close(); err != nil {
		return ledger{}, err
	}
	db, err := sql.Open(sqlite.Driver, "file:"+path+"?_journal_mode=OFF&_synchronous=OFF&_cache_size=-1000000&_foreign_keys=0")
	if err != nil {
		return ledger{}, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)

	// The days: the peak day in the middle, ordinary days around it.
	days := []int{}
	for left := cfg.Sales - cfg.Peak; left > 0; left -= cfg.PerDay {
		days = append(days, min(left, cfg.PerDay))
	}
	mid := len(days) / 2
	days = slices.Insert(days, mid, cfg.Peak)
	loc := time.Local
	first := time.Date(2025, 1, 1, 0, 0, 0, 0, loc)
	led := ledger{Sales: cfg.Sales, PeakDate: first.AddDate(0, 0, mid).Format(time.DateOnly), PeakSales: cfg.Peak}

	regs := make([]*register, cfg.Registers)
	for i := range regs {
		_, key, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return ledger{}, err
		}
		regs[i] = &register{id: uint32(i + 1), key: key}
	}
	balances := make([]money.Fen, cfg.Cards)
	versions := make([]uint64, cfg.Cards)
	cardDay := make([]int32, cfg.Cards)
	cardCount := make([]int, cfg.Cards)
	opened := first.AddDate(0, 0, -1)
	if err := writeSetup(ctx, db, regs, cfg.Cards, opened); err != nil {
		return ledger{}, err
	}
	for i := range balances {
		balances[i] = deposit
		versions[i] = uint64(i + 1)
	}
	version := uint64(cfg.Cards)
	nextTx := int64(cfg.Cards + 1)
	var revenue money.Fen
	rnd := mrand.New(mrand.NewPCG(1, 2))
	written := 0
	for d, n := range days {
		if err := ctx.Err(); err != nil {
			return ledger{}, err
		}
		date := first.AddDate(0, 0, d)
		dayNo := server.Day(date)
		sales := make([]generated, n)
		for i := range sales {
			sales[i] = generated{terminal: rnd.IntN(len(regs)), card: rnd.IntN(cfg.Cards),
				amount: money.Fen(300 + rnd.IntN(2200)), at: date.Add(saleTime(rnd))}
		}
		slices.SortFunc(sales, func(a, b generated) int { return a.at.Compare(b.at) })
		for i := range sales {
			s := &sales[i]
			s.balance = balances[s.card]
			balances[s.card] -= s.amount
			revenue += s.amount
			version++
			s.version = version
			versions[s.card] = version
			if cardDay[s.card] != dayNo {
				cardDay[s.card], cardCount[s.card] = dayNo, 0
			}
			cardCount[s.card]++
			s.count = cardCount[s.card]
			if d == mid {
				led.PeakTotal += s.amount
			}
		}
		if err := sign(sales, regs); err != nil {
			return ledger{}, err
		}
		if err := writeDay(ctx, db, sales, regs, nextTx, dayNo); err != nil {
			return ledger{}, fmt.Errorf("day %s: %w", date.Format(time.DateOnly), err)
		}
		nextTx += int64(n)
		written += n
		note("%s: %d sales written, %d in all, %.0f s", date.Format(time.DateOnly), n, written, time.Since(start).Seconds())
	}
	if err := writeEnd(ctx, db, regs, balances, versions, cardDay, cardCount, revenue, version, cfg.Cards); err != nil {
		return ledger{}, err
	}
	if _, err := db.ExecContext(ctx, `PRAGMA journal_mode = WAL`); err != nil {
		return ledger{}, err
	}
	if _, err := db.ExecContext(ctx, `ANALYZE`); err != nil {
		return ledger{}, err
	}
	led.Took = time.Since(start)
	b, _ := json.Marshal(led)
	if err := os.WriteFile(filepath.Join(filepath.Dir(path), "ledger.json"), b, 0o600); err != nil {
		return ledger{}, err
	}
	return led, nil
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
// order, the registers in parallel.
func sign(sales []generated, regs []*register) error {
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
					if err := e.Sign(reg.key); err != nil {
						errs <- err
						return
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
			entries = append(entries, term, s.seq, s.hash[:], s.raw, id, "settled", "", int64(s.balance-s.amount), s.version, day, s.count, settled)
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
func writeEnd(ctx context.Context, db *sql.DB, regs []*register, balances []money.Fen, versions []uint64, days []int32, counts []int,
	revenue money.Fen, version uint64, cards int) error {
	return inTx(ctx, db, func(tx *sql.Tx) error {
		for i := range cards {
			if _, err := tx.ExecContext(ctx, `UPDATE accounts SET balance = ? WHERE id = ?`, int64(balances[i]), account(i)); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `UPDATE cards SET version = ?, day = ?, today_count = ? WHERE card_no = ?`,
				versions[i], days[i], counts[i], cardNo(i)); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE accounts SET balance = ? WHERE id = ?`, int64(revenue), server.RevenueAccount); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE accounts SET balance = ? WHERE id = ?`, -int64(cards)*deposit, server.CashAccount); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE counters SET value = ? WHERE name = 'card_version'`, version); err != nil {
			return err
		}
		for _, r := range regs {
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
