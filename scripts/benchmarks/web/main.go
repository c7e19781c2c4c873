// Web measures the office API's daily report on a long ledger (DESIGN.md
// §10, last row: the daily report within 1 s with 50,000,000 sales in the
// ledger): api_report_daily_p95_ms is the 95th percentile of GET
// /api/v1/reports/daily?date= over HTTPS, against the real server/admin
// API on the real server/sqlite store, the day asked being a busy day in
// the middle of the ledger.
//
// Settling tens of millions of sales through the server would take hours,
// so the ledger is loaded directly into SQLite by a loader that writes the
// rows settlement writes, as it writes them: for each card its account,
// the card and the opening deposit (an "open" transaction, cash to diner);
// for each sale a register's journal entry, chained and signed with the
// register's Ed25519 key, its "sale" transaction (origin, day, card,
// settlement time), its two postings (diner to revenue) and the entry's
// row with its ack, flagged with the rules it broke as settlement flags it
// (the settler's own rule functions decide); then the balances, the
// cards' counters, the card change counter and the registers' cursors.
// Sales fall in the meal periods (most at lunch), days one after the
// other, each sale's transaction id in the order of its time, as
// settlement numbers them. The store's own migrations make the schema;
// one index is built after the rows (see deferredIndexes). A test
// (ledger_test.go) settles the same sales through the store and finds the
// same reports, rows and indexes. `fanka-server verify` passes on the
// result (BENCH_WEB_VERIFY=1 runs the store's Verify; it checks every
// signature, so it is slow) unless the entries were left unsigned.
//
// The report reads one day's rows, through the index of the day; what it
// costs depends on the sales of that day, and on the ledger's length only
// through the depth of the B-trees (one more level per ~100× rows). The
// suite prints, besides the bar: web_ledger_sales (the ledger's sales),
// web_generate_s and web_generate_sales_per_s (how long writing the ledger
// took: 50,000,000 sales take 50,000,000 over that rate),
// web_report_day_sales (the sales of the day asked), web_report_day_scan_ms
// (the store's DailyReport alone, median) and web_report_scan_us_per_sale.
//
// Settings, from the environment: BENCH_WEB_SALES (5,000,000: the ledger's
// sales), BENCH_WEB_PER_DAY (137,000: 50,000,000 over 365 days),
// BENCH_WEB_PEAK (200,000: the sales of the day asked, which is in the
// middle of the ledger), BENCH_WEB_CARDS (100,000), BENCH_WEB_REGISTERS
// (50), BENCH_WEB_REQUESTS (40: reports asked, after 2 to warm up),
// BENCH_WEB_DATA (a directory: the ledger is written there and kept, and a
// later run with the same directory reuses it instead of writing it again)
// BENCH_WEB_VERIFY=1, BENCH_WEB_UNSIGNED=1 (entries written without their
// signatures: signing is most of the loader's work on a busy machine, and
// the report never reads them) and BENCH_CPUPROFILE (a file for a CPU
// profile of the store's reports).
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/fanka/fanka/scripts/benchmarks/bench"
)

// barReportMS is DESIGN.md §10's bar for the daily report.
const barReportMS = 1000

// config is the benchmark's settings.
type config struct {
	Sales     int    // sales in the ledger
	PerDay    int    // sales on an ordinary day
	Peak      int    // sales on the day the report is asked for
	Cards     int    // cards the sales fall on
	Registers int    // registers that made them
	Requests  int    // reports asked, measured
	Data      string // a directory to keep the ledger in, or ""
	Verify    bool   // verify the ledger after writing it
	// Unsigned writes the entries without their registers' signatures:
	// signing is most of the loader's work (Ed25519, some 40 µs an entry
	// on a busy core), the report never reads a signature, and the rows
	// keep their size. Verify then refuses the entries.
	Unsigned bool
	// CPUProfile is a file for a CPU profile of the store's reports, or "".
	CPUProfile string
}

func configFromEnv() (config, error) {
	var cfg config
	var errs []error
	num := func(dst *int, name string, def int) {
		var err error
		*dst, err = bench.Int(name, def)
		errs = append(errs, err)
	}
	num(&cfg.Sales, "BENCH_WEB_SALES", 5_000_000)
	num(&cfg.PerDay, "BENCH_WEB_PER_DAY", 137_000)
	num(&cfg.Peak, "BENCH_WEB_PEAK", 200_000)
	num(&cfg.Cards, "BENCH_WEB_CARDS", 100_000)
	num(&cfg.Registers, "BENCH_WEB_REGISTERS", 50)
	num(&cfg.Requests, "BENCH_WEB_REQUESTS", 40)
	cfg.Data = os.Getenv("BENCH_WEB_DATA")
	cfg.Verify = os.Getenv("BENCH_WEB_VERIFY") == "1"
	cfg.Unsigned = os.Getenv("BENCH_WEB_UNSIGNED") == "1"
	cfg.CPUProfile = os.Getenv("BENCH_CPUPROFILE")
	if err := errors.Join(errs...); err != nil {
		return cfg, err
	}
	if cfg.Peak > cfg.Sales {
		return cfg, fmt.Errorf("BENCH_WEB_PEAK=%d: more than the ledger's %d sales", cfg.Peak, cfg.Sales)
	}
	if cfg.Registers > 1000 {
		return cfg, fmt.Errorf("BENCH_WEB_REGISTERS=%d: at most 1000", cfg.Registers)
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
		fmt.Fprintf(os.Stderr, "web: %v\n", err)
		os.Exit(1)
	}
}

// note prints progress on standard error.
func note(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "web: "+format+"\n", args...)
}

func run(ctx context.Context, cfg config) error {
	dir := cfg.Data
	if dir == "" {
		d, err := os.MkdirTemp("", "fanka-bench-web-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	path := filepath.Join(dir, "fanka.db")
	led, err := readLedger(path)
	switch {
	case err == nil:
		note("reusing the ledger of %d sales in %s", led.Sales, path)
	case errors.Is(err, os.ErrNotExist):
		if led, err = writeLedger(ctx, cfg, path); err != nil {
			return fmt.Errorf("write the ledger: %w", err)
		}
		bench.Result("web_generate_s", led.Took.Seconds(), "s")
		bench.Result("web_generate_sales_per_s", float64(led.Sales)/led.Took.Seconds(), "sales/s")
	default:
		return err
	}
	bench.Result("web_ledger_sales", float64(led.Sales), "sales")
	if cfg.Verify && led.Unsigned {
		return errors.New("BENCH_WEB_VERIFY=1: the ledger's entries were written unsigned (BENCH_WEB_UNSIGNED=1); verify would refuse them")
	}

	res, err := measure(ctx, cfg, path, led)
	if err != nil {
		return err
	}
	bench.Result("web_report_day_sales", float64(res.DaySales), "sales")
	bench.Result("web_report_day_scan_ms", res.ScanMedian.Seconds()*1000, "ms")
	bench.Result("web_report_scan_us_per_sale", res.ScanMedian.Seconds()*1e6/float64(max(res.DaySales, 1)), "us")
	bench.Result("api_report_daily_first_ms", res.First.Seconds()*1000, "ms")
	bench.Result("api_report_daily_p50_ms", res.P50.Seconds()*1000, "ms")
	bench.Result("api_report_daily_p95_ms", res.P95.Seconds()*1000, "ms")
	bench.AtMost("api_report_daily_p95_ms", res.P95.Seconds()*1000, barReportMS)
	return nil
}
