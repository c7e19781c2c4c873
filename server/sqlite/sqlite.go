// Package sqlite is the server's embedded store: the ledger, cards,
// registers and users in one SQLite file, through SQLite itself compiled
// from C (github.com/mattn/go-sqlite3: the register needs cgo for PC/SC
// anyway, and the C library settles about twice as fast as a translation
// to Go).
//
// The file runs in WAL mode with synchronous=FULL (WAL with NORMAL can lose
// committed transactions on power loss), foreign keys on and a busy
// timeout. All writes go through one connection, so they are serialized;
// reads use a separate pool and see committed snapshots while a write is in
// progress. Settlement has a goroutine of its own on that connection, the
// settler, which commits the batches of every register waiting at the same
// time in one transaction (group commit, see Settle).
package sqlite

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	sqlite3 "github.com/mattn/go-sqlite3"

	"github.com/fanka/fanka/server"
	"github.com/fanka/fanka/server/sqlops"
)

// busyTimeout is how long a connection waits for a lock held by another
// process (a verify run, a backup) before failing.
const busyTimeout = 10 * time.Second

// writerCacheKiB is the writer connection's page cache.
const writerCacheKiB = 64 << 10

// readerMapBytes is how much of the database file each query connection
// maps into memory (address space, shared by all of them through the
// kernel's page cache; not memory of the process's own).
const readerMapBytes = 1 << 30

// DB is the SQLite store. Create it with New, set its fields, then Open it.
type DB struct {
	// Path is the database file.
	Path string
	// Now is the server's clock; its location decides which day a sale
	// counts on. Defaults to time.Now.
	Now func() time.Time

	write *sql.DB // exactly one connection: the single writer
	read  *sql.DB // a pool of query-only connections
	cards server.Signal

	stmtMu sync.Mutex
	stmts  map[string]*sql.Stmt // prepared on write, by query

	keyMu sync.Mutex
	keys  map[uint32]ed25519.PublicKey // registers' pinned keys, once enrolled

	cardKeyCache server.CardKeys // cards' public keys, for the batches' card signatures

	writes     atomic.Uint64      // write transactions begun: the settler's cache is of one
	cache      settleCache        // the settler's cards and balances, as it last committed them
	rules      server.RulesCache  // the rules settlement checks sales against
	revenues   sqlops.Revenues    // canteens' revenue accounts
	settleq    chan *batch        // batches for the settler, the single writer of settlements
	stopped    chan struct{}      // closed when the settler has ended
	stopSettle context.CancelFunc // ends the settler and the checkpointer

	checkpoints  *sql.DB       // the checkpointer's connection
	checkpointed chan struct{} // closed when the checkpointer has returned
}

var _ server.Store = (*DB)(nil)

// New returns a store for the database file at path, not yet open.
func New(path string) *DB {
	return &DB{Path: path, Now: time.Now, stmts: map[string]*sql.Stmt{}, keys: map[uint32]ed25519.PublicKey{},
		settleq: make(chan *batch), stopped: make(chan struct{})}
}

// Open opens the file, creating it if needed, and brings its schema to the
// latest version.
func (db *DB) Open(ctx context.Context) error {
	if db.Now == nil {
		db.Now = time.Now
	}
	abs, err := filepath.Abs(db.Path)
	if err != nil {
		return fmt.Errorf("open %s: %w", db.Path, err)
	}
	uri := (&url.URL{Scheme: "file", Path: abs}).String()
	common := fmt.Sprintf("_foreign_keys=1&_busy_timeout=%d", busyTimeout.Milliseconds())

	// The writer keeps a large page cache: settlement inserts into the
	// indexes of tables far larger than SQLite's default 2 MiB cache.
	db.write, err = sql.Open(writerDriver, uri+"?"+common+"&_journal_mode=WAL&_synchronous=FULL&_txlock=immediate"+
		fmt.Sprintf("&_cache_size=%d", -writerCacheKiB))
	if err != nil {
		return fmt.Errorf("open %s: %w", db.Path, err)
	}
	db.write.SetMaxOpenConns(1)
	db.write.SetMaxIdleConns(1)
	db.write.SetConnMaxLifetime(0)
	db.write.SetConnMaxIdleTime(0)
	if err := db.migrate(ctx); err != nil {
		db.write.Close()
		return fmt.Errorf("open %s: %w", db.Path, err)
	}

	// The readers map the file (up to readerMapBytes) rather than read
	// it page by page: a new register's card list joins a million cards
	// with their accounts in card number order, which is random in the
	// accounts table, and with a read(2) per page that missed the small
	// default cache, the reads spent most of their time in system calls.
	db.read, err = sql.Open(readerDriver, uri+"?"+common+"&_synchronous=FULL&_query_only=1")
	if err != nil {
		db.write.Close()
		return fmt.Errorf("open %s: %w", db.Path, err)
	}
	db.read.SetMaxOpenConns(8)
	db.read.SetMaxIdleConns(8)
	if err := db.read.PingContext(ctx); err != nil {
		db.Close()
		return fmt.Errorf("open %s: %w", db.Path, err)
	}
	// The checkpointer's own connection: a checkpoint writes the file.
	db.checkpoints, err = sql.Open(Driver, uri+"?"+common+"&_synchronous=FULL")
	if err != nil {
		db.Close()
		return fmt.Errorf("open %s: %w", db.Path, err)
	}
	db.checkpoints.SetMaxOpenConns(1)
	settleCtx, stop := context.WithCancel(context.Background())
	db.stopSettle = stop
	go db.settler(settleCtx)
	db.checkpointed = make(chan struct{})
	go db.checkpointer(settleCtx)
	return nil
}

