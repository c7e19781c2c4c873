package metrics_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/fanka/fanka/server/metrics"
)

func probe(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	b, _ := io.ReadAll(rec.Body)
	return rec.Code, string(b)
}

// TestReady checks the readiness probe: ready while the database answers,
// not ready when it fails or is slow (counted as a database error), and
// not ready once draining, while the liveness probe stays ok.
func TestReady(t *testing.T) {
	m := metrics.New()
	var fail error
	var slow time.Duration
	h := &metrics.Health{Metrics: m, Timeout: 50 * time.Millisecond, Ping: func(ctx context.Context) error {
		select {
		case <-time.After(slow):
		case <-ctx.Done():
			return ctx.Err()
		}
		return fail
	}}
	mux := http.NewServeMux()
	h.Register(mux)
	mux.Handle("GET /metrics", m.Handler())

	for _, tt := range []struct {
		name   string
		fail   error
		slow   time.Duration
		drain  bool
		status int
		body   string
	}{
		{"database answers", nil, 0, false, 200, "ready\n"},
		{"database fails", errors.New("connection refused"), 0, false, 503, "not ready: database: connection refused\n"},
		{"database slow", nil, time.Second, false, 503, "not ready: database: context deadline exceeded\n"},
		{"draining", nil, 0, true, 503, "not ready: draining: the server is shutting down\n"},
	} {
		fail, slow = tt.fail, tt.slow
		if tt.drain {
			h.Drain()
		}
		if status, body := probe(t, mux, "/readyz"); status != tt.status || body != tt.body {
			t.Errorf("%s: /readyz %d %q; want %d %q", tt.name, status, body, tt.status, tt.body)
		}
		if status, body := probe(t, mux, "/healthz"); status != 200 || body != "ok\n" {
			t.Errorf("%s: /healthz %d %q; want 200 ok", tt.name, status, body)
		}
	}
	_, body := probe(t, mux, "/metrics")
	if !strings.Contains(body, "\nfanka_db_errors_total{op=\"ready\"} 2\n") {
		t.Errorf("the two failed pings are not counted as database errors:\n%s", body)
	}
}
