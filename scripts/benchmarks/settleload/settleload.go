// Package settleload is the settlement load that the settle,
// settle-mariadb and lookup suites share: registers, each a goroutine with
// its own Ed25519 key, created and enrolled through the store's
// CreateTerminal and EnrollTerminal, that sign and chain their journal
// entries (sales on random cards) before the clock starts, connect to the
// real server/gateway behind a loopback TLS server (httptest), answer the
// challenge and say they already hold every card change. Then all
// registers stream at once, as terminal/uplink does: frames of at most
// Config.Batch entries, no more than Config.Window entries sent and not yet
// acked, while reading acks (each checked to be the next seq) and the card
// changes the gateway pushes to every register as sales settle, which is
// part of the server's work measured. The time is from the first frame sent
// to the last ack received, over every register.
//
// Several servers (Server values) may share the load: each has its own
// store, gateway and listener, and the registers are dealt out among them
// in turn.
package settleload

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/fanka/fanka/scripts/benchmarks/bench"
	"github.com/fanka/fanka/server"
	"github.com/fanka/fanka/server/gateway"
	"github.com/fanka/fanka/shared/journal"
	"github.com/fanka/fanka/shared/money"
	"github.com/fanka/fanka/shared/wire"
)

const (
	// Deposit is each card's opening balance: enough that no sale of the
	// run overdraws it, so that every entry settles plainly.
	Deposit = 100_000 * money.Yuan
	// WSPath is where fanka-server mounts the registers' endpoint.
	WSPath = "/api/v1/terminal/ws"
	// stallTimeout ends a run in which no ack arrives for so long.
	stallTimeout = time.Minute
)

// Config is the load's settings.
type Config struct {
	Sales     int // sales settled in all
	Registers int // registers streaming at once
	Cards     int // cards opened, on which the sales fall at random
	Batch     int // entries per frame, at most
	Window    int // entries sent and not acked per register, at most
	// Rate paces the registers to this many sales per second in all; 0:
	// as fast as the servers ack.
	Rate       int
	Timeout    time.Duration // how long the streaming may take
	CPUProfile string        // file for a CPU profile of the streaming, or ""
	Trace      string        // file for an execution trace of the streaming, or ""
}

// ConfigFromEnv reads the settings every settlement suite shares from the
// environment: BENCH_SETTLE_SALES (sales, the suite's default),
// BENCH_SETTLE_REGISTERS (50), BENCH_SETTLE_CARDS (cards, the suite's default), BENCH_SETTLE_BATCH (500),
// BENCH_SETTLE_WINDOW (5000), BENCH_SETTLE_RATE (sales a second in all;
// 0, the default: as fast as the servers go), BENCH_SETTLE_TIMEOUT (10m for the streaming,
// which also fails when no ack arrives for a minute) and BENCH_CPUPROFILE (a
// file for a CPU profile of the streaming: the server's goroutines carry the
// label side=server and the registers' side=register, so that `go tool
// pprof -tagfocus side=server` shows the server alone) and BENCH_TRACE (a
// file for an execution trace of the streaming, for `go tool trace`: where
// goroutines waited, for the scheduler, the network, system calls or GC).
func ConfigFromEnv(sales, cards int) (Config, error) {
	var cfg Config
	var errs []error
	num := func(dst *int, name string, def int) {
		var err error
		*dst, err = bench.Int(name, def)
		errs = append(errs, err)
	}
	num(&cfg.Sales, "BENCH_SETTLE_SALES", sales)
	num(&cfg.Registers, "BENCH_SETTLE_REGISTERS", 50)
	num(&cfg.Cards, "BENCH_SETTLE_CARDS", cards)
	num(&cfg.Batch, "BENCH_SETTLE_BATCH", 500)
	num(&cfg.Window, "BENCH_SETTLE_WINDOW", 5000)
	num(&cfg.Rate, "BENCH_SETTLE_RATE", 0)
	var err error
	cfg.Timeout, err = bench.Duration("BENCH_SETTLE_TIMEOUT", 10*time.Minute)
	errs = append(errs, err)
	cfg.CPUProfile = os.Getenv("BENCH_CPUPROFILE")
	cfg.Trace = os.Getenv("BENCH_TRACE")
	if err := errors.Join(errs...); err != nil {
		return cfg, err
	}
	if cfg.Batch > wire.MaxBatch {
		return cfg, fmt.Errorf("BENCH_SETTLE_BATCH=%d: at most %d", cfg.Batch, wire.MaxBatch)
	}
	if cfg.Window < cfg.Batch {
		return cfg, fmt.Errorf("BENCH_SETTLE_WINDOW=%d: below the batch of %d", cfg.Window, cfg.Batch)
	}
	if cfg.Sales < cfg.Registers {
		return cfg, fmt.Errorf("BENCH_SETTLE_SALES=%d: fewer than the %d registers", cfg.Sales, cfg.Registers)
	}
	return cfg, nil
}

