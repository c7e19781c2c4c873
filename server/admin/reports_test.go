package admin_test

import (
	"context"
	"crypto/tls"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/fanka/fanka/server"
	"github.com/fanka/fanka/server/admin"
	"github.com/fanka/fanka/server/servertest"
	"github.com/fanka/fanka/server/sqlite"
)

// settleOn settles entries of r in the env's store.
func (e *env) settle(t *testing.T, r *servertest.Register, entries ...[]byte) {
	t.Helper()
	if _, err := e.store.Settle(context.Background(), r.ID, entries); err != nil {
		t.Fatalf("settle: %v", err)
	}
}

// register enrols a register in the env's store, on its clock.
func (e *env) register(t *testing.T) *servertest.Register {
	t.Helper()
	r := servertest.NewRegister(t)
	r.Time = e.clock.Now
	servertest.Enroll(t, e.store, r)
	return r
}

// get sends a GET with the token and returns the response, read.
func (e *env) get(t *testing.T, path, token string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest("GET", e.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func TestTerminalsAPI(t *testing.T) {
	e := newEnv(t)
	e.addUser(t, "audrey", "pass phrase", server.RoleAuditor)
	auditor := e.login(t, "audrey", "pass phrase")

	status, out := e.do(t, "GET", "/api/v1/terminals", auditor, nil)
	if status != 200 || fmt.Sprint(out["terminals"]) != "[]" {
		t.Fatalf("no registers: %d %v", status, out)
	}
	status, out = e.do(t, "POST", "/api/v1/terminals", e.token, map[string]string{"name": "一号窗口"})
	if status != 201 {
		t.Fatalf("create: %d %v", status, out)
	}
	id := out["terminal_id"]
	status, out = e.do(t, "GET", "/api/v1/terminals", auditor, nil)
	ts, _ := out["terminals"].([]any)
	if status != 200 || len(ts) != 1 {
		t.Fatalf("registers: %d %v", status, out)
	}
	got := ts[0].(map[string]any)
	if got["id"] != id || got["name"] != "一号窗口" || got["enrolled"] != false || got["disabled"] != false ||
		got["last_seen"] != nil || got["last_seq"] != json.Number("0") || got["created"] == nil {
		t.Errorf("register as listed: %v", got)
	}

	status, out = e.do(t, "POST", fmt.Sprintf("/api/v1/terminals/%v/disable", id), e.token, nil)
	if status != 200 || out["disabled"] != true || out["id"] != id {
		t.Errorf("disable: %d %v", status, out)
	}
	status, out = e.do(t, "POST", fmt.Sprintf("/api/v1/terminals/%v/enable", id), e.token, nil)
	if status != 200 || out["disabled"] != false {
		t.Errorf("enable: %d %v", status, out)
	}
	status, out = e.do(t, "POST", fmt.Sprintf("/api/v1/terminals/%v/disable", id), auditor, nil)
	wantError(t, "disable as an auditor", status, out, 403, server.EFORBIDDEN)
	for _, bad := range []string{"abc", "0", "-1", "4294967296", "1.5"} {
		status, out = e.do(t, "POST", "/api/v1/terminals/"+bad+"/disable", e.token, nil)
		wantError(t, "disable register "+bad, status, out, 400, server.EINVALID)
	}
	status, out = e.do(t, "POST", "/api/v1/terminals/999/disable", e.token, nil)
	wantError(t, "disable an unknown register", status, out, 404, server.ENOTFOUND)

	// Each action is in the audit log, newest first, and the log holds.
	status, out = e.do(t, "GET", "/api/v1/audit", auditor, nil)
	recs, _ := out["audit"].([]any)
	if status != 200 || len(recs) != 3 {
		t.Fatalf("audit log: %d %v", status, out)
	}
	var actions []string
	for _, r := range recs {
		rec := r.(map[string]any)
		actions = append(actions, fmt.Sprint(rec["action"]))
		if rec["user"] != "admin" || len(fmt.Sprint(rec["hash"])) != 64 || rec["detail"].(map[string]any)["terminal_id"] != id {
			t.Errorf("audit record %v", rec)
		}
	}
	if strings.Join(actions, " ") != "terminal.enable terminal.disable terminal.create" {
		t.Errorf("audit actions %v", actions)
	}
	status, out = e.do(t, "POST", "/api/v1/audit/verify", auditor, nil)
	if status != 200 || out["ok"] != true || out["checked"] != json.Number("3") || out["first_bad"] != json.Number("0") {
		t.Errorf("verify: %d %v", status, out)
	}
}

func TestSalesAPI(t *testing.T) {
	e := newEnv(t)
	servertest.OpenCard(t, e.store, "C1", 10000)
	r := e.register(t)
	e.settle(t, r, r.Sale(t, "C1", 1250), r.Sale(t, "C1", 300), r.Void(t, "C1", 300, 2))

	status, out := e.do(t, "GET", "/api/v1/sales", e.token, nil)
	sales, _ := out["sales"].([]any)
	if status != 200 || len(sales) != 3 {
		t.Fatalf("sales: %d %v", status, out)
	}
	first := sales[0].(map[string]any)
	want := map[string]any{"id": first["id"], "terminal_id": json.Number(fmt.Sprint(r.ID)), "seq": json.Number("1"), "card_no": "C1",
		"amount": json.Number("1250"), "outcome": "settled", "note": "", "kind": "sale",
		"time": e.clock.Now().UTC().Format(time.RFC3339), "day": "2026-03-02"}
	if fmt.Sprint(want) != fmt.Sprint(first) {
		t.Errorf("first sale %v, want %v", first, want)
	}
	if k := sales[2].(map[string]any)["kind"]; k != "void" {
		t.Errorf("third: kind %v, want void", k)
	}

	status, out = e.do(t, "GET", fmt.Sprintf("/api/v1/sales?since_id=%v&limit=1", first["id"]), e.token, nil)
	page, _ := out["sales"].([]any)
	if status != 200 || len(page) != 1 || page[0].(map[string]any)["seq"] != json.Number("2") {
		t.Errorf("sales after the first, limit 1: %d %v", status, out)
	}

	for _, bad := range []string{"limit=0", "limit=1001", "limit=abc", "limit=", "since_id=-1", "since_id=x", "since_id=99999999999999999999"} {
		status, out := e.do(t, "GET", "/api/v1/sales?"+bad, e.token, nil)
		wantError(t, "sales?"+bad, status, out, 400, server.EINVALID)
	}
}

func TestDailyReportAPI(t *testing.T) {
	e := newEnv(t)
	e.addUser(t, "otto", "pass phrase", server.RoleOperator)
	operator := e.login(t, "otto", "pass phrase")
	servertest.OpenCard(t, e.store, "C1", 100000)
	r := e.register(t)
	e.settle(t, r, r.Sale(t, "C1", 1250), r.Sale(t, "C1", 800))

	status, out := e.do(t, "GET", "/api/v1/reports/daily?date=2026-03-02", operator, nil)
	if status != 200 || out["date"] != "2026-03-02" || out["sales"] != json.Number("2") || out["amount"] != json.Number("2050") {
		t.Fatalf("report: %d %v", status, out)
	}
	periods, _ := out["by_period"].([]any)
	hours, _ := out["by_hour"].([]any)
	regs, _ := out["by_register"].([]any)
	if len(periods) != 4 || periods[1].(map[string]any)["period"] != "lunch" || periods[1].(map[string]any)["amount"] != json.Number("2050") ||
		len(hours) != 24 || hours[12].(map[string]any)["sales"] != json.Number("2") ||
		len(regs) != 1 || regs[0].(map[string]any)["name"] != "till" {
		t.Errorf("report's parts: %v", out)
	}
	// Without a date: today, in the server's clock.
	if status, out := e.do(t, "GET", "/api/v1/reports/daily", operator, nil); status != 200 || out["date"] != "2026-03-02" || out["sales"] != json.Number("2") {
		t.Errorf("today's report: %d %v", status, out)
	}
	// The meal periods are the server's to set.
	e.api.MealPeriods = func(context.Context) ([]server.MealPeriod, error) {
		return []server.MealPeriod{{Name: "午餐", Start: "11:00", End: "13:00"}}, nil
	}
	status, out = e.do(t, "GET", "/api/v1/reports/daily?date=2026-03-02", operator, nil)
	periods, _ = out["by_period"].([]any)
	if status != 200 || len(periods) != 2 || periods[0].(map[string]any)["period"] != "午餐" || periods[0].(map[string]any)["sales"] != json.Number("2") {
		t.Errorf("report with lunch 11:00-13:00: %d %v", status, out)
	}
	e.api.MealPeriods = nil

	for _, bad := range []string{"date=", "date=yesterday", "date=2026-13-01", "date=2026-02-30", "date=02/03/2026", "date=1999-12-31", "date=2026-03-02T00:00:00Z"} {
		status, out := e.do(t, "GET", "/api/v1/reports/daily?"+bad, operator, nil)
		wantError(t, "daily?"+bad, status, out, 400, server.EINVALID)
	}

	resp, body := e.get(t, "/api/v1/reports/daily.csv?date=2026-03-02", operator)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/csv; charset=utf-8" ||
		!strings.Contains(resp.Header.Get("Content-Disposition"), "fanka-daily-2026-03-02.csv") {
		t.Fatalf("CSV: %d %v\n%s", resp.StatusCode, resp.Header, body)
	}
	text, ok := strings.CutPrefix(string(body), "\uFEFF")
	if !ok {
		t.Errorf("CSV does not start with a UTF-8 byte order mark: % x", body[:min(len(body), 8)])
	}
	rows, err := csv.NewReader(strings.NewReader(text)).ReadAll()
	if err != nil {
		t.Fatalf("CSV: %v\n%s", err, body)
	}
	want := [][]string{
		{"日期 date", "收银机编号 register id", "收银机 register", "笔数 sales", "金额(元) amount (yuan)"},
		{"2026-03-02", fmt.Sprint(r.ID), "till", "2", "20.50"},
		{"2026-03-02", "", "合计 total", "2", "20.50"},
	}
	if fmt.Sprint(rows) != fmt.Sprint(want) {
		t.Errorf("CSV rows\n%q\nwant\n%q", rows, want)
	}
	resp, body = e.get(t, "/api/v1/reports/daily.csv?date=2026-3-2", operator)
	if resp.StatusCode != 400 || !strings.Contains(string(body), "YYYY-MM-DD") {
		t.Errorf("CSV of a bad date: %d %s", resp.StatusCode, body)
	}
}

// TestDailyCSVFormula checks that a register's name cannot become a
// formula in the office's spreadsheet.
func TestDailyCSVFormula(t *testing.T) {
	e := newEnv(t)
	servertest.OpenCard(t, e.store, "C1", 10000)
	r := servertest.NewRegister(t)
	r.Time = e.clock.Now
	ctx := context.Background()
	code := [32]byte{1}
	term, err := e.store.CreateTerminal(ctx, `=HYPERLINK("http://evil","点我")`, 0, code, e.clock.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.EnrollTerminal(ctx, code, r.Public()); err != nil {
		t.Fatal(err)
	}
	r.ID = term.ID
	e.settle(t, r, r.Sale(t, "C1", 100))
	_, body := e.get(t, "/api/v1/reports/daily.csv?date=2026-03-02", e.token)
	rows, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(string(body), "\uFEFF"))).ReadAll()
	if err != nil || len(rows) != 3 || rows[1][2] != `'=HYPERLINK("http://evil","点我")` {
		t.Errorf("CSV with a formula for a name: %q, %v", rows, err)
	}
}

func TestAuditAPI(t *testing.T) {
	e := newEnv(t)
	status, out := e.do(t, "POST", "/api/v1/cards", e.token,
		map[string]any{"person_id": "110101199001011234", "name": "张三", "deposit": 10000, "request_id": "open-1", "card_no": "04A1"})
	if status != 201 {
		t.Fatalf("open: %d %v", status, out)
	}
	e.do(t, "POST", "/api/v1/terminals", e.token, map[string]string{"name": "一号窗口"})
	status, out = e.do(t, "GET", "/api/v1/audit?limit=1", e.token, nil)
	recs, _ := out["audit"].([]any)
	if status != 200 || len(recs) != 1 || recs[0].(map[string]any)["action"] != "terminal.create" {
		t.Fatalf("last audit record: %d %v", status, out)
	}
	status, out = e.do(t, "GET", "/api/v1/audit?limit=2", e.token, nil)
	recs, _ = out["audit"].([]any)
	open := recs[1].(map[string]any)
	detail := open["detail"].(map[string]any)
	if status != 200 || open["action"] != "card.open" || detail["card_no"] != "04A1" || detail["deposit"] != json.Number("10000") ||
		detail["request_id"] != "open-1" || strings.Contains(fmt.Sprint(open), "110101199001011234") {
		t.Errorf("card opening in the audit log (without the person's id): %v", open)
	}
	for _, bad := range []string{"limit=0", "limit=1001", "limit=x"} {
		status, out := e.do(t, "GET", "/api/v1/audit?"+bad, e.token, nil)
		wantError(t, "audit?"+bad, status, out, 400, server.EINVALID)
	}

	// Someone edits the first record in the database.
	raw, err := sql.Open(sqlite.Driver, "file:"+e.store.Path+"?_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec(`UPDATE audit SET detail = 'not json' WHERE id = 1`); err != nil {
		t.Fatal(err)
	}
	status, out = e.do(t, "POST", "/api/v1/audit/verify", e.token, nil)
	if status != 200 || out["ok"] != false || out["first_bad"] != json.Number("1") || out["checked"] != json.Number("0") || out["problem"] == "" {
		t.Errorf("verify after an edit of record 1: %d %v", status, out)
	}
	// The log still shows, the edited detail as text.
	status, out = e.do(t, "GET", "/api/v1/audit", e.token, nil)
	recs, _ = out["audit"].([]any)
	if status != 200 || len(recs) != 2 || recs[1].(map[string]any)["detail"] != "not json" {
		t.Errorf("audit log after the edit: %d %v", status, out)
	}
}

// dialLive opens the live feed of srv with token.
func dialLive(t *testing.T, srv *httptest.Server, token string) *websocket.Conn {
	t.Helper()
	d := websocket.Dialer{TLSClientConfig: srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone(), HandshakeTimeout: 5 * time.Second}
	if d.TLSClientConfig == nil {
		d.TLSClientConfig = &tls.Config{}
	}
	conn, resp, err := d.Dial("wss"+strings.TrimPrefix(srv.URL, "https")+"/api/v1/sales/live", http.Header{"Authorization": {"Bearer " + token}})
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial the live feed: %v (%d)", err, status)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// nextSale reads the next message of the live feed, waiting at most wait.
func nextSale(t *testing.T, conn *websocket.Conn, wait time.Duration) server.Sale {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(wait))
	typ, msg, err := conn.ReadMessage()
	if err != nil {
		t.Fatalf("live feed: no sale within %v: %v", wait, err)
	}
	var s server.Sale
	if err := json.Unmarshal(msg, &s); typ != websocket.TextMessage || err != nil {
		t.Fatalf("live feed message %q (type %d): %v", msg, typ, err)
	}
	return s
}

func TestLiveFeed(t *testing.T) {
	e := newEnv(t)
	servertest.OpenCard(t, e.store, "C1", 10000)
	r := e.register(t)
	e.settle(t, r, r.Sale(t, "C1", 100)) // before anyone watches: not sent
	conn := dialLive(t, e.srv, e.token)
	other := dialLive(t, e.srv, e.token)

	start := time.Now()
	e.settle(t, r, r.Sale(t, "C1", 1250))
	got := nextSale(t, conn, time.Second)
	if took := time.Since(start); took > time.Second {
		t.Errorf("the sale reached the feed in %v, more than 1 s", took)
	}
	if got.Seq != 2 || got.Amount != 1250 || got.Kind != server.TxSale || got.CardNo != "C1" || got.Terminal != r.ID || got.Day != "2026-03-02" {
		t.Errorf("live sale %+v, want seq 2 of 1250 on C1", got)
	}
	if o := nextSale(t, other, time.Second); o != got {
		t.Errorf("the second watcher got %+v, want %+v", o, got)
	}

	// Office transactions between sales (card openings) are not sent, and
	// nothing is sent twice.
	servertest.OpenCard(t, e.store, "C2", 10000)
	e.settle(t, r, r.Sale(t, "C2", 300), r.Void(t, "C2", 300, 3))
	for _, want := range []struct {
		seq  uint64
		kind server.TxKind
	}{{3, server.TxSale}, {4, server.TxVoid}} {
		s := nextSale(t, conn, time.Second)
		if s.Seq != want.seq || s.Kind != want.kind {
			t.Errorf("live: %+v, want seq %d, %s", s, want.seq, want.kind)
		}
	}
	conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	if _, msg, err := conn.ReadMessage(); err == nil {
		t.Errorf("live feed sent %s after the last sale", msg)
	}

	// An auditor may watch; a request that is not a WebSocket is refused.
	e.addUser(t, "audrey", "pass phrase", server.RoleAuditor)
	dialLive(t, e.srv, e.login(t, "audrey", "pass phrase"))
	status, out := e.do(t, "GET", "/api/v1/sales/live", e.token, nil)
	wantError(t, "live feed without an upgrade", status, out, 400, server.EINVALID)
}

// TestLiveFeedSlowClient checks that a client that does not read is
// dropped, and does not hold back settlement or a client that reads.
func TestLiveFeedSlowClient(t *testing.T) {
	e := newEnv(t)
	e.api.LiveBuffer = 2000
	// The server's sockets get small send buffers, so that a client that
	// does not read holds up the server's writes after a few messages.
	srv := httptest.NewUnstartedServer(e.api)
	srv.Listener = smallSendBuffers{srv.Listener}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	servertest.OpenCard(t, e.store, "C1", 1_000_000)
	r := e.register(t)
	slow := dialLiveSmall(t, srv, e.token)
	fast := dialLive(t, srv, e.token)
	const sales = 4000
	read := make(chan int, 1)
	go func() {
		n := 0
		fast.SetReadDeadline(time.Now().Add(60 * time.Second))
		for ; n < sales; n++ {
			if _, _, err := fast.ReadMessage(); err != nil {
				break
			}
		}
		read <- n
	}()
	start := time.Now()
	for b := 0; b < sales/500; b++ {
		batch := make([][]byte, 0, 500)
		for range 500 {
			batch = append(batch, r.Sale(t, "C1", 1))
		}
		e.settle(t, r, batch...)
	}
	t.Logf("%d sales settled in %v while a client did not read", sales, time.Since(start))
	if n := <-read; n != sales {
		t.Errorf("the client that reads got %d of %d sales", n, sales)
	}
	n := 0
	slow.SetReadDeadline(time.Now().Add(20 * time.Second))
	var err error
	for {
		if _, _, err = slow.ReadMessage(); err != nil {
			break
		}
		n++
	}
	var netErr interface{ Timeout() bool }
	if n >= sales || (errors.As(err, &netErr) && netErr.Timeout()) {
		t.Errorf("the client that did not read got %d of %d sales, then %v; want it dropped", n, sales, err)
	}
	t.Logf("the slow client got %d sales, then %v", n, err)
}

// smallSendBuffers is a listener whose connections have 4 KiB send
// buffers.
type smallSendBuffers struct{ net.Listener }

func (l smallSendBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetWriteBuffer(4096)
	}
	return c, err
}

