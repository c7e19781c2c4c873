package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/fanka/fanka/server"
	"github.com/fanka/fanka/server/sqlops"
	"github.com/fanka/fanka/shared/money"
)

// CardOp implements server.OfficeStore.
func (db *DB) CardOp(ctx context.Context, op server.CardOp) (server.CardOpResult, error) {
	if err := op.Validate(); err != nil {
		return server.CardOpResult{}, fmt.Errorf("%s card %s: %w", op.Kind, op.CardNo, err)
	}
	fp := op.Fingerprint()
	var out server.CardOpResult
	changed := false
	err := db.inTx(ctx, func(tx *wtx) error {
		done, err := replayRequest(ctx, tx, op.RequestID, fp[:], &out)
		if err != nil || done {
			return err
		}
		now := db.Now()
		if out, err = opsStore(tx).Run(ctx, tx, op, now); err != nil {
			return err
		}
		changed = true
		return recordRequest(ctx, tx, op.RequestID, string(op.Kind), fp[:], out, op.Operator, ms(now))
	})
	if err != nil {
		return server.CardOpResult{}, fmt.Errorf("%s card %s (request %s): %w", op.Kind, op.CardNo, op.RequestID, err)
	}
	if changed {
		db.cards.Notify()
	}
	return out, nil
}

// opsStore is how office operations run in the write transaction tx.
func opsStore(tx *wtx) *sqlops.Store {
	return &sqlops.Store{
		CardColumns: cardColumns,
		ScanCard:    scanAny,
		Post: func(ctx context.Context, kind server.TxKind, origin, cardNo, operator string, now int64, postings []server.Posting, _ int64, _ money.Fen) (int64, error) {
			id, err := insertTx(ctx, tx, txRow{kind: kind, origin: origin, created: now, cardNo: cardNo, operator: operator})
			if err != nil {
				return 0, err
			}
			return id, post(ctx, tx, id, postings)
		},
		NextVersions: func(ctx context.Context, n int) ([]uint64, error) {
			out := make([]uint64, n)
			for i := range out {
				v, err := nextCardVersion(ctx, tx)
				if err != nil {
					return nil, err
				}
				out[i] = v
			}
			return out, nil
		},
		Duplicate: isConstraint,
	}
}

func scanAny(row interface{ Scan(...any) error }) (server.Card, error) { return scanCard(row) }

// Holds implements server.OfficeStore.
func (db *DB) Holds(ctx context.Context, cardNo string) ([]server.Hold, error) {
	return sqlops.Holds(ctx, readTx{db}, cardNo)
}

// SearchCards implements server.OfficeStore.
func (db *DB) SearchCards(ctx context.Context, q server.CardQuery) ([]server.Card, error) {
	return sqlops.Search(ctx, readTx{db}, cardColumns, scanAny, q)
}

// readTx runs sqlops' queries on the read connections.
type readTx struct{ db *DB }

func (r readTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return nil, fmt.Errorf("sqlite: write on the read connections: %s", query)
}
func (r readTx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return r.db.read.QueryRowContext(ctx, query, args...)
}
func (r readTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return r.db.read.QueryContext(ctx, query, args...)
}

// Seal implements server.LedgerSealer. The writer commits transactions
// in id order, so everything committed is sealed at once.
func (db *DB) Seal(ctx context.Context) (int, error) {
	rtx, err := db.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return 0, fmt.Errorf("seal: %w", err)
	}
	defer rtx.Rollback()
	now := ms(db.Now())
	return sqlops.Seal(ctx, rtx, now, now, func(args []any) (bool, error) {
		rtx.Rollback() // the snapshot is no longer needed
		// A seal writes only seals: the settler's cache of cards and
		// balances stays valid across it.
		err := db.writeTx(ctx, false, func(tx *wtx) error {
			_, err := tx.ExecContext(ctx, sqlops.InsertSeal, args...)
			return err
		})
		if isConstraint(err) {
			return true, nil
		}
		return false, err
	})
}

// Rules implements server.RuleStore.
func (db *DB) Rules(ctx context.Context) (server.Rules, uint64, error) {
	return sqlops.ReadRules(ctx, readTx{db})
}

// SetRules implements server.RuleStore.
func (db *DB) SetRules(ctx context.Context, r server.Rules, operator string) (uint64, error) {
	var v uint64
	err := db.inTx(ctx, func(tx *wtx) error {
		var err error
		v, err = sqlops.WriteRules(ctx, tx, r, operator, ms(db.Now()))
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
	err := db.inTx(ctx, func(tx *wtx) error {
		var err error
		s, err = sqlops.AddSchedule(ctx, tx, s, operator, ms(db.Now()))
		return err
	})
	return s, err
}

// Schedules implements server.SubsidyStore.
func (db *DB) Schedules(ctx context.Context) ([]server.SubsidySchedule, error) {
	return sqlops.Schedules(ctx, readTx{db})
}

// RunSubsidies implements server.SubsidyStore.
func (db *DB) RunSubsidies(ctx context.Context, now time.Time) ([]server.SubsidyJob, error) {
	s := &sqlops.Subsidies{Read: readTx{db}, Begin: func(ctx context.Context, fn func(*sqlops.SubsidyTx) error) error {
		return db.inTx(ctx, func(tx *wtx) error {
			ops := opsStore(tx)
			return fn(&sqlops.SubsidyTx{Tx: tx, Duplicate: isConstraint, NextVersions: ops.NextVersions,
				Post: func(ctx context.Context, kind server.TxKind, origin string, now int64, postings []server.Posting) (int64, error) {
					return ops.Post(ctx, kind, origin, "", "scheduler", now, postings, 0, 0)
				}})
		})
	}}
	jobs, err := s.Run(ctx, now)
	if len(jobs) > 0 {
		db.cards.Notify()
	}
	return jobs, err
}
