// Lookup measures the office API's card lookup under settlement load with
// a million cards (DESIGN.md §10, third row): GET /api/v1/cards/{card_no}
// over HTTPS with a bearer token, on the embedded SQLite store, while 50
// registers settle sales over TLS WebSocket to the same server.
//
// The store is a fresh fanka.db in a temporary directory (server/sqlite,
// WAL, synchronous=FULL). BENCH_LOOKUP_REF cards are opened through the
// store's OpenCard (from 8 goroutines); the others, up to
// BENCH_SETTLE_CARDS, by a loader for benchmarks alone (settleload.BulkOpen) that
// writes the rows OpenCard writes in large transactions, because OpenCard
// commits each card with an fsync. The run fails unless the loader's rows
// match OpenCard's (checkBulk: every table grows alike per card, and a
// loaded card's rows equal an opened card's, column by column), and
// lookup_opencard_per_s and lookup_bulk_cards_per_s say how fast each was.
// The loaded ledger is then sealed and checkpointed, as a server that has
// run for months holds it, so that the run does not measure a million
// cards' opening being sealed.
//
// The server is the real admin API (server/admin) with the gateway mounted
// in it, behind a loopback TLS server; a user logs in through POST
// /api/v1/login for the token. While the registers of
// scripts/benchmarks/settleload stream their sales (paced, each register
// sends each sale on its own as it makes it), BENCH_LOOKUP_WORKERS
// clients look up random cards at BENCH_LOOKUP_RATE lookups per second in
// all, each lookup due at its place in that schedule: a lookup's latency
// runs from when it was due (not when a busy client got round to it) to
// the end of its response, which must be the card asked for. It prints
// api_card_lookup_p95_ms (bar ≤ 20 ms), api_card_lookup_per_s, the rate
// achieved (bar ≥ 1,000/s), and lookup_settle_sales_per_s, the
// settlement's rate meanwhile (paced: see BENCH_SETTLE_RATE), and ed25519_verify_per_s, the machine's
// Ed25519 rate on all cores for a second before the settlement and one
// after (how busy the shared machine was). Afterwards the store is opened afresh and
// verified as `fanka-server verify` does.
//
// Settings, from the environment: those of settleload.ConfigFromEnv
// (BENCH_SETTLE_SALES (60000 here), BENCH_SETTLE_CARDS (1000000 here),
// BENCH_SETTLE_RATE (1000 sales/s here), BENCH_SETTLE_REGISTERS,
// BENCH_SETTLE_BATCH, BENCH_SETTLE_WINDOW,
// BENCH_SETTLE_TIMEOUT, BENCH_CPUPROFILE, BENCH_TRACE), BENCH_LOOKUP_REF (2000),
// BENCH_LOOKUP_RATE (1000), BENCH_LOOKUP_WORKERS (32) and BENCH_KEEP=1 to
// keep the data directory.
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/fanka/fanka/scripts/benchmarks/bench"
	"github.com/fanka/fanka/scripts/benchmarks/settleload"
	"github.com/fanka/fanka/server"
	"github.com/fanka/fanka/server/admin"
	"github.com/fanka/fanka/server/sqlite"
)

// Bars from DESIGN.md §10.
const (
	barP95Millis        = 20
	barLookupsPerSecond = 1000
)

const suite = "lookup"

// settings are the lookup's own settings.
type settings struct {
	ref     int // cards opened through OpenCard
	rate    int // lookups per second, in all
	workers int // clients looking up at once
	keep    bool
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg, err := settleload.ConfigFromEnv(60_000, 1_000_000)
	// The settle load of the bar: 1,000 sales a second, ten times the
	// original requirement's 100 and some seventy times a 100,000-card
	// canteen's noon average. Flat out (BENCH_SETTLE_RATE=0) the settler
	// takes both cores, and the lookups measure the queue for them.
	if os.Getenv("BENCH_SETTLE_RATE") == "" {
		cfg.Rate = 1000
	}
	// Paced, a register sends each sale as it makes it (20 a second each
	// here), as a register at a till does: in frames of 500, the default
	// for settling flat out, the paced load would be 50 frames of 500 sales
	// at once every 25 seconds, bursts the settler takes flat out.
	if os.Getenv("BENCH_SETTLE_BATCH") == "" && cfg.Rate > 0 {
		cfg.Batch = 1
	}
	var set settings
	var errs []error
	for _, s := range []struct {
		dst  *int
		name string
		def  int
	}{{&set.ref, "BENCH_LOOKUP_REF", 2000}, {&set.rate, "BENCH_LOOKUP_RATE", 1000}, {&set.workers, "BENCH_LOOKUP_WORKERS", 32}} {
		var err error
		*s.dst, err = bench.Int(s.name, s.def)
		errs = append(errs, err)
	}
	set.keep = os.Getenv("BENCH_KEEP") == "1"
	if err == nil {
		err = errors.Join(errs...)
	}
	if err == nil && set.ref > cfg.Cards {
		err = fmt.Errorf("BENCH_LOOKUP_REF=%d: more than the %d cards", set.ref, cfg.Cards)
	}
	if err == nil {
		err = run(ctx, cfg, set)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", suite, err)
		os.Exit(1)
	}
}

