package mysql

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	gomysql "github.com/go-sql-driver/mysql"

	"github.com/fanka/fanka/server"
	"github.com/fanka/fanka/server/backup"
)

// Engine names MySQL-compatible databases in a backup's header.
const Engine = "mysql"

// restoreBatchBytes bounds the values of one INSERT of a restore, well
// below the servers' default max_allowed_packet (16 MiB and more).
const restoreBatchBytes = 4 << 20

// restoreBatchRows bounds the rows of one INSERT of a restore.
const restoreBatchRows = 500

// OpenRaw connects to the database dsn names (a Fanka database URL, see
// ParseDSN) with the driver alone, without the store.
func OpenRaw(dsn string) (*sql.DB, error) {
	cfg, err := ParseDSN(dsn)
	if err != nil {
		return nil, err
	}
	connector, err := gomysql.NewConnector(cfg)
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(connector), nil
}

// Backup writes every row of every table of the database dsn names to w,
// as one consistent snapshot: START TRANSACTION WITH CONSISTENT SNAPSHOT
// at REPEATABLE READ, which InnoDB serves from its undo log without
// locking, so the servers go on settling. It never migrates the database.
// It returns the backup's header.
func Backup(ctx context.Context, dsn string, w io.Writer, now time.Time) (backup.Header, error) {
	name := Redact(dsn)
	h := backup.Header{Engine: Engine, Taken: now.UTC()}
	db, err := OpenRaw(dsn)
	if err != nil {
		return h, fmt.Errorf("backup %s: %w", name, err)
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return h, fmt.Errorf("backup %s: %w", name, err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ`); err != nil {
		return h, fmt.Errorf("backup %s: %w", name, err)
	}
	// The table list is read before the snapshot begins: a table created
	// after it would not be in the snapshot anyway.
	if h.Tables, err = tables(ctx, conn); err != nil {
		return h, fmt.Errorf("backup %s: %w", name, err)
	}
	if _, err := conn.ExecContext(ctx, `START TRANSACTION WITH CONSISTENT SNAPSHOT`); err != nil {
		return h, fmt.Errorf("backup %s: %w", name, err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), `ROLLBACK`)
	if err := conn.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_version`).Scan(&h.Schema); err != nil {
		return h, fmt.Errorf("backup %s: schema version: %w", name, err)
	}
	bw, err := backup.NewWriter(w, h)
	if err != nil {
		return h, fmt.Errorf("backup %s: %w", name, err)
	}
	for _, t := range h.Tables {
		if err := backupTable(ctx, conn, bw, t); err != nil {
			return h, fmt.Errorf("backup %s: table %s: %w", name, t, err)
		}
	}
	if err := bw.Close(); err != nil {
		return h, fmt.Errorf("backup %s: %w", name, err)
	}
	return h, nil
}

// tables returns the names of the database's base tables, in name order.
func tables(ctx context.Context, conn *sql.Conn) ([]string, error) {
	rows, err := conn.QueryContext(ctx, `SELECT table_name FROM information_schema.tables
		WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE' ORDER BY table_name`)
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
func quote(name string) string { return "`" + strings.ReplaceAll(name, "`", "``") + "`" }

// columnKind is how a column's values are written to a backup.
type columnKind int

const (
	kindInt columnKind = iota
	kindText
	kindBytes
)

// kindOf returns how values of a column of the database type typ (as the
// driver names it) are written. The driver names a binary string type
// BINARY, VARBINARY or …BLOB, and a character one CHAR, VARCHAR or …TEXT.
func kindOf(typ string) (columnKind, error) {
	switch {
	case strings.Contains(typ, "BINARY"), strings.Contains(typ, "BLOB"):
		return kindBytes, nil
	case strings.Contains(typ, "CHAR"), strings.Contains(typ, "TEXT"), typ == "JSON", typ == "ENUM", typ == "SET":
		return kindText, nil
	case strings.Contains(typ, "INT"), typ == "BOOL", typ == "BOOLEAN", typ == "YEAR":
		return kindInt, nil
	}
	return 0, fmt.Errorf("a column of type %s, which backups do not carry", typ)
}

// storedColumns returns the quoted names of table t's columns, in order,
// but for generated ones (accounts.person_open): the database computes
// them, and refuses them on insert.
func storedColumns(ctx context.Context, conn *sql.Conn, t string) ([]string, error) {
	rows, err := conn.QueryContext(ctx, `SELECT column_name FROM information_schema.columns
		WHERE table_schema = DATABASE() AND table_name = ? AND extra NOT LIKE '%GENERATED%' ORDER BY ordinal_position`, t)
	if err != nil {
		return nil, fmt.Errorf("columns of %s: %w", t, err)
	}
	defer rows.Close()
	var cols []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, fmt.Errorf("columns of %s: %w", t, err)
		}
		cols = append(cols, quote(c))
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("columns of %s: %w", t, err)
	}
	if len(cols) == 0 {
		return nil, fmt.Errorf("columns of %s: none", t)
	}
	return cols, nil
}

