package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/fanka/fanka/server"
	"github.com/fanka/fanka/server/backup"
)

// Engine names SQLite in a backup's header.
const Engine = "sqlite"

// openRaw opens the database file at path with the driver alone, with
// extra DSN parameters, on one connection.
func openRaw(path, params string) (*sql.DB, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	uri := (&url.URL{Scheme: "file", Path: abs}).String()
	db, err := sql.Open(Driver, uri+fmt.Sprintf("?_busy_timeout=%d", busyTimeout.Milliseconds())+params)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	return db, nil
}

// Backup writes every row of every table of the database file at path to
// w, as one consistent snapshot: one read transaction, which a WAL
// database gives while the server goes on settling. It opens the file
// read-only and never migrates it. It returns the backup's header.
func Backup(ctx context.Context, path string, w io.Writer, now time.Time) (backup.Header, error) {
	if _, err := os.Stat(path); err != nil {
		return backup.Header{}, fmt.Errorf("backup %s: %w", path, err)
	}
	db, err := openRaw(path, "&_query_only=1")
	if err != nil {
		return backup.Header{}, fmt.Errorf("backup %s: %w", path, err)
	}
	defer db.Close()
	tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return backup.Header{}, fmt.Errorf("backup %s: %w", path, err)
	}
	defer tx.Rollback()
	h := backup.Header{Engine: Engine, Taken: now.UTC()}
	// The first read starts the snapshot: everything after sees the same
	// database.
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_version`).Scan(&h.Schema); err != nil {
		return h, fmt.Errorf("backup %s: schema version: %w", path, err)
	}
	if h.Tables, err = tables(ctx, tx); err != nil {
		return h, fmt.Errorf("backup %s: %w", path, err)
	}
	bw, err := backup.NewWriter(w, h)
	if err != nil {
		return h, fmt.Errorf("backup %s: %w", path, err)
	}
	for _, t := range h.Tables {
		if err := backupTable(ctx, tx, bw, t); err != nil {
			return h, fmt.Errorf("backup %s: table %s: %w", path, t, err)
		}
	}
	if err := bw.Close(); err != nil {
		return h, fmt.Errorf("backup %s: %w", path, err)
	}
	return h, nil
}

// tables returns the names of the database's own tables, in name order.
func tables(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}) ([]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\' ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, fmt.Errorf("list tables: %w", err)
		}
		names = append(names, n)
	}
	return names, rows.Err()
}

// quote quotes an SQL identifier.
func quote(name string) string { return `"` + strings.ReplaceAll(name, `"`, `""`) + `"` }

