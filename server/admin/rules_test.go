package admin_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/fanka/fanka/server"
	"github.com/fanka/fanka/shared/money"
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
	set.Periods[1].Presets = []money.Fen{15 * money.Yuan, 0, 9 * money.Yuan}
	set.Offline.MaxSale = 20 * money.Yuan
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
	if err != nil || v != 1 || !cmp.Equal(got, set) {
		t.Fatalf("stored rules after PUT: %+v version %d, %v; want %+v", got, v, err, set)
	}
	// The change is in the audit log, with the rules set.
	status, out = e.do(t, "GET", "/api/v1/audit?limit=10", e.token, nil)
	entries, _ := out["audit"].([]any)
	var logged map[string]any
	for _, a := range entries {
		if a := a.(map[string]any); a["action"] == "rules.set" && a["user"] == "admin" {
			logged, _ = a["detail"].(map[string]any)
		}
	}
	if logged == nil || logged["version"] != json.Number("1") {
		t.Fatalf("audit log (%d) lacks rules.set version 1: %v", status, entries)
	}
	if r, _ := logged["rules"].(map[string]any); r == nil || r["offline"].(map[string]any)["max_sale"] != json.Number("2000") {
		t.Errorf("audit detail %v lacks the offline limits set", logged)
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
	// A rule the server refuses names its field, for the page to show the
	// message next to it.
	fields := map[string]struct {
		change func(*server.Rules)
		field  string
	}{
		"negative preset":        {func(r *server.Rules) { r.Periods[1].Presets[0] = -1 }, "periods.1.presets.0"},
		"lunch ends before":      {func(r *server.Rules) { r.Periods[1].End = "10:00" }, "periods.1.end"},
		"HTML in a name":         {func(r *server.Rules) { r.Periods[2].Name = "<script>x</script>" }, "periods.2.name"},
		"offline hours negative": {func(r *server.Rules) { r.Offline.MaxHours = -1 }, "offline.max_hours"},
	}
	for name, tt := range fields {
		r := set
		r.Periods = append([]server.MealPeriod(nil), set.Periods...)
		r.Periods[1].Presets = append([]money.Fen(nil), set.Periods[1].Presets...)
		tt.change(&r)
		status, out := e.do(t, "PUT", "/api/v1/rules", e.token, map[string]any{"rules": r})
		wantError(t, "PUT /api/v1/rules with "+name, status, out, http.StatusBadRequest, server.EINVALID)
		if e, _ := out["error"].(map[string]any); e["field"] != tt.field {
			t.Errorf("PUT /api/v1/rules with %s: field %v, want %s", name, e["field"], tt.field)
		}
	}
	if _, v, _ := e.store.Rules(context.Background()); v != 1 {
		t.Errorf("rules version %d after refused PUTs, want 1", v)
	}
}