// dialLiveSmall dials the live feed with a small socket receive buffer,
// so that a client that does not read soon holds up the server's writes.
func dialLiveSmall(t *testing.T, srv *httptest.Server, token string) *websocket.Conn {
	t.Helper()
	d := websocket.Dialer{TLSClientConfig: srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone(), HandshakeTimeout: 5 * time.Second,
		NetDial: func(network, addr string) (net.Conn, error) {
			nd := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
				var serr error
				c.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
				return serr
			}}
			return nd.Dial(network, addr)
		}}
	conn, _, err := d.Dial("wss"+strings.TrimPrefix(srv.URL, "https")+"/api/v1/sales/live", http.Header{"Authorization": {"Bearer " + token}})
	if err != nil {
		t.Fatalf("dial the live feed: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// TestLiveFeedAcrossServers settles on one server and watches on another
// of the same MariaDB database: the feed reads the store, not this
// server's events.
func TestLiveFeedAcrossServers(t *testing.T) {
	dsn := servertest.MustMySQLDSN(t)
	clock := servertest.NewClock(time.Date(2026, 3, 2, 12, 0, 0, 0, time.Local))
	settling := servertest.MustOpenMySQLAt(t, dsn, clock.Now)
	watching := servertest.MustOpenMySQLAt(t, dsn, clock.Now)
	api := admin.New(watching, nil, nil)
	api.Now = clock.Now
	srv := httptest.NewTLSServer(api)
	t.Cleanup(srv.Close)
	h, err := server.HashPasswordWith(cheap, "pass phrase")
	if err != nil {
		t.Fatal(err)
	}
	if err := watching.CreateUser(context.Background(), server.User{Name: "audrey", PasswordHash: h, Role: server.RoleAuditor}); err != nil {
		t.Fatal(err)
	}
	e := &env{srv: srv}
	conn := dialLive(t, srv, e.login(t, "audrey", "pass phrase"))

	servertest.OpenCard(t, settling, "C1", 10000)
	r := servertest.NewRegister(t)
	r.Time = clock.Now
	servertest.Enroll(t, settling, r)
	start := time.Now()
	if _, err := settling.Settle(context.Background(), r.ID, [][]byte{r.Sale(t, "C1", 700)}); err != nil {
		t.Fatal(err)
	}
	got := nextSale(t, conn, time.Second)
	if got.Amount != 700 || got.Terminal != r.ID || got.Seq != 1 {
		t.Errorf("sale settled on the other server: %+v", got)
	}
	t.Logf("seen on the other server after %v", time.Since(start))
}
