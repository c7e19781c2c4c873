package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/fanka/fanka/server"
	"github.com/fanka/fanka/server/admin"
	"github.com/fanka/fanka/server/gateway"
	"github.com/fanka/fanka/server/metrics"
	"github.com/fanka/fanka/server/mysql"
	printqueue "github.com/fanka/fanka/server/printer"
	"github.com/fanka/fanka/server/web"
	"github.com/fanka/fanka/shared/printer"
)

// shutdownTimeout bounds the wait for requests in flight at shutdown.
const shutdownTimeout = 10 * time.Second

// serve runs the server until ctx is cancelled.
func (m *Main) serve(ctx context.Context, cfg Config) error {
	logger := m.logger(cfg.LogFormat)
	if _, _, err := cfg.storeKind(); err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.Data, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	cert, fingerprint, err := loadOrCreateCert(cfg.Data, cfg.Listen)
	if err != nil {
		return err
	}
	store, name, err := m.openStore(ctx, cfg, false)
	if err != nil {
		return err
	}
	err = m.serveStore(ctx, cfg, logger, store, name, cert, fingerprint)
	if cerr := store.Close(); cerr != nil {
		err = errors.Join(err, cerr)
	}
	logger.Info("fanka-server: stopped")
	return err
}

// serveStore serves the API and the registers' endpoint over store, named
// name in the log, until ctx is cancelled.
func (m *Main) serveStore(ctx context.Context, cfg Config, logger *slog.Logger, store server.Store, name string, cert tls.Certificate, fingerprint string) error {
	if err := m.ensureAdmin(ctx, store); err != nil {
		return err
	}

	keyFile := cfg.PersonKey
	if keyFile == "" {
		keyFile = filepath.Join(cfg.Data, server.PersonKeyFile)
	}
	persons, err := server.LoadPersonCipher(keyFile)
	if err != nil {
		return err
	}

	met := metrics.New()
	gw := gateway.New(store, logger)
	gw.Observer = met
	api := admin.New(store, gw, logger)
	api.Fingerprint = fingerprint
	api.Persons = persons
	if db, ok := store.(*mysql.DB); ok && db.ReportDSN != "" {
		api.Reports = db.Reports()
		logger.Info("fanka-server: reports read a replica", "report_db", mysql.Redact(db.ReportDSN))
	}
	// The daily report totals by the rules' meal periods.
	api.MealPeriods = func(ctx context.Context) ([]server.MealPeriod, error) {
		rules, _, err := store.Rules(ctx)
		if err != nil {
			return nil, err
		}
		return append([]server.MealPeriod{}, rules.Periods...), nil // none configured: none, not the defaults
	}
	// The ledger is sealed into its hash chain every second, off the
	// settlement path.
	sealCtx, stopSealing := context.WithCancel(ctx)
	sealed := make(chan struct{})
	go func() { defer close(sealed); server.SealLedger(sealCtx, store, logger) }()
	subsidized := make(chan struct{})
	go func() { defer close(subsidized); server.RunSubsidies(sealCtx, store, logger) }()
	defer func() { stopSealing(); <-subsidized }()
	defer func() { stopSealing(); <-sealed }()
	// The print queue prints from its own goroutines: a printer that is off
	// or out of paper never holds up settlement.
	queue := printqueue.NewQueue(store, logger)
	queue.OnAttempt = met.PrintAttempt
	queue.OnStoreError = met.DBError
	met.WatchPrinters(queue)
	met.WatchRegisters(store)
	for _, spec := range cfg.Printers {
		name, link, _ := strings.Cut(spec, "=")
		p, err := printer.Parse(link)
		if err != nil {
			return fmt.Errorf("printer %s: %w", name, err)
		}
		if err := queue.Add(name, p); err != nil {
			return fmt.Errorf("printer %s: %w", name, err)
		}
	}
	if err := queue.Open(); err != nil {
		return fmt.Errorf("print queue: %w", err)
	}
	defer queue.Close()
	api.Printers = queue
	page, err := web.New(api, logger)
	if err != nil {
		return err
	}
	// Readiness asks the database the cheapest question the store has.
	health := &metrics.Health{Metrics: met, Ping: func(ctx context.Context) error {
		_, err := store.CardVersion(ctx)
		return err
	}}
	// One listener: the probes at /healthz and /readyz, the JSON API and
	// the registers' endpoint under /api/, the office's web page everywhere
	// else.
	root := http.NewServeMux()
	health.Register(root)
	root.Handle("/api/", api)
	root.Handle("/", page)
	srv := &http.Server{
		Handler:           root,
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	if cfg.MetricsListen != "" {
		stop, err := m.serveMetrics(cfg.MetricsListen, logger, met, health)
		if err != nil {
			ln.Close()
			return err
		}
		defer stop()
	}
	logger.Info("fanka-server: serving", "addr", ln.Addr().String(), "db", name, "tls_sha256", fingerprint)
	fmt.Fprintf(m.Stdout, "fanka-server: listening on https://%s\n", ln.Addr())

	served := make(chan error, 1)
	go func() { served <- srv.ServeTLS(ln, "", "") }()
	select {
	case err = <-served:
		err = fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
		logger.Info("fanka-server: shutting down")
	}
	health.Drain()
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	gwDone := make(chan struct{})
	go func() { gw.Close(); close(gwDone) }()
	if serr := srv.Shutdown(sctx); serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, fmt.Errorf("shutdown: %w", serr))
	}
	<-gwDone
	return err
}

