// Register measures the register's own latencies and memory (DESIGN.md
// §10), on the production code paths with virtual devices in place of the
// hardware:
//
//   - register_card_to_display_p99_ms (bar ≤ 30): a virtual card is put on
//     a vpcd reader of the real pcscd, BENCH_REGISTER_CARDS times; the time
//     is from the PC/SC card event (terminal.CardEvent.At, stamped by
//     terminal/pcsc when GetStatusChange returns) to the return of the write
//     of the balance screen to the customer display, a pty on whose far end
//     virtual.DisplayPeer decodes the Epson bytes. In between: reading the
//     card's UID through pcscd, the card cache lookup in bbolt, the GBK
//     frame. Measured with terminal.Config.Shown.
//
//   - register_confirm_to_durable_p99_ms (bar ≤ 10): BENCH_REGISTER_SALES
//     sales keyed on the pty keypad (keypad-ascii bytes); the time is from
//     the register reading the 确认 key to the return of the write of 成功,
//     the entry signed, chained and fsync'd in bbolt in between. The cards
//     come from the in-memory reader (PC/SC is not on this path).
//
//   - register_confirm_to_durable_printing_p99_ms (bar ≤ 10): the same,
//     with a receipt printer (printertest's virtual TCP printer) printing
//     each sale's receipt from the journal's queue meanwhile: printing
//     must not slow a sale.
//
//   - register_rss_1m_cards_mib (bar ≤ 64): a child process, as
//     fanka-terminal runs (its soft memory limit), receives
//     BENCH_REGISTER_CACHE cards (wire.Cards frames of wire.MaxCards,
//     through the codec) into the journal's card cache, then looks up
//     BENCH_REGISTER_LOOKUPS random cards, and reports its VmRSS at the end.
//     The child's peak (VmHWM, during the sync) and its anonymous and
//     file-backed parts are reported beside it, without a bar.
//
//   - register_cache_sync_1m_s (bar ≤ 30): a server on SQLite with
//     BENCH_REGISTER_CACHE cards (opened by settleload's bulk loader, not
//     timed, numbered as the rss child's are, spread over the key space as
//     real UIDs: the register inserts them in random key order, since they
//     arrive in version order) and its gateway on a TLS listener on loopback, in this
//     process; a new register (the production uplink and journal, on
//     disk) connects: the time from the uplink's start to its journal
//     holding the server's last card version as its card cursor, written
//     in the commit of the cards it covers (cachesync.go).
//
// register_cache_load_1m_s, the rss child's time to store the cards (in
// version order, the slow order, a commit per frame), is reported beside
// them.
//
// The journals live in BENCH_REGISTER_DIR (default /var/tmp: on disk, so
// that fsync costs what it costs; a tmpfs is reported as such). The card
// reader is vpcd slot BENCH_REGISTER_SLOT (default 1, which
// terminal/pcsc's tests also use: do not run them at the same time).
// Settings, from the environment: BENCH_REGISTER_CARDS (200),
// BENCH_REGISTER_SALES (2000), BENCH_REGISTER_CACHE (1000000),
// BENCH_REGISTER_LOOKUPS (10000), and BENCH_REGISTER_ONLY (card, confirm,
// rss or sync: run just that part).
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/fanka/fanka/scripts/benchmarks/bench"
	"github.com/fanka/fanka/shared/printer"
	"github.com/fanka/fanka/shared/printer/printertest"
	"github.com/fanka/fanka/terminal/virtual"
)

// Bars from DESIGN.md §10.
const (
	barCardToDisplayMs    = 30
	barConfirmToDurableMs = 10
	barRSSMiB             = 64
)

type config struct {
	Only    string // "", "card", "confirm", "rss" or "sync"
	Dir     string
	Slot    virtual.Slot
	Cards   int // card insertions
	Sales   int
	Cache   int // cards in the cache
	Lookups int
}