// Note prints progress on standard error, after the suite's name.
func Note(suite, format string, args ...any) {
	fmt.Fprintf(os.Stderr, suite+": "+format+"\n", args...)
}

// Server is one server instance of the run: its store, and how its
// listener serves the gateway (nil: the gateway alone at WSPath).
type Server struct {
	Store server.Store
	// Mount returns the handler of the listener, given the gateway's.
	Mount func(gw http.Handler) http.Handler
}

// Load is what a run is given: its settings, the servers, the cards that
// were opened and the card cursor after the last of them.
type Load struct {
	Suite   string // the suite's name, for its progress notes
	Config  Config
	Servers []Server
	Cards   []string
	Cursor  uint64
	// During, if set, runs while the registers stream, given each server's
	// base URL (https://host:port) and a TLS configuration that trusts
	// them; its context ends with the streaming, and its error fails the
	// run.
	During func(ctx context.Context, urls []string, tlsConf *tls.Config) error
	// Mark, if set, is called as the streaming starts (true) and once every
	// sale is acked (false): to measure the streaming alone, not the
	// signing and connecting before it.
	Mark func(start bool)
}

// Run creates and enrols the registers in the first server's store, has
// them sign their sales, starts every server's listener and streams every
// register's sales at once. It returns the time from the first frame sent
// to the last ack received.
func Run(ctx context.Context, l Load) (time.Duration, error) {
	cfg := l.Config
	note := func(format string, args ...any) { Note(l.Suite, format, args...) }
	if cfg.Registers < 50 {
		note("%d registers: the bars are measured with at least 50", cfg.Registers)
	}
	// The run's cards pay many times a day each, where a canteen's pay
	// three: with the default rules nearly every sale would be flagged,
	// which no canteen sees. The rules are checked all the same, with no
	// limit on sales a day or on the gap between them.
	rules := server.DefaultRules()
	rules.MaxSalesPerDay, rules.MaxDay, rules.MinGapSeconds = 0, 0, 0
	if _, err := l.Servers[0].Store.SetRules(ctx, rules, "bench"); err != nil {
		return 0, err
	}
	t := time.Now()
	regs, err := enrollRegisters(ctx, l.Servers[0].Store, cfg.Registers)
	if err != nil {
		return 0, err
	}
	note("enrolled %d registers in %v", len(regs), time.Since(t).Round(time.Millisecond))
	t = time.Now()
	if err := recordSales(regs, l.Cards, cfg); err != nil {
		return 0, err
	}
	note("signed %d sales in %v", cfg.Sales, time.Since(t).Round(time.Millisecond))

	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	roots := x509.NewCertPool()
	urls := make([]string, len(l.Servers))
	for i, s := range l.Servers {
		gw := gateway.New(s.Store, logger)
		var h http.Handler = gw
		if s.Mount != nil {
			h = s.Mount(gw)
		} else {
			mux := http.NewServeMux()
			mux.Handle("GET "+WSPath, gw)
			h = mux
		}
		srv := httptest.NewUnstartedServer(labelled("server", h))
		srv.StartTLS()
		defer srv.Close()
		defer gw.Close()
		roots.AddCert(srv.Certificate())
		urls[i] = "https://" + srv.Listener.Addr().String()
	}
	// The ledger the run starts from is sealed, as a server that has been
	// running keeps it: the cards a suite loaded (a million, opened over
	// months at a canteen) are not sealed during the run, which would add
	// a burst of a million rows' sealing to what is measured.
	t = time.Now()
	sealed, err := SealAll(ctx, l.Servers[0].Store)
	if err != nil {
		return 0, err
	}
	note("sealed the %d transactions the run starts from in %v", sealed, time.Since(t).Round(time.Millisecond))
	// Each server seals the ledger every second as it settles, as
	// fanka-server serve does: it is part of what settling costs.
	sealCtx, stopSealing := context.WithCancel(ctx)
	var sealers sync.WaitGroup
	for _, s := range l.Servers {
		sealers.Go(func() { server.SealLedger(sealCtx, s.Store, logger) })
	}
	defer func() { stopSealing(); sealers.Wait() }()
	tlsConf := &tls.Config{RootCAs: roots}
	if err := connect(ctx, regs, urls, tlsConf, l.Cursor); err != nil {
		return 0, err
	}
	defer func() {
		for _, r := range regs {
			r.conn.Close()
		}
	}()
	elapsed, err := stream(ctx, l, regs, urls, tlsConf)
	if err != nil {
		return 0, err
	}

	var outcomes [wire.Flagged + 1]int
	var cardFrames, cardDeltas int
	for _, r := range regs {
		for o, n := range r.outcomes {
			outcomes[o] += n
		}
		cardFrames += r.cardFrames
		cardDeltas += r.cardDeltas
	}
	note("settled %d sales in %v on %d server(s): %d settled, %d with overdraft, %d flagged; %d card frames with %d card deltas pushed to the registers",
		cfg.Sales, elapsed.Round(time.Millisecond), len(l.Servers), outcomes[wire.Settled], outcomes[wire.SettledOverdraft], outcomes[wire.Flagged],
		cardFrames, cardDeltas)
	if outcomes[wire.Settled] != cfg.Sales {
		note("not every sale settled plainly: the cards' deposits are too small for the run")
	}
	return elapsed, nil
}

