package e2e_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fanka/fanka/server/servertest"
)

// TestFailoverTwoServers: a register (fanka-terminal sim) lists two
// fanka-server processes on one fresh MariaDB database, each pinned to its
// own certificate. It sells through the first; the first is SIGKILLed; the
// register goes on with the second. Every sale settles once: six entries,
// seqs 1 to 6, six sales in the ledger, the balance six yuan down, and
// verify passes on the database.
func TestFailoverTwoServers(t *testing.T) {
	dsn := servertest.MustMySQLDSN(t)
	dir := t.TempDir()
	key := filepath.Join(dir, "person.key") // servers on one database share it
	a := startServerArgs(t, filepath.Join(dir, "a"), freePort(t), "--db", dsn, "--person-key", key)
	b := startServerArgs(t, filepath.Join(dir, "b"), freePort(t), "--db", dsn, "--person-key", key)
	if code := a.call("PUT", "/rules", map[string]any{"rules": map[string]any{"outside_periods": true}}, nil); code != 200 {
		t.Fatalf("set rules: HTTP %d", code)
	}
	if code := a.call("POST", "/cards", map[string]any{"person_id": "110101199003071234", "name": "张三", "deposit": 10000,
		"request_id": "open-1", "card_no": cardUID}, nil); code != 200 && code != 201 {
		t.Fatalf("open card: HTTP %d", code)
	}
	var reg struct {
		EnrolCode string `json:"enrol_code"`
	}
	a.call("POST", "/terminals", map[string]any{"name": "一号窗口"}, &reg)

	data := filepath.Join(dir, "register")
	servers := a.url() + "=" + certPin(t, a.data) + "," + b.url() + "=" + certPin(t, b.data)
	cmd := exec.Command(bin.client, "sim", "--server", a.url(), "--code", reg.EnrolCode, "--data", data,
		"--card", cardUID, "--daily-count", "0", "--servers", servers)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(data, "sim.log"))
			t.Logf("--- the register's log:\n%s", log)
		}
	})
	waitLog := func(what, s string) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if b, _ := os.ReadFile(filepath.Join(data, "sim.log")); strings.Contains(string(b), s) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("the register never logged %s", what)
			}
		}
	}
	balance, seq := int64(10000), 0
	sell := func() {
		t.Helper()
		balance -= 100
		seq++
		io.WriteString(stdin, "i")
		time.Sleep(100 * time.Millisecond)
		io.WriteString(stdin, "1.00\r")
		// The journal holds the sale once the register logs it. (Its
		// display may show a balance a sale behind just after a failover,
		// until the new server's card list arrives.)
		waitLog(fmt.Sprintf("sale %d", seq), fmt.Sprintf(`"msg":"sale","seq":%d,`, seq))
		io.WriteString(stdin, "r")
		time.Sleep(100 * time.Millisecond)
	}

	waitLog("the card list", "cards received")
	for range 3 {
		sell()
	}
	a.waitBalance(cardUID, balance)

	a.proc.stop(syscall.SIGKILL)
	waitLog("a link to the second server", `"msg":"link up","part":"uplink","server":"wss://`+b.addr+`/api/v1/terminal/ws"`)
	for range 3 {
		sell()
	}
	b.waitBalance(cardUID, 9400)
	stdin.Close() // the sim quits at the end of its input
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("sim: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the sim did not quit")
	}

	raw := servertest.MustRawMySQL(t, dsn)
	var n, lo, hi, sales int
	if err := raw.QueryRow(`SELECT COUNT(*), MIN(seq), MAX(seq) FROM entries`).Scan(&n, &lo, &hi); err != nil {
		t.Fatal(err)
	}
	if err := raw.QueryRow(`SELECT COUNT(*) FROM transactions WHERE kind = 'sale'`).Scan(&sales); err != nil {
		t.Fatal(err)
	}
	if n != 6 || lo != 1 || hi != 6 || sales != 6 {
		t.Fatalf("the database holds %d entries, seqs %d to %d, and %d sales; want 6, 1 to 6, 6", n, lo, hi, sales)
	}
	if out, err := exec.Command(bin.server, "verify", "--data", b.data, "--db", dsn).CombinedOutput(); err != nil {
		t.Fatalf("verify: %v\n%s", err, out)
	}
}

// certPin returns the hex SHA-256 of the certificate in a server's data
// directory, as a register pins it.
func certPin(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		t.Fatalf("%s/cert.pem: no certificate", dir)
	}
	sum := sha256.Sum256(block.Bytes)
	return hex.EncodeToString(sum[:])
}
