// Package mysql is the server's store on a MySQL-compatible database:
// MariaDB for one site, TiDB (or a Galera cluster) when one database server
// is outgrown, shared by several server instances behind a load balancer.
// It keeps the same ledger as the embedded SQLite store, passes the same
// conformance suite, and speaks only SQL that MySQL, MariaDB and TiDB all
// accept: InnoDB tables, utf8mb4, no RETURNING and no sequences.
//
// Money is never left to REPEATABLE READ. Every write transaction runs at
// READ COMMITTED and locks the rows it reads to update, always in one
// order, so that transactions that meet wait for each other instead of
// deadlocking:
//
//  1. the register's terminals row (Settle), which makes settlement of one
//     register exactly-once however many servers settle it;
//  2. the counters rows: card_no, then card_version, held to the commit, so
//     that card versions become visible in the order they were given and a
//     register's cursor never skips a card;
//  3. the cards and accounts rows of the diners concerned, in card number
//     order;
//  4. the canteen's own accounts (revenue, cash, subsidy, suspense), in id
//     order, written once at the end of the transaction.
//
// A transaction that still ends in a deadlock, a lock wait timeout or a
// Galera certification failure is rolled back and run again from the
// start, a bounded number of times.
//
// Card changes wake the subscribers of this process at once and those of
// other processes on the same database within CardPoll.
//
// The office's reports and lists may read a replica instead (ReportDSN,
// Reports): read-only snapshots, which take no lock on either database.
package mysql

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"strings"
	"sync"
	"time"

	gomysql "github.com/go-sql-driver/mysql"

	"github.com/fanka/fanka/server"
	"github.com/fanka/fanka/server/sqlops"
)

// Defaults for the DB's fields.
const (
	// DefaultMaxAttempts bounds the runs of a transaction that the database
	// rolled back for a conflict. It is high for Galera: every settlement
	// writes the card change counter, so settlements through two nodes
	// always conflict, and the node whose transaction is open when the
	// other's commit arrives loses; with two busy nodes one transaction
	// lost 8 runs in a row in TestGaleraConflictsRetried. The waits between
	// runs grow to at most 256 ms.
	DefaultMaxAttempts = 30
	// DefaultCardPoll is how often the store looks for card changes made by
	// other servers on the same database.
	DefaultCardPoll = time.Second
)

// migrateLockWait bounds the wait for another server's migration.
const migrateLockWait = 60 * time.Second

