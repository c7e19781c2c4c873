// Settle-mariadb measures how many sales per second the server settles
// durably on its MySQL-compatible store (server/mysql) on MariaDB, from
// many registers over real WebSocket, with every batch authenticated
// (DESIGN.md §10, second row), first with one server and then with two
// server instances sharing the database (issue 8's scale-out).
//
// Each measurement has a fresh database of its own, fanka_bench_ and a
// random suffix, created on the server that FANKA_MYSQL_DSN names
// (default mysql://root@127.0.0.1:3306/test; only its host, user and
// parameters are used) and dropped at the end. The cards are opened
// through the store's OpenCard, then the registers of
// scripts/benchmarks/settleload stream their sales over TLS WebSocket to
// the real server/gateway. With two servers, both run in this process but
// share nothing but the database: each has its own mysql.DB (connection
// pool, card poll), gateway and TLS listener, and the registers are dealt
// out between them in turn. Afterwards the database is opened afresh and
// verified as `fanka-server verify` does; the run fails if that finds a
// violation or if the entries settled are not exactly those sent.
//
// It prints settle_mariadb_sales_per_s (bar ≥ 5,000/s),
// settle_mariadb_2servers_sales_per_s and their ratio (bar ≥ 1.5), and
// ed25519_verify_per_s, the machine's Ed25519 rate on all cores measured
// for a second before the settlements and one after, as the settle suite
// does: a shared machine's business shows in it. For each run it also
// prints how busy the machine's cores were, the CPU time per sale of the
// database server (when it runs on this machine: its pid file is readable)
// and of this process (the servers and the registers), and
// settle_mariadb_2servers_cpu_ceiling_ratio: the most two servers on this
// machine could settle as a multiple of one at the same CPU cost per sale.
//
// Settings, from the environment: those of settleload.ConfigFromEnv
// (BENCH_SETTLE_SALES (100000 here), BENCH_SETTLE_REGISTERS,
// BENCH_SETTLE_CARDS (5000), BENCH_SETTLE_BATCH, BENCH_SETTLE_WINDOW,
// BENCH_SETTLE_TIMEOUT, BENCH_CPUPROFILE, which profiles the two-server
// run) and BENCH_KEEP=1 to keep the databases.
package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	gomysql "github.com/go-sql-driver/mysql"

	"github.com/fanka/fanka/scripts/benchmarks/bench"
	"github.com/fanka/fanka/scripts/benchmarks/settleload"
	"github.com/fanka/fanka/server/mysql"
)

// Bars from DESIGN.md §10 and issue 8.
const (
	barSalesPerSecond = 5_000
	barTwoServers     = 1.5
)

const suite = "settle-mariadb"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg, err := settleload.ConfigFromEnv(100_000, 5000)
	if err == nil {
		base := os.Getenv("FANKA_MYSQL_DSN")
		if base == "" {
			base = "mysql://root@127.0.0.1:3306/test"
		}
		err = run(ctx, cfg, base, os.Getenv("BENCH_KEEP") == "1")
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", suite, err)
		os.Exit(1)
	}
}

func note(format string, args ...any) { settleload.Note(suite, format, args...) }

func run(ctx context.Context, cfg settleload.Config, base string, keep bool) error {
	admin, err := openAdmin(base)
	if err != nil {
		return err
	}
	defer admin.Close()

	// The machine's Ed25519 rate before and after, as the settle suite
	// measures it: how busy the shared machine was.
	before, err := settleload.MeasureVerify(ctx, time.Second)
	if err != nil {
		return err
	}
	dbPID := databasePID(ctx, admin)
	profile := cfg.CPUProfile
	cfg.CPUProfile = ""
	one, err := settle(ctx, cfg, admin, base, 1, keep, dbPID)
	if err != nil {
		return err
	}
	cfg.CPUProfile = profile
	two, err := settle(ctx, cfg, admin, base, 2, keep, dbPID)
	if err != nil {
		return err
	}
	after, err := settleload.MeasureVerify(ctx, time.Second)
	if err != nil {
		return err
	}
	note("ed25519 verify: %.0f/s before the settlements, %.0f/s after", before.Rate(), after.Rate())
	onePerS := float64(cfg.Sales) / one.elapsed.Seconds()
	twoPerS := float64(cfg.Sales) / two.elapsed.Seconds()
	bench.Result("ed25519_verify_per_s", before.Add(after).Rate(), "verifies/s")
	bench.Result("settle_mariadb_sales_per_s", onePerS, "sales/s")
	bench.Result("settle_mariadb_2servers_sales_per_s", twoPerS, "sales/s")
	bench.Result("settle_mariadb_2servers_ratio", twoPerS/onePerS, "ratio")
	// How busy the machine's cores were: when one server already keeps
	// them busy (MariaDB, the server and the registers share them), a
	// second server on the same machine has no CPU to add.
	bench.Result("settle_mariadb_cpu_busy", one.busy, "fraction")
	bench.Result("settle_mariadb_2servers_cpu_busy", two.busy, "fraction")
	// Where the CPU went, per sale: MariaDB's (when it runs on this
	// machine) and this process's (the servers and the registers).
	perSale := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(cfg.Sales) }
	if dbPID != 0 {
		bench.Result("settle_mariadb_db_cpu_us_per_sale", perSale(one.dbCPU), "us")
		bench.Result("settle_mariadb_2servers_db_cpu_us_per_sale", perSale(two.dbCPU), "us")
	}
	bench.Result("settle_mariadb_app_cpu_us_per_sale", perSale(one.appCPU), "us")
	bench.Result("settle_mariadb_2servers_app_cpu_us_per_sale", perSale(two.appCPU), "us")
	// The most two servers on this machine could settle, as a multiple of
	// one, if they cost no more CPU per sale than one: the one server's
	// run left 1 - busy of the cores idle, and two can use no more.
	if one.busy > 0 {
		bench.Result("settle_mariadb_2servers_cpu_ceiling_ratio", 1/one.busy, "ratio")
	}
	bench.AtLeast("settle_mariadb_sales_per_s", onePerS, barSalesPerSecond)
	bench.AtLeast("settle_mariadb_2servers_ratio", twoPerS/onePerS, barTwoServers)
	return nil
}