// SealAll seals every transaction of store's ledger and returns how many
// it sealed.
func SealAll(ctx context.Context, store server.LedgerSealer) (int, error) {
	var sealed int
	for {
		n, err := store.Seal(ctx)
		sealed += n
		if err != nil {
			return sealed, fmt.Errorf("seal the ledger: %w", err)
		}
		if n < server.MaxSeal {
			return sealed, nil
		}
	}
}

// labelled serves h with the profiler label side on its goroutines and
// the goroutines they start.
func labelled(side string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pprof.Do(r.Context(), pprof.Labels("side", side), func(ctx context.Context) {
			h.ServeHTTP(w, r.WithContext(ctx))
		})
	})
}

// OpenCards opens n cards through the store's OpenCard, each with the
// deposit, from a few goroutines at once (a store with one writer takes
// them in turn; one on a database server overlaps them), and returns their
// numbers and the card cursor after the last one.
func OpenCards(ctx context.Context, store interface {
	server.CardStore
	server.CardFeed
}, n int) ([]string, uint64, error) {
	cards := make([]string, n)
	for i := range cards {
		cards[i] = CardNo(i)
	}
	work := make(chan int)
	errs := make([]error, 8)
	var wg sync.WaitGroup
	for w := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				if errs[w] != nil {
					continue
				}
				_, errs[w] = store.OpenCard(ctx, OpenCardOp(i))
			}
		}()
	}
	for i := range cards {
		work <- i
	}
	close(work)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, 0, err
	}
	cursor, err := store.CardVersion(ctx)
	return cards, cursor, err
}

// CardNo is the number of the i-th card of a run (from 0): a UID, as uid
// cards read.
func CardNo(i int) string { return fmt.Sprintf("04%012X", i+1) }

// OpenCardOp is the request that opens the i-th card of a run.
func OpenCardOp(i int) server.OpenCard {
	return server.OpenCard{RequestID: fmt.Sprintf("bench-open-%d", i+1), Operator: "bench", PersonID: fmt.Sprintf("P%08d", i+1),
		Name: "食客", Deposit: Deposit, CardNo: CardNo(i)}
}

// register is a simulated register: its key, its journal already signed
// and cut into Entries frames, and its end of the link.
type register struct {
	id     uint32
	key    ed25519.PrivateKey
	sales  int      // entries in its journal
	frames [][]byte // encoded wire.Entries, in seq order
	counts []int    // entries in each frame
	conn   *websocket.Conn

	acked    atomic.Int64  // the last seq acked
	ackSig   chan struct{} // signalled after each Acks frame; a buffer of one
	done     chan struct{} // closed at the last ack
	doneAt   time.Time     // when the last ack arrived
	outcomes [wire.Flagged + 1]int
	// card changes the gateway pushed
	cardFrames, cardDeltas int
}

