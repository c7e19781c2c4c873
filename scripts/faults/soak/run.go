package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/tls"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/fanka/fanka/scripts/faults"
	sj "github.com/fanka/fanka/shared/journal"
	"github.com/fanka/fanka/terminal/journal"
)

const (
	password = "soak-Admin-password-4471"
	deposit  = 1_000_000 // fen per card: no sale is refused for money
)

type run struct {
	id        int
	seed      uint64
	rng       *rand.Rand
	rmu       sync.Mutex // guards rng
	dir, bin  string
	registers int
	sales     int
	backend   *backend
	nservers  int

	db      *runDB
	servers []*serverProc
	regs    []*register
}

type result struct {
	recorded, settled                     int
	lost, doubled                         int
	serverKills, registerKills, nodeKills int
	moves                                 int // links that came up on another server than the last
	faults                                map[string]int64
	err                                   error
}

func (r *run) intn(n int) int {
	r.rmu.Lock()
	defer r.rmu.Unlock()
	return r.rng.IntN(n)
}

func (r *run) do(ctx context.Context) (res result) {
	res.faults = map[string]int64{}
	defer func() {
		for _, g := range r.regs {
			g.kill()
			for _, p := range g.proxies {
				for k, n := range p.Counts() {
					res.faults[k.String()] += n
				}
				p.Close()
			}
		}
		for _, s := range r.servers {
			s.kill()
		}
	}()
	if err := os.MkdirAll(r.dir, 0o700); err != nil {
		res.err = err
		return
	}
	var err error
	if r.db, err = r.backend.database(ctx, filepath.Join(r.dir, "server0")); err != nil {
		res.err = err
		return
	}
	// Every server has a data directory (its certificate) and an address
	// of its own, and all share the database and the person key. The first
	// starts alone: it makes the schema and the key.
	for i := 0; i < r.nservers; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			res.err = err
			return
		}
		addr := ln.Addr().String()
		ln.Close()
		s := &serverProc{bin: filepath.Join(r.bin, "fanka-server"), data: filepath.Join(r.dir, fmt.Sprintf("server%d", i)), addr: addr,
			db: r.db.dsn(i), personKey: filepath.Join(r.dir, "person.key")}
		if err := s.start(); err != nil {
			res.err = err
			return
		}
		if s.pin, err = certPin(s.data); err != nil {
			res.err = err
			return
		}
		r.servers = append(r.servers, s)
	}
	api, err := login(r.servers[0].addr)
	if err != nil {
		res.err = err
		return
	}

	// No sale rules: the registers sell on their cards as fast as the
	// soak keys, and none is refused or flagged for a limit.
	if err := api.call("PUT", "/rules", map[string]any{"rules": map[string]any{"outside_periods": true}}, nil); err != nil {
		res.err = err
		return
	}

	// Cards: one fewer than registers, so two registers share a card.
	ncards := max(1, r.registers-1)
	cards := make([]string, ncards)
	for i := range cards {
		cards[i] = fmt.Sprintf("50AC%04d%04d", r.id, i)
		body := map[string]any{"person_id": fmt.Sprintf("1380000%04d", i), "name": "食客", "deposit": deposit,
			"request_id": "soak-" + cards[i], "card_no": cards[i]}
		if err := api.call("POST", "/cards", body, nil); err != nil {
			res.err = err
			return
		}
	}
	for i := 0; i < r.registers; i++ {
		g := &register{bin: filepath.Join(r.bin, "fanka-terminal"), data: filepath.Join(r.dir, fmt.Sprintf("register%d", i)), card: cards[i%ncards]}
		// Each register reaches every server through a proxy of its own,
		// starting with its home server (the registers spread over them).
		home := i % len(r.servers)
		var list []string
		for k := range r.servers {
			s := r.servers[(home+k)%len(r.servers)]
			p, err := faults.Listen(s.addr, nil)
			if err != nil {
				res.err = err
				return
			}
			g.proxies = append(g.proxies, p)
			list = append(list, "https://"+p.Addr()+"="+hex.EncodeToString(s.pin))
		}
		if len(r.servers) > 1 {
			g.servers = strings.Join(list, ",")
		}
		var t struct {
			EnrolCode string `json:"enrol_code"`
		}
		if err := api.call("POST", "/terminals", map[string]any{"name": fmt.Sprintf("register %d", i)}, &t); err != nil {
			res.err = err
			return
		}
		out, err := exec.Command(g.bin, "enroll", "--server", "https://"+g.proxies[0].Addr(), "--code", t.EnrolCode, "--data", g.data).CombinedOutput()
		if err != nil {
			res.err = fmt.Errorf("enroll: %v: %s", err, out)
			return
		}
		if err := g.start(); err != nil {
			res.err = err
			return
		}
		r.regs = append(r.regs, g)
	}
	// Let every register get its card list before the faults start.
	time.Sleep(700 * time.Millisecond)
	for _, g := range r.regs {
		for _, p := range g.proxies {
			p.SetPlan(faults.RandomPlan(r.rng, &r.rmu, 4096))
		}
	}

	// Key the sales while the chaos runs.
	chaosCtx, stopChaos := context.WithCancel(ctx)
	var chaos sync.WaitGroup
	chaos.Add(1)
	go func() {
		defer chaos.Done()
		var err error
		res.serverKills, res.registerKills, res.nodeKills, err = r.chaos(chaosCtx)
		if err != nil {
			res.err = err
		}
	}()
	var drivers sync.WaitGroup
	for _, g := range r.regs {
		drivers.Add(1)
		go func() {
			defer drivers.Done()
			g.drive(r)
		}()
	}
	drivers.Wait()
	stopChaos()
	chaos.Wait()
	if res.err != nil {
		return
	}

	// Faults off; every register drains to the server.
	for _, g := range r.regs {
		for _, p := range g.proxies {
			p.SetPlan(nil)
			p.CutAll() // a stalled connection would otherwise linger until its timeout
		}
	}
	for _, s := range r.servers {
		if !s.alive() {
			if err := s.start(); err != nil {
				res.err = err
				return
			}
		}
	}
	for _, g := range r.regs {
		if !g.alive() {
			if err := g.start(); err != nil {
				res.err = err
				return
			}
		}
	}
	// Stop each register cleanly to read its journal, then let it drain.
	truth := map[uint32]map[uint64]sj.Entry{}
	for _, g := range r.regs {
		g.stop()
		entries, id, err := g.readJournal()
		if err != nil {
			res.err = err
			return
		}
		truth[id] = entries
		res.recorded += len(entries)
		if err := g.start(); err != nil {
			res.err = err
			return
		}
	}
	db, err := r.db.open()
	if err != nil {
		res.err = err
		return
	}
	defer db.Close()
	if err := waitDrained(db, truth, 90*time.Second); err != nil {
		res.err = err
	}
	for _, g := range r.regs {
		g.stop()
	}
	for _, s := range r.servers {
		s.stop()
	}

	for _, g := range r.regs {
		res.moves += g.moves()
	}
	l, d, settled, err := compare(db, truth, cards)
	res.lost, res.doubled, res.settled = l, d, settled
	if err != nil && res.err == nil {
		res.err = err
	}
	s0 := r.servers[0]
	verify := []string{"verify", "--data", s0.data}
	if s0.db != "" {
		verify = append(verify, "--db", s0.db)
	}
	if out, err := exec.Command(s0.bin, verify...).CombinedOutput(); err != nil && res.err == nil {
		res.err = fmt.Errorf("verify: %s", strings.TrimSpace(string(out)))
	}
	if res.err == nil {
		r.db.drop(ctx) // a failed run's database is kept, to look at
	}
	return res
}