func configFromEnv() (config, error) {
	cfg := config{Dir: os.Getenv("BENCH_REGISTER_DIR"), Only: os.Getenv("BENCH_REGISTER_ONLY")}
	switch cfg.Only {
	case "", "card", "confirm", "rss", "sync":
	default:
		return cfg, fmt.Errorf("BENCH_REGISTER_ONLY=%q: want card, confirm, rss or sync", cfg.Only)
	}
	if cfg.Dir == "" {
		cfg.Dir = "/var/tmp"
	}
	var errs []error
	num := func(dst *int, name string, def int) {
		var err error
		*dst, err = bench.Int(name, def)
		errs = append(errs, err)
	}
	num(&cfg.Cards, "BENCH_REGISTER_CARDS", 200)
	num(&cfg.Sales, "BENCH_REGISTER_SALES", 2000)
	num(&cfg.Cache, "BENCH_REGISTER_CACHE", 1_000_000)
	num(&cfg.Lookups, "BENCH_REGISTER_LOOKUPS", 10_000)
	switch s := os.Getenv("BENCH_REGISTER_SLOT"); s {
	case "", "1":
		cfg.Slot = virtual.Slot1
	case "0":
		cfg.Slot = virtual.Slot0
	default:
		errs = append(errs, fmt.Errorf("BENCH_REGISTER_SLOT=%q: want 0 or 1", s))
	}
	return cfg, errors.Join(errs...)
}

func main() {
	if os.Getenv(childEnv) == "rss" {
		cards, err1 := strconv.Atoi(os.Getenv("BENCH_REGISTER_CHILD_CARDS"))
		lookups, err2 := strconv.Atoi(os.Getenv("BENCH_REGISTER_CHILD_LOOKUPS"))
		err := errors.Join(err1, err2)
		if err == nil {
			err = childLoad(os.Getenv("BENCH_REGISTER_CHILD_DIR"), cards, lookups)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "register rss child:", err)
			os.Exit(1)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg, err := configFromEnv()
	if err == nil {
		err = run(ctx, cfg)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "register: %v\n", err)
		os.Exit(1)
	}
}

// note prints progress on standard error.
func note(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "register: "+format+"\n", args...)
}