// enrollRegisters creates n registers in the store and enrols a fresh key
// for each, as an operator and fanka-terminal enroll do.
func enrollRegisters(ctx context.Context, store server.TerminalStore, n int) ([]*register, error) {
	regs := make([]*register, n)
	for i := range regs {
		t, key, err := Enroll(ctx, store, fmt.Sprintf("till %02d", i+1))
		if err != nil {
			return nil, err
		}
		regs[i] = &register{id: t.ID, key: key, ackSig: make(chan struct{}, 1), done: make(chan struct{})}
	}
	return regs, nil
}

// Enroll creates a register named name in the store and enrols a fresh
// key for it, as an operator and fanka-terminal enroll do.
func Enroll(ctx context.Context, store server.TerminalStore, name string) (server.Terminal, ed25519.PrivateKey, error) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return server.Terminal{}, nil, err
	}
	code := make([]byte, 16)
	rand.Read(code)
	hash := sha256.Sum256(code)
	if _, err := store.CreateTerminal(ctx, name, 0, hash, time.Now().Add(time.Hour)); err != nil {
		return server.Terminal{}, nil, err
	}
	t, err := store.EnrollTerminal(ctx, hash, key.Public().(ed25519.PublicKey))
	if err != nil {
		return server.Terminal{}, nil, err
	}
	return t, key, nil
}

// recordSales shares the sales out among the registers and has each one
// sign and chain its journal, then cuts it into frames of cfg.Batch.
func recordSales(regs []*register, cards []string, cfg Config) error {
	work := make(chan int)
	errs := make([]error, len(regs))
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				r := regs[i]
				r.sales = cfg.Sales / len(regs)
				if i < cfg.Sales%len(regs) {
					r.sales++
				}
				errs[i] = r.record(cards, cfg.Batch, mrand.New(mrand.NewPCG(uint64(r.id), 0xfa4ca)))
			}
		}()
	}
	for i := range regs {
		work <- i
	}
	close(work)
	wg.Wait()
	return errors.Join(errs...)
}

// record signs r.sales sales on random cards and cuts them into frames.
func (r *register) record(cards []string, batch int, rnd *mrand.Rand) error {
	spent := map[int]money.Fen{} // what this register knows it took from each card
	var prev journal.Hash
	entries := make([][]byte, 0, batch)
	for seq := uint64(1); seq <= uint64(r.sales); seq++ {
		c := rnd.IntN(len(cards))
		amount := money.Fen(100 + 50*rnd.IntN(39)) // 1.00 to 20.00
		e := journal.Entry{Kind: journal.KindSale, Terminal: r.id, Seq: seq, Time: time.Now().UnixMilli(),
			CardNo: cards[c], Amount: amount, Balance: Deposit - spent[c], Cashier: "C01", Prev: prev}
		spent[c] += amount
		if err := e.Sign(r.key); err != nil {
			return err
		}
		b, err := e.Marshal()
		if err != nil {
			return err
		}
		prev = journal.HashBytes(b)
		entries = append(entries, b)
		if len(entries) == batch || seq == uint64(r.sales) {
			f, err := wire.Encode(&wire.Entries{Entries: entries})
			if err != nil {
				return err
			}
			r.frames = append(r.frames, f)
			r.counts = append(r.counts, len(entries))
			entries = entries[:0:0]
		}
	}
	return nil
}

