package sqlops

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/fanka/fanka/server"
	"github.com/fanka/fanka/shared/money"
)

// SubsidyBatch bounds the accounts of one transaction of a subsidy job.
const SubsidyBatch = 200

// SubsidyTx is a store's write transaction for a batch of a subsidy job.
type SubsidyTx struct {
	Tx Tx
	// Post inserts a ledger transaction and its postings, updating the
	// balances, and returns its id.
	Post func(ctx context.Context, kind server.TxKind, origin string, now int64, postings []server.Posting) (int64, error)
	// NextVersions: as Store.NextVersions.
	NextVersions func(ctx context.Context, n int) ([]uint64, error)
	// Duplicate reports whether err is a unique key violation.
	Duplicate func(error) bool
	// Lock: as Store.Lock.
	Lock string
}

// Subsidies runs subsidy jobs on a store: Begin runs fn in one write
// transaction of the store (and its retries).
type Subsidies struct {
	Read  Tx
	Begin func(ctx context.Context, fn func(tx *SubsidyTx) error) error
}

// AddSchedule inserts a schedule.
func AddSchedule(ctx context.Context, tx Tx, s server.SubsidySchedule, operator string, now int64) (server.SubsidySchedule, error) {
	if err := s.Validate(); err != nil {
		return s, err
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO subsidy_schedules (user_class, amount, day, expires, created, operator) VALUES (?, ?, ?, ?, ?, ?)`,
		s.UserClass, int64(s.Amount), s.Day, s.Expires, now, operator)
	if err != nil {
		return s, fmt.Errorf("add subsidy schedule: %w", err)
	}
	s.ID, err = res.LastInsertId()
	return s, err
}

// Schedules reads the schedules, by id.
func Schedules(ctx context.Context, q Tx) ([]server.SubsidySchedule, error) {
	rows, err := q.QueryContext(ctx, `SELECT id, user_class, amount, day, expires FROM subsidy_schedules ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("subsidy schedules: %w", err)
	}
	defer rows.Close()
	var out []server.SubsidySchedule
	for rows.Next() {
		var s server.SubsidySchedule
		if err := rows.Scan(&s.ID, &s.UserClass, &s.Amount, &s.Day, &s.Expires); err != nil {
			return nil, fmt.Errorf("subsidy schedules: %w", err)
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// Run runs the jobs due at now (server.SubsidyStore.RunSubsidies): the
// expiry of last month's subsidies first, then this month's credits.
func (s *Subsidies) Run(ctx context.Context, now time.Time) ([]server.SubsidyJob, error) {
	schedules, err := Schedules(ctx, s.Read)
	if err != nil {
		return nil, err
	}
	month := server.MonthOf(now)
	start, err := month.Start(now.Location())
	if err != nil {
		return nil, err
	}
	var done []server.SubsidyJob
	expires := false
	for _, sc := range schedules {
		expires = expires || sc.Expires
	}
	if expires {
		job, ran, err := s.job(ctx, server.ExpireKey(month.Previous()), now, nil)
		if err != nil {
			return done, err
		}
		if ran {
			done = append(done, job)
		}
	}
	for _, sc := range schedules {
		if now.Before(start.AddDate(0, 0, sc.Day-1)) {
			continue
		}
		job, ran, err := s.job(ctx, server.CreditKey(sc.ID, month), now, &sc)
		if err != nil {
			return done, err
		}
		if ran {
			done = append(done, job)
		}
	}
	return done, nil
}

// job runs one job, unless it ran: a credit of schedule sc, or (sc nil)
// an expiry. It reports whether it ran it now.
func (s *Subsidies) job(ctx context.Context, key string, now time.Time, sc *server.SubsidySchedule) (server.SubsidyJob, bool, error) {
	job := server.SubsidyJob{Key: key}
	err := s.Read.QueryRowContext(ctx, `SELECT 1 FROM subsidy_jobs WHERE job = ?`, key).Scan(new(int))
	if err == nil {
		return job, false, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return job, false, fmt.Errorf("subsidy job %s: %w", key, err)
	}
	at := now.UnixMilli()
	var after int64
	for {
		var accounts []int64
		var rows *sql.Rows
		if sc != nil {
			rows, err = s.Read.QueryContext(ctx, `SELECT id FROM accounts WHERE kind = 'diner' AND user_class = ? AND closed IS NULL AND id > ?
				ORDER BY id LIMIT ?`, sc.UserClass, after, SubsidyBatch)
		} else {
			rows, err = s.Read.QueryContext(ctx, `SELECT d.id FROM accounts d JOIN accounts s ON s.id = d.subsidy_account
				WHERE d.kind = 'diner' AND s.balance > 0 AND d.id > ? ORDER BY d.id LIMIT ?`, after, SubsidyBatch)
		}
		if err != nil {
			return job, false, fmt.Errorf("subsidy job %s: %w", key, err)
		}
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return job, false, fmt.Errorf("subsidy job %s: %w", key, err)
			}
			accounts = append(accounts, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return job, false, fmt.Errorf("subsidy job %s: %w", key, err)
		}
		last := len(accounts) < SubsidyBatch
		var n int
		var moved money.Fen
		err = s.Begin(ctx, func(tx *SubsidyTx) error {
			n, moved = 0, 0
			for _, account := range accounts {
				amount, err := subsidize(ctx, tx, key, account, sc, at)
				if err != nil {
					return fmt.Errorf("account %d: %w", account, err)
				}
				if amount != 0 {
					n++
					moved += amount
				}
			}
			if !last {
				return nil
			}
			_, err := tx.Tx.ExecContext(ctx, `INSERT INTO subsidy_jobs (job, accounts, amount, finished) VALUES (?, ?, ?, ?)`,
				key, job.Accounts+n, int64(job.Amount+moved), at)
			if tx.Duplicate(err) {
				return nil // another server finished it: every posting of it is there, once
			}
			return err
		})
		if err != nil {
			return job, false, fmt.Errorf("subsidy job %s: %w", key, err)
		}
		job.Accounts += n
		job.Amount += moved
		if last {
			job.Finished = time.UnixMilli(at)
			return job, true, nil
		}
		after = accounts[len(accounts)-1]
	}
}

// subsidize credits account (sc not nil) or expires its subsidies, unless
// the job did so already, and returns the amount moved.
func subsidize(ctx context.Context, tx *SubsidyTx, key string, account int64, sc *server.SubsidySchedule, at int64) (money.Fen, error) {
	origin := server.SubsidyOrigin(key, account)
	err := tx.Tx.QueryRowContext(ctx, `SELECT 1 FROM transactions WHERE origin = ?`, origin).Scan(new(int))
	if err == nil {
		return 0, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return 0, err
	}
	var sub sql.NullInt64
	var closed sql.NullInt64
	if err := tx.Tx.QueryRowContext(ctx, `SELECT subsidy_account, closed FROM accounts WHERE id = ?`+tx.Lock, account).Scan(&sub, &closed); err != nil {
		return 0, err
	}
	var postings []server.Posting
	kind := server.TxSubsidy
	if sc != nil {
		if closed.Valid {
			return 0, nil // closed since the batch was chosen
		}
		if !sub.Valid {
			res, err := tx.Tx.ExecContext(ctx, `INSERT INTO accounts (kind, name, balance, created) VALUES ('subsidy', ?, 0, ?)`,
				fmt.Sprintf("subsidies of account %d", account), at)
			if err != nil {
				return 0, err
			}
			if sub.Int64, err = res.LastInsertId(); err != nil {
				return 0, err
			}
			if _, err := tx.Tx.ExecContext(ctx, `UPDATE accounts SET subsidy_account = ? WHERE id = ?`, sub.Int64, account); err != nil {
				return 0, err
			}
		}
		postings = []server.Posting{{AccountID: server.SubsidyAccount, Amount: -sc.Amount}, {AccountID: sub.Int64, Amount: sc.Amount}}
	} else {
		var bal money.Fen
		if !sub.Valid {
			return 0, nil
		}
		if err := tx.Tx.QueryRowContext(ctx, `SELECT balance FROM accounts WHERE id = ?`+tx.Lock, sub.Int64).Scan(&bal); err != nil {
			return 0, err
		}
		if bal <= 0 {
			return 0, nil
		}
		kind = server.TxExpire
		postings = []server.Posting{{AccountID: sub.Int64, Amount: -bal}, {AccountID: server.SubsidyAccount, Amount: bal}}
	}
	if _, err := tx.Post(ctx, kind, origin, at, postings); err != nil {
		return 0, err
	}
	// The account's cards in use change their spendable balance: registers
	// fetch them again.
	rows, err := tx.Tx.QueryContext(ctx, `SELECT card_no FROM cards WHERE account_id = ? AND status IN ('active', 'frozen') ORDER BY card_no`, account)
	if err != nil {
		return 0, err
	}
	var cards []string
	for rows.Next() {
		var no string
		if err := rows.Scan(&no); err != nil {
			rows.Close()
			return 0, err
		}
		cards = append(cards, no)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	versions, err := tx.NextVersions(ctx, len(cards))
	if err != nil {
		return 0, err
	}
	for i, no := range cards {
		if _, err := tx.Tx.ExecContext(ctx, `UPDATE cards SET version = ? WHERE card_no = ?`, versions[i], no); err != nil {
			return 0, err
		}
	}
	return postings[1].Amount, nil
}
