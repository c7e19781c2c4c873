// Command sync is the sync benchmark suite: the real register side
// (terminal/journal in bbolt, terminal/uplink over TLS WebSocket) against the
// real server side (server/gateway on the SQLite store), in one process on
// loopback.
//
//	sale_to_ack_p99_ms   100 registers record sales at a steady rate; for each
//	                     sale, from Record returning (the entry is fsync'd) to
//	                     the register's journal recording the server's ack.
//	                     Bar ≤ 50. The registers' journals are on tmpfs (see
//	                     below); BENCH_SYNC_JOURNALS_ON_DISK=1 puts all 100 on
//	                     the one disk instead.
//	sync_backlog_100k_s  a register that sold 100,000 times offline connects:
//	                     from the connection attempt to the last ack. Bar ≤ 10.
//	                     (Its journal is on tmpfs when /dev/shm exists, so that
//	                     making the backlog takes seconds, not minutes; the
//	                     server's database is on disk as always.)
//
// Each register has a disk of its own in a canteen, and a register does an
// fsync per sale, per ack frame and per card-change frame. A hundred
// registers in one process on one disk would measure those fsyncs queueing
// on one device, not the link: that is why their journals go on tmpfs
// here. The register's own fsync cost is measured by the register suite.
//
// Settings: BENCH_SYNC_REGISTERS (100), BENCH_SYNC_RATE (sales/s per register,
// 5), BENCH_SYNC_TIME (20s), BENCH_SYNC_BACKLOG (100000).
package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/fanka/fanka/scripts/benchmarks/bench"
	"github.com/fanka/fanka/scripts/benchmarks/settleload"
	"github.com/fanka/fanka/server"
	"github.com/fanka/fanka/server/gateway"
	"github.com/fanka/fanka/server/sqlite"
	sj "github.com/fanka/fanka/shared/journal"
	"github.com/fanka/fanka/shared/money"
	"github.com/fanka/fanka/shared/wire"
	"github.com/fanka/fanka/terminal/journal"
	"github.com/fanka/fanka/terminal/uplink"
)

func main() {
	if err := run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "sync:", err)
		os.Exit(2)
	}
}

func note(format string, args ...any) { fmt.Fprintf(os.Stderr, "sync: "+format+"\n", args...) }

const wsPath = "/api/v1/terminal/ws"

// system is a server in process and the means to add registers to it.
type system struct {
	store *sqlite.DB
	srv   *httptest.Server
	gw    *gateway.Gateway
	url   string
	pin   []byte
	dir   string
	card  string // the backlog's card
	cards int    // cards opened: 04A1B2C3D4E5F6 and C000000001…
}

// openCards opens n more cards named C000000001, C000000002, ….
func (s *system) openCards(ctx context.Context, n int) error {
	for i := 1; i <= n; i++ {
		_, err := s.store.OpenCard(ctx, server.OpenCard{RequestID: fmt.Sprintf("bench-%d", i), Operator: "bench",
			PersonID: fmt.Sprintf("P%d", i+1), Name: "食客", Deposit: 1_000_000 * money.Yuan, CardNo: fmt.Sprintf("C%09d", i)})
		if err != nil {
			return err
		}
	}
	return nil
}

