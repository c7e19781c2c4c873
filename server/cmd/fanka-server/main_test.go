package main_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	main "github.com/fanka/fanka/server/cmd/fanka-server"
	"github.com/fanka/fanka/server/servertest"
	"github.com/fanka/fanka/server/sqlite"
	"github.com/fanka/fanka/shared/wire"
)

// run runs the program in-process to its end.
func run(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	m := &main.Main{Stdout: &out, Stderr: &errOut, Getenv: func(k string) string { return env[k] }}
	code = m.Run(context.Background(), args)
	return code, out.String(), errOut.String()
}

// server is `fanka-server serve` running in-process.
type server struct {
	url    string
	lines  []string // stdout up to the listening line
	stderr *syncBuffer
	stop   func() int
}

var listening = regexp.MustCompile(`^fanka-server: listening on (https://127\.0\.0\.1:[0-9]+)$`)

// startServer runs serve on a free port, with more flags if given, and
// waits for the listening line.
func startServer(t *testing.T, dir string, env map[string]string, flags ...string) *server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	stderr := &syncBuffer{}
	m := &main.Main{Stdout: pw, Stderr: stderr, Getenv: func(k string) string { return env[k] }}
	done := make(chan int, 1)
	go func() {
		code := m.Run(ctx, append([]string{"serve", "--data", dir, "--listen", "127.0.0.1:0"}, flags...))
		pw.Close()
		done <- code
	}()
	s := &server{stderr: stderr}
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		s.lines = append(s.lines, sc.Text())
		if m := listening.FindStringSubmatch(sc.Text()); m != nil {
			s.url = m[1]
			break
		}
	}
	if s.url == "" {
		cancel()
		t.Fatalf("no listening line; stdout %q, exit %d", s.lines, <-done)
	}
	go io.Copy(io.Discard, pr)
	var once sync.Once
	var code int
	s.stop = func() int {
		once.Do(func() {
			cancel()
			select {
			case code = <-done:
			case <-time.After(15 * time.Second):
				t.Fatal("serve did not stop")
			}
		})
		return code
	}
	t.Cleanup(func() { s.stop() })
	return s
}

// client returns an HTTPS client that trusts the certificate in dir.
func client(t *testing.T, dir string) (*http.Client, *tls.Config) {
	t.Helper()
	pemBytes, err := os.ReadFile(filepath.Join(dir, "cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		t.Fatal("cert.pem holds no certificate")
	}
	conf := &tls.Config{RootCAs: pool}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: conf}, Timeout: 10 * time.Second}, conf
}

func call(t *testing.T, c *http.Client, method, url, token string, body any, out any) int {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, url, bytes.NewReader(b))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	return resp.StatusCode
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{nil, {"bogus"}, {"serve"}, {"serve", "--data", "x", "extra"}, {"verify", "--nope"}} {
		code, _, stderr := run(t, nil, args...)
		if code != 2 || !strings.Contains(stderr, "usage:") {
			t.Errorf("%q: exit %d, stderr %q; want 2 and the usage", args, code, stderr)
		}
	}
	if code, stdout, _ := run(t, nil, "help"); code != 0 || !strings.Contains(stdout, "fanka-server serve --data DIR") {
		t.Errorf("help: exit %d, %q", code, stdout)
	}
}

func TestBadDatabase(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"verify", "--data", t.TempDir()}, "no database"},
		{[]string{"serve", "--data", t.TempDir(), "--db", "postgres://u:secret@h/db"}, "unknown kind of database"},
		{[]string{"serve", "--data", t.TempDir(), "--db", "mysql://u:secret@h"}, "database name"},
		{[]string{"verify", "--db", "mysql://u:secret@127.0.0.1:1/db?timeout=1s"}, "connect: connection refused"},
		// A replica for reports: of a MySQL database only, and a URL.
		{[]string{"serve", "--data", t.TempDir(), "--report-db", "mysql://u:secret@h/db"}, "--report-db: a replica serves a mysql:// --db only"},
		{[]string{"serve", "--data", t.TempDir(), "--db", "mysql://u:secret@h/db", "--report-db", "mysql://u:secret@h"}, "--report-db: database URL: want one database name"},
	} {
		code, _, stderr := run(t, nil, tt.args...)
		if code != 1 || !strings.Contains(stderr, tt.want) || strings.Contains(stderr, "secret") {
			t.Errorf("%q: exit %d, stderr %q; want 1 and %q, without the password", tt.args, code, stderr, tt.want)
		}
	}
}

