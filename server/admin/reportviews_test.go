package admin_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fanka/fanka/server"
	printqueue "github.com/fanka/fanka/server/printer"
	"github.com/fanka/fanka/server/servertest"
	"github.com/fanka/fanka/shared/journal"
	"github.com/fanka/fanka/shared/printer"
	"github.com/fanka/fanka/shared/printer/printertest"
)

// reportDay settles, on the env's day (2026-03-02): register a sells 5.00
// at 07:00 (breakfast) by cashier C01, 12.50 at 12:00 (lunch) by C02 and
// voids it at 12:01; register b sells 8.00 at 12:00 with no cashier
// signed in. The void, made at 12:01 by a register's clock ahead of the
// server's (12:00), counts at 12:00. It returns a and b.
func reportDay(t *testing.T, e *env) (a, b *servertest.Register) {
	t.Helper()
	servertest.OpenCard(t, e.store, "C1", 100000)
	servertest.OpenCard(t, e.store, "C2", 100000)
	a, b = e.register(t), e.register(t)
	at := func(h, m int) int64 { return time.Date(2026, 3, 2, h, m, 0, 0, time.Local).UnixMilli() }
	e.settle(t, a,
		a.Record(t, journal.Entry{Kind: journal.KindSale, CardNo: "C1", Amount: 500, Cashier: "C01", Time: at(7, 0)}),
		a.Record(t, journal.Entry{Kind: journal.KindSale, CardNo: "C1", Amount: 1250, Cashier: "C02", Time: at(12, 0)}),
		a.Record(t, journal.Entry{Kind: journal.KindVoid, CardNo: "C1", Amount: 1250, Cashier: "C02", VoidSeq: 2, Time: at(12, 1)}),
	)
	e.settle(t, b, b.Record(t, journal.Entry{Kind: journal.KindSale, CardNo: "C2", Amount: 800, Time: at(12, 0)}))
	return a, b
}

// readCSV gets path and returns its rows, checking it is a CSV file named
// name that starts with a byte order mark.
func readCSV(t *testing.T, e *env, path, token, name string) [][]string {
	t.Helper()
	resp, body := e.get(t, path, token)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/csv; charset=utf-8" ||
		!strings.Contains(resp.Header.Get("Content-Disposition"), name) {
		t.Fatalf("%s: %d %v\n%s", path, resp.StatusCode, resp.Header, body)
	}
	text, ok := strings.CutPrefix(string(body), "\uFEFF")
	if !ok {
		t.Errorf("%s does not start with a UTF-8 byte order mark", path)
	}
	rows, err := csv.NewReader(strings.NewReader(text)).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v\n%s", path, err, body)
	}
	return rows
}

