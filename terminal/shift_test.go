package terminal_test

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/fanka/fanka/shared/printer/printertest"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// golden compares got with testdata/name, or writes it there under -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s differs (-want +got, go test -update rewrites it):\n%s", path, diff)
	}
}

// TestShiftReport checks that a cashier signing out gets the report of
// their shift printed, after the shift's receipts and void slip, through
// the same queue: the journal's entries since the sign-in, sales net of
// voids per meal period (lunch, dinner, then those outside every period),
// the void, the journal range (testdata/shift_report.golden); and that a
// shift without a sale prints a report saying so.
func TestShiftReport(t *testing.T) {
	v := printertest.MustPrinter(t)
	r, _ := printingRig(t, filepath.Join(t.TempDir(), "journal.db"), netPrinter(v, quickPrint))
	r.do("in A1", "k 1\r", "=+ 成功 消费 1.00 | 余额 99.00", "out", // before any sign-in: in no shift
		"+1m", "k 1111\r", "= 请刷卡 | C01 已签到",
		"in A1", "k 12.50\r", "=+ 成功 消费 12.50 | 余额 86.50", "out",
		"in A1", "k 7\r", "=+ 成功 消费 7.00 | 余额 79.50", "out")
	// The receipt prints before the void (else the void would drop it).
	waitFor(t, "three receipts", func() bool { return len(v.Jobs()) == 3 })
	r.do("k 9999\r", "k \r", "=+ 已撤销 7.00 | 余额 86.50",
		"+2h", "in A1", "k 3\r", "=+ 成功 消费 3.00 | 余额 83.50", "out", // 14:01, between meals
		"+3h", "in FK0001", "k 10\r", "=+ 成功 消费 10.00 | 余额 90.00", "out", // 17:01, dinner
		"+1h", "k 1111\r", "= 请刷卡 | 已签退 C01", "entries 6")
	waitFor(t, "five receipts, a void slip and the shift report", func() bool { return len(v.Jobs()) == 7 && r.queued() == 0 })
	ts := v.Transcripts()
	if !strings.Contains(ts[3], "作废 VOID") {
		t.Errorf("the fourth document is not the void slip:\n%s", ts[3])
	}
	report := ts[6]
	golden(t, "shift_report.golden", report)
	for _, want := range []string{
		"[BOLD 1]交班报表\n", "窗口 二号窗口\n", "收银 C01\n", "开始 2026-11-25 12:01:00\n", "结束 2026-11-25 18:01:00\n",
		"流水 1-2 至 1-6\n",
		"午餐              1      ￥12.50\n", "晚餐              1      ￥10.00\n", "其他              1       ￥3.00\n",
		"消费合计          3      ￥25.50\n", "撤销              1       ￥7.00\n",
	} {
		if !strings.Contains(report, want) {
			t.Errorf("the shift report lacks %q:\n%s", want, report)
		}
	}

	// A shift without a sale; a cashier signed out by the next one.
	r.do("k 2222\r", "= 请刷卡 | C02 已签到", "+1m", "k 1111\r", "= 请刷卡 | C01 已签到")
	waitFor(t, "the empty shift's report", func() bool { return len(v.Jobs()) == 8 && r.queued() == 0 })
	empty := v.Transcripts()[7]
	for _, want := range []string{"收银 C02\n", "流水 无\n", "餐次           笔数         金额\n无\n", "消费合计          0       ￥0.00\n"} {
		if !strings.Contains(empty, want) {
			t.Errorf("the empty shift's report lacks %q:\n%s", want, empty)
		}
	}
}

// TestShiftAfterRestart checks that a register stopped with a cashier
// signed in prints that shift's report when it starts again, ending then,
// with the shift's sales; that the cashier must sign in again; and that
// the report prints once, not again at the next start.
func TestShiftAfterRestart(t *testing.T) {
	v := printertest.MustPrinter(t)
	path := filepath.Join(t.TempDir(), "journal.db")
	r, stop := printingRig(t, path, netPrinter(v, quickPrint))
	r.do("k 1111\r", "= 请刷卡 | C01 已签到", "in A1", "k 12.50\r", "=+ 成功 消费 12.50 | 余额 87.50", "out")
	waitFor(t, "the receipt", func() bool { return len(v.Jobs()) == 1 && r.queued() == 0 })
	stop()
	if err := r.journal.Close(); err != nil {
		t.Fatal(err)
	}
	again, stop := printingRig(t, path, netPrinter(v, quickPrint))
	waitFor(t, "the shift report after the restart", func() bool { return len(v.Jobs()) == 2 && again.queued() == 0 })
	report := v.Transcripts()[1]
	for _, want := range []string{"[BOLD 1]交班报表\n", "收银 C01\n", "开始 2026-11-25 12:00:00\n", "结束 2026-11-25 12:00:00\n",
		"流水 1-1 至 1-1\n", "午餐              1      ￥12.50\n"} {
		if !strings.Contains(report, want) {
			t.Errorf("the shift report lacks %q:\n%s", want, report)
		}
	}
	if !strings.Contains(again.log.String(), "shift ended by a restart") {
		t.Errorf("no warning of the shift ended by the restart:\n%s", again.log)
	}
	again.do("k 1111\r", "= 请刷卡 | C01 已签到") // signed out by the restart: this signs in
	stop()
	if err := again.journal.Close(); err != nil {
		t.Fatal(err)
	}
	third, _ := printingRig(t, path, netPrinter(v, quickPrint))
	waitFor(t, "the second shift's report", func() bool { return len(v.Jobs()) == 3 && third.queued() == 0 })
	time.Sleep(50 * time.Millisecond) // a report printed twice would show now
	if n := len(v.Jobs()); n != 3 || !strings.Contains(v.Transcripts()[2], "流水 无\n") {
		t.Errorf("%d documents; the last:\n%s", n, v.Transcripts()[n-1])
	}
}