// connect opens every register's connection, to the servers at urls in
// turn, and runs its handshake; each register says it holds every card
// change up to cursor.
func connect(ctx context.Context, regs []*register, urls []string, tlsConf *tls.Config, cursor uint64) error {
	errs := make([]error, len(regs))
	var wg sync.WaitGroup
	for i, r := range regs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = r.connect(ctx, "wss"+strings.TrimPrefix(urls[i%len(urls)], "https")+WSPath, tlsConf, cursor)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (r *register) connect(ctx context.Context, url string, tlsConf *tls.Config, cursor uint64) error {
	d := websocket.Dialer{TLSClientConfig: tlsConf, HandshakeTimeout: 10 * time.Second}
	conn, resp, err := d.DialContext(ctx, url, nil)
	if err != nil {
		return fmt.Errorf("register %d: dial: %w", r.id, err)
	}
	resp.Body.Close()
	r.conn = conn
	conn.SetReadLimit(wire.MaxFrame)
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	m, err := r.read()
	if err != nil {
		return fmt.Errorf("register %d: challenge: %w", r.id, err)
	}
	ch, ok := m.(*wire.Challenge)
	if !ok {
		return fmt.Errorf("register %d: got %T, want a challenge", r.id, m)
	}
	h := &wire.Hello{Terminal: r.id, CardCursor: cursor}
	copy(h.Sig[:], ed25519.Sign(r.key, wire.HelloMessage(ch.Nonce, r.id)))
	b, err := wire.Encode(h)
	if err != nil {
		return err
	}
	if err := conn.WriteMessage(websocket.BinaryMessage, b); err != nil {
		return fmt.Errorf("register %d: hello: %w", r.id, err)
	}
	if m, err = r.read(); err != nil {
		return fmt.Errorf("register %d: welcome: %w", r.id, err)
	}
	w, ok := m.(*wire.Welcome)
	if !ok {
		return fmt.Errorf("register %d: got %#v, want a welcome", r.id, m)
	}
	if w.LastSeq != 0 {
		return fmt.Errorf("register %d: the server has settled up to seq %d of a new register", r.id, w.LastSeq)
	}
	return nil
}

func (r *register) read() (wire.Message, error) {
	typ, b, err := r.conn.ReadMessage()
	if err != nil {
		return nil, err
	}
	if typ != websocket.BinaryMessage {
		return nil, fmt.Errorf("frame type %d, want binary", typ)
	}
	return wire.Decode(b)
}

// stream has every register send its journal at once and returns the
// time from the first frame sent to the last ack received.
func stream(ctx context.Context, l Load, regs []*register, urls []string, tlsConf *tls.Config) (time.Duration, error) {
	cfg := l.Config
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := make(chan struct{})
	errc := make(chan error, 2*len(regs)+1)
	var wg sync.WaitGroup
	for _, r := range regs {
		r.conn.SetReadDeadline(time.Now().Add(cfg.Timeout + time.Minute))
		wg.Add(2)
		go pprof.Do(ctx, pprof.Labels("side", "register"), func(ctx context.Context) {
			defer wg.Done()
			if err := r.readAcks(); err != nil {
				errc <- fmt.Errorf("register %d: %w", r.id, err)
			}
		})
		go pprof.Do(ctx, pprof.Labels("side", "register"), func(ctx context.Context) {
			defer wg.Done()
			if err := r.send(ctx, start, cfg.Window, float64(cfg.Rate)/float64(len(regs))); err != nil {
				errc <- fmt.Errorf("register %d: %w", r.id, err)
			}
		})
	}
	// Ending the stream closes the connections, which ends the readers;
	// the senders end with the context.
	defer func() {
		cancel()
		for _, r := range regs {
			r.conn.Close()
		}
		wg.Wait()
	}()

	if cfg.CPUProfile != "" {
		f, err := os.Create(cfg.CPUProfile)
		if err != nil {
			return 0, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return 0, err
		}
		defer pprof.StopCPUProfile()
	}
	if cfg.Trace != "" {
		f, err := os.Create(cfg.Trace)
		if err != nil {
			return 0, err
		}
		defer f.Close()
		if err := trace.Start(f); err != nil {
			return 0, err
		}
		defer trace.Stop()
	}

	if l.During != nil {
		// Deferred after the wait above, so run before it: the streaming is
		// over once every register has its acks, and During stops then.
		during, stopDuring := context.WithCancel(ctx)
		defer stopDuring()
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case <-start:
			case <-during.Done():
				return
			}
			if err := l.During(during, urls, tlsConf); err != nil && during.Err() == nil {
				errc <- err
			}
		}()
	}
	if l.Mark != nil {
		l.Mark(true)
	}
	t0 := time.Now()
	close(start)
	timeout := time.NewTimer(cfg.Timeout)
	defer timeout.Stop()
	progress := time.NewTicker(10 * time.Second)
	defer progress.Stop()
	lastAcked, lastProgress := int64(0), t0
	for _, r := range regs {
	wait:
		for {
			select {
			case <-r.done:
				break wait
			case err := <-errc:
				return 0, err
			case <-ctx.Done():
				return 0, ctx.Err()
			case <-timeout.C:
				n, all := ackedSoFar(regs)
				return 0, fmt.Errorf("not every sale was acked within %v (BENCH_SETTLE_TIMEOUT): %d of %d", cfg.Timeout, n, all)
			case <-progress.C:
				n, all := ackedSoFar(regs)
				Note(l.Suite, "%v: %d of %d sales acked", time.Since(t0).Round(time.Second), n, all)
				if n > lastAcked {
					lastAcked, lastProgress = n, time.Now()
				} else if time.Since(lastProgress) >= stallTimeout {
					return 0, fmt.Errorf("no ack for %v: stuck at %d of %d sales", stallTimeout, n, all)
				}
			}
		}
	}
	if l.Mark != nil {
		l.Mark(false)
	}
	last := t0
	for _, r := range regs {
		if r.doneAt.After(last) {
			last = r.doneAt
		}
	}
	return last.Sub(t0), nil
}

