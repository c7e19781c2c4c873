package admin_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/fanka/fanka/server"
	"github.com/fanka/fanka/server/servertest"
)

// openCard opens card no for a person over the API and fails the test
// otherwise.
func (e *env) openCard(t *testing.T, no, person string, deposit int) {
	t.Helper()
	status, out := e.do(t, "POST", "/api/v1/cards", e.token, map[string]any{"person_id": person, "name": "张三", "deposit": deposit,
		"request_id": "open-" + no, "card_no": no, "phone": "138 0013 8000", "user_class": "staff"})
	if status != http.StatusCreated {
		t.Fatalf("open %s: %d %v", no, status, out)
	}
}

func TestCardOperations(t *testing.T) {
	e := newEnv(t)
	e.openCard(t, "04A1", "11010119900101123X", 1000)
	steps := []struct {
		path string
		body map[string]any
		want map[string]any // fields of the answer
	}{
		{"recharge", map[string]any{"amount": 500}, map[string]any{"balance": json.Number("1500"), "status": "active"}},
		{"holds", map[string]any{"amount": 300, "reason": "投诉处理中"}, map[string]any{"held": json.Number("300"), "spendable": json.Number("1200")}},
		{"freeze", map[string]any{}, map[string]any{"status": "frozen", "reason": "office"}},
		{"unfreeze", map[string]any{}, map[string]any{"status": "active"}},
		{"edit", map[string]any{"name": "张三丰", "phone": "13912345678"}, map[string]any{"name": "张三丰", "phone": "139****5678", "user_class": "staff"}},
		{"lost", map[string]any{}, map[string]any{"status": "lost"}},
		{"replace", map[string]any{"new_card_no": "04B2"}, map[string]any{"card_no": "04B2", "status": "active", "balance": json.Number("1500")}},
	}
	for i, st := range steps {
		card := "04A1"
		if i == len(steps)-1 {
			card = "04A1"
		}
		st.body["request_id"] = fmt.Sprintf("step-%d", i)
		status, out := e.do(t, "POST", "/api/v1/cards/"+card+"/"+st.path, e.token, st.body)
		if status != http.StatusOK {
			t.Fatalf("%s: %d %v", st.path, status, out)
		}
		for k, v := range st.want {
			if out[k] != v {
				t.Errorf("%s: %s = %v, want %v (%v)", st.path, k, out[k], v, out)
			}
		}
		// A replay answers the same, and changes nothing.
		status2, out2 := e.do(t, "POST", "/api/v1/cards/"+card+"/"+st.path, e.token, st.body)
		if status2 != http.StatusOK || out2["tx_id"] != out["tx_id"] || out2["hold_id"] != out["hold_id"] {
			t.Errorf("%s replayed: %d %v, first %v", st.path, status2, out2, out)
		}
	}
	status, out := e.do(t, "GET", "/api/v1/cards/04B2/holds", e.token, nil)
	holds, _ := out["holds"].([]any)
	if status != 200 || len(holds) != 1 {
		t.Fatalf("holds: %d %v", status, out)
	}
	id := holds[0].(map[string]any)["id"]
	status, out = e.do(t, "POST", fmt.Sprintf("/api/v1/cards/04B2/holds/%v/capture", id), e.token, map[string]any{"request_id": "capture"})
	if status != 200 || out["balance"] != json.Number("1200") || out["held"] != json.Number("0") || out["tx_id"] == nil {
		t.Errorf("capture: %d %v", status, out)
	}
	status, out = e.do(t, "POST", "/api/v1/cards/04B2/refund", e.token, map[string]any{"request_id": "refund", "amount": 300})
	if status != 200 || out["balance"] != json.Number("1500") {
		t.Errorf("refund of the captured hold: %d %v", status, out)
	}
	status, out = e.do(t, "POST", "/api/v1/cards/04B2/close", e.token, map[string]any{"request_id": "close"})
	if status != 200 || out["status"] != "closed" || out["balance"] != json.Number("0") {
		t.Errorf("close: %d %v", status, out)
	}
	if _, err := e.store.Verify(t.Context()); err != nil {
		t.Errorf("verify: %v", err)
	}
	// Every operation is in the audit log, which verifies.
	status, out = e.do(t, "GET", "/api/v1/audit?limit=100", e.token, nil)
	actions := map[string]bool{}
	entries, _ := out["audit"].([]any)
	for _, a := range entries {
		actions[a.(map[string]any)["action"].(string)] = true
	}
	for _, want := range []string{"card.open", "card.recharge", "card.hold", "card.freeze", "card.replace", "card.capture", "card.refund", "card.close"} {
		if !actions[want] {
			t.Errorf("audit log (%d) lacks %s: %v", status, want, actions)
		}
	}
	if status, out := e.do(t, "POST", "/api/v1/audit/verify", e.token, map[string]any{}); status != 200 || out["ok"] != true {
		t.Errorf("audit verify: %d %v", status, out)
	}
}

