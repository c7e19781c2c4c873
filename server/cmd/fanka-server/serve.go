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

	"github.com/fanka/fanka/server"
	"github.com/fanka/fanka/server/admin"
	"github.com/fanka/fanka/server/gateway"
	"github.com/fanka/fanka/server/printer"
	"github.com/fanka/fanka/server/web"
)

// shutdownTimeout bounds the wait for requests in flight at shutdown.
const shutdownTimeout = 10 * time.Second

// serve runs the server until ctx is cancelled.
func (m *Main) serve(ctx context.Context, cfg Config) error {
	logger := slog.New(slog.NewJSONHandler(m.Stderr, nil))
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

	gw := gateway.New(store, logger)
	api := admin.New(store, gw, logger)
	api.Fingerprint = fingerprint
	api.Persons = persons
	// The ledger is sealed into its hash chain every second, off the
	// settlement path.
	sealCtx, stopSealing := context.WithCancel(ctx)
	sealed := make(chan struct{})
	go func() { defer close(sealed); sealLedger(sealCtx, store, logger) }()
	defer func() { stopSealing(); <-sealed }()
	// The print queue prints from its own goroutines: a printer that is off
	// or out of paper never holds up settlement.
	queue := printer.NewQueue(store, logger)
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
	// One listener: the JSON API and the registers' endpoint under /api/,
	// the office's web page everywhere else.
	root := http.NewServeMux()
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

// sealInterval is how often the server seals the ledger.
const sealInterval = time.Second

// sealLedger seals what settled since the last seal, every sealInterval
// (and at once again while a seal was full), until ctx ends.
func sealLedger(ctx context.Context, store server.LedgerSealer, logger *slog.Logger) {
	t := time.NewTicker(sealInterval)
	defer t.Stop()
	for {
		n, err := store.Seal(ctx)
		if err != nil && ctx.Err() == nil {
			logger.Error("fanka-server: seal the ledger", "err", err)
		}
		if n == server.MaxSeal {
			continue
		}
		select {
		case <-ctx.Done():
			// What settled last is sealed before the server stops.
			if _, err := store.Seal(context.WithoutCancel(ctx)); err != nil {
				logger.Error("fanka-server: seal the ledger at shutdown", "err", err)
			}
			return
		case <-t.C:
		}
	}
}
