package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"

	"github.com/fanka/fanka/server/mysql"
	"github.com/fanka/fanka/server/mysql/galera"
	"github.com/fanka/fanka/server/sqlite"
)

// backend is the database engine the runs' servers share: SQLite (one
// server), the MariaDB server FANKA_MYSQL_DSN names, or a Galera cluster
// the soak starts.
type backend struct {
	kind    string // "sqlite", "mariadb" or "galera"
	base    string // mariadb: the server's URL
	admin   *sql.DB
	cluster *galera.Cluster
	dir     string // galera: the cluster's directory
}

// defaultMySQL is the MariaDB scripts/test starts.
const defaultMySQL = "mysql://root@127.0.0.1:3306/test"

func openBackend(ctx context.Context, kind string, nodes int) (*backend, error) {
	b := &backend{kind: kind}
	switch kind {
	case "sqlite":
		return b, nil
	case "mariadb":
		b.base = os.Getenv("FANKA_MYSQL_DSN")
		if b.base == "" {
			b.base = defaultMySQL
		}
	case "galera":
		dir, err := os.MkdirTemp("", "fanka-soak-galera-")
		if err != nil {
			return nil, err
		}
		b.dir = dir
		fmt.Fprintf(os.Stderr, "soak: starting a %d-node Galera cluster in %s\n", nodes, dir)
		if b.cluster, err = galera.Start(ctx, dir, nodes); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		b.base = b.cluster.DSN(0, "mysql")
	default:
		return nil, fmt.Errorf("-db %q: want sqlite, mariadb or galera", kind)
	}
	var err error
	if b.admin, err = mysql.OpenRaw(b.base); err != nil {
		b.close()
		return nil, err
	}
	if err := b.admin.PingContext(ctx); err != nil {
		b.close()
		return nil, fmt.Errorf("connect to %s: %w (is MariaDB running? scripts/test starts it)", mysql.Redact(b.base), err)
	}
	return b, nil
}

func (b *backend) close() {
	if b.admin != nil {
		b.admin.Close()
	}
	if b.cluster != nil {
		b.cluster.Stop()
	}
	if b.dir != "" {
		os.RemoveAll(b.dir)
	}
}

// runDB is one run's database.
type runDB struct {
	b    *backend
	name string // MySQL: the database's name
	// sqlitePath is the SQLite file (in the first server's data directory).
	sqlitePath string
}

// database makes a fresh database for a run whose first server keeps its
// data in dir0.
func (b *backend) database(ctx context.Context, dir0 string) (*runDB, error) {
	if b.kind == "sqlite" {
		return &runDB{b: b, sqlitePath: filepath.Join(dir0, "fanka.db")}, nil
	}
	suffix := make([]byte, 6)
	rand.Read(suffix)
	name := "fanka_soak_" + hex.EncodeToString(suffix)
	if _, err := b.admin.ExecContext(ctx, "CREATE DATABASE "+name+" CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"); err != nil {
		return nil, fmt.Errorf("create database %s: %w", name, err)
	}
	return &runDB{b: b, name: name}, nil
}

// dsn is the --db of server i ("" for SQLite: the data directory's file).
// On Galera the servers spread over the nodes.
func (d *runDB) dsn(i int) string {
	switch d.b.kind {
	case "sqlite":
		return ""
	case "galera":
		return d.b.cluster.DSN(i%len(d.b.cluster.Nodes), d.name)
	}
	u, _ := url.Parse(d.b.base) // openBackend parsed it
	u.Path, u.RawPath = "/"+d.name, ""
	return u.String()
}

// open opens the database to read what the servers settled.
func (d *runDB) open() (*sql.DB, error) {
	if d.b.kind == "sqlite" {
		return sql.Open(sqlite.Driver, "file:"+d.sqlitePath+"?mode=ro")
	}
	return mysql.OpenRaw(d.dsn(0))
}

// drop drops a MySQL run's database.
func (d *runDB) drop(ctx context.Context) {
	if d.name == "" {
		return
	}
	if _, err := d.b.admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+d.name); err != nil {
		fmt.Fprintf(os.Stderr, "soak: drop database %s: %v\n", d.name, err)
	}
}