// backupTable writes the rows of table t.
func backupTable(ctx context.Context, conn *sql.Conn, bw *backup.Writer, t string) error {
	stored, err := storedColumns(ctx, conn, t)
	if err != nil {
		return err
	}
	rows, err := conn.QueryContext(ctx, `SELECT `+strings.Join(stored, ", ")+` FROM `+quote(t))
	if err != nil {
		return err
	}
	defer rows.Close()
	types, err := rows.ColumnTypes()
	if err != nil {
		return err
	}
	cols := make([]string, len(types))
	kinds := make([]columnKind, len(types))
	for i, ct := range types {
		cols[i] = ct.Name()
		if kinds[i], err = kindOf(ct.DatabaseTypeName()); err != nil {
			return fmt.Errorf("column %s: %w", ct.Name(), err)
		}
	}
	if err := bw.Table(t, cols); err != nil {
		return err
	}
	raw := make([]sql.RawBytes, len(cols))
	ptrs := make([]any, len(cols))
	for i := range raw {
		ptrs[i] = &raw[i]
	}
	values := make([]any, len(cols))
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		for i, b := range raw {
			if values[i], err = fromRaw(b, kinds[i]); err != nil {
				return fmt.Errorf("column %s: %w", cols[i], err)
			}
		}
		if err := bw.Row(values); err != nil {
			return err
		}
	}
	return rows.Err()
}

// fromRaw converts a column's raw bytes (nil for NULL) to a backup value.
func fromRaw(b sql.RawBytes, k columnKind) (any, error) {
	if b == nil {
		return nil, nil
	}
	switch k {
	case kindInt:
		if n, err := strconv.ParseInt(string(b), 10, 64); err == nil {
			return n, nil
		}
		return strconv.ParseUint(string(b), 10, 64)
	case kindText:
		return string(b), nil
	}
	return append([]byte{}, b...), nil
}

// Restore fills the database dsn names, which must have no tables, from
// the backup in r, which Restore reads through once first: a damaged
// backup (see backup.ErrDamaged) is refused before anything is written. It
// builds the schema at the backup's version and inserts every row with
// foreign key checks off for the session (tables come in name order);
// Open the database afterwards as usual to bring its schema to this
// server's version. A restore that fails half-way leaves a partial
// database: drop it and create it again before trying again.
//
// ECONFLICT if the database has tables: a restore never mixes a backup
// into a database in use. EINVALID for a backup of a schema newer than
// this server's, or with tables this server's schema of that version does
// not have.
func Restore(ctx context.Context, dsn string, r io.ReadSeeker) (backup.Header, map[string]int64, error) {
	name := Redact(dsn)
	h, _, err := backup.Check(r)
	if err != nil {
		return h, nil, fmt.Errorf("restore %s: %w", name, err)
	}
	if h.Schema > len(migrations) || h.Schema < 1 {
		return h, nil, server.Errorf(server.EINVALID, "restore %s: the backup's schema version is %d; this server knows versions 1 to %d", name, h.Schema, len(migrations))
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return h, nil, fmt.Errorf("restore %s: %w", name, err)
	}
	db, err := OpenRaw(dsn)
	if err != nil {
		return h, nil, fmt.Errorf("restore %s: %w", name, err)
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return h, nil, fmt.Errorf("restore %s: %w", name, err)
	}
	defer conn.Close()
	have, err := tables(ctx, conn)
	if err != nil {
		return h, nil, fmt.Errorf("restore %s: %w", name, err)
	}
	if len(have) > 0 {
		return h, nil, server.Errorf(server.ECONFLICT, "restore %s: the database is not empty (it has %d tables, e.g. %s): restore only into a new database", name, len(have), have[0])
	}
	rows, err := restoreInto(ctx, conn, r)
	if err != nil {
		return h, nil, fmt.Errorf("restore %s: %w (the database is left partly restored: drop and create it before trying again)", name, err)
	}
	return h, rows, nil
}

