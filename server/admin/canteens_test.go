package admin_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/fanka/fanka/server"
)

func TestCanteensAPI(t *testing.T) {
	e := newEnv(t)
	e.addUser(t, "audrey", "pass phrase", server.RoleAuditor)
	auditor := e.login(t, "audrey", "pass phrase")

	status, out := e.do(t, "GET", "/api/v1/canteens", auditor, nil)
	cs, _ := out["canteens"].([]any)
	if status != 200 || len(cs) != 1 || cs[0].(map[string]any)["id"] != json.Number("1") {
		t.Fatalf("a new server's canteens: %d %v", status, out)
	}
	status, out = e.do(t, "POST", "/api/v1/canteens", e.token, map[string]string{"name": "东区食堂"})
	if status != 201 || out["name"] != "东区食堂" || out["revenue"] != json.Number("0") {
		t.Fatalf("create: %d %v", status, out)
	}
	east := out["id"]

	// What was tried, and refused.
	status, out = e.do(t, "POST", "/api/v1/canteens", e.token, map[string]string{"name": "东区食堂"})
	wantError(t, "a canteen's name again", status, out, 409, server.ECONFLICT)
	status, out = e.do(t, "POST", "/api/v1/canteens", e.token, map[string]string{"name": strings.Repeat("x", 65)})
	wantError(t, "a name of 65 bytes", status, out, 400, server.EINVALID)
	status, out = e.do(t, "POST", "/api/v1/canteens", auditor, map[string]string{"name": "西区"})
	wantError(t, "create as an auditor", status, out, 403, server.EFORBIDDEN)
	status, out = e.do(t, "POST", "/api/v1/terminals", e.token, map[string]any{"name": "一号窗口", "canteen_id": 99})
	wantError(t, "a register of canteen 99", status, out, 404, server.ENOTFOUND)
	status, out = e.do(t, "POST", "/api/v1/terminals", e.token, map[string]any{"name": "一号窗口", "canteen_id": -1})
	wantError(t, "a register of canteen -1", status, out, 400, server.EINVALID)
	status, out = e.do(t, "POST", "/api/v1/terminals", e.token, map[string]any{"name": "一号窗口", "canteen_id": "east"})
	wantError(t, "a register of canteen \"east\"", status, out, 400, server.EINVALID)

	status, out = e.do(t, "POST", "/api/v1/terminals", e.token, map[string]any{"name": "东区一号", "canteen_id": east})
	if status != 201 {
		t.Fatalf("create a register in the east: %d %v", status, out)
	}
	id := out["terminal_id"]
	status, out = e.do(t, "GET", "/api/v1/terminals", auditor, nil)
	if ts, _ := out["terminals"].([]any); status != 200 || len(ts) != 1 || ts[0].(map[string]any)["canteen_id"] != east {
		t.Fatalf("registers: %d %v", status, out)
	}

	status, out = e.do(t, "POST", fmt.Sprintf("/api/v1/terminals/%v/move", id), e.token, map[string]any{"canteen_id": 1})
	if status != 200 || out["canteen_id"] != json.Number("1") {
		t.Errorf("move: %d %v", status, out)
	}
	status, out = e.do(t, "POST", fmt.Sprintf("/api/v1/terminals/%v/move", id), auditor, map[string]any{"canteen_id": east})
	wantError(t, "move as an auditor", status, out, 403, server.EFORBIDDEN)
	status, out = e.do(t, "POST", fmt.Sprintf("/api/v1/terminals/%v/move", id), e.token, map[string]any{"canteen_id": 0})
	wantError(t, "move to canteen 0", status, out, 400, server.EINVALID)
	status, out = e.do(t, "POST", fmt.Sprintf("/api/v1/terminals/%v/move", id), e.token, map[string]any{"canteen_id": 99})
	wantError(t, "move to canteen 99", status, out, 404, server.ENOTFOUND)
	status, out = e.do(t, "POST", "/api/v1/terminals/999/move", e.token, map[string]any{"canteen_id": 1})
	wantError(t, "move register 999", status, out, 404, server.ENOTFOUND)

	// A refund names its canteen; an unknown one is refused.
	e.openCard(t, "04D1", "110101199003077777", 5000)
	status, out = e.do(t, "POST", "/api/v1/cards/04D1/refund", e.token, map[string]any{"request_id": "r1", "amount": 1, "canteen_id": 99})
	wantError(t, "a refund from canteen 99", status, out, 404, server.ENOTFOUND)

	status, out = e.do(t, "GET", "/api/v1/audit", auditor, nil)
	var actions []string
	for _, r := range out["audit"].([]any) {
		actions = append(actions, fmt.Sprint(r.(map[string]any)["action"]))
	}
	if got := strings.Join(actions, " "); got != "card.open terminal.move terminal.create canteen.create" {
		t.Errorf("audit actions %v", got)
	}
}