// ackedSoFar returns the sales acked so far, and all the registers' sales.
func ackedSoFar(regs []*register) (acked, all int64) {
	for _, r := range regs {
		acked += r.acked.Load()
		all += int64(r.sales)
	}
	return acked, all
}

// send streams the frames in order, keeping at most window entries sent
// and not yet acked, as terminal/uplink does, and at most rate entries a
// second if rate is above 0.
func (r *register) send(ctx context.Context, start <-chan struct{}, window int, rate float64) error {
	select {
	case <-start:
	case <-ctx.Done():
		return nil
	}
	sent := 0
	began := time.Now()
	for i, f := range r.frames {
		if rate > 0 { // this register's share of the pace
			if wait := time.Until(began.Add(time.Duration(float64(sent) / rate * float64(time.Second)))); wait > 0 {
				select {
				case <-time.After(wait):
				case <-ctx.Done():
					return nil
				}
			}
		}
		for sent+r.counts[i]-int(r.acked.Load()) > window {
			select {
			case <-r.ackSig:
			case <-ctx.Done():
				return nil
			}
		}
		if err := r.conn.WriteMessage(websocket.BinaryMessage, f); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("send: %w", err)
		}
		sent += r.counts[i]
	}
	return nil
}

// readAcks reads acks and card changes until the connection closes; it
// checks that acks come one per entry, in seq order, and closes done at
// the last.
func (r *register) readAcks() error {
	acked := 0
	for {
		m, err := r.read()
		if err != nil {
			if acked == r.sales {
				return nil // the stream is over and the connection closed
			}
			return fmt.Errorf("after %d acks: %w", acked, err)
		}
		switch m := m.(type) {
		case *wire.Acks:
			for _, a := range m.Acks {
				if a.Seq != uint64(acked)+1 {
					return fmt.Errorf("ack of seq %d after seq %d", a.Seq, acked)
				}
				acked++
				r.outcomes[a.Outcome]++
			}
			if acked > r.sales {
				return fmt.Errorf("%d acks for %d sales", acked, r.sales)
			}
			r.acked.Store(int64(acked))
			select {
			case r.ackSig <- struct{}{}:
			default:
			}
			if acked == r.sales {
				r.doneAt = time.Now()
				close(r.done)
			}
		case *wire.Cards:
			r.cardFrames++
			r.cardDeltas += len(m.Cards)
		case *wire.Rules, *wire.RulesV1: // the server's rules (both forms), at the handshake and when they change
		case *wire.StatusRequest: // these registers report no status, as registers that predate Status
		case *wire.Refused:
			return fmt.Errorf("refused: code %d: %s", m.Code, m.Message)
		default:
			return fmt.Errorf("unexpected %T", m)
		}
	}
}

// Check verifies the store as fanka-server verify does, and checks that
// it holds exactly the entries the load sent, on cfg.Cards cards opened
// before.
func Check(ctx context.Context, suite string, cfg Config, store server.Verifier) error {
	t := time.Now()
	rep, err := store.Verify(ctx)
	var v *server.Violation
	if errors.As(err, &v) {
		return fmt.Errorf("verify: failed: %s row %s: %s", v.Table, v.Row, v.Problem)
	}
	if err != nil {
		return err
	}
	Note(suite, "verify: ok: %d transactions, %d entries, %d registers (in %v)", rep.Transactions, rep.Entries, rep.Registers,
		time.Since(t).Round(time.Millisecond))
	switch {
	case rep.Entries != int64(cfg.Sales):
		return fmt.Errorf("verify: %d entries settled, %d sent", rep.Entries, cfg.Sales)
	case rep.Registers != int64(cfg.Registers):
		return fmt.Errorf("verify: %d registers, want %d", rep.Registers, cfg.Registers)
	case rep.Transactions != int64(cfg.Sales+cfg.Cards):
		return fmt.Errorf("verify: %d transactions, want %d sales and %d card openings", rep.Transactions, cfg.Sales, cfg.Cards)
	}
	return nil
}
