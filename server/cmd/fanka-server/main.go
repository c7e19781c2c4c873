// Command fanka-server is the canteen's central server: it settles the
// registers' journals into the ledger, serves the office's JSON API, and
// verifies the ledger's invariants.
//
// Usage:
//
//	fanka-server serve --data DIR [--listen ADDR] [--db DSN] [--metrics-listen ADDR] [--log-format json|text]
//	fanka-server verify --data DIR [--db DSN]
//	fanka-server backup --data DIR [--db DSN] --out FILE
//	fanka-server restore --data DIR [--db DSN] --in FILE
//	fanka-server print-test --printer NAME [--canteen NAME]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/fanka/fanka/server"
	"github.com/fanka/fanka/server/mysql"
	"github.com/fanka/fanka/server/sqlite"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	m := &Main{Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv}
	code := m.Run(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}

// Exit codes.
const (
	exitOK    = 0
	exitFail  = 1 // the command ran and failed: an error, a violated invariant
	exitUsage = 2 // the command line is wrong
)

const usage = `usage:
  fanka-server serve --data DIR [--listen ADDR] [--db DSN] [--printer NAME=LINK …]
                     [--metrics-listen ADDR] [--log-format json|text]
                     [--report-db DSN]
      run the server: HTTPS API, register endpoint and GET /healthz, /readyz
      on ADDR (default %s), and the print queue for the printers named;
      Prometheus metrics at http://ADDR/metrics of --metrics-listen; the
      office's reports and lists read --report-db, a replica of a mysql://
      --db (see README, "Reports on a replica")
  fanka-server verify --data DIR [--db DSN]
      check every ledger invariant and every register's journal chain
  fanka-server backup --data DIR [--db DSN] --out FILE
      write a consistent snapshot of the whole database to FILE (a new
      file), while the servers go on settling
  fanka-server restore --data DIR [--db DSN] --in FILE
      fill a new, empty database from a backup (of SQLite or MySQL), bring
      it to this server's schema and verify it
  fanka-server print-test --printer NAME [--canteen NAME]
      print a test page in Chinese and cut; NAME is tcp://HOST[:PORT],
      file:/dev/usb/lp0 or serial:/dev/ttyUSB0?baud=19200

The database is DIR/fanka.db (SQLite) unless --db names another:
sqlite:PATH, or mysql://USER:PASSWORD@HOST:PORT/DBNAME?PARAMS for MySQL,
MariaDB or TiDB (several servers may share one such database).
`

// Main runs the program with its outside world made explicit, so that tests
// run it in-process.
type Main struct {
	Stdout io.Writer // result lines: the listening address, verify's summary
	Stderr io.Writer // logs (JSON) and errors
	Getenv func(string) string
}

// Config is what the command line sets.
type Config struct {
	Data   string // directory of the database, the TLS certificate and key
	Listen string // address of the HTTPS listener
	DB     string // database DSN; empty: SQLite in Data
	// ReportDB is the DSN of a replica of DB that the office's reports and
	// lists read (serve, with a mysql:// DB); empty: they read DB.
	ReportDB string
	// Printers are the printers the print queue drives, as NAME=LINK
	// (e.g. office=tcp://192.0.2.7:9100, till1=serial:/dev/ttyUSB0?baud=19200).
	Printers []string
	// PersonKey is the file of the key that seals personal data; empty:
	// person.key in Data, created on first start. Servers sharing one
	// database must share it.
	PersonKey string
	// MetricsListen is the address of the plain-HTTP listener of
	// /metrics, /healthz and /readyz; empty: none.
	MetricsListen string
	// LogFormat is json or text; empty: text on a terminal, json otherwise.
	LogFormat string
	// Out is the file backup writes; In the file restore reads.
	Out, In string
}

// DefaultConfig returns the configuration before flags.
func DefaultConfig() Config {
	return Config{Listen: "127.0.0.1:8443"}
}

// Run runs the command args (without the program name) until it ends or
// ctx is cancelled, and returns the exit code.
func (m *Main) Run(ctx context.Context, args []string) int {
	if m.Getenv == nil {
		m.Getenv = func(string) string { return "" }
	}
	if len(args) == 0 {
		fmt.Fprintf(m.Stderr, usage, DefaultConfig().Listen)
		return exitUsage
	}
	var run func(context.Context, Config) error
	switch args[0] {
	case "serve":
		run = m.serve
	case "verify":
		run = m.verify
	case "backup":
		run = m.backup
	case "restore":
		run = m.restore
	case "print-test":
		return m.printTest(ctx, args[1:])
	case "help", "-h", "-help", "--help":
		fmt.Fprintf(m.Stdout, usage, DefaultConfig().Listen)
		return exitOK
	default:
		fmt.Fprintf(m.Stderr, "fanka-server: unknown command %q\n", args[0])
		fmt.Fprintf(m.Stderr, usage, DefaultConfig().Listen)
		return exitUsage
	}
	cfg, err := m.parseFlags(args[0], args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(m.Stderr, "fanka-server %s: %v\n", args[0], err)
		fmt.Fprintf(m.Stderr, usage, DefaultConfig().Listen)
		return exitUsage
	}
	if err := run(ctx, cfg); err != nil {
		var failed verifyFailed
		if !errors.As(err, &failed) {
			fmt.Fprintf(m.Stderr, "fanka-server %s: %v\n", args[0], err)
		}
		return exitFail
	}
	return exitOK
}