// DB is the MySQL-compatible store. Create it with New, set its fields,
// then Open it.
type DB struct {
	// DSN names the database: mysql://user:password@host:port/dbname?params
	// (see ParseDSN).
	DSN string
	// Now is the server's clock; its location decides which day a sale
	// counts on. Defaults to time.Now.
	Now func() time.Time
	// MaxAttempts bounds the runs of one transaction; see DefaultMaxAttempts.
	MaxAttempts int
	// CardPoll is how often to look for card changes committed by other
	// servers; see DefaultCardPoll. Negative: never.
	CardPoll time.Duration
	// ReportDSN, if not empty, names the report database, in DSN's form:
	// a replica of DSN's database (or DSN's database itself), which
	// Reports reads. Empty: Reports reads DSN's database.
	ReportDSN string

	db      *sql.DB
	reports *sql.DB // ReportDSN's; nil without one
	cards   server.Signal

	cardKeyCache server.CardKeys   // cards' public keys, for the batches' card signatures
	rules        server.RulesCache // the rules settlement checks sales against
	revenues     sqlops.Revenues   // canteens' revenue accounts

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

var _ server.Store = (*DB)(nil)

// New returns a store for the database dsn names, not yet open.
func New(dsn string) *DB {
	return &DB{DSN: dsn, Now: time.Now, MaxAttempts: DefaultMaxAttempts, CardPoll: DefaultCardPoll}
}

// ParseDSN converts a Fanka database URL,
//
//	mysql://user:password@host[:port]/dbname[?param=value&…]
//
// into the driver's configuration. The port defaults to 3306; the user and
// password are URL-escaped. The parameters are those of
// github.com/go-sql-driver/mysql (tls, timeout, readTimeout, …, and
// session variables such as innodb_lock_wait_timeout). Unless the URL says
// otherwise the store sets parseTime, clientFoundRows (UPDATE reports the
// rows it matched), interpolateParams (one round trip per statement), a 10 s
// dial timeout and a strict sql_mode.
//
// Errors never repeat the password.
func ParseDSN(dsn string) (*gomysql.Config, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		return nil, errors.New("database URL: not a URL")
	}
	if u.Scheme != "mysql" {
		return nil, fmt.Errorf("database URL: scheme %q, want mysql", u.Scheme)
	}
	if u.Host == "" || u.Opaque != "" {
		return nil, errors.New("database URL: no host (want mysql://user:password@host:port/dbname)")
	}
	name := strings.TrimPrefix(u.Path, "/")
	if name == "" || strings.Contains(name, "/") {
		return nil, errors.New("database URL: want one database name as the path")
	}
	// The driver reads its own parameters from the query.
	cfg, err := gomysql.ParseDSN("/?" + u.RawQuery)
	if err != nil {
		return nil, fmt.Errorf("database URL parameters: %w", err)
	}
	q := u.Query()
	cfg.Net = "tcp"
	cfg.Addr = u.Host
	if u.Port() == "" {
		cfg.Addr = u.Host + ":3306"
	}
	cfg.DBName = name
	if u.User != nil {
		cfg.User = u.User.Username()
		cfg.Passwd, _ = u.User.Password()
	}
	if !q.Has("parseTime") {
		cfg.ParseTime = true
	}
	if !q.Has("clientFoundRows") {
		cfg.ClientFoundRows = true
	}
	if !q.Has("interpolateParams") {
		cfg.InterpolateParams = true
	}
	if !q.Has("timeout") {
		cfg.Timeout = 10 * time.Second
	}
	if !q.Has("sql_mode") {
		if cfg.Params == nil {
			cfg.Params = map[string]string{}
		}
		cfg.Params["sql_mode"] = "'STRICT_ALL_TABLES,ONLY_FULL_GROUP_BY,NO_ZERO_DATE,NO_ZERO_IN_DATE,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION'"
	}
	return cfg, nil
}

// Redact returns dsn with its password replaced by "xxxxx", fit for logs.
func Redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "mysql://…"
	}
	return u.Redacted()
}

// Open connects to the database and brings its schema to the latest
// version, waiting for another server that is migrating it.
func (db *DB) Open(ctx context.Context) error {
	if db.Now == nil {
		db.Now = time.Now
	}
	if db.MaxAttempts <= 0 {
		db.MaxAttempts = DefaultMaxAttempts
	}
	if db.CardPoll == 0 {
		db.CardPoll = DefaultCardPoll
	}
	var err error
	if db.db, err = openPool(db.DSN, 32); err != nil {
		return fmt.Errorf("open %s: %w", Redact(db.DSN), err)
	}
	if err := db.migrate(ctx); err != nil {
		db.db.Close()
		return fmt.Errorf("open %s: %w", Redact(db.DSN), err)
	}
	if db.ReportDSN != "" {
		// Not connected yet: a replica that is down fails the reports,
		// never the start of a server, which settles without it.
		if db.reports, err = openPool(db.ReportDSN, 8); err != nil {
			db.db.Close()
			return fmt.Errorf("open report database %s: %w", Redact(db.ReportDSN), err)
		}
	}

	pollCtx, cancel := context.WithCancel(context.Background())
	db.cancel = cancel
	if db.CardPoll > 0 {
		version, err := db.cardVersion(ctx)
		if err != nil {
			cancel()
			db.closePools()
			return fmt.Errorf("open %s: %w", Redact(db.DSN), err)
		}
		db.wg.Add(1)
		go db.pollCards(pollCtx, version)
	}
	return nil
}