// TestCardOperationsBadInput tries, on every operation, what an office
// must not be able to do: each answered with a 4xx and a clear code, and
// nothing posted.
func TestCardOperationsBadInput(t *testing.T) {
	e := newEnv(t)
	e.openCard(t, "04A1", "110101199001011234", 1000)
	cases := []struct {
		name, path, body string
		status           int
		code             string
	}{
		{"negative amount", "recharge", `{"request_id":"a","amount":-100}`, 400, server.EINVALID},
		{"zero amount", "recharge", `{"request_id":"a","amount":0}`, 400, server.EINVALID},
		{"missing amount", "refund", `{"request_id":"a"}`, 400, server.EINVALID},
		{"non-integer amount", "recharge", `{"request_id":"a","amount":12.5}`, 400, server.EINVALID},
		{"amount as a string", "recharge", `{"request_id":"a","amount":"100"}`, 400, server.EINVALID},
		{"amount overflowing int64", "recharge", `{"request_id":"a","amount":99999999999999999999}`, 400, server.EINVALID},
		{"amount above the maximum", "recharge", `{"request_id":"a","amount":100000001}`, 400, server.EINVALID},
		{"refund above what was paid", "refund", `{"request_id":"a","amount":1}`, 400, server.EINVALID},
		{"hold above the balance", "holds", `{"request_id":"a","amount":1001}`, 400, server.EINVALID},
		{"missing request id", "freeze", `{}`, 400, server.EINVALID},
		{"unknown field", "freeze", `{"request_id":"a","amount_yuan":1}`, 400, server.EINVALID},
		{"malformed JSON", "freeze", `{"request_id":`, 400, server.EINVALID},
		{"two JSON values", "freeze", `{"request_id":"a"}{}`, 400, server.EINVALID},
		{"unfreeze an active card", "unfreeze", `{"request_id":"a"}`, 409, server.ECONFLICT},
		{"replace onto itself", "replace", `{"request_id":"a","new_card_no":"04A1"}`, 400, server.EINVALID},
		{"replace with a bad number", "replace", `{"request_id":"a","new_card_no":"04-A1"}`, 400, server.EINVALID},
		{"edit with a bad phone", "edit", `{"request_id":"a","phone":"call me"}`, 400, server.EINVALID},
		{"edit with a bad class", "edit", `{"request_id":"a","user_class":"<b>"}`, 400, server.EINVALID},
		{"release an unknown hold", "holds/99/release", `{"request_id":"a"}`, 404, server.ENOTFOUND},
		{"capture a malformed hold id", "holds/x/capture", `{"request_id":"a"}`, 400, server.EINVALID},
	}
	for _, c := range cases {
		status, out := e.do(t, "POST", "/api/v1/cards/04A1/"+c.path, e.token, c.body)
		code, _ := out["error"].(map[string]any)["code"].(string)
		if status != c.status || code != c.code {
			t.Errorf("%s: %d %v, want %d %s", c.name, status, out, c.status, c.code)
		}
	}
	for _, c := range []struct{ name, path string }{
		{"unknown card", "/api/v1/cards/0BADC0DE/recharge"},
		{"malformed card number", "/api/v1/cards/04a1/recharge"},
	} {
		status, out := e.do(t, "POST", c.path, e.token, `{"request_id":"b","amount":100}`)
		if status != 404 && status != 400 {
			t.Errorf("%s: %d %v", c.name, status, out)
		}
	}
	rep, err := e.store.Verify(t.Context())
	if err != nil || rep.Transactions != 1 {
		t.Errorf("verify: %+v %v: want only the opening posted", rep, err)
	}
	if c, _ := e.store.Card(t.Context(), "04A1"); c.Balance != 1000 || c.Status != server.CardActive || c.Held != 0 {
		t.Errorf("card after refused operations: %+v", c)
	}
}

func TestCardOperationsRoles(t *testing.T) {
	e := newEnv(t)
	e.openCard(t, "04A1", "110101199001011234", 1000)
	e.addUser(t, "audit", "audit password", server.RoleAuditor)
	audit := e.login(t, "audit", "audit password")
	for _, op := range []string{"recharge", "refund", "freeze", "lost", "close", "replace", "edit", "holds"} {
		status, _ := e.do(t, "POST", "/api/v1/cards/04A1/"+op, audit, `{"request_id":"x","amount":1,"new_card_no":"04B2","name":"x"}`)
		if status != http.StatusForbidden {
			t.Errorf("auditor %s: %d, want 403", op, status)
		}
	}
	if status, _ := e.do(t, "GET", "/api/v1/cards/04A1", audit, nil); status != 200 {
		t.Errorf("auditor reads a card: %d", status)
	}
}