// chaos kills a server once, a database node once (Galera), some
// registers, and cuts connections, until ctx ends. With one server the
// server is down a moment; with several, long enough that its registers
// move to another.
// A database node that does not come back is an error: the run would not
// have shown what it set out to.
func (r *run) chaos(ctx context.Context) (serverKills, registerKills, nodeKills int, nodeErr error) {
	killServerAt := time.Duration(200+r.intn(800)) * time.Millisecond
	killNodeAt := time.Duration(300+r.intn(1200)) * time.Millisecond
	start := time.Now()
	killed := map[*register]bool{}
	var background sync.WaitGroup
	defer background.Wait()
	down := 100 + r.intn(700)
	if len(r.servers) > 1 {
		down = 1500 + r.intn(1500)
	}
	killServer := func() {
		s := r.servers[r.intn(len(r.servers))]
		s.kill()
		serverKills++
		background.Go(func() {
			time.Sleep(time.Duration(down) * time.Millisecond)
			if err := s.start(); err != nil {
				// Its database node may be down: it starts again before the drain.
				fmt.Fprintln(os.Stderr, "soak: restart server:", err)
			}
		})
	}
	killNode := func() {
		c := r.backend.cluster
		n := c.Nodes[r.intn(len(c.Nodes))]
		n.Kill()
		nodeKills++
		background.Go(func() {
			time.Sleep(time.Duration(500+r.intn(1500)) * time.Millisecond)
			if err := n.Restart(context.WithoutCancel(ctx)); err != nil {
				nodeErr = fmt.Errorf("restart database node: %w", err) // read after background.Wait
			}
		})
	}
	galera := r.backend.cluster != nil
	for {
		select {
		case <-ctx.Done():
			if serverKills == 0 {
				killServer() // every run kills a server once, however short
			}
			if galera && nodeKills == 0 {
				killNode()
			}
			return
		case <-time.After(time.Duration(20+r.intn(80)) * time.Millisecond):
		}
		if serverKills == 0 && time.Since(start) > killServerAt {
			killServer()
		}
		if galera && nodeKills == 0 && time.Since(start) > killNodeAt {
			killNode()
		}
		switch x := r.intn(100); {
		case x < 10:
			g := r.regs[r.intn(len(r.regs))]
			if !killed[g] {
				killed[g] = true
				g.kill()
				registerKills++
				time.Sleep(time.Duration(50+r.intn(300)) * time.Millisecond)
				if err := g.start(); err != nil {
					fmt.Fprintln(os.Stderr, "soak: restart register:", err)
				}
			}
		case x < 30:
			g := r.regs[r.intn(len(r.regs))]
			g.proxies[r.intn(len(g.proxies))].CutAll()
		}
	}
}