// Close stops the card poll and closes the database.
func (db *DB) Close() error {
	if db.cancel != nil {
		db.cancel()
	}
	db.wg.Wait()
	if db.db == nil {
		return nil
	}
	if err := db.closePools(); err != nil {
		return fmt.Errorf("close %s: %w", Redact(db.DSN), err)
	}
	return nil
}

// openPool returns a pool of at most size connections to the database
// dsn names, not yet connected.
func openPool(dsn string, size int) (*sql.DB, error) {
	pool, err := OpenRaw(dsn)
	if err != nil {
		return nil, err
	}
	pool.SetMaxOpenConns(size)
	pool.SetMaxIdleConns(size)
	// Below the usual wait_timeout of servers and proxies.
	pool.SetConnMaxLifetime(5 * time.Minute)
	return pool, nil
}

// closePools closes the database and the report database.
func (db *DB) closePools() error {
	err := db.db.Close()
	if db.reports != nil {
		err = errors.Join(err, db.reports.Close())
	}
	return err
}

// SchemaVersion returns the version of the database's schema.
func (db *DB) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	err := db.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_version`).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("schema version: %w", err)
	}
	return v, nil
}

// schemaVersionTable creates the table of the migrations applied.
const schemaVersionTable = `CREATE TABLE IF NOT EXISTS schema_version (
	version INT NOT NULL PRIMARY KEY,
	applied BIGINT NOT NULL
) ` + tableOptions

// migrate applies the migrations the database has not seen, under an
// advisory lock so that servers starting at once migrate one after the
// other. MySQL commits each DDL statement on its own, so a migration is not
// atomic: its statements are written to be run again (IF NOT EXISTS, INSERT
// IGNORE), and a migration cut off half-way completes on the next start.
// Its schema_version row is written last.
//
// GET_LOCK is per server in a Galera cluster: servers that start at once on
// different nodes may both migrate, which the repeatable statements and
// the schema_version key make harmless.
func (db *DB) migrate(ctx context.Context) error {
	conn, err := db.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer conn.Close()
	const lockName = `LEFT(CONCAT('fanka.migrate.', DATABASE()), 64)`
	var got sql.NullInt64
	if err := conn.QueryRowContext(ctx, `SELECT GET_LOCK(`+lockName+`, ?)`, int(migrateLockWait.Seconds())).Scan(&got); err != nil {
		return fmt.Errorf("migrate: lock: %w", err)
	}
	if got.Int64 != 1 {
		return fmt.Errorf("migrate: another server held the migration lock for %v", migrateLockWait)
	}
	defer func() {
		// The lock belongs to the session: a connection that cannot release
		// it must not go back to the pool.
		if rerr := conn.QueryRowContext(context.WithoutCancel(ctx), `SELECT RELEASE_LOCK(`+lockName+`)`).Scan(new(sql.NullInt64)); rerr != nil {
			conn.Raw(func(any) error { return driver.ErrBadConn })
		}
	}()

	if _, err := conn.ExecContext(ctx, schemaVersionTable); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	var have int
	if err := conn.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_version`).Scan(&have); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if have > len(migrations) {
		return fmt.Errorf("migrate: database schema version %d is newer than this server's %d", have, len(migrations))
	}
	for v := have + 1; v <= len(migrations); v++ {
		for _, stmt := range migrations[v-1] {
			if _, err := conn.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("migrate to version %d: %w", v, err)
			}
		}
		if _, err := conn.ExecContext(ctx, `INSERT INTO schema_version (version, applied) VALUES (?, ?)`, v, ms(db.Now())); err != nil {
			return fmt.Errorf("migrate to version %d: %w", v, err)
		}
	}
	return nil
}

// inTx runs fn in a READ COMMITTED transaction and commits it if fn
// succeeds. If the database rolled it back for a conflict (see retryable),
// it runs fn again in a new transaction, at most MaxAttempts times in all,
// or maxLookAgain times for a row that another transaction committed
// meanwhile (a retry): fn must start from scratch each time.
func (db *DB) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	for attempt := 1; ; attempt++ {
		err := db.tryTx(ctx, fn)
		if err == nil || !retryable(err) || attempt >= db.MaxAttempts {
			return err
		}
		if r := (retry{}); errors.As(err, &r) && attempt >= maxLookAgain {
			return err
		}
		// Back off with jitter, so that the transactions that collided do
		// not collide again.
		wait := time.Duration(rand.Int64N(int64(time.Millisecond<<min(attempt, 8)))) + time.Millisecond
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(wait):
		}
	}
}

