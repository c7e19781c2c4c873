// Command fanka-terminal is the register daemon: it enrols the register with
// the server, runs it on real devices (run) or on virtual ones drawn in the
// terminal window (sim).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/fanka/fanka/terminal"
)

const usage = `usage:
  fanka-terminal enroll --server URL --code CODE --data DIR
  fanka-terminal run --config FILE
  fanka-terminal key --data DIR
  fanka-terminal sim --data DIR [--card CARDNO] [--server URL --code CODE] [--note TEXT] [--daily-count N] [--printer LINK] [--servers URL=FINGERPRINT,…]
`

func main() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(terminal.MemoryLimit)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	var ue usageError
	switch {
	case errors.As(err, &ue):
		fmt.Fprintf(os.Stderr, "fanka-terminal: %v\n%s", err, usage)
		os.Exit(2)
	case err != nil:
		fmt.Fprintf(os.Stderr, "fanka-terminal: %v\n", err)
		os.Exit(1)
	}
}

type usageError struct{ error }

// Main runs one subcommand.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError{errors.New("no command")}
	}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	switch args[0] {
	case "enroll":
		server := fs.String("server", "", "server URL, e.g. https://canteen-server:8443")
		code := fs.String("code", "", "one-time enrolment code from the office")
		data := fs.String("data", "", "the register's data directory")
		fingerprint := fs.String("fingerprint", "", "expected server certificate SHA-256 (hex); default: trust on first use")
		if err := parse(fs, args[1:]); err != nil {
			return err
		}
		if *server == "" || *code == "" || *data == "" {
			return usageError{errors.New("enroll needs --server, --code and --data")}
		}
		return enroll(ctx, *server, *code, *data, *fingerprint, stdout)
	case "run":
		config := fs.String("config", "", "register config file (TOML)")
		if err := parse(fs, args[1:]); err != nil {
			return err
		}
		if *config == "" {
			return usageError{errors.New("run needs --config")}
		}
		cfg, err := ReadConfigFile(*config)
		if err != nil {
			return err
		}
		return run(ctx, cfg, newLogger(stderr))
	case "key":
		data := fs.String("data", "", "the register's data directory, enrolled")
		if err := parse(fs, args[1:]); err != nil {
			return err
		}
		if *data == "" {
			return usageError{errors.New("key needs --data")}
		}
		return printPurseWriter(*data, stdout)
	case "sim":
		server := fs.String("server", "", "server URL (used when the data directory is not yet enrolled with --code)")
		code := fs.String("code", "", "enrolment code, if the data directory is not enrolled yet")
		data := fs.String("data", "", "the register's data directory")
		card := fs.String("card", "", "card number the i key inserts")
		note := fs.String("note", "", "a line shown under the display (the demo shows the office URL)")
		daily := fs.Int("daily-count", terminal.DefaultRules().DailyCount, "most sales per card per day; 0 for no limit")
		prn := fs.String("printer", "", "receipt printer, as the config's printer (tcp://HOST:9100, file:PATH, serial:PATH)")
		servers := fs.String("servers", "", "servers to stream to, as the config's [[server]] tables: `URL[=FINGERPRINT],…` (default: the enrolment's)")
		if err := parse(fs, args[1:]); err != nil {
			return err
		}
		if *data == "" {
			return usageError{errors.New("sim needs --data")}
		}
		list, err := parseServers(*servers)
		if err != nil {
			return usageError{fmt.Errorf("--servers: %w", err)}
		}
		return sim(ctx, simOptions{server: *server, code: *code, data: *data, card: *card, note: *note, dailyCount: *daily, printer: *prn, servers: list}, stdin, stdout)
	}
	return usageError{fmt.Errorf("unknown command %q", args[0])}
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	return nil
}

func newLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
}