// restoreInto builds the schema and inserts the rows of the backup in r
// on conn.
func restoreInto(ctx context.Context, conn *sql.Conn, r io.Reader) (map[string]int64, error) {
	br, err := backup.NewReader(r)
	if err != nil {
		return nil, err
	}
	h := br.Header()
	if err := migrateTo(ctx, conn, h.Schema, time.Now()); err != nil {
		return nil, err
	}
	have, err := tables(ctx, conn)
	if err != nil {
		return nil, err
	}
	if _, err := conn.ExecContext(ctx, `SET SESSION FOREIGN_KEY_CHECKS = 0`); err != nil {
		return nil, err
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), `SET SESSION FOREIGN_KEY_CHECKS = 1`)

	var (
		table, head string
		ncol        int
		args        []any
		size, n     int
	)
	flush := func() error {
		if n == 0 {
			return nil
		}
		q := head + strings.TrimSuffix(strings.Repeat("("+strings.TrimSuffix(strings.Repeat("?, ", ncol), ", ")+"), ", n), ", ")
		if _, err := conn.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("table %s: %w", table, err)
		}
		args, size, n = args[:0], 0, 0
		return nil
	}
	for {
		it, err := br.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if it.Columns != nil {
			if err := flush(); err != nil {
				return nil, err
			}
			if !slices.Contains(have, it.Table) {
				return nil, server.Errorf(server.EINVALID, "the backup has a table %s, which schema version %d of this server does not", it.Table, h.Schema)
			}
			// The migrations' own rows (counters, the canteen's accounts,
			// schema versions) are in the backup as they were.
			if _, err := conn.ExecContext(ctx, `DELETE FROM `+quote(it.Table)); err != nil {
				return nil, fmt.Errorf("table %s: %w", it.Table, err)
			}
			cols := make([]string, len(it.Columns))
			for i, c := range it.Columns {
				cols[i] = quote(c)
			}
			table, ncol = it.Table, len(cols)
			head = `INSERT INTO ` + quote(table) + ` (` + strings.Join(cols, ", ") + `) VALUES `
			continue
		}
		for _, v := range it.Row {
			switch v := v.(type) {
			case string:
				size += len(v)
			case []byte:
				size += 2 * len(v) // escaped
			}
			size += 8
		}
		args = append(args, it.Row...)
		n++
		if n >= restoreBatchRows || size >= restoreBatchBytes {
			if err := flush(); err != nil {
				return nil, err
			}
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return br.Rows(), nil
}

// migrateTo brings the schema of an empty database to version, as
// DB.migrate does: restores and tests build databases of earlier versions
// with it.
func migrateTo(ctx context.Context, conn *sql.Conn, version int, now time.Time) error {
	if version > len(migrations) {
		return fmt.Errorf("migrate to version %d: this server knows %d", version, len(migrations))
	}
	if _, err := conn.ExecContext(ctx, schemaVersionTable); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	for v := 1; v <= version; v++ {
		for _, stmt := range migrations[v-1] {
			if _, err := conn.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("migrate to version %d: %w", v, err)
			}
		}
		if _, err := conn.ExecContext(ctx, `INSERT INTO schema_version (version, applied) VALUES (?, ?)`, v, ms(now)); err != nil {
			return fmt.Errorf("migrate to version %d: %w", v, err)
		}
	}
	return nil
}
