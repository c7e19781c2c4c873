package main_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/fanka/fanka/server/servertest"
)

// TestServeReportDB serves with --db a MariaDB primary and --report-db a
// replica of it (local mariadbd processes). With the replica's SQL thread
// stopped, a card opened and a sale settled through the server show at
// once in the card lookup and on the live sale feed (the primary's), and
// not yet in the sales list, the daily report or the audit log (the
// replica's); once the replica catches up, they do.
func TestServeReportDB(t *testing.T) {
	ctx := context.Background()
	primary, replica := servertest.MustReplicatedMariaDB(t)
	dir := t.TempDir()
	s := startServer(t, dir, map[string]string{"FANKA_ADMIN_PASSWORD": testPassword}, "--db", primary.DSN("fanka"), "--report-db", replica.DSN("fanka"))
	tl := enrolTill(t, s, dir)
	tl.r.Time = nil // sells now, today
	c, tlsConf := client(t, dir)
	var login struct{ Token string }
	if status := call(t, c, "POST", s.url+"/api/v1/login", "", map[string]string{"user": "admin", "password": testPassword}, &login); status != 200 {
		t.Fatalf("login: %d", status)
	}
	d := websocket.Dialer{TLSClientConfig: tlsConf.Clone(), HandshakeTimeout: 5 * time.Second}
	live, _, err := d.Dial("wss"+strings.TrimPrefix(s.url, "https")+"/api/v1/sales/live", http.Header{"Authorization": {"Bearer " + login.Token}})
	if err != nil {
		t.Fatalf("dial the live feed: %v", err)
	}
	defer live.Close()

	if err := replica.CatchUp(ctx, primary, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := replica.Exec(ctx, "STOP SLAVE SQL_THREAD"); err != nil {
		t.Fatal(err)
	}
	var opened struct {
		CardNo string `json:"card_no"`
	}
	if status := call(t, c, "POST", s.url+"/api/v1/cards", login.Token,
		map[string]any{"person_id": "13900000001", "name": "张三", "deposit": 10000, "request_id": "r1", "card_no": "04A1B2C3"}, &opened); status != 201 {
		t.Fatalf("open card: %d", status)
	}
	if ack, err := tl.sell(t, "04A1B2C3", 1250); err != nil || ack.Balance != 8750 {
		t.Fatalf("sale: %+v, %v; want a balance of 8750", ack, err)
	}

	var card struct {
		Balance int64 `json:"balance"`
	}
	if status := call(t, c, "GET", s.url+"/api/v1/cards/04A1B2C3", login.Token, nil, &card); status != 200 || card.Balance != 8750 {
		t.Errorf("card lookup: %d, balance %d; want 8750 from the primary", status, card.Balance)
	}
	live.SetReadDeadline(time.Now().Add(30 * time.Second))
	var fed struct {
		Amount int64  `json:"amount"`
		CardNo string `json:"card_no"`
	}
	if _, msg, err := live.ReadMessage(); err != nil || json.Unmarshal(msg, &fed) != nil || fed.Amount != 1250 {
		t.Errorf("live feed with the replica stopped: %s (%v); want the sale of 1250 fen", msg, err)
	}

	type reads struct {
		sales, reportSales, cardOpens int
	}
	read := func() reads {
		t.Helper()
		var sales struct{ Sales []json.RawMessage }
		if status := call(t, c, "GET", s.url+"/api/v1/sales", login.Token, nil, &sales); status != 200 {
			t.Fatalf("sales: %d", status)
		}
		var report struct {
			Sales int `json:"sales"`
		}
		if status := call(t, c, "GET", s.url+"/api/v1/reports/daily", login.Token, nil, &report); status != 200 {
			t.Fatalf("daily report: %d", status)
		}
		var audit struct {
			Audit []struct{ Action string }
		}
		if status := call(t, c, "GET", s.url+"/api/v1/audit", login.Token, nil, &audit); status != 200 {
			t.Fatalf("audit: %d", status)
		}
		got := reads{sales: len(sales.Sales), reportSales: report.Sales}
		for _, a := range audit.Audit {
			if a.Action == "card.open" {
				got.cardOpens++
			}
		}
		return got
	}
	if got := read(); got != (reads{}) {
		t.Errorf("with the replica stopped: %+v; want no sale, no report sale and no card.open yet", got)
	}
	if err := replica.Exec(ctx, "START SLAVE SQL_THREAD"); err != nil {
		t.Fatal(err)
	}
	if err := replica.CatchUp(ctx, primary, time.Minute); err != nil {
		t.Fatal(err)
	}
	if got, want := read(), (reads{sales: 1, reportSales: 1, cardOpens: 1}); got != want {
		t.Errorf("with the replica caught up: %+v, want %+v", got, want)
	}
	if code := s.stop(); code != 0 {
		t.Fatalf("serve exited %d; stderr %s", code, s.stderr.String())
	}
}