// checkpointEvery is how often the checkpointer copies the write-ahead log
// into the database file.
const checkpointEvery = 500 * time.Millisecond

// checkpointer copies the write-ahead log into the database file every
// checkpointEvery, until ctx ends, on a connection of its own: PASSIVE
// checkpoints wait for no one, so the writer commits meanwhile instead of
// stopping to checkpoint itself (SQLite's automatic checkpoint, which the
// writer's connection has off). A checkpoint copies the frames no reader
// still needs; once all are copied, the next commit starts the log again
// from its beginning.
func (db *DB) checkpointer(ctx context.Context) {
	defer close(db.checkpointed)
	var warned time.Time
	t := time.NewTicker(checkpointEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		var busy, logged, copied int
		err := db.checkpoints.QueryRowContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &logged, &copied)
		if err != nil && ctx.Err() == nil && time.Since(warned) > time.Minute {
			// The log grows until a checkpoint succeeds: say so, once a
			// minute at most.
			slog.Warn("sqlite: checkpoint failed; the write-ahead log grows until one succeeds", "db", db.Path, "err", err)
			warned = time.Now()
		}
	}
}

// Close closes the database.
func (db *DB) Close() error {
	if db.stopSettle != nil {
		db.stopSettle()
		<-db.stopped
		<-db.checkpointed
	}
	var errs []error
	db.stmtMu.Lock()
	for q, st := range db.stmts {
		errs = append(errs, st.Close())
		delete(db.stmts, q)
	}
	db.stmtMu.Unlock()
	if db.read != nil {
		errs = append(errs, db.read.Close())
	}
	if db.checkpoints != nil {
		errs = append(errs, db.checkpoints.Close())
	}
	if db.write != nil {
		// The last connection to close checkpoints the whole log.
		errs = append(errs, db.write.Close())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close %s: %w", db.Path, err)
	}
	return nil
}