func startSystem(ctx context.Context, dir string) (*system, error) {
	s := &system{dir: dir, card: "04A1B2C3D4E5F6"}
	s.store = sqlite.New(filepath.Join(dir, "fanka.db"))
	if err := s.store.Open(ctx); err != nil {
		return nil, err
	}
	_, err := s.store.OpenCard(ctx, server.OpenCard{RequestID: "bench", Operator: "bench", PersonID: "P1", Name: "食客",
		Deposit: 1_000_000 * money.Yuan, CardNo: s.card})
	if err != nil {
		return nil, err
	}
	s.gw = gateway.New(s.store, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	mux := http.NewServeMux()
	mux.Handle("GET "+wsPath, s.gw)
	s.srv = httptest.NewUnstartedServer(mux)
	s.srv.StartTLS()
	sum := sha256.Sum256(s.srv.Certificate().Raw)
	s.pin = sum[:]
	s.url = "wss://" + s.srv.Listener.Addr().String() + wsPath
	return s, nil
}

func (s *system) Close() {
	s.gw.Close()
	s.srv.Close()
	s.store.Close()
}

// register is a real register's journal and uplink.
type register struct {
	journal *journal.Journal
	uplink  *uplink.Uplink
	mu      sync.Mutex
	durable map[uint64]time.Time // seq → when Record returned
	lat     []time.Duration
	acked   chan struct{}
}

// addRegister enrols a register and opens its journal in dir.
func (s *system) addRegister(ctx context.Context, dir string) (*register, error) {
	t, key, err := settleload.Enroll(ctx, s.store, "till")
	if err != nil {
		return nil, err
	}
	j, err := journal.Open(filepath.Join(dir, fmt.Sprintf("journal-%d.db", t.ID)), t.ID, key)
	if err != nil {
		return nil, err
	}
	r := &register{journal: j, durable: map[uint64]time.Time{}, acked: make(chan struct{}, 1)}
	r.uplink = uplink.New(uplink.Config{URL: s.url, Terminal: t.ID, Key: key, Fingerprint: s.pin, Journal: j,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
		OnAcks: r.onAcks})
	return r, nil
}

func (r *register) onAcks(acks []wire.Ack) {
	now := time.Now()
	r.mu.Lock()
	for _, a := range acks {
		if t, ok := r.durable[a.Seq]; ok {
			r.lat = append(r.lat, now.Sub(t))
			delete(r.durable, a.Seq)
		}
	}
	r.mu.Unlock()
	select {
	case r.acked <- struct{}{}:
	default:
	}
}

func (r *register) sell(card string) error {
	e, err := r.journal.Record(sj.Entry{Kind: sj.KindSale, Time: time.Now().UnixMilli(), CardNo: card, Amount: 1250, Balance: 1_000_000 * money.Yuan})
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.durable[e.Seq] = time.Now()
	r.mu.Unlock()
	r.uplink.Wake()
	return nil
}

// waitAcked waits until the server has acked every recorded entry.
func (r *register) waitAcked(ctx context.Context) error {
	for r.journal.Acked() < r.journal.Last() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d of %d entries acked: %w", r.journal.Acked(), r.journal.Last(), ctx.Err())
		case <-r.acked:
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil
}

func run(ctx context.Context) error {
	regs, err := bench.Int("BENCH_SYNC_REGISTERS", 100)
	if err != nil {
		return err
	}
	rate, err := bench.Int("BENCH_SYNC_RATE", 5)
	if err != nil {
		return err
	}
	dur, err := bench.Duration("BENCH_SYNC_TIME", 20*time.Second)
	if err != nil {
		return err
	}
	backlog, err := bench.Int("BENCH_SYNC_BACKLOG", 100_000)
	if err != nil {
		return err
	}
	p99, err := saleToAck(ctx, regs, rate, dur)
	if err != nil {
		return fmt.Errorf("sale_to_ack: %w", err)
	}
	bench.Result("sale_to_ack_p99_ms", p99, "ms")
	bench.AtMost("sale_to_ack_p99_ms", p99, 50)
	secs, err := syncBacklog(ctx, backlog)
	if err != nil {
		return fmt.Errorf("sync_backlog: %w", err)
	}
	name := fmt.Sprintf("sync_backlog_%dk_s", backlog/1000)
	bench.Result(name, secs, "s")
	bench.AtMost(name, secs, 10)
	return nil
}

// saleToAck runs n registers selling rate sales/s each for d.
func saleToAck(ctx context.Context, n, rate int, d time.Duration) (float64, error) {
	dir, err := os.MkdirTemp("", "fanka-bench-sync-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	s, err := startSystem(ctx, dir)
	if err != nil {
		return 0, err
	}
	defer s.Close()
	if err := s.openCards(ctx, n); err != nil {
		return 0, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Each register has a disk of its own in a canteen; here 100 share
	// one, so their journals go on tmpfs where there is one (the server's
	// database stays on disk), lest the measurement be of 100 registers'
	// fsyncs queueing on one device.
	jdir := dir
	if os.Getenv("BENCH_SYNC_JOURNALS_ON_DISK") == "" {
		if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
			if jdir, err = os.MkdirTemp("/dev/shm", "fanka-bench-journals-"); err != nil {
				return 0, err
			}
			defer os.RemoveAll(jdir)
		}
	}
	var rs []*register
	var links sync.WaitGroup
	for i := 0; i < n; i++ {
		r, err := s.addRegister(ctx, jdir)
		if err != nil {
			return 0, err
		}
		defer r.journal.Close()
		rs = append(rs, r)
		links.Add(1)
		go func() { defer links.Done(); r.uplink.Run(ctx) }()
	}
	defer links.Wait()
	defer cancel()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		up := 0
		for _, r := range rs {
			if r.uplink.Online() {
				up++
			}
		}
		if up == n {
			break
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("%d of %d registers online after 30 s", up, n)
		}
	}
	note("%d registers online; selling %d sales/s each for %v", n, rate, d)
	var sellers sync.WaitGroup
	errs := make(chan error, n)
	interval := time.Second / time.Duration(rate)
	stop := time.Now().Add(d)
	for i, r := range rs {
		sellers.Add(1)
		go func() {
			defer sellers.Done()
			// Spread the registers over the interval: a steady rate, not bursts.
			time.Sleep(interval * time.Duration(i) / time.Duration(n))
			t := time.NewTicker(interval)
			defer t.Stop()
			for time.Now().Before(stop) {
				if err := r.sell(fmt.Sprintf("C%09d", i+1)); err != nil { // diners differ per till
					errs <- err
					return
				}
				<-t.C
			}
		}()
	}
	sellers.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return 0, err
	}
	wctx, wcancel := context.WithTimeout(ctx, time.Minute)
	defer wcancel()
	var all []time.Duration
	unacked := 0
	for _, r := range rs {
		r.waitAcked(wctx) // a register still behind at the deadline is counted below
		now := time.Now()
		r.mu.Lock()
		all = append(all, r.lat...)
		for _, t := range r.durable {
			all = append(all, now.Sub(t)) // a lower bound: not acked yet
			unacked++
		}
		r.mu.Unlock()
	}
	if unacked > 0 {
		note("%d sales still unacked a minute after the last sale: their wait so far counts", unacked)
	}
	slices.Sort(all)
	if len(all) == 0 {
		return 0, fmt.Errorf("no sale acked")
	}
	pct := func(p float64) time.Duration { return all[min(len(all)-1, int(p*float64(len(all))))] }
	note("%d sales timed: p50 %v, p99 %v, max %v", len(all), pct(0.50), pct(0.99), all[len(all)-1])
	return float64(pct(0.99).Microseconds()) / 1000, nil
}

