package metrics

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"
)

// DefaultReadyTimeout bounds the readiness probe's database query.
const DefaultReadyTimeout = 2 * time.Second

// Health answers the probes of a load balancer, an orchestrator or
// systemd: GET /healthz (Live) says the process is alive and serving;
// GET /readyz (Ready) says it should be sent work: the database answered
// a short query, and the server is not shutting down.
type Health struct {
	// Ping asks the database a short query; nil means there is no
	// database to ask.
	Ping func(ctx context.Context) error
	// Timeout bounds Ping; DefaultReadyTimeout if zero.
	Timeout time.Duration
	// Metrics, if not nil, counts failed pings as database errors.
	Metrics *Metrics

	draining atomic.Bool
}

// Drain marks the server as shutting down: from now on it is not ready,
// so that load balancers stop sending it registers and requests.
func (h *Health) Drain() { h.draining.Store(true) }

// Live answers GET /healthz: 200 "ok" while the process serves.
func (h *Health) Live(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	fmt.Fprintln(w, "ok")
}

// Ready answers GET /readyz: 200 "ready", or 503 with the reason (draining,
// or the database's error).
func (h *Health) Ready(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := h.Check(r.Context()); err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, "not ready: %v\n", err)
		return
	}
	fmt.Fprintln(w, "ready")
}

// Check returns why the server is not ready, or nil.
func (h *Health) Check(ctx context.Context) error {
	if h.draining.Load() {
		return fmt.Errorf("draining: the server is shutting down")
	}
	if h.Ping == nil {
		return nil
	}
	timeout := h.Timeout
	if timeout <= 0 {
		timeout = DefaultReadyTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := h.Ping(ctx); err != nil {
		if h.Metrics != nil {
			h.Metrics.DBError("ready", err)
		}
		return fmt.Errorf("database: %w", err)
	}
	return nil
}

// Register adds GET /healthz and GET /readyz to mux.
func (h *Health) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /healthz", h.Live)
	mux.HandleFunc("GET /readyz", h.Ready)
}
