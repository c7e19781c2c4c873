package mysql

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/fanka/fanka/server"
	"github.com/fanka/fanka/server/sqlops"
	"github.com/fanka/fanka/shared/money"
)

// CardOp implements server.OfficeStore. Its locks follow the package's
// order: the card version counter, then the card and its account, then
// the canteen's own accounts, at the end.
func (db *DB) CardOp(ctx context.Context, op server.CardOp) (server.CardOpResult, error) {
	if err := op.Validate(); err != nil {
		return server.CardOpResult{}, fmt.Errorf("%s card %s: %w", op.Kind, op.CardNo, err)
	}
	fp := op.Fingerprint()
	var out server.CardOpResult
	changed := false
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		out, changed = server.CardOpResult{}, false
		done, err := replayRequest(ctx, tx, op.RequestID, fp[:], &out)
		if err != nil || done {
			return err
		}
		version, err := lockCardVersion(ctx, tx)
		if err != nil {
			return err
		}
		// The same request may have committed while this one waited for
		// the lock: then its result is the answer.
		if done, err := replayRequest(ctx, tx, op.RequestID, fp[:], &out); err != nil || done {
			return err
		}
		b := newBooks(tx)
		ops := &sqlops.Store{
			Lock:        ` FOR UPDATE`,
			CardColumns: cardColumns,
			ScanCard:    scanAny,
			Post: func(ctx context.Context, kind server.TxKind, origin, cardNo, operator string, now int64, postings []server.Posting, account int64, balance money.Fen) (int64, error) {
				id, err := insertTx(ctx, tx, txRow{kind: kind, origin: origin, created: now, cardNo: cardNo, operator: operator})
				if err != nil {
					return 0, err
				}
				b.lock(account, balance)
				_, err = b.post(ctx, id, postings)
				return id, err
			},
			NextVersions: func(ctx context.Context, n int) ([]uint64, error) {
				out := make([]uint64, n)
				for i := range out {
					version++
					out[i] = version
				}
				return out, setCardVersion(ctx, tx, version)
			},
			Duplicate: isDuplicate,
		}
		now := db.Now()
		if out, err = ops.Run(ctx, tx, op, now); err != nil {
			if server.ErrorCode(err) == server.ECONFLICT {
				return retry{err} // a card or transaction committed meanwhile: look again
			}
			return err
		}
		if err := b.flush(ctx); err != nil {
			return err
		}
		changed = true
		err = recordRequest(ctx, tx, op.RequestID, string(op.Kind), fp[:], out, op.Operator, ms(now))
		if isDuplicate(err) {
			return retry{server.Errorf(server.ECONFLICT, "request_id %q was used at the same time", op.RequestID)}
		}
		return err
	})
	if err != nil {
		return server.CardOpResult{}, fmt.Errorf("%s card %s (request %s): %w", op.Kind, op.CardNo, op.RequestID, err)
	}
	if changed {
		db.cards.Notify()
	}
	return out, nil
}

func scanAny(row interface{ Scan(...any) error }) (server.Card, error) { return scanCard(row) }

// Holds implements server.OfficeStore.
func (db *DB) Holds(ctx context.Context, cardNo string) ([]server.Hold, error) {
	return sqlops.Holds(ctx, db.db, cardNo)
}

// SearchCards implements server.OfficeStore.
func (db *DB) SearchCards(ctx context.Context, q server.CardQuery) ([]server.Card, error) {
	return sqlops.Search(ctx, db.db, cardColumns, scanAny, q)
}

// SealDelay is how long a transaction waits before it is sealed: several
// servers commit at once, so a transaction with a lower id may commit
// after one with a higher id, and must not be left out of the seal that
// covers its id. It is far longer than any write transaction may run.
const SealDelay = time.Minute

// Seal implements server.LedgerSealer.
func (db *DB) Seal(ctx context.Context) (int, error) {
	now := db.Now()
	return sqlops.Seal(ctx, db.db, ms(now.Add(-SealDelay)), ms(now), func(args []any) (bool, error) {
		_, err := db.db.ExecContext(ctx, sqlops.InsertSeal, args...)
		if isDuplicate(err) {
			return true, nil
		}
		return false, err
	})
}

// Rules implements server.RuleStore.
func (db *DB) Rules(ctx context.Context) (server.Rules, uint64, error) {
	return sqlops.ReadRules(ctx, db.db)
}

// SetRules implements server.RuleStore.
func (db *DB) SetRules(ctx context.Context, r server.Rules, operator string) (uint64, error) {
	var v uint64
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		// The row is locked by the read's update below or its insert: two
		// servers setting rules at once are ordered, or one retried.
		var err error
		v, err = sqlops.WriteRules(ctx, tx, r, operator, ms(db.Now()))
		if isDuplicate(err) {
			return retry{err}
		}
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("set rules: %w", err)
	}
	db.rules.Forget()
	return v, nil
}

// AddSchedule implements server.SubsidyStore.
func (db *DB) AddSchedule(ctx context.Context, s server.SubsidySchedule, operator string) (server.SubsidySchedule, error) {
	return sqlops.AddSchedule(ctx, db.db, s, operator, ms(db.Now()))
}

// Schedules implements server.SubsidyStore.
func (db *DB) Schedules(ctx context.Context) ([]server.SubsidySchedule, error) {
	return sqlops.Schedules(ctx, db.db)
}

// RunSubsidies implements server.SubsidyStore. Each batch locks the card
// version counter first, then the accounts, then the fund, at the end: the
// package's lock order.
func (db *DB) RunSubsidies(ctx context.Context, now time.Time) ([]server.SubsidyJob, error) {
	s := &sqlops.Subsidies{Read: db.db, Begin: func(ctx context.Context, fn func(*sqlops.SubsidyTx) error) error {
		return db.inTx(ctx, func(tx *sql.Tx) error {
			version, err := lockCardVersion(ctx, tx)
			if err != nil {
				return err
			}
			b := newBooks(tx)
			err = fn(&sqlops.SubsidyTx{Tx: tx, Lock: ` FOR UPDATE`, Duplicate: isDuplicate,
				NextVersions: func(ctx context.Context, n int) ([]uint64, error) {
					out := make([]uint64, n)
					for i := range out {
						version++
						out[i] = version
					}
					return out, setCardVersion(ctx, tx, version)
				},
				Post: func(ctx context.Context, kind server.TxKind, origin string, now int64, postings []server.Posting) (int64, error) {
					id, err := insertTx(ctx, tx, txRow{kind: kind, origin: origin, created: now, operator: "scheduler"})
					if err != nil {
						return 0, err
					}
					_, err = b.post(ctx, id, postings)
					return id, err
				}})
			if err != nil {
				return err
			}
			return b.flush(ctx)
		})
	}}
	jobs, err := s.Run(ctx, now)
	if len(jobs) > 0 {
		db.cards.Notify()
	}
	return jobs, err
}
