package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/fanka/fanka/server"
	"github.com/fanka/fanka/server/sqlops"
	"github.com/fanka/fanka/shared/journal"
)

// Sales implements server.SaleStore.
func (db *DB) Sales(ctx context.Context, since int64, limit int) ([]server.Sale, error) {
	return sqlops.Sales(ctx, readTx{db}, db.Now().Location(), since, limit)
}

// SalesIn implements server.SaleStore.
func (db *DB) SalesIn(ctx context.Context, ids []int64) ([]server.Sale, error) {
	return sqlops.SalesIn(ctx, readTx{db}, db.Now().Location(), ids)
}

// LastTransactionID implements server.SaleStore.
func (db *DB) LastTransactionID(ctx context.Context) (int64, error) {
	return sqlops.LastTransactionID(ctx, readTx{db})
}

// Terminals implements server.TerminalLister.
func (db *DB) Terminals(ctx context.Context) ([]server.Terminal, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT `+sqlops.TerminalColumns+` FROM terminals ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("registers: %w", err)
	}
	defer rows.Close()
	out := []server.Terminal{}
	for rows.Next() {
		t, err := sqlops.ScanTerminal(rows)
		if err != nil {
			return nil, fmt.Errorf("registers: %w", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("registers: %w", err)
	}
	return out, nil
}

// DailyReport implements server.ReportStore. It reads one snapshot: the
// day's sales and voids through the covering transactions_day index, the
// day's refunds and the registers' names. The entries of the day's sales
// (for the amount and the register's time), which never change once
// stored, are read besides, as a range of their primary key per register
// (see tallyRuns).
func (db *DB) DailyReport(ctx context.Context, q server.DailyQuery) (server.DailyReport, error) {
	if err := server.ValidateMealPeriods(q.Periods); err != nil {
		return server.DailyReport{}, err
	}
	date := q.Date.Format(time.DateOnly)
	tx, err := db.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return server.DailyReport{}, fmt.Errorf("report of %s: %w", date, err)
	}
	defer tx.Rollback()
	rep, err := db.dailyReport(ctx, tx, q)
	if err != nil {
		return server.DailyReport{}, fmt.Errorf("report of %s: %w", date, err)
	}
	return rep, nil
}

// dailyReport reads q's day's report in tx.
func (db *DB) dailyReport(ctx context.Context, tx *sql.Tx, q server.DailyQuery) (server.DailyReport, error) {
	tally := server.NewDailyTally(q)
	if err := db.tallyDay(ctx, tx, q, tally); err != nil {
		return server.DailyReport{}, err
	}
	names, err := sqlops.ReportRegisters(ctx, tx)
	if err != nil {
		return server.DailyReport{}, err
	}
	return tally.Report(names), nil
}

// dayRun is one register's sales and voids of a day, as the day's index
// counts them: how many, and the range of their seqs.
type dayRun struct {
	terminal uint32
	count    int
	from, to uint64
}

// dense reports whether the run's seq range holds few entries besides the
// run's own (see server.EntryRun.Dense).
func (r dayRun) dense() bool { return r.to-r.from+1 <= 2*uint64(r.count)+1000 }

// tallyDay adds q's day's sales, voids and office totals to tally. The day's
// index gives, per register, how many sales and voids it made that day
// and the range of their seqs, without a row per sale; the entries of
// that range are then read (see tallyRuns).
func (db *DB) tallyDay(ctx context.Context, tx *sql.Tx, q server.DailyQuery, tally *server.DailyTally) error {
	rows, err := tx.QueryContext(ctx, `SELECT terminal_id, COUNT(*), MIN(seq), MAX(seq)
		FROM transactions INDEXED BY transactions_day
		WHERE day = ? AND kind IN ('sale', 'void') GROUP BY terminal_id`, q.Day())
	if err != nil {
		return fmt.Errorf("sales: %w", err)
	}
	var runs []dayRun
	for rows.Next() {
		var terminal, count, from, to int64
		if err := rows.Scan(&terminal, &count, &from, &to); err != nil {
			rows.Close()
			return fmt.Errorf("sales: %w", err)
		}
		runs = append(runs, dayRun{terminal: uint32(terminal), count: int(count), from: uint64(from), to: uint64(to)})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sales: %w", err)
	}
	if err := db.tallyRuns(ctx, q, runs, tally); err != nil {
		return err
	}

	start, end := q.Bounds()
	return sqlops.OfficeTotals(ctx, tx, ms(start), ms(end), tally)
}

// reportReaders is how many connections read a report's entries at once.
const reportReaders = 4