// TestReportViews: the day per meal period, per register (with its
// cashiers and periods) and per minute, as JSON and CSV, all adding up to
// the day's totals; bad dates and counts are refused.
func TestReportViews(t *testing.T) {
	e := newEnv(t)
	e.addUser(t, "audrey", "pass phrase", server.RoleAuditor)
	auditor := e.login(t, "audrey", "pass phrase")
	a, b := reportDay(t, e)

	status, out := e.do(t, "GET", "/api/v1/reports/periods?date=2026-03-02", auditor, nil)
	if status != 200 || out["sales"] != json.Number("2") || out["amount"] != json.Number("1300") {
		t.Fatalf("periods: %d %v", status, out)
	}
	got := fmt.Sprint(out["periods"])
	want := "[map[amount:500 end:10:00 flagged:0 flagged_amount:0 period:breakfast sales:1 start:06:00 void_amount:0 voids:0] " +
		"map[amount:800 end:14:00 flagged:0 flagged_amount:0 period:lunch sales:1 start:10:30 void_amount:1250 voids:1] " +
		"map[amount:0 end:20:00 flagged:0 flagged_amount:0 period:dinner sales:0 start:16:30 void_amount:0 voids:0] " +
		"map[amount:0 end: flagged:0 flagged_amount:0 period:other sales:0 start: void_amount:0 voids:0]]"
	if got != want {
		t.Errorf("periods\n%s\nwant\n%s", got, want)
	}
	rows := readCSV(t, e, "/api/v1/reports/periods.csv?date=2026-03-02", auditor, "fanka-periods-2026-03-02.csv")
	wantRows := [][]string{
		{"日期 date", "餐次 meal period", "开始 start", "结束 end", "笔数 sales", "金额(元) amount (yuan)", "撤销 voids", "撤销金额(元) voided (yuan)", "待复核 flagged", "待复核金额(元) flagged (yuan)"},
		{"2026-03-02", "breakfast", "06:00", "10:00", "1", "5.00", "0", "0.00", "0", "0.00"},
		{"2026-03-02", "lunch", "10:30", "14:00", "1", "8.00", "1", "12.50", "0", "0.00"},
		{"2026-03-02", "dinner", "16:30", "20:00", "0", "0.00", "0", "0.00", "0", "0.00"},
		{"2026-03-02", "other", "", "", "0", "0.00", "0", "0.00", "0", "0.00"},
		{"2026-03-02", "合计 total", "", "", "2", "13.00", "1", "12.50", "0", "0.00"},
	}
	if fmt.Sprintf("%q", rows) != fmt.Sprintf("%q", wantRows) {
		t.Errorf("periods CSV\n%q\nwant\n%q", rows, wantRows)
	}

	status, out = e.do(t, "GET", "/api/v1/reports/registers?date=2026-03-02", auditor, nil)
	regs, _ := out["registers"].([]any)
	if status != 200 || len(regs) != 2 || fmt.Sprint(out["periods"]) != "[breakfast lunch dinner other]" {
		t.Fatalf("registers: %d %v", status, out)
	}
	ra := regs[0].(map[string]any)
	if ra["terminal_id"] != json.Number(fmt.Sprint(a.ID)) || ra["sales"] != json.Number("1") || ra["amount"] != json.Number("500") ||
		ra["voids"] != json.Number("1") || ra["first_seq"] != json.Number("1") || ra["last_seq"] != json.Number("3") ||
		fmt.Sprint(ra["by_cashier"]) != "[map[amount:500 cashier:C01 sales:1] map[amount:0 cashier:C02 sales:0]]" {
		t.Errorf("register a: %v", ra)
	}
	rows = readCSV(t, e, "/api/v1/reports/registers.csv?date=2026-03-02", auditor, "fanka-registers-2026-03-02.csv")
	wantRows = [][]string{
		{"日期 date", "收银机编号 register id", "收银机 register", "食堂 canteen", "收银员 cashiers", "笔数 sales", "金额(元) amount (yuan)", "撤销 voids", "待复核 flagged",
			"首笔流水 first seq", "末笔流水 last seq", "breakfast 笔数 sales", "breakfast 金额(元) amount (yuan)", "lunch 笔数 sales",
			"lunch 金额(元) amount (yuan)", "dinner 笔数 sales", "dinner 金额(元) amount (yuan)", "other 笔数 sales", "other 金额(元) amount (yuan)"},
		{"2026-03-02", fmt.Sprint(a.ID), "till", "食堂", "C01: 1; C02: 0", "1", "5.00", "1", "0", "1", "3", "1", "5.00", "0", "0.00", "0", "0.00", "0", "0.00"},
		{"2026-03-02", fmt.Sprint(b.ID), "till", "食堂", "(none): 1", "1", "8.00", "0", "0", "1", "1", "0", "0.00", "1", "8.00", "0", "0.00", "0", "0.00"},
		{"2026-03-02", "", "合计 total", "", "", "2", "13.00", "1", "0", "", "", "1", "5.00", "1", "8.00", "0", "0.00", "0", "0.00"},
	}
	if fmt.Sprintf("%q", rows) != fmt.Sprintf("%q", wantRows) {
		t.Errorf("registers CSV\n%q\nwant\n%q", rows, wantRows)
	}

	// Minutes: today (the env's clock is 12:00) ends with the current
	// minute; another day is the day's last minutes.
	status, out = e.do(t, "GET", "/api/v1/reports/minutes?last=3", auditor, nil)
	if status != 200 || fmt.Sprint(out["minutes"]) != "[map[amount:0 minute:11:58 sales:0] map[amount:0 minute:11:59 sales:0] map[amount:800 minute:12:00 sales:1]]" {
		t.Errorf("last 3 minutes of today: %d %v", status, out)
	}
	status, out = e.do(t, "GET", "/api/v1/reports/minutes?date=2026-03-01&last=2", auditor, nil)
	if status != 200 || fmt.Sprint(out["minutes"]) != "[map[amount:0 minute:23:58 sales:0] map[amount:0 minute:23:59 sales:0]]" {
		t.Errorf("last 2 minutes of yesterday: %d %v", status, out)
	}
	if status, out = e.do(t, "GET", "/api/v1/reports/minutes", auditor, nil); status != 200 || len(out["minutes"].([]any)) != 60 {
		t.Errorf("minutes by default: %d, %d of them; want 60", status, len(out["minutes"].([]any)))
	}

	for _, bad := range []string{"/periods?date=2026-02-30", "/periods.csv?date=x", "/registers?date=1999-01-01", "/registers.csv?date=2026-3-2",
		"/minutes?last=0", "/minutes?last=1441", "/minutes?last=abc", "/minutes?date=tomorrow"} {
		status, out := e.do(t, "GET", "/api/v1/reports"+bad, auditor, nil)
		wantError(t, bad, status, out, 400, server.EINVALID)
	}
	if status, _ := e.do(t, "GET", "/api/v1/reports/registers", "", nil); status != http.StatusUnauthorized {
		t.Errorf("registers without a token: %d", status)
	}
}