// waitDrained waits until the servers have settled every journal entry.
func waitDrained(db *sql.DB, truth map[uint32]map[uint64]sj.Entry, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		behind := 0
		for id, entries := range truth {
			var last uint64
			if err := db.QueryRow(`SELECT last_seq FROM terminals WHERE id = ?`, id).Scan(&last); err != nil {
				return fmt.Errorf("drain: register %d: %w", id, err)
			}
			if int(last) < len(entries) {
				behind += len(entries) - int(last)
			}
		}
		if behind == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("drain: %d entries still unsettled after %v", behind, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// compare checks the servers' ledger against the registers' journals.
func compare(db *sql.DB, truth map[uint32]map[uint64]sj.Entry, cards []string) (lost, doubled, settled int, err error) {
	spent := map[string]int64{}
	for id, entries := range truth {
		rows, err := db.Query(`SELECT seq, hash FROM entries WHERE terminal_id = ?`, id)
		if err != nil {
			return 0, 0, 0, err
		}
		onServer := map[uint64][]byte{}
		for rows.Next() {
			var seq uint64
			var h []byte
			if err := rows.Scan(&seq, &h); err != nil {
				rows.Close()
				return 0, 0, 0, err
			}
			onServer[seq] = h
		}
		rows.Close()
		settled += len(onServer)
		for seq, e := range entries {
			h, _ := e.Hash()
			if got, ok := onServer[seq]; !ok || !bytes.Equal(got, h[:]) {
				lost++
			}
			if e.Kind == sj.KindSale {
				spent[e.CardNo] += int64(e.Amount)
			} else {
				spent[e.CardNo] -= int64(e.Amount)
			}
		}
		for seq := range onServer {
			if _, ok := entries[seq]; !ok {
				doubled++ // the server holds an entry the register never recorded
			}
		}
	}
	for _, c := range cards {
		var bal int64
		if err := db.QueryRow(`SELECT a.balance FROM cards c JOIN accounts a ON a.id = c.account_id WHERE c.card_no = ?`, c).Scan(&bal); err != nil {
			return lost, doubled, settled, fmt.Errorf("card %s: %w", c, err)
		}
		if want := deposit - spent[c]; bal < want {
			doubled++
		} else if bal > want {
			lost++
		}
	}
	return lost, doubled, settled, nil
}

// serverProc is a fanka-server process.
type serverProc struct {
	bin, data, addr string
	db, personKey   string // --db ("": SQLite in data) and --person-key
	pin             []byte // the SHA-256 of its certificate
	mu              sync.Mutex
	cmd             *exec.Cmd
	done            chan struct{}
}

func (s *serverProc) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	out, err := os.OpenFile(s.data+".out", os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer out.Close()
	mark, _ := out.Seek(0, io.SeekEnd)
	args := []string{"serve", "--data", s.data, "--listen", s.addr, "--person-key", s.personKey}
	if s.db != "" {
		args = append(args, "--db", s.db)
	}
	cmd := exec.Command(s.bin, args...)
	cmd.Env = append(os.Environ(), "FANKA_ADMIN_PASSWORD="+password)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	s.cmd, s.done = cmd, done
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		b, _ := os.ReadFile(s.data + ".out")
		if int64(len(b)) > mark && bytes.Contains(b[mark:], []byte("listening on")) {
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("fanka-server exited at start; see %s.out", s.data)
		default:
		}
	}
	return errors.New("fanka-server did not start within 20 s")
}

func (s *serverProc) alive() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return false
	}
	select {
	case <-s.done:
		return false
	default:
		return true
	}
}