func run(ctx context.Context, cfg config) error {
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return err
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(cfg.Dir, &st); err == nil && st.Type == 0x01021994 { // TMPFS_MAGIC
		note("%s is a tmpfs: fsync costs nothing there, the durability latency is not a disk's", cfg.Dir)
	}
	work, err := os.MkdirTemp(cfg.Dir, "fanka-bench-register-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	mkdir := func(name string) (string, error) {
		d := work + "/" + name
		return d, os.Mkdir(d, 0o700)
	}

	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	var bars []func()
	if cfg.Only == "" || cfg.Only == "card" {
		d, err := mkdir("card")
		if err != nil {
			return err
		}
		note("card to display: %d cards on %q (pcscd polls the slot about every 400 ms)", cfg.Cards, cfg.Slot.Reader)
		lat, err := cardToDisplay(ctx, d, cfg.Slot, cfg.Cards)
		if err != nil {
			return fmt.Errorf("card to display: %w", err)
		}
		p99 := ms(percentile(lat, 0.99))
		bench.Result("register_card_to_display_p50_ms", ms(percentile(lat, 0.50)), "ms")
		bench.Result("register_card_to_display_p99_ms", p99, "ms")
		bench.Result("register_card_to_display_max_ms", ms(slices.Max(lat)), "ms")
		bars = append(bars, func() { bench.AtMost("register_card_to_display_p99_ms", p99, barCardToDisplayMs) })
	}
	if cfg.Only == "" || cfg.Only == "confirm" {
		d, err := mkdir("confirm")
		if err != nil {
			return err
		}
		note("confirm to durable: %d sales", cfg.Sales)
		lat, err := confirmToDurable(ctx, d, cfg.Sales, nil)
		if err != nil {
			return fmt.Errorf("confirm to durable: %w", err)
		}
		p99 := ms(percentile(lat, 0.99))
		bench.Result("register_confirm_to_durable_p50_ms", ms(percentile(lat, 0.50)), "ms")
		bench.Result("register_confirm_to_durable_p99_ms", p99, "ms")
		bench.Result("register_confirm_to_durable_max_ms", ms(slices.Max(lat)), "ms")
		bars = append(bars, func() { bench.AtMost("register_confirm_to_durable_p99_ms", p99, barConfirmToDurableMs) })

		if d, err = mkdir("confirm-printing"); err != nil {
			return err
		}
		v, err := printertest.NewPrinter()
		if err != nil {
			return err
		}
		defer v.Close()
		note("confirm to durable, printing receipts: %d sales", cfg.Sales)
		lat, err = confirmToDurable(ctx, d, cfg.Sales, &printer.Network{Addr: v.Addr(), TwoWay: true})
		if err != nil {
			return fmt.Errorf("confirm to durable, printing: %w", err)
		}
		if jobs := len(v.Jobs()); jobs != cfg.Sales {
			return fmt.Errorf("confirm to durable, printing: %d sales, %d receipts printed", cfg.Sales, jobs)
		}
		pp99 := ms(percentile(lat, 0.99))
		bench.Result("register_confirm_to_durable_printing_p50_ms", ms(percentile(lat, 0.50)), "ms")
		bench.Result("register_confirm_to_durable_printing_p99_ms", pp99, "ms")
		bench.Result("register_confirm_to_durable_printing_max_ms", ms(slices.Max(lat)), "ms")
		bars = append(bars, func() { bench.AtMost("register_confirm_to_durable_printing_p99_ms", pp99, barConfirmToDurableMs) })
	}
	if cfg.Only == "" || cfg.Only == "sync" {
		sd, err := mkdir("sync-server")
		if err != nil {
			return err
		}
		rd, err := mkdir("sync-register")
		if err != nil {
			return err
		}
		note("cache sync: %d cards from the server to a new register", cfg.Cache)
		d, err := cacheSync(ctx, sd, rd, cfg.Cache)
		if err != nil {
			return fmt.Errorf("cache sync: %w", err)
		}
		s := d.Seconds()
		bench.Result("register_cache_sync_1m_s", s, "s")
		bars = append(bars, func() { bench.AtMost("register_cache_sync_1m_s", s, barCacheSyncS) })
	}
	if cfg.Only == "" || cfg.Only == "rss" {
		note("card cache: %d cards, then %d lookups, in a child process", cfg.Cache, cfg.Lookups)
		rss, err := measureRSS(work, cfg.Cache, cfg.Lookups)
		if err != nil {
			return err
		}
		note("rss child: %+v", rss)
		bench.Result("register_rss_1m_cards_mib", rss.RSSMiB, "MiB")
		bench.Result("register_rss_1m_cards_anon_mib", rss.AnonMiB, "MiB")
		bench.Result("register_rss_1m_cards_file_mib", rss.FileMiB, "MiB")
		bench.Result("register_rss_1m_cards_peak_mib", rss.HWMMiB, "MiB")
		bench.Result("register_cache_file_1m_mib", float64(rss.FileBytes)/(1<<20), "MiB")
		bench.Result("register_cache_load_1m_s", rss.LoadS, "s")
		bench.Result("register_cache_lookup_p99_us", rss.LookupP99, "us")
		bars = append(bars, func() { bench.AtMost("register_rss_1m_cards_mib", rss.RSSMiB, barRSSMiB) })
	}
	for _, bar := range bars {
		bar()
	}
	return nil
}

// percentile returns the p-quantile (0 < p ≤ 1) of ds, by nearest rank.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(float64(len(s))*p+0.999999) - 1
	return s[max(0, min(i, len(s)-1))]
}
