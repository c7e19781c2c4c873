package main_test

import (
	"strings"
	"testing"

	"github.com/fanka/fanka/shared/printer"
	"github.com/fanka/fanka/shared/printer/printertest"
)

func TestPrintTest(t *testing.T) {
	v := printertest.MustPrinter(t)
	code, stdout, stderr := run(t, nil, "print-test", "--printer", v.Name())
	if code != 0 || !strings.Contains(stdout, "printed the test page on "+v.Name()+"; status ready") {
		t.Fatalf("print-test: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	ts := v.Transcripts()
	if len(ts) != 1 {
		t.Fatalf("%d jobs printed, want 1:\n%q", len(ts), ts)
	}
	for _, want := range []string{"[INIT][CHINESE]", "打印测试", "食堂", "打印机 " + v.Name(), "￥12.50"} {
		if !strings.Contains(ts[0], want) {
			t.Errorf("the test page lacks %q:\n%s", want, ts[0])
		}
	}
	if !strings.HasSuffix(ts[0], "[CUT feed 48]") {
		t.Errorf("the test page is not cut:\n%s", ts[0])
	}
}

func TestPrintTestFails(t *testing.T) {
	paperOut := printertest.MustPrinter(t)
	paperOut.SetStatus(printer.Status{PaperOut: true})
	off := printertest.MustPrinter(t)
	off.Off()
	for _, tt := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--printer", paperOut.Name()}, 1, "the printer " + paperOut.Name() + " cannot print: out of paper"},
		{[]string{"--printer", off.Name()}, 1, "printer " + off.Name() + ": unreachable, nothing was sent: dial tcp"},
		{[]string{"--printer", "lp0"}, 2, "unknown kind"},
		{[]string{}, 2, "--printer is required"},
		{[]string{"--printer", off.Name(), "extra"}, 2, "unexpected argument"},
	} {
		code, stdout, stderr := run(t, nil, append([]string{"print-test"}, tt.args...)...)
		if code != tt.code || !strings.Contains(stderr, tt.want) || stdout != "" {
			t.Errorf("print-test %q: exit %d, stdout %q, stderr %q; want %d and %q", tt.args, code, stdout, stderr, tt.code, tt.want)
		}
	}
	if jobs := paperOut.Jobs(); len(jobs) != 0 {
		t.Errorf("the page was sent to a printer without paper")
	}
}