func (s *serverProc) signal(sig syscall.Signal) {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		cmd.Process.Kill()
		<-done
	}
}

func (s *serverProc) kill() { s.signal(syscall.SIGKILL) }
func (s *serverProc) stop() { s.signal(syscall.SIGTERM) }

// register is a fanka-terminal sim process keyed through its stdin.
type register struct {
	bin, data, card string
	proxies         []*faults.Proxy // one to each server, its home server's first
	servers         string          // sim --servers: the proxies and the servers' pins

	mu    sync.Mutex
	cmd   *exec.Cmd
	stdin io.WriteCloser
	done  chan struct{}
}

func (g *register) start() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	args := []string{"sim", "--data", g.data, "--card", g.card, "--daily-count", "0"}
	if g.servers != "" {
		args = append(args, "--servers", g.servers)
	}
	cmd := exec.Command(g.bin, args...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	g.cmd, g.stdin, g.done = cmd, stdin, done
	return nil
}

func (g *register) alive() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.cmd == nil {
		return false
	}
	select {
	case <-g.done:
		return false
	default:
		return true
	}
}

// keys types on the register; it fails while the process is down.
func (g *register) keys(s string) error {
	g.mu.Lock()
	w := g.stdin
	g.mu.Unlock()
	if w == nil {
		return errors.New("not running")
	}
	_, err := io.WriteString(w, s)
	return err
}

// drive keys r.sales sales: insert, amount, confirm, remove.
func (g *register) drive(r *run) {
	for i := 0; i < r.sales; i++ {
		amount := fmt.Sprintf("%d.%02d", 1+r.intn(20), r.intn(100))
		for _, k := range []string{"i", amount + "\r", "r"} {
			if g.keys(k) != nil {
				time.Sleep(50 * time.Millisecond) // killed: the chaos restarts it
			}
			time.Sleep(time.Duration(10+r.intn(30)) * time.Millisecond)
		}
	}
}