// TestPrintReports: an auditor prints the daily report, the lunch Z report
// and a register's shift report on the office printer; each reaches the
// (virtual) printer once, with the day's numbers. Unknown printers,
// periods and registers, and a server without printers, are refused
// before anything is queued.
func TestPrintReports(t *testing.T) {
	e := newEnv(t)
	e.addUser(t, "audrey", "pass phrase", server.RoleAuditor)
	auditor := e.login(t, "audrey", "pass phrase")
	a, _ := reportDay(t, e)
	e.api.Canteen = "第一食堂"

	body := map[string]any{"printer": "office", "report": "daily", "date": "2026-03-02"}
	status, out := e.do(t, "POST", "/api/v1/reports/print", auditor, body)
	wantError(t, "print on a server without printers", status, out, 400, server.EINVALID)

	office := printertest.MustPrinter(t)
	q := printqueue.NewQueue(e.store, nil)
	q.MinBackoff, q.StatusInterval = 20*time.Millisecond, 20*time.Millisecond
	if err := q.Add("office", &printer.Network{Addr: office.Addr(), TwoWay: true}); err != nil {
		t.Fatal(err)
	}
	if err := q.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	e.api.Printers = q

	for _, bad := range []struct {
		body   map[string]any
		status int
		code   string
	}{
		{map[string]any{"printer": "nowhere", "report": "daily"}, 400, server.EINVALID},
		{map[string]any{"report": "daily"}, 400, server.EINVALID},
		{map[string]any{"printer": "office", "report": "weekly"}, 400, server.EINVALID},
		{map[string]any{"printer": "office", "report": "z", "period": "brunch"}, 400, server.EINVALID},
		{map[string]any{"printer": "office", "report": "z", "period": "other"}, 400, server.EINVALID},
		{map[string]any{"printer": "office", "report": "shift"}, 400, server.EINVALID},
		{map[string]any{"printer": "office", "report": "shift", "terminal_id": 999}, 404, server.ENOTFOUND},
		{map[string]any{"printer": "office", "report": "daily", "date": "2026-02-30"}, 400, server.EINVALID},
		{map[string]any{"printer": "office", "report": "daily", "extra": 1}, 400, server.EINVALID},
	} {
		status, out := e.do(t, "POST", "/api/v1/reports/print", auditor, bad.body)
		wantError(t, fmt.Sprint(bad.body), status, out, bad.status, bad.code)
	}

	for _, b := range []map[string]any{
		{"printer": "office", "report": "daily", "date": "2026-03-02"},
		{"printer": "office", "report": "z", "date": "2026-03-02", "period": "lunch"},
		{"printer": "office", "report": "shift", "date": "2026-03-02", "terminal_id": a.ID},
	} {
		status, out := e.do(t, "POST", "/api/v1/reports/print", auditor, b)
		if status != http.StatusAccepted || out["job_id"] == nil {
			t.Fatalf("print %v: %d %v", b, status, out)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		states, err := q.Printers(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(states) == 1 && states[0].Queued == 0 && len(office.Transcripts()) >= 3 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	got := office.Transcripts()
	if len(got) != 3 {
		t.Fatalf("%d documents printed, want 3 (each once):\n%s", len(got), strings.Join(got, "\n----\n"))
	}
	for i, want := range [][]string{
		{"第一食堂", "营业日报", "日期 2026-03-02", "till", "breakfast", "lunch", "消费合计          2      ￥13.00", "撤销              1      ￥12.50", "[CUT"},
		{"Z报表 lunch", "开始 2026-03-02 10:30:00", "结束 2026-03-02 14:00:00", "消费合计          1       ￥8.00", "撤销              1      ￥12.50"},
		{"交班报表", "收银 C01、C02", fmt.Sprintf("流水 %d-1 至 %d-3", a.ID, a.ID), "breakfast", "消费合计          1       ￥5.00", "主管 ___"},
	} {
		for _, w := range want {
			if !strings.Contains(got[i], w) {
				t.Errorf("document %d lacks %q:\n%s", i+1, w, got[i])
			}
		}
	}
	// The audit log names who printed what.
	recs, err := e.store.Audit(context.Background(), 10)
	if err != nil {
		t.Fatal(err)
	}
	printed := 0
	for _, r := range recs {
		if r.Action == "report.print" && r.User == "audrey" {
			printed++
		}
	}
	if printed != 3 {
		t.Errorf("%d report.print records by audrey in the audit log, want 3", printed)
	}
}