// TestServeAndVerify starts the server, runs a register's life through
// it, stops it, verifies the ledger, starts it again, then tampers with
// the database and verifies again.
func TestServeAndVerify(t *testing.T) {
	dir := t.TempDir()
	serveAndVerify(t, dir, nil, func(t *testing.T) {
		db, err := sql.Open(sqlite.Driver, filepath.Join(dir, "fanka.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.Exec(`UPDATE postings SET amount = amount - 1 WHERE id = (SELECT MAX(id) FROM postings)`); err != nil {
			t.Fatal(err)
		}
	})
}

// TestServeAndVerifyMySQL is TestServeAndVerify on a MySQL database (see
// servertest.MustMySQLDSN: skipped without one, unless in CI).
func TestServeAndVerifyMySQL(t *testing.T) {
	dsn := servertest.MustMySQLDSN(t)
	serveAndVerify(t, t.TempDir(), []string{"--db", dsn}, func(t *testing.T) {
		db := servertest.MustRawMySQL(t, dsn)
		if _, err := db.Exec(`UPDATE postings SET amount = amount - 1 ORDER BY id DESC LIMIT 1`); err != nil {
			t.Fatal(err)
		}
	})
}

// serveAndVerify runs the life of TestServeAndVerify with data directory
// dir and the database flags db; tamper takes one fen off the last posting.
func serveAndVerify(t *testing.T, dir string, db []string, tamper func(t *testing.T)) {
	s := startServer(t, dir, nil, db...)
	if len(s.lines) != 2 || !strings.HasPrefix(s.lines[0], "fanka-server: admin password: ") {
		t.Fatalf("stdout %q, want the admin password, then the listening line", s.lines)
	}
	password := strings.TrimPrefix(s.lines[0], "fanka-server: admin password: ")
	if fi, err := os.Stat(filepath.Join(dir, "key.pem")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key.pem: %v, %v; want mode 0600", fi.Mode(), err)
	}
	c, tlsConf := client(t, dir)

	var login struct{ Token string }
	if status := call(t, c, "POST", s.url+"/api/v1/login", "", map[string]string{"user": "admin", "password": password}, &login); status != 200 || login.Token == "" {
		t.Fatalf("login: %d", status)
	}
	var opened struct {
		CardNo string `json:"card_no"`
	}
	if status := call(t, c, "POST", s.url+"/api/v1/cards", login.Token,
		map[string]any{"person_id": "13900000001", "name": "张三", "deposit": 10000, "request_id": "r1", "card_no": "04A1B2C3"}, &opened); status != 201 {
		t.Fatalf("open card: %d", status)
	}
	var term struct {
		TerminalID uint32 `json:"terminal_id"`
		EnrolCode  string `json:"enrol_code"`
	}
	if status := call(t, c, "POST", s.url+"/api/v1/terminals", login.Token, map[string]string{"name": "till 1"}, &term); status != 201 {
		t.Fatalf("create register: %d", status)
	}
	r := servertest.NewRegister(t)
	var enrolled struct {
		TerminalID        uint32 `json:"terminal_id"`
		ServerFingerprint string `json:"server_fingerprint"`
	}
	if status := call(t, c, "POST", s.url+"/api/v1/enroll", "",
		map[string]string{"code": term.EnrolCode, "public_key": base64.StdEncoding.EncodeToString(r.Public())}, &enrolled); status != 200 {
		t.Fatalf("enrol: %d", status)
	}
	r.ID = enrolled.TerminalID
	certDER := mustCertDER(t, dir)
	if sum := sha256.Sum256(certDER); enrolled.ServerFingerprint != hex.EncodeToString(sum[:]) {
		t.Errorf("fingerprint %s, want the SHA-256 of cert.pem", enrolled.ServerFingerprint)
	}

	ws := servertest.Dial(t, "wss"+strings.TrimPrefix(s.url, "https")+"/api/v1/terminal/ws", tlsConf)
	ws.Handshake(t, r, 0)
	ws.Send(&wire.Entries{Entries: [][]byte{r.Sale(t, "04A1B2C3", 1250)}})
	if acks := servertest.Expect[*wire.Acks](t, ws); acks.Acks[0].Balance != 8750 {
		t.Errorf("ack: %+v", acks.Acks[0])
	}
	if code := s.stop(); code != 0 {
		t.Fatalf("serve exited %d", code)
	}

	verifyArgs := append([]string{"verify", "--data", dir}, db...)
	code, stdout, stderr := run(t, nil, verifyArgs...)
	// The server sealed the ledger as it went and as it stopped; on a
	// MySQL-compatible database, only transactions older than
	// mysql.SealDelay are sealed.
	sealed := `verify: ledger seals: [12] seals over 2 transactions, 0 not yet sealed; head seal [12] hash [0-9a-f]{64}\n$`
	if len(db) > 0 {
		sealed = `verify: ledger seals: 0 seals over 0 transactions, 2 not yet sealed; head seal 0 hash 0{64}\n$`
	}
	if code != 0 || !regexp.MustCompile(`^verify: ok: 2 transactions, 1 entries, 1 registers, 0 card signatures flagged for review\n`+sealed).MatchString(stdout) {
		t.Fatalf("verify: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if fi, err := os.Stat(filepath.Join(dir, "person.key")); err != nil || fi.Mode().Perm() != 0o600 || fi.Size() != 64 {
		t.Errorf("person key: %v, %v; want 64 bytes, mode 0600", fi, err)
	}

	// A second start keeps the admin and the certificate.
	s = startServer(t, dir, map[string]string{"FANKA_ADMIN_PASSWORD": "ignored"}, db...)
	if len(s.lines) != 1 {
		t.Errorf("second start printed %q, want only the listening line", s.lines)
	}
	if !bytes.Equal(mustCertDER(t, dir), certDER) {
		t.Error("the certificate changed")
	}
	if status := call(t, c, "POST", s.url+"/api/v1/login", "", map[string]string{"user": "admin", "password": password}, &login); status != 200 {
		t.Errorf("login after restart: %d", status)
	}
	s.stop()

	tamper(t)
	code, stdout, _ = run(t, nil, verifyArgs...)
	if code != 1 || !regexp.MustCompile(`^verify: failed: transactions row [0-9]+: postings sum to -1, not 0\n$`).MatchString(stdout) {
		t.Errorf("verify after tampering: exit %d, stdout %q", code, stdout)
	}
}

func TestAdminPasswordFromEnv(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir, map[string]string{"FANKA_ADMIN_PASSWORD": "s3cret-enough"})
	if len(s.lines) != 1 {
		t.Errorf("stdout %q, want only the listening line", s.lines)
	}
	c, _ := client(t, dir)
	var login struct{ Token string }
	if status := call(t, c, "POST", s.url+"/api/v1/login", "", map[string]string{"user": "admin", "password": "s3cret-enough"}, &login); status != 200 {
		t.Errorf("login: %d", status)
	}
}

// TestBinary builds fanka-server and runs it as a process: it prints the
// listening line and stops cleanly on SIGTERM.
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "fanka-server")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	dir := t.TempDir()
	cmd := exec.Command(bin, "serve", "--data", dir, "--listen", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "FANKA_ADMIN_PASSWORD=from-the-env")
	stdout, _ := cmd.StdoutPipe()
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !listening.MatchString(strings.TrimSpace(line)) {
		t.Fatalf("first line %q (%v); stderr:\n%s", line, err, stderr.String())
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v; stderr:\n%s", err, stderr.String())
	}
	for _, l := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
		if !json.Valid([]byte(l)) {
			t.Errorf("log line is not JSON: %q", l)
		}
	}
	if !strings.Contains(stderr.String(), `"msg":"fanka-server: stopped"`) {
		t.Errorf("no stop line in the log:\n%s", stderr.String())
	}
}

func mustCertDER(t *testing.T, dir string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool, _ := tls.X509KeyPair(b, mustRead(t, filepath.Join(dir, "key.pem")))
	if len(pool.Certificate) == 0 {
		t.Fatal("no certificate")
	}
	return pool.Certificate[0]
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