// stop quits the sim the way a cashier does (q), so its journal is closed.
func (g *register) stop() {
	g.mu.Lock()
	cmd, done, stdin := g.cmd, g.done, g.stdin
	g.mu.Unlock()
	if cmd == nil {
		return
	}
	stdin.Close()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		<-done
	}
}

func (g *register) kill() {
	g.mu.Lock()
	cmd, done := g.cmd, g.done
	g.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Kill()
	<-done
}

// readJournal reads every entry of the register's journal (the register must be stopped).
func (g *register) readJournal() (map[uint64]sj.Entry, uint32, error) {
	var enr struct {
		TerminalID uint32 `json:"terminal_id"`
	}
	b, err := os.ReadFile(filepath.Join(g.data, "enrolment.json"))
	if err != nil {
		return nil, 0, err
	}
	if err := json.Unmarshal(b, &enr); err != nil {
		return nil, 0, err
	}
	kb, err := os.ReadFile(filepath.Join(g.data, "terminal.key"))
	if err != nil {
		return nil, 0, err
	}
	seed, err := hex.DecodeString(strings.TrimSpace(string(kb)))
	if err != nil {
		return nil, 0, err
	}
	j, err := journal.Open(filepath.Join(g.data, "journal.db"), enr.TerminalID, ed25519.NewKeyFromSeed(seed))
	if err != nil {
		return nil, 0, err
	}
	defer j.Close()
	raw, err := j.Entries(0, 1<<30)
	if err != nil {
		return nil, 0, err
	}
	out := map[uint64]sj.Entry{}
	var prev sj.Hash
	for i, b := range raw {
		e, err := sj.Unmarshal(b)
		if err != nil {
			return nil, 0, fmt.Errorf("register %d entry %d: %w", enr.TerminalID, i+1, err)
		}
		if err := e.Follows(uint64(i), prev); err != nil {
			return nil, 0, fmt.Errorf("register %d journal: %w", enr.TerminalID, err)
		}
		prev = sj.HashBytes(b)
		out[e.Seq] = e
	}
	return out, enr.TerminalID, nil
}

// apiClient calls the server's JSON API.
type apiClient struct {
	base, token string
	http        *http.Client
}

func login(addr string) (*apiClient, error) {
	c := &apiClient{base: "https://" + addr + "/api/v1", http: &http.Client{Timeout: 10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}} // the run's own self-signed server
	var out struct{ Token string }
	if err := c.call("POST", "/login", map[string]any{"user": "admin", "password": password}, &out); err != nil {
		return nil, err
	}
	c.token = out.Token
	return c, nil
}

func (c *apiClient) call(method, path string, body, out any) error {
	b, _ := json.Marshal(body)
	req, err := http.NewRequest(method, c.base+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	rb, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: HTTP %d %s", method, path, resp.StatusCode, rb)
	}
	if out != nil {
		return json.Unmarshal(rb, out)
	}
	return nil
}

// certPin returns the SHA-256 of the certificate in a server's data directory.
func certPin(dir string) ([]byte, error) {
	b, err := os.ReadFile(filepath.Join(dir, "cert.pem"))
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, fmt.Errorf("%s/cert.pem: no PEM block", dir)
	}
	sum := sha256.Sum256(block.Bytes)
	return sum[:], nil
}

// moves counts the times the register's link came up on another server
// than the one before, from its log.
func (g *register) moves() int {
	b, err := os.ReadFile(filepath.Join(g.data, "sim.log"))
	if err != nil {
		return 0
	}
	n, last := 0, ""
	for _, line := range strings.Split(string(b), "\n") {
		var l struct{ Msg, Server string }
		if json.Unmarshal([]byte(line), &l) != nil || l.Msg != "link up" {
			continue
		}
		if last != "" && l.Server != last {
			n++
		}
		last = l.Server
	}
	return n
}
