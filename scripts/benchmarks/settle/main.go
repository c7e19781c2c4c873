// Settle measures how many sales per second one server settles durably on
// its embedded SQLite store, from many registers over real WebSocket, with
// every batch authenticated (DESIGN.md §10, first row), and compares it with
// the machine's Ed25519 verification rate measured in the same run.
//
// It builds the real thing in one process: a fresh data directory in a
// temporary directory holding fanka.db, opened with server/sqlite (WAL,
// synchronous=FULL), and the real server/gateway on it behind a loopback
// TLS server (httptest), with the registers of scripts/benchmarks/settleload.
// The cards are opened beforehand through the store's OpenCard.
// settle_sqlite_sales_per_s is the number of sales over the time from the
// first frame sent to the last ack received.
//
// The verification rate, ed25519_verify_per_s, is GOMAXPROCS goroutines
// verifying journal entries (journal.Entry.Verify, as the server does for
// the last entry of each batch and verify for each entry), for half of
// BENCH_VERIFY_TIME before the settlement and half after it, so that a
// change in the shared machine's load during the run weighs on both sides
// of settle_sqlite_vs_verify_ratio. Afterwards the store is opened afresh
// and verified as `fanka-server verify` does; the run fails if that finds a
// violation or if the entries settled are not exactly those sent.
//
// Settings, from the environment: those of settleload.ConfigFromEnv
// (BENCH_SETTLE_SALES (200000 here), BENCH_SETTLE_REGISTERS,
// BENCH_SETTLE_CARDS (5000 here), BENCH_SETTLE_BATCH, BENCH_SETTLE_WINDOW,
// BENCH_SETTLE_TIMEOUT, BENCH_CPUPROFILE), BENCH_VERIFY_TIME (2s) and
// BENCH_KEEP=1 to keep the data directory.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/fanka/fanka/scripts/benchmarks/bench"
	"github.com/fanka/fanka/scripts/benchmarks/settleload"
	"github.com/fanka/fanka/server/sqlite"
)

// Bars from DESIGN.md §10.
const (
	barSalesPerSecond = 20_000
	barVerifyRatio    = 0.35
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg, err := settleload.ConfigFromEnv(200_000, 5000)
	var verifyTime time.Duration
	if err == nil {
		verifyTime, err = bench.Duration("BENCH_VERIFY_TIME", 2*time.Second)
	}
	if err == nil {
		err = run(ctx, cfg, verifyTime, os.Getenv("BENCH_KEEP") == "1")
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "settle: %v\n", err)
		os.Exit(1)
	}
}

func note(format string, args ...any) { settleload.Note("settle", format, args...) }

func run(ctx context.Context, cfg settleload.Config, verifyTime time.Duration, keep bool) error {
	dir, err := os.MkdirTemp("", "fanka-bench-settle-")
	if err != nil {
		return err
	}
	if keep {
		note("data directory %s is kept", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	path := filepath.Join(dir, "fanka.db")

	before, err := settleload.MeasureVerify(ctx, verifyTime/2)
	if err != nil {
		return err
	}
	elapsed, err := settle(ctx, cfg, path)
	if err != nil {
		return err
	}
	after, err := settleload.MeasureVerify(ctx, verifyTime-verifyTime/2)
	if err != nil {
		return err
	}
	verify := before.Add(after)
	note("ed25519 verify: %.0f/s before the settlement, %.0f/s after", before.Rate(), after.Rate())

	// Afresh, as fanka-server verify opens it.
	store := sqlite.New(path)
	if err := store.Open(ctx); err != nil {
		return err
	}
	defer store.Close()
	if err := settleload.Check(ctx, "settle", cfg, store); err != nil {
		return err
	}

	salesPerS := float64(cfg.Sales) / elapsed.Seconds()
	ratio := salesPerS / verify.Rate()
	bench.Result("ed25519_verify_per_s", verify.Rate(), "verifies/s")
	bench.Result("settle_sqlite_sales_per_s", salesPerS, "sales/s")
	bench.Result("settle_sqlite_vs_verify_ratio", ratio, "ratio")
	bench.AtLeast("settle_sqlite_sales_per_s", salesPerS, barSalesPerSecond)
	bench.AtLeast("settle_sqlite_vs_verify_ratio", ratio, barVerifyRatio)
	return nil
}

// settle opens the store at path, opens the cards and runs the load on it.
func settle(ctx context.Context, cfg settleload.Config, path string) (time.Duration, error) {
	store := sqlite.New(path)
	if err := store.Open(ctx); err != nil {
		return 0, err
	}
	defer store.Close()
	t := time.Now()
	cards, cursor, err := settleload.OpenCards(ctx, store, cfg.Cards)
	if err != nil {
		return 0, err
	}
	note("opened %d cards in %v", len(cards), time.Since(t).Round(time.Millisecond))
	return settleload.Run(ctx, settleload.Load{Suite: "settle", Config: cfg, Servers: []settleload.Server{{Store: store}},
		Cards: cards, Cursor: cursor})
}