// openAdmin connects to the database server that base names, to create
// and drop the runs' databases.
func openAdmin(base string) (*sql.DB, error) {
	cfg, err := mysql.ParseDSN(base)
	if err != nil {
		return nil, fmt.Errorf("FANKA_MYSQL_DSN: %w", err)
	}
	connector, err := gomysql.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("FANKA_MYSQL_DSN: %w", err)
	}
	db := sql.OpenDB(connector)
	if err := db.Ping(); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to %s: %w (is MariaDB running? scripts/test starts it)", mysql.Redact(base), err)
	}
	return db, nil
}

// databasePID returns the process id of the database server if it runs
// on this machine (its pid file is readable here), else 0.
func databasePID(ctx context.Context, admin *sql.DB) int {
	var file string
	if err := admin.QueryRowContext(ctx, "SELECT @@pid_file").Scan(&file); err != nil {
		return 0
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0
	}
	if _, err := bench.ProcessCPU(pid); err != nil {
		return 0
	}
	return pid
}

// usage is what one settlement took.
type usage struct {
	elapsed time.Duration // the load's time
	busy    float64       // the share of the machine's CPU time that was busy meanwhile
	dbCPU   time.Duration // the database server's CPU time meanwhile (0 if not known)
	appCPU  time.Duration // this process's CPU time meanwhile: servers and registers
}

// cpuNow reads the machine's, the database server's (dbPID, if not 0) and
// this process's CPU time.
func cpuNow(dbPID int) (machine bench.CPU, db, app time.Duration, err error) {
	if machine, err = bench.ReadCPU(); err != nil {
		return
	}
	if dbPID != 0 {
		if db, err = bench.ProcessCPU(dbPID); err != nil {
			return
		}
	}
	app, err = bench.ProcessCPU(0)
	return
}

// settle creates a fresh database, opens the cards in it and runs the
// load on n servers, then verifies the database and drops it. It returns
// what the load took (dbPID, if not 0, is the database server's process).
func settle(ctx context.Context, cfg settleload.Config, admin *sql.DB, base string, n int, keep bool, dbPID int) (usage, error) {
	suffix := make([]byte, 6)
	rand.Read(suffix)
	name := "fanka_bench_" + hex.EncodeToString(suffix)
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name+" CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"); err != nil {
		return usage{}, fmt.Errorf("create database %s: %w", name, err)
	}
	if keep {
		note("database %s is kept", name)
	} else {
		defer func() {
			if _, err := admin.ExecContext(context.WithoutCancel(ctx), "DROP DATABASE IF EXISTS "+name); err != nil {
				note("drop database %s: %v", name, err)
			}
		}()
	}
	u, _ := url.Parse(base) // openAdmin parsed it
	u.Path, u.RawPath = "/"+name, ""
	dsn := u.String()

	servers := make([]settleload.Server, n)
	for i := range servers {
		store := mysql.New(dsn)
		if err := store.Open(ctx); err != nil {
			return usage{}, err
		}
		defer store.Close()
		servers[i].Store = store
	}
	t := time.Now()
	cards, cursor, err := settleload.OpenCards(ctx, servers[0].Store.(*mysql.DB), cfg.Cards)
	if err != nil {
		return usage{}, err
	}
	note("opened %d cards in %s in %v", len(cards), name, time.Since(t).Round(time.Millisecond))
	// The CPU time of the streaming alone, from its first frame to its
	// last ack.
	var machine [2]bench.CPU
	var db, app [2]time.Duration
	var cpuErr error
	mark := func(start bool) {
		i := 1
		if start {
			i = 0
		}
		var err error
		machine[i], db[i], app[i], err = cpuNow(dbPID)
		cpuErr = errors.Join(cpuErr, err)
	}
	elapsed, err := settleload.Run(ctx, settleload.Load{Suite: suite, Config: cfg, Servers: servers, Cards: cards, Cursor: cursor, Mark: mark})
	if err == nil {
		err = cpuErr
	}
	if err != nil {
		return usage{}, err
	}
	use := usage{elapsed: elapsed, busy: bench.BusyFraction(machine[0], machine[1]), dbCPU: db[1] - db[0], appCPU: app[1] - app[0]}

	// Afresh, as fanka-server verify opens it.
	check := mysql.New(dsn)
	check.CardPoll = -1
	if err := check.Open(ctx); err != nil {
		return usage{}, err
	}
	defer check.Close()
	if err := settleload.Check(ctx, suite, cfg, check); err != nil {
		return usage{}, err
	}
	return use, nil
}
