package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime/pprof"
	"slices"
	"time"

	"github.com/fanka/fanka/server"
	"github.com/fanka/fanka/server/admin"
	"github.com/fanka/fanka/server/sqlite"
)

// result is what measure measured.
type result struct {
	DaySales   int
	ScanMedian time.Duration // the store's DailyReport alone
	First      time.Duration // the first request, on a cold server
	P50, P95   time.Duration
}

// measure opens the ledger with the real store, serves the real API over
// HTTPS on loopback, signs in and asks for the peak day's report, first
// through the API, then of the store directly. Every report must count
// the day's sales and amount exactly.
func measure(ctx context.Context, cfg config, path string, led ledger) (result, error) {
	var res result
	st := sqlite.New(path)
	if err := st.Open(ctx); err != nil {
		return res, err
	}
	defer st.Close()
	if cfg.Verify {
		start := time.Now()
		rep, err := st.Verify(ctx)
		if err != nil {
			return res, fmt.Errorf("verify the ledger: %w", err)
		}
		note("verified %d transactions, %d entries in %v", rep.Transactions, rep.Entries, time.Since(start).Round(time.Second))
	}
	hash, err := server.HashPasswordWith(server.PasswordParams{Memory: 64, Time: 1, Threads: 1}, "bench password")
	if err != nil {
		return res, err
	}
	err = st.CreateUser(ctx, server.User{Name: "bench", PasswordHash: hash, Role: server.RoleAuditor})
	if err != nil && server.ErrorCode(err) != server.ECONFLICT {
		return res, err
	}
	api := admin.New(st, nil, nil)
	srv := httptest.NewTLSServer(api)
	defer srv.Close()
	client := srv.Client()

	body, _ := json.Marshal(admin.LoginRequest{User: "bench", Password: "bench password"})
	resp, err := client.Post(srv.URL+"/api/v1/login", "application/json", bytes.NewReader(body))
	if err != nil {
		return res, err
	}
	var login admin.LoginResponse
	err = json.NewDecoder(resp.Body).Decode(&login)
	resp.Body.Close()
	if err != nil || login.Token == "" {
		return res, fmt.Errorf("login: %d, %v", resp.StatusCode, err)
	}

	ask := func() (time.Duration, error) {
		req, err := http.NewRequestWithContext(ctx, "GET", srv.URL+"/api/v1/reports/daily?date="+led.PeakDate, nil)
		if err != nil {
			return 0, err
		}
		req.Header.Set("Authorization", "Bearer "+login.Token)
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		var rep server.DailyReport
		err = json.NewDecoder(resp.Body).Decode(&rep)
		resp.Body.Close()
		took := time.Since(start)
		if err != nil || resp.StatusCode != 200 {
			return 0, fmt.Errorf("report of %s: %d, %v", led.PeakDate, resp.StatusCode, err)
		}
		if rep.Sales != int64(led.PeakSales) || rep.Amount != led.PeakTotal {
			return 0, fmt.Errorf("report of %s: %d sales of %d fen, want %d of %d", led.PeakDate, rep.Sales, rep.Amount, led.PeakSales, led.PeakTotal)
		}
		return took, nil
	}
	if res.First, err = ask(); err != nil {
		return res, err
	}
	note("first report of %s (%d sales) over HTTPS: %v", led.PeakDate, led.PeakSales, res.First.Round(time.Millisecond))
	if _, err := ask(); err != nil {
		return res, err
	}
	var times []time.Duration
	for range cfg.Requests {
		took, err := ask()
		if err != nil {
			return res, err
		}
		times = append(times, took)
	}
	slices.Sort(times)
	res.P50 = times[len(times)/2]
	res.P95 = times[min(len(times)-1, (len(times)*95+99)/100-1)]

	date, err := time.ParseInLocation(time.DateOnly, led.PeakDate, time.Local)
	if err != nil {
		return res, err
	}
	if cfg.CPUProfile != "" {
		f, err := os.Create(cfg.CPUProfile)
		if err != nil {
			return res, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return res, err
		}
		defer pprof.StopCPUProfile()
	}
	var scans []time.Duration
	for range 5 {
		start := time.Now()
		rep, err := st.DailyReport(ctx, server.DailyQuery{Date: date})
		if err != nil {
			return res, err
		}
		scans = append(scans, time.Since(start))
		res.DaySales = int(rep.Sales)
	}
	slices.Sort(scans)
	res.ScanMedian = scans[len(scans)/2]
	return res, nil
}