// backupTable writes the rows of table t, in rowid or key order.
func backupTable(ctx context.Context, tx *sql.Tx, bw *backup.Writer, t string) error {
	rows, err := tx.QueryContext(ctx, `SELECT * FROM `+quote(t))
	if err != nil {
		return err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return err
	}
	if err := bw.Table(t, cols); err != nil {
		return err
	}
	values := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range values {
		ptrs[i] = &values[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		if err := bw.Row(values); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Restore creates the database file at path from the backup in r, which
// Restore reads through once: a backup that is damaged (see
// backup.ErrDamaged) is refused. It builds the schema at the backup's
// version in a new file beside path and moves it into place only when
// every row is in and every foreign key holds, so that a failed restore
// leaves nothing behind. Open the file afterwards as usual to bring its
// schema to this server's version.
//
// ECONFLICT if a database with tables is already at path: a restore never
// mixes a backup into a database in use. EINVALID for a backup of a
// schema newer than this server's, or with tables this server's schema of
// that version does not have.
func Restore(ctx context.Context, path string, r io.ReadSeeker) (backup.Header, map[string]int64, error) {
	h, _, err := backup.Check(r)
	if err != nil {
		return h, nil, fmt.Errorf("restore %s: %w", path, err)
	}
	if h.Schema > len(migrations) || h.Schema < 1 {
		return h, nil, server.Errorf(server.EINVALID, "restore %s: the backup's schema version is %d; this server knows versions 1 to %d", path, h.Schema, len(migrations))
	}
	if err := mustBeEmpty(ctx, path); err != nil {
		return h, nil, err
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return h, nil, fmt.Errorf("restore %s: %w", path, err)
	}
	tmp := path + ".restoring"
	for _, f := range []string{tmp, tmp + "-journal", tmp + "-wal", tmp + "-shm"} {
		if err := os.Remove(f); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return h, nil, fmt.Errorf("restore %s: remove an earlier attempt: %w", path, err)
		}
	}
	rows, err := restoreInto(ctx, tmp, r)
	if err != nil {
		os.Remove(tmp)
		return h, nil, fmt.Errorf("restore %s: %w", path, err)
	}
	if err := syncFile(tmp); err != nil {
		os.Remove(tmp)
		return h, nil, fmt.Errorf("restore %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return h, nil, fmt.Errorf("restore %s: %w", path, err)
	}
	if err := syncFile(filepath.Dir(path)); err != nil {
		return h, nil, fmt.Errorf("restore %s: %w", path, err)
	}
	return h, rows, nil
}

// syncFile flushes the file or directory at path to stable storage.
func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// mustBeEmpty returns ECONFLICT if there is a database with tables at path.
func mustBeEmpty(ctx context.Context, path string) error {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("restore %s: %w", path, err)
	}
	if fi.Size() == 0 {
		return nil
	}
	db, err := openRaw(path, "&_query_only=1")
	if err != nil {
		return fmt.Errorf("restore %s: %w", path, err)
	}
	defer db.Close()
	names, err := tables(ctx, db)
	if err != nil {
		return fmt.Errorf("restore %s: %w", path, err)
	}
	if len(names) > 0 {
		return server.Errorf(server.ECONFLICT, "restore %s: the database is not empty (it has %d tables, e.g. %s): restore only into a new database", path, len(names), names[0])
	}
	return nil
}

// restoreInto builds the database at path from the backup in r.
func restoreInto(ctx context.Context, path string, r io.Reader) (map[string]int64, error) {
	br, err := backup.NewReader(r)
	if err != nil {
		return nil, err
	}
	h := br.Header()
	// Foreign keys are checked once at the end: tables come in name order.
	// The file is new and thrown away if anything fails, so it needs no
	// journal and no syncs until it is complete (Restore syncs it then).
	db, err := openRaw(path, "&_foreign_keys=0&_journal_mode=OFF&_synchronous=OFF"+
		fmt.Sprintf("&_cache_size=%d", -writerCacheKiB))
	if err != nil {
		return nil, err
	}
	defer db.Close()
	if err := migrateTo(ctx, db, h.Schema, time.Now()); err != nil {
		return nil, err
	}
	have, err := tables(ctx, db)
	if err != nil {
		return nil, err
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	var insert *sql.Stmt
	for {
		it, err := br.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if it.Columns != nil {
			if !slices.Contains(have, it.Table) {
				return nil, server.Errorf(server.EINVALID, "the backup has a table %s, which schema version %d of this server does not", it.Table, h.Schema)
			}
			// The migrations' own rows (counters, the canteen's accounts,
			// schema versions) are in the backup as they were.
			if _, err := tx.ExecContext(ctx, `DELETE FROM `+quote(it.Table)); err != nil {
				return nil, fmt.Errorf("table %s: %w", it.Table, err)
			}
			cols := make([]string, len(it.Columns))
			for i, c := range it.Columns {
				cols[i] = quote(c)
			}
			insert, err = tx.PrepareContext(ctx, `INSERT INTO `+quote(it.Table)+` (`+strings.Join(cols, ", ")+`) VALUES (`+
				strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", ")+`)`)
			if err != nil {
				return nil, fmt.Errorf("table %s: %w", it.Table, err)
			}
			continue
		}
		if _, err := insert.ExecContext(ctx, it.Row...); err != nil {
			return nil, fmt.Errorf("table %s row %d: %w", it.Table, br.Rows()[it.Table], err)
		}
	}
	var bad string
	err = tx.QueryRowContext(ctx, `SELECT "table" || ' rowid ' || COALESCE(rowid, '?') || ' -> ' || parent FROM pragma_foreign_key_check LIMIT 1`).Scan(&bad)
	if err == nil {
		return nil, fmt.Errorf("a foreign key does not hold: %s", bad)
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("check foreign keys: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	return br.Rows(), nil
}

// migrateTo brings the schema of a new database to version, each
// migration in its own transaction with its schema_version row, as
// DB.migrate does: restores and tests build databases of earlier versions
// with it.
func migrateTo(ctx context.Context, db *sql.DB, version int, now time.Time) error {
	if version > len(migrations) {
		return fmt.Errorf("migrate to version %d: this server knows %d", version, len(migrations))
	}
	if _, err := db.ExecContext(ctx, schemaVersionTable); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	for v := 1; v <= version; v++ {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("migrate to version %d: %w", v, err)
		}
		if _, err := tx.ExecContext(ctx, migrations[v-1]); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate to version %d: %w", v, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_version (version, applied) VALUES (?, ?)`, v, ms(now)); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate to version %d: %w", v, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migrate to version %d: %w", v, err)
		}
	}
	return nil
}
