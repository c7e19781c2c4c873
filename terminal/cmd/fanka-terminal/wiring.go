package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"log/slog"
	"path/filepath"
	"runtime/debug"
	"sync"
	"time"

	"github.com/fanka/fanka/shared/wire"
	"github.com/fanka/fanka/terminal"
	"github.com/fanka/fanka/terminal/journal"
	"github.com/fanka/fanka/terminal/uplink"
)

// register is a register's core parts, wired: journal, uplink, state
// machine, and its receipt printer if it has one.
type register struct {
	journal  *journal.Journal
	uplink   *uplink.Uplink
	reg      *terminal.Register
	receipts *terminal.ReceiptPrinter // nil: no printer
	enrol    Enrolment
}

// statusConfig is what the register's status reports beyond its journal:
// its devices (nil: none configured; the printer is the receipt
// printer's) and how often it is sent when nothing changes (0: the
// uplink's default).
type statusConfig struct {
	interval                time.Duration
	reader, keypad, display terminal.HealthReporter
}

// openRegister opens the data directory's journal and builds the uplink to
// servers (none: the enrolment's server) and the state machine on display
// d, and the receipt printer of receipts (nil: none).
func openRegister(dir string, servers []ServerConfig, cfg terminal.Config, receipts *terminal.ReceiptConfig, d terminal.Display, sc statusConfig, log *slog.Logger) (*register, error) {
	e, err := loadEnrolment(dir)
	if err != nil {
		return nil, err
	}
	key, err := loadOrCreateKey(dir)
	if err != nil {
		return nil, err
	}
	links, err := uplinkServers(e, servers)
	if err != nil {
		return nil, err
	}
	j, err := journal.Open(filepath.Join(dir, journalFile), e.TerminalID, key)
	if err != nil {
		return nil, err
	}
	// The register applies the server's rules the uplink brings (and, from
	// the journal, the last ones it got, before the server is reached).
	var reg *terminal.Register
	status := &terminal.StatusSource{Journal: j, Reader: sc.reader, Keypad: sc.keypad, Display: sc.display, Software: softwareVersion()}
	up := uplink.New(uplink.Config{Servers: links, Terminal: e.TerminalID, Key: key, Journal: j, Logger: log,
		OnRules: func(m *wire.Rules) { reg.SetServerRules(m) },
		Status:  status.Status, StatusInterval: sc.interval})
	cfg.Logger = log
	cfg.Terminal = e.TerminalID
	cfg.PurseKey = key // purse records are signed with the journal's key
	if receipts != nil {
		j.QueueReceipts()
		rc := *receipts
		rc.Logger = log
		cfg.Receipts = terminal.NewReceiptPrinter(rc, j)
		status.Printer = cfg.Receipts
	}
	reg, err = terminal.NewRegister(cfg, j, d, up)
	if err != nil {
		j.Close()
		return nil, err
	}
	status.Limits = reg.OfflineLimits
	return &register{journal: j, uplink: up, reg: reg, receipts: cfg.Receipts, enrol: e}, nil
}

// softwareVersion names the binary for the register's status: the main
// module's version and, when built from a checkout, its commit.
func softwareVersion() string {
	v := "fanka-terminal"
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	v += " " + info.Main.Version
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			v += " " + s.Value[:12]
		}
	}
	return v
}

// uplinkServers returns the servers the uplink streams to: those of the
// config, each pinned to its own fingerprint or else to the enrolment's,
// or the enrolment's server alone if the config names none.
func uplinkServers(e Enrolment, servers []ServerConfig) ([]uplink.Server, error) {
	pin, err := hex.DecodeString(e.Fingerprint)
	if err != nil || len(pin) != 32 {
		return nil, fmt.Errorf("%s: damaged certificate fingerprint", enrolmentFile)
	}
	if len(servers) == 0 {
		servers = []ServerConfig{{URL: e.Server}}
	}
	var out []uplink.Server
	for i, s := range servers {
		ws, err := webSocketURL(s.URL)
		if err != nil {
			return nil, fmt.Errorf("server[%d]: %w", i, err)
		}
		p, err := s.pin()
		if err != nil {
			return nil, fmt.Errorf("server[%d]: %w", i, err)
		}
		if s.Fingerprint == "" {
			p = pin
		}
		out = append(out, uplink.Server{URL: ws, Fingerprint: p})
	}
	return out, nil
}

// run runs the register and its uplink until ctx ends.
func (r *register) run(ctx context.Context, reader terminal.CardReader, keypad terminal.Keypad) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		r.uplink.Run(ctx)
	}()
	if r.receipts != nil {
		wg.Go(func() { r.receipts.Run(ctx) })
	}
	err := r.reg.Run(ctx, reader, keypad, r.uplink.Changed())
	cancel()
	wg.Wait()
	return err
}

func (r *register) Close() error { return r.journal.Close() }