// serveMetrics serves /metrics, /healthz and /readyz over plain HTTP on
// addr, and returns a function that stops it. The metrics are on a listener
// of their own, not behind the API's bearer tokens: Prometheus scrapes
// with no login (tokens expire), and the address is meant to be one that
// only the monitoring network reaches (loopback, a management VLAN).
func (m *Main) serveMetrics(addr string, logger *slog.Logger, met *metrics.Metrics, health *metrics.Health) (stop func(), err error) {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", met.Handler())
	health.Register(mux)
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics listen: %w", err)
	}
	logger.Info("fanka-server: metrics", "addr", ln.Addr().String())
	fmt.Fprintf(m.Stdout, "fanka-server: metrics on http://%s/metrics\n", ln.Addr())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("fanka-server: metrics listener", "err", err)
		}
	}()
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		srv.Shutdown(ctx)
		<-done
	}, nil
}

// logger returns the server's logger, writing to Stderr in format: json,
// text, or if empty text on a terminal and json otherwise.
func (m *Main) logger(format string) *slog.Logger {
	if format == "" {
		format = "json"
		if f, ok := m.Stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			format = "text"
		}
	}
	if format == "text" {
		return slog.New(slog.NewTextHandler(m.Stderr, nil))
	}
	return slog.New(slog.NewJSONHandler(m.Stderr, nil))
}

// ensureAdmin creates the user admin on first start, with the password
// from FANKA_ADMIN_PASSWORD or a generated one, printed once.
func (m *Main) ensureAdmin(ctx context.Context, store server.UserStore) error {
	_, err := store.User(ctx, "admin")
	if server.ErrorCode(err) != server.ENOTFOUND {
		return err
	}
	password := m.Getenv("FANKA_ADMIN_PASSWORD")
	generated := password == ""
	if generated {
		password = rand.Text()
	}
	hash, err := server.HashPassword(password)
	if err != nil {
		return err
	}
	err = store.CreateUser(ctx, server.User{Name: "admin", PasswordHash: hash, Role: server.RoleAdmin})
	if server.ErrorCode(err) == server.ECONFLICT {
		return nil // another server on the same database made it first
	}
	if err != nil {
		return err
	}
	if generated {
		fmt.Fprintf(m.Stdout, "fanka-server: admin password: %s\n", password)
	}
	return nil
}