// tallyRuns reads the entries of the registers' runs, spread over up to
// reportReaders connections of the read pool, outside the report's
// transaction: the runs' seqs are of entries already settled, entries are
// never changed, and a register's later entries have higher seqs.
func (db *DB) tallyRuns(ctx context.Context, q server.DailyQuery, runs []dayRun, tally *server.DailyTally) error {
	workers := min(reportReaders, runtime.GOMAXPROCS(0), len(runs))
	next := make(chan dayRun)
	tallies := make([]*server.DailyTally, workers)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		tallies[w] = server.NewDailyTally(q)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for run := range next {
				if errs[w] == nil {
					if err := db.tallyRun(ctx, q, run, tallies[w]); err != nil {
						errs[w] = fmt.Errorf("sales of register %d: %w", run.terminal, err)
					}
				}
			}
		}()
	}
	for _, run := range runs {
		next <- run
	}
	close(next)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	for _, t := range tallies {
		tally.Merge(t)
	}
	return nil
}

// tallyRun counts one register's run. A dense run is read as one range
// of the entries' primary key, the entries that posted something (a
// transaction) only, their settlement time and first journal.FiguresSize
// bytes: if the range holds as many as the day's index counted, they are
// the day's (the day's are among them). Otherwise, sales of other days
// being among them, the day's seqs are read from the index and their
// entries picked out.
func (db *DB) tallyRun(ctx context.Context, q server.DailyQuery, run dayRun, tally *server.DailyTally) error {
	if run.dense() {
		t := server.NewDailyTally(q)
		rows, err := db.read.QueryContext(ctx, `SELECT settled_at, substr(raw, 1, ?), outcome = 'flagged' FROM entries
			WHERE terminal_id = ? AND seq BETWEEN ? AND ? AND tx_id IS NOT NULL`,
			journal.FiguresSize, run.terminal, int64(run.from), int64(run.to))
		if err != nil {
			return err
		}
		defer rows.Close()
		n := 0
		for rows.Next() {
			var settled int64
			var raw sql.RawBytes
			var flagged bool
			if err := rows.Scan(&settled, &raw, &flagged); err != nil {
				return err
			}
			if err := t.AddFigures(run.terminal, raw, time.UnixMilli(settled), flagged); err != nil {
				return err
			}
			n++
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if n == run.count {
			tally.Merge(t)
			return nil
		}
	}
	return db.tallyRunExactly(ctx, q, run, tally)
}

// tallyRunExactly counts the run's entries by their seqs in the day's
// index: as a range, skipping the others, if it is dense, else one by one.
func (db *DB) tallyRunExactly(ctx context.Context, q server.DailyQuery, run dayRun, tally *server.DailyTally) error {
	rows, err := db.read.QueryContext(ctx, `SELECT seq, kind, created FROM transactions INDEXED BY transactions_day
		WHERE day = ? AND terminal_id = ? AND kind IN ('sale', 'void') ORDER BY seq`, q.Day(), run.terminal)
	if err != nil {
		return err
	}
	var day []server.DayEntry
	for rows.Next() {
		var seq, created int64
		var kind string
		if err := rows.Scan(&seq, &kind, &created); err != nil {
			rows.Close()
			return err
		}
		day = append(day, server.DayEntry{Terminal: run.terminal, Seq: uint64(seq), Void: kind == string(server.TxVoid), Settled: time.UnixMilli(created)})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, er := range server.EntryRuns(day) {
		r := tally.NewRunReader(er)
		if !er.Dense() {
			for _, e := range er.Entries {
				var raw []byte
				var flagged bool
				if err := db.read.QueryRowContext(ctx, `SELECT substr(raw, 1, ?), outcome = 'flagged' FROM entries WHERE terminal_id = ? AND seq = ?`,
					journal.FiguresSize, e.Terminal, int64(e.Seq)).Scan(&raw, &flagged); err != nil {
					return fmt.Errorf("entry %d/%d: %w", e.Terminal, e.Seq, err)
				}
				if err := r.Next(e.Seq, raw, flagged); err != nil {
					return err
				}
			}
			if err := r.Done(); err != nil {
				return err
			}
			continue
		}
		if err := readRange(ctx, db.read, er, r); err != nil {
			return err
		}
	}
	return nil
}

// readRange feeds r the entries of er's seq range, in order.
func readRange(ctx context.Context, q *sql.DB, er server.EntryRun, r *server.RunReader) error {
	rows, err := q.QueryContext(ctx, `SELECT seq, substr(raw, 1, ?), outcome = 'flagged' FROM entries WHERE terminal_id = ? AND seq BETWEEN ? AND ? ORDER BY seq`,
		journal.FiguresSize, er.Terminal, int64(er.From), int64(er.To))
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var seq int64
		var raw sql.RawBytes
		var flagged bool
		if err := rows.Scan(&seq, &raw, &flagged); err != nil {
			return err
		}
		if err := r.Next(uint64(seq), raw, flagged); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	return r.Done()
}
