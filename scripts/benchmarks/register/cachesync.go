package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"time"

	"github.com/fanka/fanka/scripts/benchmarks/settleload"
	"github.com/fanka/fanka/server/gateway"
	"github.com/fanka/fanka/server/sqlite"
	"github.com/fanka/fanka/terminal/journal"
	"github.com/fanka/fanka/terminal/uplink"
)

// barCacheSyncS is register_cache_sync_1m_s's bar (DESIGN.md §10).
const barCacheSyncS = 30

// cacheSync measures register_cache_sync_1m_s: a server on SQLite (in
// serverDir) with cards cards, opened by settleload's bulk loader with
// numbers spread over the key space as real UIDs are (cardNo), and its
// gateway on a TLS listener on loopback; a new register, with its journal
// in registerDir, connects through the production uplink; the time is from
// the uplink's start to the register's journal holding the server's last
// card version as its card cursor (which it writes in the transaction
// that stores the cards that cursor covers). It returns that time and how
// many card frames the gateway sent.
func cacheSync(ctx context.Context, serverDir, registerDir string, cards int) (time.Duration, error) {
	path := filepath.Join(serverDir, "fanka.db")
	store := sqlite.New(path)
	if err := store.Open(ctx); err != nil { // the schema
		return 0, err
	}
	store.Close()
	t0 := time.Now()
	if err := settleload.BulkOpenNamed(ctx, path, 0, cards, time.Now(), cardNo); err != nil {
		return 0, err
	}
	note("cache sync: %d cards opened on the server in %v", cards, time.Since(t0).Round(time.Millisecond))
	store = sqlite.New(path)
	if err := store.Open(ctx); err != nil {
		return 0, err
	}
	defer store.Close()
	version, err := store.CardVersion(ctx)
	if err != nil {
		return 0, err
	}
	gw := gateway.New(store, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	defer gw.Close()
	const wsPath = "/api/v1/terminal/ws"
	mux := http.NewServeMux()
	mux.Handle("GET "+wsPath, gw)
	srv := httptest.NewUnstartedServer(mux)
	srv.StartTLS()
	defer srv.Close()
	pin := sha256.Sum256(srv.Certificate().Raw)

	t, key, err := settleload.Enroll(ctx, store, "till")
	if err != nil {
		return 0, err
	}
	j, err := journal.Open(filepath.Join(registerDir, "journal.db"), t.ID, key)
	if err != nil {
		return 0, err
	}
	defer j.Close()
	u := uplink.New(uplink.Config{URL: "wss://" + srv.Listener.Addr().String() + wsPath, Terminal: t.ID, Key: key,
		Fingerprint: pin[:], Journal: j, Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- u.Run(runCtx) }()
	defer func() {
		stop()
		<-done
	}()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case err := <-done:
			return 0, fmt.Errorf("uplink ended: %v", err)
		case <-tick.C:
		}
		cursor, err := j.CardCursor()
		if err != nil {
			return 0, err
		}
		if cursor == version {
			return time.Since(start), nil
		}
		if time.Since(last) > 10*time.Second {
			note("cache sync: card cursor %d of %d after %v", cursor, version, time.Since(start).Round(time.Second))
			last = time.Now()
		}
	}
}