// TestPersonalData checks that person ids and phones are stored sealed,
// found by their keyed hash, and shown masked.
func TestPersonalData(t *testing.T) {
	e := newEnv(t)
	e.openCard(t, "04A1", "110101199001011234", 1000)
	e.openCard(t, "04B2", "13800138000", 1000)
	raw := servertest.MustRawSQLite(t, e.store.Path)
	var n int
	for _, secret := range []string{"110101199001011234", "13800138000", "0013", "1990"} {
		if err := raw.QueryRow(`SELECT COUNT(*) FROM accounts WHERE instr(CAST(person_sealed AS TEXT), ?) OR instr(CAST(phone_sealed AS TEXT), ?)`,
			secret, secret).Scan(&n); err != nil || n != 0 {
			t.Errorf("the sealed columns hold %q in the clear (%d rows, %v)", secret, n, err)
		}
	}
	// person_id is the keyed hash, 64 hex digits (in which a part of an
	// id, such as 1990, may appear by chance).
	if err := raw.QueryRow(`SELECT COUNT(*) FROM accounts WHERE kind = 'diner' AND (person_id IS NULL OR length(person_id) <> 64 OR person_id GLOB '*[^0-9a-f]*'
		OR person_id IN ('110101199001011234', '13800138000'))`).Scan(&n); err != nil || n != 0 {
		t.Errorf("%d diners' person_id is not a keyed hash (%v)", n, err)
	}
	// Found by the whole id, however it is typed; not by a part of it.
	for q, want := range map[string]string{"110101199001011234": "04A1", "110101-19900101-1234": "04A1", "138 0013 8000": "04B2"} {
		status, out := e.do(t, "GET", "/api/v1/cards?q="+strings.ReplaceAll(q, " ", "%20"), e.token, nil)
		cards, _ := out["cards"].([]any)
		if status != 200 || len(cards) != 1 || cards[0].(map[string]any)["card_no"] != want {
			t.Errorf("search %q: %d %v, want card %s", q, status, out, want)
		}
	}
	status, out := e.do(t, "GET", "/api/v1/cards?q=1101011990", e.token, nil)
	if cards, _ := out["cards"].([]any); status != 200 || len(cards) != 0 {
		t.Errorf("search by part of an id: %d %v, want nothing", status, out)
	}
	status, out = e.do(t, "GET", "/api/v1/cards/04B2", e.token, nil)
	if status != 200 || out["person_id"] != "138****8000" || out["phone"] != "138****8000" {
		t.Errorf("card: %v, want the person id and phone masked", out)
	}
	// A second open card for the same person, typed differently: 409.
	status, out = e.do(t, "POST", "/api/v1/cards", e.token, map[string]any{"person_id": "110101 19900101 1234", "name": "x", "deposit": 1, "request_id": "again"})
	if status != http.StatusConflict {
		t.Errorf("second card for a person: %d %v, want 409", status, out)
	}
	for _, bad := range []string{"", "1234", "<script>", "1101011990010112341101011990010112345"} {
		status, out = e.do(t, "POST", "/api/v1/cards", e.token, map[string]any{"person_id": bad, "name": "x", "deposit": 1, "request_id": "bad-" + bad})
		if status != http.StatusBadRequest {
			t.Errorf("person id %q: %d %v, want 400", bad, status, out)
		}
	}
}

func TestSubsidySchedules(t *testing.T) {
	e := newEnv(t)
	status, out := e.do(t, "POST", "/api/v1/subsidies", e.token, map[string]any{"user_class": "staff", "amount": 5000, "day": 1, "expires": true})
	if status != http.StatusCreated || out["id"] == nil {
		t.Fatalf("add schedule: %d %v", status, out)
	}
	for _, bad := range []string{`{"user_class":"staff","amount":5000,"day":31}`, `{"user_class":"staff","amount":-1,"day":1}`,
		`{"user_class":"staff","amount":50.5,"day":1}`, `{"id":9,"user_class":"staff","amount":1,"day":1}`} {
		if status, out := e.do(t, "POST", "/api/v1/subsidies", e.token, bad); status != http.StatusBadRequest {
			t.Errorf("schedule %s: %d %v, want 400", bad, status, out)
		}
	}
	status, out = e.do(t, "GET", "/api/v1/subsidies", e.token, nil)
	if scs, _ := out["schedules"].([]any); status != 200 || len(scs) != 1 {
		t.Errorf("schedules: %d %v", status, out)
	}
	e.addUser(t, "op", "operator password", server.RoleOperator)
	if status, _ := e.do(t, "POST", "/api/v1/subsidies", e.login(t, "op", "operator password"), map[string]any{"user_class": "x", "amount": 1, "day": 1}); status != http.StatusForbidden {
		t.Errorf("operator adds a schedule: %d, want 403", status)
	}
}
