package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/fanka/fanka/terminal"
	"github.com/fanka/fanka/terminal/pcsc"
)

// run runs the register on real devices.
func run(ctx context.Context, cfg Config, log *slog.Logger) error {
	rules, err := cfg.SaleRules()
	if err != nil {
		return err
	}
	profiles, err := cfg.CardProfiles()
	if err != nil {
		return err
	}
	writers, err := cfg.PurseKeys()
	if err != nil {
		return err
	}
	receipts, err := cfg.Receipts()
	if err != nil {
		return err
	}
	interval, err := cfg.Status()
	if err != nil {
		return err
	}
	devs, err := openSerialDevices(cfg, log)
	if err != nil {
		return err
	}
	defer devs.Close()
	reader, err := pcsc.Open(pcsc.Config{ReaderPrefix: cfg.Reader.Prefix, Profiles: profiles, Logger: log})
	if err != nil {
		return err
	}
	defer reader.Close()
	sc := statusConfig{interval: interval, reader: reader, keypad: devs.keypad, display: devs.display}
	r, err := openRegister(cfg.Data, cfg.Servers, terminal.Config{Rules: &rules, Cashier: cfg.Cashier, Beeper: devs.beeper, PurseKeys: writers}, receipts, devs.display, sc, log)
	if err != nil {
		return err
	}
	defer r.Close()
	printer := "none"
	if receipts != nil {
		printer = receipts.Printer.String()
	}
	log.Info("register running", "register", r.enrol.TerminalID, "server", r.enrol.Server, "printer", printer, "pid", os.Getpid())
	return r.run(ctx, reader, devs.keypad)
}
