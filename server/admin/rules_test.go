package admin_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/fanka/fanka/server"
)

func TestRulesAPI(t *testing.T) {
	e := newEnv(t)
	e.addUser(t, "op", "operator pass", server.RoleOperator)
	e.addUser(t, "au", "auditor pass", server.RoleAuditor)
	op, au := e.login(t, "op", "operator pass"), e.login(t, "au", "auditor pass")

	// Every role reads the rules: the defaults, version 0, at first.
	for _, token := range []string{e.token, op, au} {
		status, out := e.do(t, "GET", "/api/v1/rules", token, nil)
		rules, _ := out["rules"].(map[string]any)
		if status != http.StatusOK || out["version"] != json.Number("0") || rules["max_sales_per_day"] != json.Number("3") {
			t.Fatalf("GET /api/v1/rules: %d %v, want the defaults at version 0", status, out)
		}
	}

	set := server.DefaultRules()
	set.MaxSalesPerDay, set.MinGapSeconds = 2, 30
	set.Classes = map[string]server.ClassRules{"staff": {MaxSalesPerDay: 4}}
	body := map[string]any{"rules": set}

	// Only an admin sets them.
	for _, token := range []string{op, au} {
		status, out := e.do(t, "PUT", "/api/v1/rules", token, body)
		wantError(t, "PUT /api/v1/rules as non-admin", status, out, http.StatusForbidden, server.EFORBIDDEN)
	}
	status, out := e.do(t, "PUT", "/api/v1/rules", e.token, body)
	if status != http.StatusOK || out["version"] != json.Number("1") {
		t.Fatalf("PUT /api/v1/rules: %d %v", status, out)
	}
	got, v, err := e.store.Rules(context.Background())
	if err != nil || v != 1 || got.MaxSalesPerDay != 2 || got.MinGapSeconds != 30 || got.Classes["staff"].MaxSalesPerDay != 4 {
		t.Fatalf("stored rules after PUT: %+v version %d, %v", got, v, err)
	}
	status, out = e.do(t, "GET", "/api/v1/rules", au, nil)
	if rules, _ := out["rules"].(map[string]any); status != http.StatusOK || out["version"] != json.Number("1") || rules["min_gap_seconds"] != json.Number("30") {
		t.Fatalf("GET after PUT: %d %v", status, out)
	}

	// Bad rules are refused and change nothing.
	bad := map[string]any{
		"too many sales":    map[string]any{"rules": map[string]any{"max_sales_per_day": 101}},
		"negative max sale": map[string]any{"rules": map[string]any{"max_sale": -1}},
		"period backwards":  map[string]any{"rules": map[string]any{"periods": []map[string]any{{"name": "lunch", "start": "14:00", "end": "11:00"}}}},
		"bad user class":    map[string]any{"rules": map[string]any{"classes": map[string]any{"Not A Class!": map[string]any{}}}},
		"no rules":          map[string]any{},
		"unknown field":     map[string]any{"rules": map[string]any{"max_sales": 3}},
		"not JSON":          "{",
	}
	for name, b := range bad {
		var send any = b
		if s, ok := b.(string); ok {
			send = s
		}
		status, out := e.do(t, "PUT", "/api/v1/rules", e.token, send)
		wantError(t, "PUT /api/v1/rules with "+name, status, out, http.StatusBadRequest, server.EINVALID)
	}
	if _, v, _ := e.store.Rules(context.Background()); v != 1 {
		t.Errorf("rules version %d after refused PUTs, want 1", v)
	}
}
