// Settle measures how many sales per second one server settles durably on
// its embedded SQLite store, from many registers over real WebSocket, with
// every batch authenticated (DESIGN.md §10, first row), and compares it with
// the machine's Ed25519 verification rate measured in the same run.
//
// It builds the real thing in one process: a fresh data directory in a
// temporary directory holding fanka.db, opened with server/sqlite (WAL,
// synchronous=FULL), and the real server/gateway on it behind a loopback
// TLS server (httptest). The cards are opened beforehand through the
// store's OpenCard. Each register is a goroutine with its own Ed25519 key,
// created and enrolled through the store's CreateTerminal and
// EnrollTerminal; it signs and chains its journal entries (sales on random
// cards) before the clock starts, connects, answers the challenge and says
// it already holds every card change. Then all registers stream at once, as
// terminal/uplink does: frames of at most BENCH_SETTLE_BATCH entries, no
// more than BENCH_SETTLE_WINDOW entries sent and not yet acked, while
// reading acks (each checked to be the next seq) and the card changes the
// gateway pushes to every register as sales settle, which is part of the
// server's work measured. The time is from the first frame sent to the last
// ack received, over every register; settle_sqlite_sales_per_s is the
// number of sales over that time.
//
// The verification rate, ed25519_verify_per_s, is GOMAXPROCS goroutines
// verifying journal entries (journal.Entry.Verify, as the server does for
// the last entry of each batch and verify for each entry), for half of BENCH_VERIFY_TIME before the settlement and half
// after it, so that a change in the shared machine's load during the run
// weighs on both sides of settle_sqlite_vs_verify_ratio. Afterwards the
// store is opened afresh and verified as `fanka-server verify` does; the
// run fails if that finds a violation or if the entries settled are not
// exactly those sent.
//
// Settings, from the environment: BENCH_SETTLE_SALES (200000),
// BENCH_SETTLE_REGISTERS (50), BENCH_SETTLE_CARDS (5000),
// BENCH_SETTLE_BATCH (500), BENCH_SETTLE_WINDOW (5000), BENCH_VERIFY_TIME
// (2s), BENCH_SETTLE_TIMEOUT (10m for the streaming, which also fails when
// no ack arrives for a minute), BENCH_CPUPROFILE (a file for a CPU profile
// of the streaming: the server's goroutines carry the label side=server and
// the registers' side=register, so that `go tool pprof -tagfocus
// side=server` shows the server alone) and BENCH_KEEP=1 to keep the data
// directory.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/fanka/fanka/scripts/benchmarks/bench"
)

// Bars from DESIGN.md §10.
const (
	barSalesPerSecond = 20_000
	barVerifyRatio    = 0.35
)

// config is the benchmark's settings.
type config struct {
	Sales      int           // sales settled in all
	Registers  int           // registers streaming at once
	Cards      int           // cards opened, on which the sales fall at random
	Batch      int           // entries per frame, at most
	Window     int           // entries sent and not acked per register, at most
	VerifyTime time.Duration // how long the verification rate is measured
	Timeout    time.Duration // how long the streaming may take
	CPUProfile string        // file for a CPU profile of the streaming, or ""
	Keep       bool          // keep the data directory
}

func configFromEnv() (config, error) {
	var cfg config
	var errs []error
	num := func(dst *int, name string, def int) {
		var err error
		*dst, err = bench.Int(name, def)
		errs = append(errs, err)
	}
	dur := func(dst *time.Duration, name string, def time.Duration) {
		var err error
		*dst, err = bench.Duration(name, def)
		errs = append(errs, err)
	}
	num(&cfg.Sales, "BENCH_SETTLE_SALES", 200_000)
	num(&cfg.Registers, "BENCH_SETTLE_REGISTERS", 50)
	num(&cfg.Cards, "BENCH_SETTLE_CARDS", 5000)
	num(&cfg.Batch, "BENCH_SETTLE_BATCH", 500)
	num(&cfg.Window, "BENCH_SETTLE_WINDOW", 5000)
	dur(&cfg.VerifyTime, "BENCH_VERIFY_TIME", 2*time.Second)
	dur(&cfg.Timeout, "BENCH_SETTLE_TIMEOUT", 10*time.Minute)
	cfg.CPUProfile = os.Getenv("BENCH_CPUPROFILE")
	cfg.Keep = os.Getenv("BENCH_KEEP") == "1"
	if err := errors.Join(errs...); err != nil {
		return cfg, err
	}
	if cfg.Batch > maxBatch {
		return cfg, fmt.Errorf("BENCH_SETTLE_BATCH=%d: at most %d", cfg.Batch, maxBatch)
	}
	if cfg.Window < cfg.Batch {
		return cfg, fmt.Errorf("BENCH_SETTLE_WINDOW=%d: below the batch of %d", cfg.Window, cfg.Batch)
	}
	if cfg.Sales < cfg.Registers {
		return cfg, fmt.Errorf("BENCH_SETTLE_SALES=%d: fewer than the %d registers", cfg.Sales, cfg.Registers)
	}
	return cfg, nil
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg, err := configFromEnv()
	if err == nil {
		err = run(ctx, cfg)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "settle: %v\n", err)
		os.Exit(1)
	}
}

// note prints progress on standard error.
func note(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "settle: "+format+"\n", args...)
}

func run(ctx context.Context, cfg config) error {
	if cfg.Registers < 50 {
		note("%d registers: the bar is measured with at least 50", cfg.Registers)
	}
	dir, err := os.MkdirTemp("", "fanka-bench-settle-")
	if err != nil {
		return err
	}
	if cfg.Keep {
		note("data directory %s is kept", dir)
	} else {
		defer os.RemoveAll(dir)
	}

	before, err := measureVerify(ctx, cfg.VerifyTime/2)
	if err != nil {
		return err
	}
	res, err := settle(ctx, cfg, dir)
	if err != nil {
		return err
	}
	after, err := measureVerify(ctx, cfg.VerifyTime-cfg.VerifyTime/2)
	if err != nil {
		return err
	}
	verify := before.add(after)
	note("ed25519 verify: %.0f/s before the settlement, %.0f/s after", before.rate(), after.rate())

	if err := checkStore(ctx, cfg, res.path); err != nil {
		return err
	}

	salesPerS := float64(cfg.Sales) / res.elapsed.Seconds()
	ratio := salesPerS / verify.rate()
	bench.Result("ed25519_verify_per_s", verify.rate(), "verifies/s")
	bench.Result("settle_sqlite_sales_per_s", salesPerS, "sales/s")
	bench.Result("settle_sqlite_vs_verify_ratio", ratio, "ratio")
	bench.AtLeast("settle_sqlite_sales_per_s", salesPerS, barSalesPerSecond)
	bench.AtLeast("settle_sqlite_vs_verify_ratio", ratio, barVerifyRatio)
	return nil
}
