package admin_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/fanka/fanka/server"
)

func TestAlarms(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	status, out := e.do(t, "GET", "/api/v1/alarms", e.token, nil)
	if diff := cmp.Diff(map[string]any{"alarms": []any{}}, out); status != 200 || diff != "" {
		t.Errorf("no alarms: %d (-want +got):\n%s", status, diff)
	}

	for i, a := range []server.Alarm{
		{Terminal: 3, Code: "chain", Message: "register 3: gap after seq 4"},
		{Code: "refused_peer", Message: "connection from 203.0.113.9:4711 refused"},
		{Terminal: 5, Code: "signature", Message: "register 5: bad signature"},
	} {
		e.clock.Set(time.Date(2026, 3, 2, 12, i, 0, 0, time.UTC))
		if _, err := e.store.RaiseAlarm(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	status, out = e.do(t, "GET", "/api/v1/alarms?limit=2", e.token, nil)
	alarms, _ := out["alarms"].([]any)
	if status != 200 || len(alarms) != 2 {
		t.Fatalf("alarms?limit=2: %d %v", status, out)
	}
	newest := alarms[0].(map[string]any)
	want := map[string]any{"id": newest["id"], "code": "signature", "terminal": json.Number("5"),
		"message": "register 5: bad signature", "time": "2026-03-02T12:02:00Z"}
	if diff := cmp.Diff(want, newest); diff != "" {
		t.Errorf("newest alarm (-want +got):\n%s", diff)
	}
	if peer := alarms[1].(map[string]any); peer["code"] != "refused_peer" || peer["terminal"] != json.Number("0") {
		t.Errorf("second alarm: %v", peer)
	}
	status, out = e.do(t, "GET", "/api/v1/alarms", e.token, nil)
	if alarms, _ := out["alarms"].([]any); status != 200 || len(alarms) != 3 {
		t.Errorf("all alarms: %d %v", status, out)
	}

	for _, q := range []string{"0", "-1", "x", fmt.Sprint(1001)} {
		status, out := e.do(t, "GET", "/api/v1/alarms?limit="+q, e.token, nil)
		wantError(t, "limit="+q, status, out, http.StatusBadRequest, server.EINVALID)
	}

	// Auditors see the alarms; operators do not.
	e.addUser(t, "audit", "pw-audit", server.RoleAuditor)
	e.addUser(t, "cashier", "pw-cashier", server.RoleOperator)
	if status, out := e.do(t, "GET", "/api/v1/alarms", e.login(t, "audit", "pw-audit"), nil); status != 200 {
		t.Errorf("auditor: %d %v", status, out)
	}
	status, out = e.do(t, "GET", "/api/v1/alarms", e.login(t, "cashier", "pw-cashier"), nil)
	wantError(t, "operator", status, out, http.StatusForbidden, server.EFORBIDDEN)
	status, out = e.do(t, "GET", "/api/v1/alarms", "", nil)
	wantError(t, "no token", status, out, http.StatusUnauthorized, server.EUNAUTHORIZED)
}
