package e2e_test

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// bin holds the binaries built once for all tests.
var bin struct {
	dir            string
	server, client string
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "fanka-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin.dir = dir
	bin.server = filepath.Join(dir, "fanka-server")
	bin.client = filepath.Join(dir, "fanka-terminal")
	args := []string{"build"}
	if raceEnabled {
		args = append(args, "-race")
	}
	args = append(args, "-o", dir+"/", "github.com/fanka/fanka/server/cmd/fanka-server", "github.com/fanka/fanka/terminal/cmd/fanka-terminal")
	cmd := exec.Command("go", args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build binaries:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is a running binary whose output is kept in files under the test's
// temp dir (printed when the test fails).
type proc struct {
	t      *testing.T
	name   string
	cmd    *exec.Cmd
	out    *lockedBuffer
	done   chan struct{}
	exited error
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func start(t *testing.T, name string, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, name: name, out: &lockedBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(args[0], args[1:]...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.exited = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop(syscall.SIGKILL)
		if t.Failed() {
			t.Logf("--- output of %s:\n%s", name, p.out.String())
		}
	})
	return p
}

// waitOutput waits until the process has printed s.
func (p *proc) waitOutput(s string, timeout time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	for !strings.Contains(p.out.String(), s) {
		select {
		case <-p.done:
			p.t.Fatalf("%s exited (%v) before printing %q", p.name, p.exited, s)
		default:
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s did not print %q within %v", p.name, s, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop signals the process and waits for it to exit.
func (p *proc) stop(sig syscall.Signal) {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

const adminPassword = "e2e-Admin-password-7319"

// server is a running fanka-server and an API client for it.
type server struct {
	t     *testing.T
	data  string
	addr  string
	proc  *proc
	token string
	http  *http.Client
}

func startServer(t *testing.T, data, addr string) *server {
	t.Helper()
	return startServerArgs(t, data, addr)
}

// startServerArgs starts a server with more arguments to serve (--db …).
func startServerArgs(t *testing.T, data, addr string, args ...string) *server {
	t.Helper()
	s := &server{t: t, data: data, addr: addr, http: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, // the test's own self-signed server
	}}}
	s.proc = start(t, "fanka-server", []string{"FANKA_ADMIN_PASSWORD=" + adminPassword},
		append([]string{bin.server, "serve", "--data", data, "--listen", addr}, args...)...)
	s.proc.waitOutput("listening on", 30*time.Second)
	var out struct{ Token string }
	if code := s.call("POST", "/login", map[string]any{"user": "admin", "password": adminPassword}, &out); code != 200 {
		t.Fatalf("login: HTTP %d", code)
	}
	s.token = out.Token
	return s
}

func (s *server) url() string { return "https://" + s.addr }

// call makes an API call and decodes the JSON answer into out; it returns the status.
func (s *server) call(method, path string, body, out any) int {
	s.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, s.url()+"/api/v1"+path, rd)
	req.Header.Set("Content-Type", "application/json")
	if s.token != "" {
		req.Header.Set("Authorization", "Bearer "+s.token)
	}
	resp, err := s.http.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			s.t.Fatalf("%s %s: HTTP %d, answer %q: %v", method, path, resp.StatusCode, b, err)
		}
	}
	return resp.StatusCode
}

type cardInfo struct {
	CardNo     string `json:"card_no"`
	Name       string `json:"name"`
	Status     string `json:"status"`
	Balance    int64  `json:"balance"`
	TodayCount int    `json:"today_count"`
}

// waitBalance polls the API until the card's balance is want.
func (s *server) waitBalance(card string, want int64) cardInfo {
	s.t.Helper()
	var c cardInfo
	deadline := time.Now().Add(20 * time.Second)
	for {
		if code := s.call("GET", "/cards/"+card, nil, &c); code != 200 {
			s.t.Fatalf("GET card: HTTP %d", code)
		}
		if c.Balance == want {
			return c
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("card %s balance %d, want %d", card, c.Balance, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// registerStatus is a register's status as GET /api/v1/terminals shows it.
type registerStatus struct {
	Online         bool   `json:"online"`
	ReportedAt     string `json:"reported_at"`
	Unsynced       int    `json:"unsynced"`
	UnsyncedAmount int64  `json:"unsynced_amount"`
	OfflineSales   int    `json:"offline_sales"`
	Devices        map[string]struct {
		State  string `json:"state"`
		Detail string `json:"detail"`
	} `json:"devices"`
	FreeBytes uint64 `json:"free_bytes"`
	Software  string `json:"software"`
}

// waitRegisterStatus polls the API until the first register's status
// satisfies ok, and returns it.
func (s *server) waitRegisterStatus(ok func(registerStatus) bool) registerStatus {
	s.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var list struct {
			Terminals []struct {
				Status *registerStatus `json:"status"`
			} `json:"terminals"`
		}
		if code := s.call("GET", "/terminals", nil, &list); code != 200 || len(list.Terminals) == 0 {
			s.t.Fatalf("GET terminals: HTTP %d, %d registers", code, len(list.Terminals))
		}
		if st := list.Terminals[0].Status; st != nil && ok(*st) {
			return *st
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("the register's status: %+v", list.Terminals[0].Status)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// verify runs fanka-server verify on a data dir.
func verify(t *testing.T, data string) string {
	t.Helper()
	out, err := exec.Command(bin.server, "verify", "--data", data).CombinedOutput()
	if err != nil {
		t.Fatalf("verify: %v\n%s", err, out)
	}
	return string(out)
}

// lines returns the lines of s that contain sub.
func lines(s, sub string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		if strings.Contains(sc.Text(), sub) {
			out = append(out, sc.Text())
		}
	}
	return out
}
