package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/fanka/fanka/shared/escpos"
	"github.com/fanka/fanka/shared/printer"
)

// printTestTimeout bounds the whole print-test: reaching the printer,
// asking its status, sending the page and its confirmation.
const printTestTimeout = time.Minute

// printTest runs `print-test --printer NAME`: it prints the test page on
// the printer NAME names and returns the exit code. A printer that cannot
// be reached, or says it cannot print (out of paper, cover open), fails
// with a message that says so.
func (m *Main) printTest(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("fanka-server print-test", flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	name := fs.String("printer", "", "the printer: tcp://HOST[:PORT], file:PATH or serial:PATH[?baud=N]")
	canteen := fs.String("canteen", "", "a canteen's name to print on the page")
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case err == nil && fs.NArg() > 0:
		err = fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case err == nil && *name == "":
		err = errors.New("--printer is required")
	}
	if err != nil {
		fmt.Fprintf(m.Stderr, "fanka-server print-test: %v\n", err)
		fmt.Fprintf(m.Stderr, usage, DefaultConfig().Listen)
		return exitUsage
	}
	p, err := printer.Parse(*name)
	if err != nil {
		fmt.Fprintf(m.Stderr, "fanka-server print-test: %v\n", err)
		return exitUsage
	}
	doc, err := escpos.RenderTestPage(escpos.TestPage{Canteen: *canteen, Printer: p.String(), Time: time.Now()})
	if err != nil {
		fmt.Fprintf(m.Stderr, "fanka-server print-test: %v\n", err)
		return exitFail
	}
	ctx, cancel := context.WithTimeout(ctx, printTestTimeout)
	defer cancel()
	err = p.Print(ctx, doc)
	var notReady *printer.NotReadyError
	switch {
	case err == nil:
	case errors.As(err, &notReady):
		fmt.Fprintf(m.Stderr, "fanka-server print-test: the printer %s cannot print: %s\n", p, describe(notReady.Status))
		return exitFail
	case errors.Is(err, printer.ErrUnreachable):
		fmt.Fprintf(m.Stderr, "fanka-server print-test: %v\n", err) // printer NAME: unreachable, …
		return exitFail
	default:
		fmt.Fprintf(m.Stderr, "fanka-server print-test: %v (the page may be cut short)\n", err)
		return exitFail
	}
	status := "status unknown (one-way link)"
	if st, err := p.Status(ctx); err == nil {
		status = "status " + st.String()
	} else if !errors.Is(err, printer.ErrNoStatus) {
		status = "status: " + err.Error()
	}
	fmt.Fprintf(m.Stdout, "fanka-server: printed the test page on %s; %s\n", p, status)
	return exitOK
}

// describe says in words what keeps a printer from printing.
func describe(s printer.Status) string {
	switch {
	case s.PaperOut:
		return "out of paper"
	case s.CoverOpen:
		return "the cover is open"
	case s.Error:
		return "it reports an error (cutter or mechanism)"
	}
	return "it is offline"
}