// syncBacklog has one register record n sales offline, then connect.
func syncBacklog(ctx context.Context, n int) (float64, error) {
	dir, err := os.MkdirTemp("", "fanka-bench-backlog-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	jdir := dir
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		if jdir, err = os.MkdirTemp("/dev/shm", "fanka-bench-journal-"); err != nil {
			return 0, err
		}
		defer os.RemoveAll(jdir)
	}
	s, err := startSystem(ctx, dir)
	if err != nil {
		return 0, err
	}
	defer s.Close()
	r, err := s.addRegister(ctx, jdir)
	if err != nil {
		return 0, err
	}
	defer r.journal.Close()
	t := time.Now()
	for i := 0; i < n; i++ {
		if err := r.sell(s.card); err != nil {
			return 0, err
		}
	}
	note("recorded a backlog of %d sales offline in %v", n, time.Since(t).Round(time.Millisecond))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var link sync.WaitGroup
	link.Add(1)
	start := time.Now()
	go func() { defer link.Done(); r.uplink.Run(ctx) }()
	defer link.Wait()
	defer cancel()
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Minute)
	defer wcancel()
	if err := r.waitAcked(wctx); err != nil {
		return 0, err
	}
	elapsed := time.Since(start)
	card, err := s.store.Card(ctx, s.card)
	if err != nil {
		return 0, err
	}
	if want := 1_000_000*money.Yuan - money.Fen(n)*1250; card.Balance != want {
		return 0, fmt.Errorf("balance %s after the backlog, want %s", card.Balance, want)
	}
	note("backlog of %d settled in %v (%.0f sales/s)", n, elapsed.Round(time.Millisecond), float64(n)/elapsed.Seconds())
	return elapsed.Seconds(), nil
}
