package servertest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	gomysql "github.com/go-sql-driver/mysql"

	"github.com/fanka/fanka/server/mysql"
	"github.com/fanka/fanka/server/mysql/mariadbd"
)

// MySQLEnv names the environment variable that holds the DSN of a MySQL,
// MariaDB or TiDB server the tests may create databases on, e.g.
// mysql://root@127.0.0.1:3306/test. scripts/test sets it.
const MySQLEnv = "FANKA_MYSQL_DSN"

// MustMySQLServer returns FANKA_MYSQL_DSN. If it is not set, it skips the
// test, unless the environment variable CI is set: then it fails it, so
// that CI never passes without the MySQL suite.
func MustMySQLServer(tb testing.TB) string {
	tb.Helper()
	dsn := os.Getenv(MySQLEnv)
	if dsn == "" {
		if os.Getenv("CI") != "" {
			tb.Fatalf("%s is not set, and CI is: the MySQL store must be tested in CI (scripts/test starts MariaDB and sets it)", MySQLEnv)
		}
		tb.Skipf("%s is not set: skipping the MySQL store's tests (scripts/test starts MariaDB and sets it, e.g. mysql://root@127.0.0.1:3306/test)", MySQLEnv)
	}
	return dsn
}

// MustMySQLDSN creates an empty database, fanka_test_ and a random suffix,
// on the server that FANKA_MYSQL_DSN names (see MustMySQLServer), drops it
// when the test ends, and returns its DSN.
func MustMySQLDSN(tb testing.TB) string {
	tb.Helper()
	base := MustMySQLServer(tb)
	cfg, err := mysql.ParseDSN(base)
	if err != nil {
		tb.Fatalf("%s: %v", MySQLEnv, err)
	}
	admin := mustRawMySQL(tb, cfg)
	suffix := make([]byte, 6)
	rand.Read(suffix)
	name := "fanka_test_" + hex.EncodeToString(suffix)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name+" CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"); err != nil {
		tb.Fatalf("create database %s: %v", name, err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name); err != nil {
			tb.Errorf("drop database %s: %v", name, err)
		}
	})
	u, _ := url.Parse(base) // ParseDSN parsed it
	u.Path = "/" + name
	u.RawPath = ""
	return u.String()
}

// MustRawMySQL opens the database dsn names with the driver alone, to look
// at or edit it behind the store's back, and closes it when the test ends.
func MustRawMySQL(tb testing.TB, dsn string) *sql.DB {
	tb.Helper()
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		tb.Fatalf("raw database: %v", err)
	}
	return mustRawMySQL(tb, cfg)
}

func mustRawMySQL(tb testing.TB, cfg *gomysql.Config) *sql.DB {
	tb.Helper()
	connector, err := gomysql.NewConnector(cfg)
	if err != nil {
		tb.Fatalf("raw database: %v", err)
	}
	db := sql.OpenDB(connector)
	tb.Cleanup(func() { db.Close() })
	if err := db.Ping(); err != nil {
		tb.Fatalf("connect to %s: %v", cfg.Addr, err)
	}
	return db
}

// MustOpenMySQL opens a MySQL store on a new, empty database (see
// MustMySQLDSN), with the given clock (time.Now if nil), and closes it when
// the test ends.
func MustOpenMySQL(tb testing.TB, now func() time.Time) *mysql.DB {
	tb.Helper()
	return MustOpenMySQLAt(tb, MustMySQLDSN(tb), now)
}

// MustOpenMySQLAt opens a MySQL store on the database dsn names, as a
// server would (two calls: two servers), and closes it when the test ends.
func MustOpenMySQLAt(tb testing.TB, dsn string, now func() time.Time) *mysql.DB {
	tb.Helper()
	db := mysql.New(dsn)
	if now != nil {
		db.Now = now
	}
	if err := db.Open(context.Background()); err != nil {
		tb.Fatalf("open store: %v", err)
	}
	tb.Cleanup(func() {
		if err := db.Close(); err != nil {
			tb.Errorf("close store: %v", err)
		}
	})
	return db
}

// MustReplicatedMariaDB starts a MariaDB primary and an asynchronous
// replica of it (two local mariadbd processes, see mariadbd.Start and
// Server.Replicate) with an empty database fanka made on the primary and
// replicated, and stops both when the test ends. It skips the test where
// mariadbd cannot run.
func MustReplicatedMariaDB(tb testing.TB) (primary, replica *mariadbd.Server) {
	tb.Helper()
	if err := mariadbd.Available(); err != nil {
		tb.Skipf("no mariadbd can run here: %v", err)
	}
	ctx := context.Background()
	// Not tb.TempDir: mariadbd runs as mysql when the test is root, and
	// must reach its directory.
	dir, err := os.MkdirTemp("", "fanka-replica-test-")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	primary, err = mariadbd.Start(ctx, dir, "primary", mariadbd.PrimaryConfig(1))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(primary.Stop)
	replica, err = mariadbd.Start(ctx, dir, "replica", mariadbd.ReplicaConfig(2))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(replica.Stop)
	if err := replica.Replicate(ctx, primary); err != nil {
		tb.Fatal(err)
	}
	if err := primary.Exec(ctx, "CREATE DATABASE fanka CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"); err != nil {
		tb.Fatal(err)
	}
	return primary, replica
}
