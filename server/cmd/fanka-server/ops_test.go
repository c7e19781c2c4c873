package main_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/fanka/fanka/server/servertest"
	"github.com/fanka/fanka/shared/wire"
)

var metricsLine = regexp.MustCompile(`^fanka-server: metrics on (http://127\.0\.0\.1:[0-9]+)/metrics$`)

// get fetches url and returns the status and body.
func get(t *testing.T, c *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, string(b)
}

// TestHealthAndMetrics runs a server with a metrics listener, a printer
// and text logs, settles sales, has a register refused, and reads the
// probes and the metrics.
func TestHealthAndMetrics(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir, map[string]string{"FANKA_ADMIN_PASSWORD": testPassword},
		"--metrics-listen", "127.0.0.1:0", "--printer", "office=tcp://127.0.0.1:1", "--log-format", "text")
	var metricsURL string
	for _, l := range s.lines {
		if m := metricsLine.FindStringSubmatch(l); m != nil {
			metricsURL = m[1]
		}
	}
	if metricsURL == "" {
		t.Fatalf("no metrics line in %q", s.lines)
	}
	c, _ := client(t, dir)
	plain := &http.Client{Timeout: 10 * time.Second}
	for _, probe := range []struct {
		c    *http.Client
		url  string
		want string
	}{
		{c, s.url + "/healthz", "ok\n"},
		{c, s.url + "/readyz", "ready\n"},
		{plain, metricsURL + "/healthz", "ok\n"},
		{plain, metricsURL + "/readyz", "ready\n"},
	} {
		if status, body := get(t, probe.c, probe.url); status != 200 || body != probe.want {
			t.Errorf("GET %s: %d %q; want 200 %q", probe.url, status, body, probe.want)
		}
	}
	// The metrics are not on the API's listener.
	if status, _ := get(t, c, s.url+"/metrics"); status != 401 && status != 404 {
		t.Errorf("GET /metrics on the API listener: %d; want it not served", status)
	}

	tl := enrolTill(t, s, dir, "04A1")
	if _, err := tl.sell(t, "04A1", 1250); err != nil {
		t.Fatal(err)
	}
	if ack, err := tl.sell(t, "04A1", 9000); err != nil || ack.Outcome != wire.SettledOverdraft {
		t.Fatalf("second sale: %+v, %v; want an overdraft", ack, err)
	}
	// A register whose hello is signed by another key is refused.
	_, tlsConf := client(t, dir)
	impostor := servertest.Dial(t, "wss"+strings.TrimPrefix(s.url, "https")+"/api/v1/terminal/ws", tlsConf)
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	if m, err := impostor.Hello(&servertest.Register{ID: tl.r.ID, Key: other}, 0); err != nil {
		t.Fatal(err)
	} else if r, ok := m.(*wire.Refused); !ok || r.Code != wire.RefuseBadSignature {
		t.Fatalf("impostor: %#v; want refused for its signature", m)
	}

	status, body := get(t, plain, metricsURL+"/metrics")
	if status != 200 {
		t.Fatalf("GET /metrics: %d", status)
	}
	for _, want := range []string{
		`fanka_settled_entries_total{kind="sale",outcome="settled"} 1`,
		`fanka_settled_entries_total{kind="sale",outcome="settled-overdraft"} 1`,
		`fanka_settled_entries_total{kind="sale",outcome="flagged"} 0`,
		`fanka_replayed_entries_total 0`,
		`fanka_settle_batch_seconds_count 2`,
		`fanka_register_settled_seq{terminal="1"} 2`,
		`fanka_register_unacked_entries{terminal="1"} 0`,
		`fanka_registers_connected 1`,
		`fanka_refused_total{reason="bad_signature"} 1`,
		`fanka_refused_total{reason="chain"} 0`,
		`fanka_print_queue_jobs{printer="office"} 0`,
		`go_goroutines `,
	} {
		if !strings.Contains(body, "\n"+want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if strings.Contains(body, "fanka_db_errors_total{") {
		t.Errorf("database errors counted where there were none:\n%s", grepLines(body, "fanka_db_errors_total"))
	}
	if t.Failed() {
		t.Logf("metrics:\n%s", grepLines(body, "fanka_"))
	}

	if code := s.stop(); code != 0 {
		t.Fatalf("serve exited %d", code)
	}
	logs := s.stderr.String()
	if !strings.Contains(logs, `level=INFO msg="fanka-server: serving"`) || strings.Contains(logs, `{"time"`) {
		t.Errorf("--log-format text: the log is not text:\n%s", logs)
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