// parseFlags reads the flags of command cmd.
func (m *Main) parseFlags(cmd string, args []string) (Config, error) {
	cfg := DefaultConfig()
	fs := flag.NewFlagSet("fanka-server "+cmd, flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	fs.StringVar(&cfg.Data, "data", "", "data `directory`: database, TLS certificate and key")
	fs.StringVar(&cfg.DB, "db", "", "database `DSN`: sqlite:PATH or mysql://… (default: SQLite in the data directory)")
	if cmd == "serve" {
		fs.StringVar(&cfg.Listen, "listen", cfg.Listen, "`address` to serve HTTPS on")
		fs.StringVar(&cfg.ReportDB, "report-db", "", "`DSN` of a replica of --db (mysql://…) that the office's reports and lists read (default: --db)")
		fs.StringVar(&cfg.PersonKey, "person-key", "", "`file` of the key sealing personal data (default: person.key in the data directory; servers sharing a database share it)")
		fs.Func("printer", "a printer for the print queue, `NAME=LINK` (tcp://HOST:PORT, file:PATH, serial:PATH?baud=N); repeatable", func(v string) error {
			name, link, ok := strings.Cut(v, "=")
			if !ok || name == "" || link == "" {
				return fmt.Errorf("want NAME=LINK, got %q", v)
			}
			cfg.Printers = append(cfg.Printers, v)
			return nil
		})
		fs.StringVar(&cfg.MetricsListen, "metrics-listen", "", "`address` of a plain-HTTP listener for /metrics, /healthz and /readyz (default: none)")
		fs.Func("log-format", "log `format`: json or text (default: text on a terminal, json otherwise)", func(v string) error {
			if v != "json" && v != "text" {
				return fmt.Errorf("want json or text, got %q", v)
			}
			cfg.LogFormat = v
			return nil
		})
	}
	if cmd == "backup" {
		fs.StringVar(&cfg.Out, "out", "", "backup `file` to write (must not exist)")
	}
	if cmd == "restore" {
		fs.StringVar(&cfg.In, "in", "", "backup `file` to restore")
	}
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if cfg.Data == "" && (cmd == "serve" || cfg.DB == "") {
		return cfg, errors.New("--data is required")
	}
	if cmd == "backup" && cfg.Out == "" {
		return cfg, errors.New("--out is required")
	}
	if cmd == "restore" && cfg.In == "" {
		return cfg, errors.New("--in is required")
	}
	return cfg, nil
}

// storeKind says which store the configuration names, and for SQLite its
// file: kind "sqlite" and the path, or "mysql" and the DSN. It returns an
// error for a DSN of no known kind.
func (cfg Config) storeKind() (kind, where string, err error) {
	switch {
	case cfg.ReportDB != "" && !strings.HasPrefix(cfg.DB, "mysql://"):
		return "", "", errors.New("--report-db: a replica serves a mysql:// --db only (SQLite's reports read beside its writer already)")
	case cfg.DB == "":
		return "sqlite", filepath.Join(cfg.Data, "fanka.db"), nil
	case strings.HasPrefix(cfg.DB, "sqlite:"):
		p := strings.TrimPrefix(strings.TrimPrefix(cfg.DB, "sqlite:"), "//")
		if p == "" {
			return "", "", errors.New("--db sqlite: names no file")
		}
		return "sqlite", p, nil
	case strings.HasPrefix(cfg.DB, "mysql://"):
		if _, err := mysql.ParseDSN(cfg.DB); err != nil {
			return "", "", fmt.Errorf("--db: %w", err)
		}
		if cfg.ReportDB != "" {
			if _, err := mysql.ParseDSN(cfg.ReportDB); err != nil {
				return "", "", fmt.Errorf("--report-db: %w", err)
			}
		}
		return "mysql", cfg.DB, nil
	}
	// The DSN is not echoed: it may hold a password.
	return "", "", errors.New("--db: unknown kind of database (want sqlite:PATH or mysql://…)")
}

// openStore opens the store the configuration names and returns it with a
// name for logs (without a password). With existing (verify), a SQLite file
// that does not exist is an error rather than a new database, and a MySQL
// store does not watch for other servers' card changes.
func (m *Main) openStore(ctx context.Context, cfg Config, existing bool) (server.Store, string, error) {
	kind, where, err := cfg.storeKind()
	if err != nil {
		return nil, "", err
	}
	if kind == "mysql" {
		db := mysql.New(where)
		db.ReportDSN = cfg.ReportDB
		if existing {
			db.CardPoll = -1
		}
		if err := db.Open(ctx); err != nil {
			return nil, "", err
		}
		return db, mysql.Redact(where), nil
	}
	if existing {
		if _, err := os.Stat(where); errors.Is(err, fs.ErrNotExist) {
			return nil, "", fmt.Errorf("no database at %s", where)
		}
	}
	db := sqlite.New(where)
	if err := db.Open(ctx); err != nil {
		return nil, "", err
	}
	return db, where, nil
}