func note(format string, args ...any) { settleload.Note(suite, format, args...) }

func run(ctx context.Context, cfg settleload.Config, set settings) error {
	dir, err := os.MkdirTemp("", "fanka-bench-lookup-")
	if err != nil {
		return err
	}
	if set.keep {
		note("data directory %s is kept", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	path := filepath.Join(dir, "fanka.db")
	cards, cursor, err := openCards(ctx, cfg, set, path)
	if err != nil {
		return err
	}

	store := sqlite.New(path)
	if err := store.Open(ctx); err != nil {
		return err
	}
	defer store.Close()
	password := "bench-lookup-password"
	hash, err := server.HashPassword(password)
	if err != nil {
		return err
	}
	if err := store.CreateUser(ctx, server.User{Name: "bench", PasswordHash: hash, Role: server.RoleOperator, Created: time.Now()}); err != nil {
		return err
	}
	before, err := settleload.MeasureVerify(ctx, time.Second)
	if err != nil {
		return err
	}
	var lat latencies
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	elapsed, err := settleload.Run(ctx, settleload.Load{Suite: suite, Config: cfg, Cards: cards, Cursor: cursor,
		Servers: []settleload.Server{{Store: store, Mount: func(gw http.Handler) http.Handler { return admin.New(store, gw, logger) }}},
		During: func(ctx context.Context, urls []string, tlsConf *tls.Config) error {
			return lookUp(ctx, set, urls[0], tlsConf, password, cards, &lat)
		}})
	if err != nil {
		return err
	}
	store.Close()
	after, err := settleload.MeasureVerify(ctx, time.Second)
	if err != nil {
		return err
	}
	note("ed25519 verify: %.0f/s before the settlement, %.0f/s after", before.Rate(), after.Rate())
	if lat.n() == 0 {
		return errors.New("no lookup completed during the settlement")
	}

	// Afresh, as fanka-server verify opens it.
	check := sqlite.New(path)
	if err := check.Open(ctx); err != nil {
		return err
	}
	defer check.Close()
	if err := settleload.Check(ctx, suite, cfg, check); err != nil {
		return err
	}

	p95 := lat.quantile(0.95)
	// The rate the lookups kept: n lookups due one period apart take n
	// periods when each is done before the next is due, longer when they
	// fell behind (n / span alone would read just below the pace when
	// they kept it).
	perS := float64(lat.n()) / max(lat.span, time.Duration(lat.n())*(time.Second/time.Duration(set.rate))).Seconds()
	note("%d lookups in %v: p50 %.2f ms, p95 %.2f ms, p99 %.2f ms, max %.2f ms", lat.n(), lat.span.Round(time.Millisecond),
		lat.quantile(0.5), p95, lat.quantile(0.99), lat.quantile(1))
	bench.Result("ed25519_verify_per_s", before.Add(after).Rate(), "verifies/s")
	bench.Result("api_card_lookup_p95_ms", p95, "ms")
	bench.Result("api_card_lookup_per_s", perS, "lookups/s")
	bench.Result("lookup_settle_sales_per_s", float64(cfg.Sales)/elapsed.Seconds(), "sales/s")
	bench.AtMost("api_card_lookup_p95_ms", p95, barP95Millis)
	bench.AtLeast("api_card_lookup_per_s", perS, barLookupsPerSecond)
	return nil
}

// openCards creates the store at path and opens cfg.Cards cards in it: the
// first set.ref through OpenCard, the others with settleload.BulkOpen, and checks
// that both wrote alike.
func openCards(ctx context.Context, cfg settleload.Config, set settings, path string) ([]string, uint64, error) {
	store := sqlite.New(path)
	if err := store.Open(ctx); err != nil {
		return nil, 0, err
	}
	defer store.Close()
	raw, err := sql.Open(sqlite.Driver, (&url.URL{Scheme: "file", Path: path}).String()+"?_query_only=1")
	if err != nil {
		return nil, 0, err
	}
	defer raw.Close()
	before, err := tableCounts(ctx, raw)
	if err != nil {
		return nil, 0, err
	}
	t := time.Now()
	if _, _, err := settleload.OpenCards(ctx, store, set.ref); err != nil {
		return nil, 0, err
	}
	openPerS := float64(set.ref) / time.Since(t).Seconds()
	note("opened %d cards through OpenCard in %v", set.ref, time.Since(t).Round(time.Millisecond))
	opened, err := tableCounts(ctx, raw)
	if err != nil {
		return nil, 0, err
	}
	store.Close()

	bulk := cfg.Cards - set.ref
	bulkPerS := 0.0
	if bulk > 0 {
		t = time.Now()
		if err := settleload.BulkOpen(ctx, path, set.ref, cfg.Cards, time.Now()); err != nil {
			return nil, 0, err
		}
		bulkPerS = float64(bulk) / time.Since(t).Seconds()
		note("opened %d cards with the bulk loader in %v", bulk, time.Since(t).Round(time.Millisecond))
		now, err := tableCounts(ctx, raw)
		if err != nil {
			return nil, 0, err
		}
		if err := checkBulk(ctx, raw, before, opened, now, set.ref, bulk); err != nil {
			return nil, 0, err
		}
		note("the bulk loader's rows match OpenCard's")
	}
	// Sealed and checkpointed, as a server that has run for a while holds
	// its ledger: closing the store copies the whole log into the file.
	store = sqlite.New(path)
	if err := store.Open(ctx); err != nil {
		return nil, 0, err
	}
	t = time.Now()
	sealed, err := settleload.SealAll(ctx, store)
	if err == nil {
		err = store.Close()
	}
	if err != nil {
		return nil, 0, err
	}
	note("sealed %d transactions and checkpointed in %v", sealed, time.Since(t).Round(time.Millisecond))
	bench.Result("lookup_opencard_per_s", openPerS, "cards/s")
	if bulk > 0 {
		bench.Result("lookup_bulk_cards_per_s", bulkPerS, "cards/s")
	}

	var cursor uint64
	if err := raw.QueryRowContext(ctx, `SELECT value FROM counters WHERE name = 'card_version'`).Scan(&cursor); err != nil {
		return nil, 0, fmt.Errorf("card version: %w", err)
	}
	cards := make([]string, cfg.Cards)
	for i := range cards {
		cards[i] = settleload.CardNo(i)
	}
	return cards, cursor, nil
}

// latencies are the lookups' latencies, in milliseconds, and the time from
// the first lookup due to the last one done.
type latencies struct {
	mu   sync.Mutex
	ms   []float64
	span time.Duration
}

func (l *latencies) n() int { return len(l.ms) }

// quantile returns the q-quantile (0 < q ≤ 1) of the latencies.
func (l *latencies) quantile(q float64) float64 {
	slices.Sort(l.ms)
	i := int(q*float64(len(l.ms))+0.5) - 1
	return l.ms[max(0, min(i, len(l.ms)-1))]
}

// lookUp logs in at base and looks up random cards at set.rate per second
// until ctx ends, adding each lookup's latency to lat.
func lookUp(ctx context.Context, set settings, base string, tlsConf *tls.Config, password string, cards []string, lat *latencies) error {
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsConf,
		MaxIdleConnsPerHost: set.workers, MaxConnsPerHost: set.workers}}
	defer client.CloseIdleConnections()
	body, _ := json.Marshal(admin.LoginRequest{User: "bench", Password: password})
	resp, err := client.Post(base+"/api/v1/login", "application/json", bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("login: %w", err)
	}
	var login admin.LoginResponse
	err = json.NewDecoder(resp.Body).Decode(&login)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || err != nil || login.Token == "" {
		return fmt.Errorf("login: status %s (%v)", resp.Status, err)
	}

	period := time.Second / time.Duration(set.rate)
	t0 := time.Now()
	var next atomic.Int64
	var last atomic.Int64 // when the last lookup ended, in ns since t0
	errc := make(chan error, set.workers)
	var wg sync.WaitGroup
	for w := range set.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rnd := mrand.New(mrand.NewPCG(uint64(w), 0x100c))
			var mine []float64
			defer func() {
				lat.mu.Lock()
				lat.ms = append(lat.ms, mine...)
				lat.mu.Unlock()
			}()
			for {
				due := t0.Add(time.Duration(next.Add(1)-1) * period)
				select {
				case <-ctx.Done():
					return
				case <-time.After(time.Until(due)):
				}
				cardNo := cards[rnd.IntN(len(cards))]
				// Not cancelled with ctx: a lookup under way when the
				// settlement ends finishes, uncounted.
				if err := lookUpOne(context.WithoutCancel(ctx), client, base, login.Token, cardNo); err != nil {
					if ctx.Err() == nil {
						errc <- err
					}
					return
				}
				done := time.Now()
				if ctx.Err() != nil {
					return // ended with the settlement: not counted
				}
				mine = append(mine, float64(done.Sub(due).Microseconds())/1000)
				for {
					l := last.Load()
					if int64(done.Sub(t0)) <= l || last.CompareAndSwap(l, int64(done.Sub(t0))) {
						break
					}
				}
			}
		}()
	}
	wg.Wait()
	lat.span = time.Duration(last.Load())
	select {
	case err := <-errc:
		return err
	default:
		return nil
	}
}

// lookUpOne asks for one card and checks that the answer is that card.
func lookUpOne(ctx context.Context, client *http.Client, base, token, cardNo string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/cards/"+cardNo, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("look up card %s: %w", cardNo, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("look up card %s: %w", cardNo, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("look up card %s: %s: %s", cardNo, resp.Status, b)
	}
	var c admin.CardResponse
	if err := json.Unmarshal(b, &c); err != nil || c.CardNo != cardNo {
		return fmt.Errorf("look up card %s: got %s (%v)", cardNo, b, err)
	}
	return nil
}
