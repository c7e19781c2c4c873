package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/fanka/fanka/server"
)

var _ server.PrintJobStore = (*DB)(nil)

// EnqueuePrint implements server.PrintJobStore.
func (db *DB) EnqueuePrint(ctx context.Context, jobs ...server.PrintJob) ([]int64, error) {
	for _, j := range jobs {
		if err := server.ValidatePrintJob(j); err != nil {
			return nil, fmt.Errorf("enqueue print job %q: %w", j.Title, err)
		}
	}
	var ids []int64
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		ids = make([]int64, len(jobs))
		for i, j := range jobs {
			res, err := tx.ExecContext(ctx, `INSERT INTO print_jobs (printer, title, doc, created, next_try, last_error) VALUES (?, ?, ?, ?, ?, '')`,
				j.Printer, j.Title, j.Doc, ms(j.Created), ms(j.Created))
			if err != nil {
				return err
			}
			if ids[i], err = res.LastInsertId(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("enqueue %d print jobs: %w", len(jobs), err)
	}
	return ids, nil
}

// printJobColumns are the columns scanPrintJob reads, in order.
const printJobColumns = `id, printer, title, doc, created, attempts, clean, next_try, last_error, printed`

func scanPrintJob(row interface{ Scan(...any) error }) (server.PrintJob, error) {
	var j server.PrintJob
	var created, nextTry int64
	var printed sql.NullInt64
	err := row.Scan(&j.ID, &j.Printer, &j.Title, &j.Doc, &created, &j.Attempts, &j.Clean, &nextTry, &j.LastError, &printed)
	j.Created, j.NextTry, j.Printed = time.UnixMilli(created), time.UnixMilli(nextTry), fromMS(printed)
	return j, err
}

// ClaimPrintJob implements server.PrintJobStore. It looks at the queue
// without a lock first, so that an idle printer's queue, or one whose job
// waits out its backoff, locks nothing; then it locks the job's row while
// it counts the attempt: of servers claiming at once, one begins the
// attempt and the others find the job leased.
func (db *DB) ClaimPrintJob(ctx context.Context, printer string, now, lease time.Time) (server.PrintJob, bool, error) {
	const oldest = `SELECT ` + printJobColumns + ` FROM print_jobs WHERE printer = ? AND printed IS NULL ORDER BY id LIMIT 1`
	job, err := scanPrintJob(db.db.QueryRowContext(ctx, oldest, printer))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return server.PrintJob{}, false, server.Errorf(server.ENOTFOUND, "no print job queued for %s", printer)
	case err != nil:
		return server.PrintJob{}, false, fmt.Errorf("claim a print job for %s: %w", printer, err)
	case job.NextTry.After(now):
		return job, false, nil
	}
	var claimed bool
	err = db.inTx(ctx, func(tx *sql.Tx) error {
		claimed = false
		var err error
		job, err = scanPrintJob(tx.QueryRowContext(ctx, oldest+` FOR UPDATE`, printer))
		if errors.Is(err, sql.ErrNoRows) {
			return server.Errorf(server.ENOTFOUND, "no print job queued for %s", printer)
		}
		if err != nil || job.NextTry.After(now) {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE print_jobs SET attempts = attempts + 1, next_try = ? WHERE id = ?`, ms(lease), job.ID); err != nil {
			return err
		}
		job.Attempts++
		job.NextTry = time.UnixMilli(ms(lease))
		claimed = true
		return nil
	})
	if err != nil {
		return server.PrintJob{}, false, fmt.Errorf("claim a print job for %s: %w", printer, err)
	}
	return job, claimed, nil
}

// EndPrintAttempt implements server.PrintJobStore.
func (db *DB) EndPrintAttempt(ctx context.Context, id int64, o server.PrintOutcome) error {
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		var attempts int
		var printed bool
		err := tx.QueryRowContext(ctx, `SELECT attempts, printed IS NOT NULL FROM print_jobs WHERE id = ? FOR UPDATE`, id).Scan(&attempts, &printed)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return server.Errorf(server.ENOTFOUND, "no print job %d", id)
		case err != nil:
			return err
		case printed:
			return nil // printed already: nothing more to say
		case o.Printed:
			_, err = tx.ExecContext(ctx, `UPDATE print_jobs SET printed = ?, last_error = '' WHERE id = ?`, ms(o.At), id)
		case o.Attempt == attempts:
			clean := 0
			if o.Clean {
				clean = 1
			}
			_, err = tx.ExecContext(ctx, `UPDATE print_jobs SET next_try = ?, last_error = ?, clean = clean + ? WHERE id = ?`,
				ms(o.NextTry), server.PrintErrorText(o.Error), clean, id)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("end attempt %d at print job %d: %w", o.Attempt, id, err)
	}
	return nil
}

// QueuedPrintJobs implements server.PrintJobStore.
func (db *DB) QueuedPrintJobs(ctx context.Context) (map[string]int, error) {
	rows, err := db.db.QueryContext(ctx, `SELECT printer, COUNT(*) FROM print_jobs WHERE printed IS NULL GROUP BY printer`)
	if err != nil {
		return nil, fmt.Errorf("queued print jobs: %w", err)
	}
	defer rows.Close()
	queued := map[string]int{}
	for rows.Next() {
		var printer string
		var n int
		if err := rows.Scan(&printer, &n); err != nil {
			return nil, fmt.Errorf("queued print jobs: %w", err)
		}
		queued[printer] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("queued print jobs: %w", err)
	}
	return queued, nil
}
