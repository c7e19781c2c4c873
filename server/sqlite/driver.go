package sqlite

import (
	"database/sql"
	"fmt"

	sqlite3 "github.com/mattn/go-sqlite3"
)

// Driver is the database/sql driver name of the SQLite the store runs on,
// for tools and tests that open its file directly: one copy of SQLite in a
// process, for two would release each other's POSIX locks on the file.
// DSNs are those of github.com/mattn/go-sqlite3 ("file:/path?_busy_timeout=
// 5000&mode=ro"; _journal_mode, _synchronous, _foreign_keys, _query_only,
// _cache_size, _txlock).
const Driver = "fanka-sqlite"

// writerDriver is Driver for the store's writer, which leaves checkpoints
// to the checkpointer (see DB.checkpointer): it does not stop to copy the
// log into the file, and sync that, at every thousand pages it commits.
const writerDriver = "fanka-sqlite-writer"

// readerDriver is Driver for the store's readers, which also map the file
// into memory, up to readerMapBytes.
const readerDriver = "fanka-sqlite-reader"

func init() {
	// Statement journals (a multi-row statement inside a transaction) and
	// temporary indexes stay in memory, not in temporary files.
	sql.Register(Driver, &sqlite3.SQLiteDriver{ConnectHook: func(c *sqlite3.SQLiteConn) error {
		_, err := c.Exec(`PRAGMA temp_store = MEMORY`, nil)
		return err
	}})
	sql.Register(writerDriver, &sqlite3.SQLiteDriver{ConnectHook: func(c *sqlite3.SQLiteConn) error {
		_, err := c.Exec(`PRAGMA temp_store = MEMORY; PRAGMA wal_autocheckpoint = 0`, nil)
		return err
	}})
	sql.Register(readerDriver, &sqlite3.SQLiteDriver{ConnectHook: func(c *sqlite3.SQLiteConn) error {
		_, err := c.Exec(fmt.Sprintf(`PRAGMA temp_store = MEMORY; PRAGMA mmap_size = %d`, readerMapBytes), nil)
		return err
	}})
}
