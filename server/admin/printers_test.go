package admin_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fanka/fanka/server"
	"github.com/fanka/fanka/server/printer"
	"github.com/fanka/fanka/server/printer/printertest"
)

// TestPrinters: GET /api/v1/printers shows each printer's condition as it
// reports it (paper out) and the jobs waiting for it.
func TestPrinters(t *testing.T) {
	e := newEnv(t)
	if status, body := e.do(t, "GET", "/api/v1/printers", e.token, nil); status != http.StatusOK || len(body["printers"].([]any)) != 0 {
		t.Fatalf("without printers: %d %v", status, body)
	}

	office := printertest.MustPrinter(t)
	office.SetStatus(printer.Status{PaperOut: true})
	window := printertest.MustPrinter(t)
	window.Off()
	q := printer.NewQueue(e.store, nil)
	q.MinBackoff, q.StatusInterval = 20*time.Millisecond, 20*time.Millisecond
	timeouts := printer.Timeouts{Write: 300 * time.Millisecond, Reply: 300 * time.Millisecond}
	for name, p := range map[string]printer.Printer{
		"office":   &printer.Network{Addr: office.Addr(), TwoWay: true, Timeouts: timeouts},
		"window-2": &printer.Network{Addr: window.Addr(), TwoWay: true, Timeouts: timeouts},
	} {
		if err := q.Add(name, p); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	e.api.Printers = q
	if _, err := q.Enqueue(context.Background(),
		server.PrintJob{Printer: "office", Title: "日报", Doc: []byte("\x1b@")},
		server.PrintJob{Printer: "office", Title: "Z报表", Doc: []byte("\x1b@")},
		server.PrintJob{Printer: "window-2", Title: "receipt", Doc: []byte("\x1b@")},
	); err != nil {
		t.Fatal(err)
	}

	var printers []any
	deadline := time.Now().Add(10 * time.Second)
	for {
		status, body := e.do(t, "GET", "/api/v1/printers", e.token, nil)
		if status != http.StatusOK {
			t.Fatalf("GET /printers: %d %v", status, body)
		}
		printers = body["printers"].([]any)
		if len(printers) == 2 && printers[0].(map[string]any)["status"] == "paper_out" && printers[1].(map[string]any)["status"] == "unreachable" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("printers never showed paper out and unreachable: %v", printers)
		}
		time.Sleep(10 * time.Millisecond)
	}
	p := printers[0].(map[string]any)
	if p["name"] != "office" || p["printer"] != "tcp://"+office.Addr() || fmt.Sprint(p["queued"]) != "2" {
		t.Errorf("office: %v", p)
	}
	if d, _ := p["detail"].(map[string]any); d["paper_out"] != true || d["online"] != false {
		t.Errorf("office's detail: %v", p["detail"])
	}
	if p := printers[1].(map[string]any); p["name"] != "window-2" || fmt.Sprint(p["queued"]) != "1" || p["last_error"] == "" {
		t.Errorf("window-2: %v", p)
	}
	if jobs := office.Jobs(); len(jobs) != 0 {
		t.Errorf("jobs sent to a printer without paper: %q", jobs)
	}
	if status, _ := e.do(t, "GET", "/api/v1/printers", "", nil); status != http.StatusUnauthorized {
		t.Errorf("without a token: %d", status)
	}
}

// TestOperationSlips: a recharge, a refund and a close print their slip on
// the printer asked for; other operations, unknown printers and a server
// without printers are refused before any money moves.
func TestOperationSlips(t *testing.T) {
	e := newEnv(t)
	e.openCard(t, "04A1B2C3", "110101199001011234", 10000)
	status, out := e.do(t, "POST", "/api/v1/cards/04A1B2C3/recharge", e.token, map[string]any{"request_id": "r0", "amount": 100, "print": "office"})
	if status != http.StatusBadRequest {
		t.Errorf("a slip on a server without printers: %d %v, want 400", status, out)
	}
	office := printertest.MustPrinter(t)
	q := printer.NewQueue(e.store, nil)
	q.MinBackoff, q.StatusInterval = 20*time.Millisecond, 20*time.Millisecond
	if err := q.Add("office", &printer.Network{Addr: office.Addr(), TwoWay: true}); err != nil {
		t.Fatal(err)
	}
	if err := q.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	e.api.Printers = q
	for _, bad := range []map[string]any{
		{"request_id": "b1", "amount": 100, "print": "nowhere"},
		{"request_id": "b2", "print": "office", "reason": "x"}, // a freeze prints nothing
	} {
		path := "/api/v1/cards/04A1B2C3/recharge"
		if bad["amount"] == nil {
			path = "/api/v1/cards/04A1B2C3/freeze"
		}
		if status, out := e.do(t, "POST", path, e.token, bad); status != http.StatusBadRequest {
			t.Errorf("%v: %d %v, want 400", bad, status, out)
		}
	}
	for i, step := range []struct {
		op   string
		body map[string]any
	}{
		{"recharge", map[string]any{"amount": 5000}},
		{"close", map[string]any{}},
	} {
		step.body["request_id"], step.body["print"] = fmt.Sprintf("s%d", i), "office"
		if status, out := e.do(t, "POST", "/api/v1/cards/04A1B2C3/"+step.op, e.token, step.body); status != 200 || out["print_error"] != nil {
			t.Fatalf("%s: %d %v", step.op, status, out)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(office.Transcripts()) < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	got := office.Transcripts()
	if len(got) != 2 {
		t.Fatalf("%d slips printed, want 2", len(got))
	}
	for i, want := range [][]string{{"充值凭证", "50.00", "150.00"}, {"消卡凭证", "150.00", "签字"}} {
		for _, w := range want {
			if !strings.Contains(got[i], w) {
				t.Errorf("slip %d lacks %q:\n%s", i+1, w, got[i])
			}
		}
	}
}