func (db *DB) tryTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := db.db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// Server error numbers after which the whole transaction is run again.
var retryCodes = map[uint16]bool{
	1020: true, // ER_CHECKREAD: record changed since last read (MariaDB innodb_snapshot_isolation)
	1180: true, // ER_ERROR_DURING_COMMIT: a commit a Galera node refused
	1205: true, // ER_LOCK_WAIT_TIMEOUT: InnoDB rolls back only the statement; we roll back the rest
	1213: true, // ER_LOCK_DEADLOCK: also Galera's certification failure ("Deadlock found … WSREP")
	8002: true, // TiDB: SELECT FOR UPDATE met a write conflict
	8022: true, // TiDB: transaction commit failed, safe to retry
	8028: true, // TiDB: the schema changed during the transaction
	9007: true, // TiDB: write conflict (optimistic transactions)
}

// retry marks an error after which fn should run again, as if the
// database had reported a conflict: a unique key met a row that a
// concurrent transaction committed, which the next run will see.
type retry struct{ error }

// maxLookAgain bounds the runs of a transaction that ends in a retry: the
// next run sees the row it met, so a third that meets it still meets a row
// that is really there (a person with an account, a card number taken),
// and its error is the answer. Conflicts the database reports are run
// again up to MaxAttempts, which is high for Galera; these would otherwise
// wait out all of its back-offs, some seconds, before a 409.
const maxLookAgain = 3

func (r retry) Unwrap() error { return r.error }

// retryable reports whether a transaction that failed with err may be run
// again from the start.
func retryable(err error) bool {
	var r retry
	if errors.As(err, &r) {
		return true
	}
	var e *gomysql.MySQLError
	return errors.As(err, &e) && retryCodes[e.Number]
}

// isDuplicate reports whether err is a unique key violation.
func isDuplicate(err error) bool {
	var e *gomysql.MySQLError
	return errors.As(err, &e) && e.Number == 1062 // ER_DUP_ENTRY
}

// cardVersion returns the server-wide card change counter.
func (db *DB) cardVersion(ctx context.Context) (uint64, error) {
	var v uint64
	if err := db.db.QueryRowContext(ctx, `SELECT value FROM counters WHERE name = 'card_version'`).Scan(&v); err != nil {
		return 0, fmt.Errorf("card version: %w", err)
	}
	return v, nil
}

// pollCards wakes the card subscribers when another server changed a card:
// when the card change counter moved past what it last saw.
func (db *DB) pollCards(ctx context.Context, seen uint64) {
	defer db.wg.Done()
	tick := time.NewTicker(db.CardPoll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		v, err := db.cardVersion(ctx)
		if err != nil {
			continue // the next tick tries again
		}
		if v != seen {
			seen = v
			db.cards.Notify()
		}
	}
}

// lockCardVersion locks the server-wide card change counter to the end of
// the transaction and returns its value.
func lockCardVersion(ctx context.Context, tx *sql.Tx) (uint64, error) {
	var v uint64
	if err := tx.QueryRowContext(ctx, `SELECT value FROM counters WHERE name = 'card_version' FOR UPDATE`).Scan(&v); err != nil {
		return 0, fmt.Errorf("lock card version: %w", err)
	}
	return v, nil
}

// setCardVersion stores the card change counter locked by lockCardVersion.
func setCardVersion(ctx context.Context, tx *sql.Tx, v uint64) error {
	if _, err := tx.ExecContext(ctx, `UPDATE counters SET value = ? WHERE name = 'card_version'`, v); err != nil {
		return fmt.Errorf("set card version: %w", err)
	}
	return nil
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

func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

type scanner interface{ Scan(dest ...any) error }

type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}