// SchemaVersion returns the version of the database's schema.
func (db *DB) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	err := db.read.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_version`).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("schema version: %w", err)
	}
	return v, nil
}

// schemaVersionTable creates the table of the migrations applied.
const schemaVersionTable = `CREATE TABLE IF NOT EXISTS schema_version (
	version INTEGER PRIMARY KEY,
	applied INTEGER NOT NULL
) STRICT`

// migrate applies the migrations the database has not seen, each in its
// own transaction together with its schema_version row.
func (db *DB) migrate(ctx context.Context) error {
	if _, err := db.write.ExecContext(ctx, schemaVersionTable); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	var have int
	if err := db.write.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_version`).Scan(&have); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if have > len(migrations) {
		return fmt.Errorf("migrate: database schema version %d is newer than this server's %d", have, len(migrations))
	}
	// Foreign keys are off while a migration runs, as SQLite's procedure
	// for rebuilding a table wants, and checked before it commits.
	if _, err := db.write.ExecContext(ctx, `PRAGMA foreign_keys = OFF`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer db.write.ExecContext(context.WithoutCancel(ctx), `PRAGMA foreign_keys = ON`)
	for v := have + 1; v <= len(migrations); v++ {
		err := db.inTx(ctx, func(tx *wtx) error {
			// A script of many statements: not for a prepared statement.
			if _, err := tx.Tx.ExecContext(ctx, migrations[v-1]); err != nil {
				return err
			}
			if err := foreignKeyCheck(ctx, tx.Tx); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_version (version, applied) VALUES (?, ?)`, v, ms(db.Now()))
			return err
		})
		if err != nil {
			return fmt.Errorf("migrate to version %d: %w", v, err)
		}
	}
	return nil
}

// foreignKeyCheck fails if any row breaks a foreign key.
func foreignKeyCheck(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, `PRAGMA foreign_key_check`)
	if err != nil {
		return err
	}
	defer rows.Close()
	if rows.Next() {
		var table, parent string
		var rowid sql.NullInt64
		var fk int
		if err := rows.Scan(&table, &rowid, &parent, &fk); err != nil {
			return err
		}
		return fmt.Errorf("foreign key check: %s row %d refers to a missing %s", table, rowid.Int64, parent)
	}
	return rows.Err()
}

// inTx runs fn in a write transaction and commits it if fn succeeds.
func (db *DB) inTx(ctx context.Context, fn func(tx *wtx) error) error {
	return db.writeTx(ctx, true, fn)
}

// writeTx is inTx; counted false is for a transaction that writes
// nothing the settler's cache holds (cards, balances), which the cache
// then outlives.
func (db *DB) writeTx(ctx context.Context, counted bool, fn func(tx *wtx) error) error {
	sqlTx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if counted {
		db.writes.Add(1) // under the writer connection: write transactions are counted in order
	}
	tx := &wtx{Tx: sqlTx, db: db}
	err = fn(tx)
	if err == nil {
		err = sqlTx.Commit()
	} else {
		sqlTx.Rollback()
	}
	// The writer connection is free again: prepare the statements this
	// transaction ran unprepared, for the next ones.
	db.prepare(ctx, tx.missed)
	return err
}

// wtx is a write transaction that runs each query through a statement
// prepared once on the writer connection, after the first time the query
// ran: parsing SQL costs more than running it.
type wtx struct {
	*sql.Tx
	db     *DB
	missed []string // queries run without a prepared statement
}

// stmt returns the transaction's use of the statement prepared for query,
// or nil if there is none yet.
func (tx *wtx) stmt(ctx context.Context, query string) *sql.Stmt {
	tx.db.stmtMu.Lock()
	st := tx.db.stmts[query]
	tx.db.stmtMu.Unlock()
	if st == nil {
		tx.missed = append(tx.missed, query)
		return nil
	}
	return tx.Tx.StmtContext(ctx, st)
}

// ExecContext is sql.Tx.ExecContext through a prepared statement.
func (tx *wtx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := tx.stmt(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return tx.Tx.ExecContext(ctx, query, args...)
}

// QueryContext is sql.Tx.QueryContext through a prepared statement.
func (tx *wtx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := tx.stmt(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return tx.Tx.QueryContext(ctx, query, args...)
}

// QueryRowContext is sql.Tx.QueryRowContext through a prepared statement.
func (tx *wtx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := tx.stmt(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return tx.Tx.QueryRowContext(ctx, query, args...)
}

// maxStmts bounds the prepared statements kept; the store's queries are a
// fixed set of constants, well below it.
const maxStmts = 256

// prepare prepares queries on the writer connection, best effort: a
// query that fails to prepare simply runs unprepared.
func (db *DB) prepare(ctx context.Context, queries []string) {
	for _, q := range queries {
		db.stmtMu.Lock()
		_, have := db.stmts[q]
		full := len(db.stmts) >= maxStmts
		db.stmtMu.Unlock()
		if have || full || ctx.Err() != nil {
			continue
		}
		st, err := db.write.PrepareContext(ctx, q)
		if err != nil {
			continue
		}
		db.stmtMu.Lock()
		if _, have := db.stmts[q]; have {
			st.Close()
		} else {
			db.stmts[q] = st
		}
		db.stmtMu.Unlock()
	}
}

// nextCardVersion advances the server-wide card change counter.
func nextCardVersion(ctx context.Context, tx *wtx) (uint64, error) {
	var v uint64
	err := tx.QueryRowContext(ctx, `UPDATE counters SET value = value + 1 WHERE name = 'card_version' RETURNING value`).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("next card version: %w", err)
	}
	return v, nil
}

// ms converts a time to Unix milliseconds, the unit of every time column.
func ms(t time.Time) int64 { return t.UnixMilli() }

// fromMS converts a nullable Unix-milliseconds column to a time; NULL is the
// zero time.
func fromMS(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return time.UnixMilli(v.Int64)
}

// isConstraint reports whether err is an SQLite constraint violation.
func isConstraint(err error) bool {
	var e sqlite3.Error
	return errors.As(err, &e) && e.Code == sqlite3.ErrConstraint
}
