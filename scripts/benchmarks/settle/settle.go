package main

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
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/fanka/fanka/server"
	"github.com/fanka/fanka/server/gateway"
	"github.com/fanka/fanka/server/sqlite"
	"github.com/fanka/fanka/shared/journal"
	"github.com/fanka/fanka/shared/money"
	"github.com/fanka/fanka/shared/wire"
)

const (
	maxBatch = wire.MaxBatch
	// deposit is each card's opening balance: enough that no sale of the
	// run overdraws it, so that every entry settles plainly.
	deposit = 100_000 * money.Yuan
	// wsPath is where fanka-server mounts the registers' endpoint.
	wsPath = "/api/v1/terminal/ws"
	// stallTimeout ends a run in which no ack arrives for so long.
	stallTimeout = time.Minute
)

// settlement is the outcome of the timed streaming.
type settlement struct {
	path    string        // the SQLite file
	elapsed time.Duration // first frame sent → last ack received
}

// settle sets up a store, its gateway and the registers in dir, streams
// every register's sales at once and times it.
func settle(ctx context.Context, cfg config, dir string) (settlement, error) {
	res := settlement{path: filepath.Join(dir, "fanka.db")}
	store := sqlite.New(res.path)
	if err := store.Open(ctx); err != nil {
		return res, err
	}
	defer store.Close()

	t := time.Now()
	cards, cursor, err := openCards(ctx, store, cfg.Cards)
	if err != nil {
		return res, err
	}
	note("opened %d cards in %v", len(cards), time.Since(t).Round(time.Millisecond))
	t = time.Now()
	regs, err := enrollRegisters(ctx, store, cfg.Registers)
	if err != nil {
		return res, err
	}
	note("enrolled %d registers in %v", len(regs), time.Since(t).Round(time.Millisecond))
	t = time.Now()
	if err := recordSales(regs, cards, cfg); err != nil {
		return res, err
	}
	note("signed %d sales in %v", cfg.Sales, time.Since(t).Round(time.Millisecond))

	gw := gateway.New(store, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	mux := http.NewServeMux()
	mux.Handle("GET "+wsPath, labelled("server", gw))
	srv := httptest.NewUnstartedServer(mux)
	srv.StartTLS()
	defer srv.Close()
	defer gw.Close()
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	url := "wss://" + srv.Listener.Addr().String() + wsPath

	if err := connect(ctx, regs, url, &tls.Config{RootCAs: roots}, cursor); err != nil {
		return res, err
	}
	defer func() {
		for _, r := range regs {
			r.conn.Close()
		}
	}()
	res.elapsed, err = stream(ctx, cfg, regs)
	if err != nil {
		return res, err
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
	note("settled %d sales in %v: %d settled, %d with overdraft, %d flagged; %d card frames with %d card deltas pushed to the registers",
		cfg.Sales, res.elapsed.Round(time.Millisecond), outcomes[wire.Settled], outcomes[wire.SettledOverdraft], outcomes[wire.Flagged],
		cardFrames, cardDeltas)
	if outcomes[wire.Settled] != cfg.Sales {
		note("not every sale settled plainly: the cards' deposits are too small for the run")
	}
	return res, nil
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

// openCards opens n cards, each with the deposit, and returns their
// numbers and the card cursor after the last one.
func openCards(ctx context.Context, store *sqlite.DB, n int) ([]string, uint64, error) {
	cards := make([]string, n)
	for i := range cards {
		cards[i] = fmt.Sprintf("04%012X", i+1) // a UID, as uid cards read
		_, err := store.OpenCard(ctx, server.OpenCard{
			RequestID: fmt.Sprintf("bench-open-%d", i+1), Operator: "bench", PersonID: fmt.Sprintf("P%08d", i+1),
			Name: "食客", Deposit: deposit, CardNo: cards[i],
		})
		if err != nil {
			return nil, 0, err
		}
	}
	last, err := store.Card(ctx, cards[n-1])
	if err != nil {
		return nil, 0, err
	}
	return cards, last.Version, nil
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
func enrollRegisters(ctx context.Context, store *sqlite.DB, n int) ([]*register, error) {
	regs := make([]*register, n)
	for i := range regs {
		_, key, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		code := make([]byte, 16)
		rand.Read(code)
		hash := sha256.Sum256(code)
		if _, err := store.CreateTerminal(ctx, fmt.Sprintf("till %02d", i+1), hash, time.Now().Add(time.Hour)); err != nil {
			return nil, err
		}
		t, err := store.EnrollTerminal(ctx, hash, key.Public().(ed25519.PublicKey))
		if err != nil {
			return nil, err
		}
		regs[i] = &register{id: t.ID, key: key, ackSig: make(chan struct{}, 1), done: make(chan struct{})}
	}
	return regs, nil
}

// recordSales shares the sales out among the registers and has each one
// sign and chain its journal, then cuts it into frames of cfg.Batch.
func recordSales(regs []*register, cards []string, cfg config) error {
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
			CardNo: cards[c], Amount: amount, Balance: deposit - spent[c], Cashier: "C01", Prev: prev}
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

// connect opens every register's connection and runs its handshake; each
// register says it holds every card change up to cursor.
func connect(ctx context.Context, regs []*register, url string, tlsConf *tls.Config, cursor uint64) error {
	errs := make([]error, len(regs))
	var wg sync.WaitGroup
	for i, r := range regs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = r.connect(ctx, url, tlsConf, cursor)
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
func stream(ctx context.Context, cfg config, regs []*register) (time.Duration, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := make(chan struct{})
	errc := make(chan error, 2*len(regs))
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
			if err := r.send(ctx, start, cfg.Window); err != nil {
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
				note("%v: %d of %d sales acked", time.Since(t0).Round(time.Second), n, all)
				if n > lastAcked {
					lastAcked, lastProgress = n, time.Now()
				} else if time.Since(lastProgress) >= stallTimeout {
					return 0, fmt.Errorf("no ack for %v: stuck at %d of %d sales", stallTimeout, n, all)
				}
			}
		}
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
// and not yet acked, as terminal/uplink does.
func (r *register) send(ctx context.Context, start <-chan struct{}, window int) error {
	select {
	case <-start:
	case <-ctx.Done():
		return nil
	}
	sent := 0
	for i, f := range r.frames {
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
		case *wire.Refused:
			return fmt.Errorf("refused: code %d: %s", m.Code, m.Message)
		default:
			return fmt.Errorf("unexpected %T", m)
		}
	}
}

// checkStore opens the store afresh and verifies it as fanka-server verify
// does, and checks that it holds exactly the entries sent.
func checkStore(ctx context.Context, cfg config, path string) error {
	store := sqlite.New(path)
	if err := store.Open(ctx); err != nil {
		return err
	}
	defer store.Close()
	t := time.Now()
	rep, err := store.Verify(ctx)
	var v *server.Violation
	if errors.As(err, &v) {
		return fmt.Errorf("verify: failed: %s row %s: %s", v.Table, v.Row, v.Problem)
	}
	if err != nil {
		return err
	}
	note("verify: ok: %d transactions, %d entries, %d registers (in %v)", rep.Transactions, rep.Entries, rep.Registers,
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
