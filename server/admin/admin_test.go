package admin_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/fanka/fanka/server"
	"github.com/fanka/fanka/server/admin"
	"github.com/fanka/fanka/server/gateway"
	"github.com/fanka/fanka/server/servertest"
	"github.com/fanka/fanka/server/sqlite"
	"github.com/fanka/fanka/shared/wire"
)

// cheap keeps password hashing fast in tests; the format is the real one.
var cheap = server.PasswordParams{Memory: 64, Time: 1, Threads: 1}

type env struct {
	store *sqlite.DB
	api   *admin.Server
	srv   *httptest.Server
	clock *servertest.Clock
	token string // the admin's
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{clock: servertest.NewClock(time.Date(2026, 3, 2, 12, 0, 0, 0, time.Local))}
	e.store = servertest.MustOpenSQLite(t, e.clock.Now)
	gw := gateway.New(e.store, nil)
	e.api = admin.New(e.store, gw, nil)
	e.api.Now = e.clock.Now
	e.api.Fingerprint = "ab12"
	e.srv = httptest.NewTLSServer(e.api)
	t.Cleanup(func() {
		gw.Close()
		e.srv.Close()
	})
	e.addUser(t, "admin", "correct horse", server.RoleAdmin)
	e.token = e.login(t, "admin", "correct horse")
	return e
}

func (e *env) addUser(t *testing.T, name, password string, role server.Role) {
	t.Helper()
	h, err := server.HashPasswordWith(cheap, password)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.CreateUser(context.Background(), server.User{Name: name, PasswordHash: h, Role: role}); err != nil {
		t.Fatal(err)
	}
}

// do sends a request with body (a string is sent as is, anything else as
// JSON) and returns the status and the decoded JSON response.
func (e *env) do(t *testing.T, method, path, token string, body any) (int, map[string]any) {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	case []byte:
		r = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Errorf("%s %s: content type %q", method, path, ct)
	}
	var out map[string]any
	dec := json.NewDecoder(resp.Body)
	dec.UseNumber()
	if err := dec.Decode(&out); err != nil {
		t.Fatalf("%s %s: %d, body not JSON: %v", method, path, resp.StatusCode, err)
	}
	return resp.StatusCode, out
}

func (e *env) login(t *testing.T, user, password string) string {
	t.Helper()
	status, out := e.do(t, "POST", "/api/v1/login", "", map[string]string{"user": user, "password": password})
	if status != http.StatusOK {
		t.Fatalf("login %s: %d %v", user, status, out)
	}
	return out["token"].(string)
}

// wantError checks an error response: its status and code.
func wantError(t *testing.T, what string, status int, out map[string]any, wantStatus int, code string) {
	t.Helper()
	e, _ := out["error"].(map[string]any)
	if status != wantStatus || e == nil || e["code"] != code || e["message"] == "" || len(out) != 1 {
		t.Errorf("%s: %d %v, want %d with error code %s", what, status, out, wantStatus, code)
	}
}

func TestLogin(t *testing.T) {
	e := newEnv(t)
	if len(e.token) < 40 {
		t.Errorf("token %q is short", e.token)
	}
	status, out := e.do(t, "POST", "/api/v1/login", "", map[string]string{"user": "admin", "password": "wrong"})
	wantError(t, "wrong password", status, out, 401, server.EUNAUTHORIZED)
	status, out = e.do(t, "POST", "/api/v1/login", "", map[string]string{"user": "nobody", "password": "x"})
	wantError(t, "unknown user", status, out, 401, server.EUNAUTHORIZED)
	status, out = e.do(t, "POST", "/api/v1/login", "", `{"user":"admin"`)
	wantError(t, "malformed", status, out, 400, server.EINVALID)

	// The token works; without it, or with another, nothing does.
	status, out = e.do(t, "GET", "/api/v1/cards/04A1", e.token, nil)
	wantError(t, "unknown card", status, out, 404, server.ENOTFOUND)
	status, out = e.do(t, "GET", "/api/v1/cards/04A1", "", nil)
	wantError(t, "no token", status, out, 401, server.EUNAUTHORIZED)
	status, out = e.do(t, "GET", "/api/v1/cards/04A1", "not-a-token", nil)
	wantError(t, "bad token", status, out, 401, server.EUNAUTHORIZED)
	status, out = e.do(t, "POST", "/api/v1/cards", "", map[string]any{"person_id": "13900000002", "name": "n", "deposit": 1, "request_id": "r"})
	wantError(t, "open without a token", status, out, 401, server.EUNAUTHORIZED)

	// Tokens expire.
	e.clock.Add(admin.DefaultTokenTTL + time.Second)
	status, out = e.do(t, "GET", "/api/v1/cards/04A1", e.token, nil)
	wantError(t, "expired token", status, out, 401, server.EUNAUTHORIZED)
}

func TestUnknownRoute(t *testing.T) {
	e := newEnv(t)
	status, out := e.do(t, "GET", "/api/v1/nothing", e.token, nil)
	wantError(t, "unknown route", status, out, 404, server.ENOTFOUND)
}

func TestOpenCard(t *testing.T) {
	e := newEnv(t)
	status, out := e.do(t, "POST", "/api/v1/cards", e.token,
		map[string]any{"person_id": "110101199001011234", "name": "张三", "deposit": 10000, "request_id": "open-1", "card_no": "04A1B2C3D4E5F6"})
	if status != http.StatusCreated {
		t.Fatalf("open: %d %v", status, out)
	}
	want := map[string]any{"card_no": "04A1B2C3D4E5F6", "account_id": out["account_id"], "balance": json.Number("10000")}
	if diff := cmp.Diff(want, out); diff != "" || out["account_id"] == nil {
		t.Errorf("open (-want +got):\n%s", diff)
	}

	status, out = e.do(t, "GET", "/api/v1/cards/04A1B2C3D4E5F6", e.token, nil)
	wantCard := map[string]any{"card_no": "04A1B2C3D4E5F6", "account_id": want["account_id"], "name": "张三", "status": "active",
		"balance": json.Number("10000"), "held": json.Number("0"), "subsidy": json.Number("0"), "spendable": json.Number("10000"), "today_count": json.Number("0"),
		"person_id": "110101********1234"}
	if diff := cmp.Diff(wantCard, out); status != 200 || diff != "" {
		t.Errorf("card: %d (-want +got):\n%s", status, diff)
	}

	// Without a card number the server allocates one.
	status, out = e.do(t, "POST", "/api/v1/cards", e.token, map[string]any{"person_id": "13800000000", "name": "李四", "deposit": 1, "request_id": "open-2"})
	if status != http.StatusCreated || !strings.HasPrefix(fmt.Sprint(out["card_no"]), "FK") {
		t.Errorf("open without a card number: %d %v", status, out)
	}
	status, out = e.do(t, "GET", "/api/v1/cards/"+fmt.Sprint(out["card_no"]), e.token, nil)
	if status != 200 || out["name"] != "李四" {
		t.Errorf("allocated card: %d %v", status, out)
	}
}

func TestOpenCardIdempotent(t *testing.T) {
	e := newEnv(t)
	body := map[string]any{"person_id": "13900000001", "name": "王五", "deposit": 2000, "request_id": "same"}
	s1, first := e.do(t, "POST", "/api/v1/cards", e.token, body)
	s2, again := e.do(t, "POST", "/api/v1/cards", e.token, body)
	if s1 != 201 || s2 != 201 || !cmp.Equal(first, again) {
		t.Errorf("replay: %d %v then %d %v", s1, first, s2, again)
	}
	body["deposit"] = 3000
	status, out := e.do(t, "POST", "/api/v1/cards", e.token, body)
	wantError(t, "request id reused", status, out, 409, server.ECONFLICT)

	status, out = e.do(t, "POST", "/api/v1/cards", e.token, map[string]any{"person_id": "13900000001", "name": "王五", "deposit": 1, "request_id": "other"})
	wantError(t, "person with a card", status, out, 409, server.ECONFLICT)
}

func TestBadRequests(t *testing.T) {
	e := newEnv(t)
	valid := `{"person_id":"13900000002","name":"n","deposit":100,"request_id":"r"}`
	tests := []struct {
		name string
		body any
	}{
		{"negative deposit", `{"person_id":"13900000002","name":"n","deposit":-100,"request_id":"r1"}`},
		{"zero deposit", `{"person_id":"13900000002","name":"n","deposit":0,"request_id":"r2"}`},
		{"deposit in yuan", `{"person_id":"13900000002","name":"n","deposit":12.5,"request_id":"r3"}`},
		{"deposit as text", `{"person_id":"13900000002","name":"n","deposit":"100","request_id":"r4"}`},
		{"malformed JSON", `{"person_id":"13900000002",`},
		{"not JSON", `hello`},
		{"empty body", ``},
		{"an array", `[1,2]`},
		{"unknown field", `{"person_id":"13900000002","name":"n","deposit":100,"request_id":"r5","balance":1}`},
		{"two objects", valid + valid},
		{"huge body", []byte(`{"person_id":"` + strings.Repeat("x", admin.MaxBody) + `"}`)},
		{"bad card number", `{"person_id":"13900000002","name":"n","deposit":100,"request_id":"r6","card_no":"04a1"}`},
		{"long card number", `{"person_id":"13900000002","name":"n","deposit":100,"request_id":"r7","card_no":"` + strings.Repeat("A", 33) + `"}`},
		{"no request id", `{"person_id":"13900000002","name":"n","deposit":100}`},
		{"no name", `{"person_id":"13900000002","deposit":100,"request_id":"r8"}`},
	}
	for _, tt := range tests {
		status, out := e.do(t, "POST", "/api/v1/cards", e.token, tt.body)
		wantError(t, tt.name, status, out, 400, server.EINVALID)
		t.Logf("%s: %v", tt.name, out["error"].(map[string]any)["message"])
	}
	status, out := e.do(t, "GET", "/api/v1/cards/04a1", e.token, nil)
	wantError(t, "bad card number in the path", status, out, 400, server.EINVALID)
	if rep, err := e.store.Verify(context.Background()); err != nil || rep.Transactions != 0 {
		t.Errorf("after bad requests: %+v, %v", rep, err)
	}
}

func TestRoles(t *testing.T) {
	e := newEnv(t)
	e.addUser(t, "clerk", "pw", server.RoleOperator)
	e.addUser(t, "audit", "pw", server.RoleAuditor)
	clerk, audit := e.login(t, "clerk", "pw"), e.login(t, "audit", "pw")
	status, out := e.do(t, "POST", "/api/v1/terminals", clerk, map[string]string{"name": "till"})
	wantError(t, "operator creates a register", status, out, 403, server.EFORBIDDEN)
	status, out = e.do(t, "POST", "/api/v1/cards", audit, map[string]any{"person_id": "13900000002", "name": "n", "deposit": 1, "request_id": "r"})
	wantError(t, "auditor opens a card", status, out, 403, server.EFORBIDDEN)
	if status, out := e.do(t, "POST", "/api/v1/cards", clerk, map[string]any{"person_id": "13900000002", "name": "n", "deposit": 1, "request_id": "r", "card_no": "0A"}); status != 201 {
		t.Errorf("operator opens a card: %d %v", status, out)
	}
	if status, out := e.do(t, "GET", "/api/v1/cards/0A", audit, nil); status != 200 {
		t.Errorf("auditor reads a card: %d %v", status, out)
	}
}

// TestEnrolAndSell runs the life of a register through the API: created by
// the admin, enrolled with its key and the one-time code, then selling over
// the WebSocket endpoint mounted in the API; the card's count shows it.
func TestEnrolAndSell(t *testing.T) {
	e := newEnv(t)
	status, out := e.do(t, "POST", "/api/v1/cards", e.token, map[string]any{"person_id": "13900000002", "name": "张三", "deposit": 5000, "request_id": "r", "card_no": "04A1"})
	if status != 201 {
		t.Fatalf("open: %d %v", status, out)
	}
	status, out = e.do(t, "POST", "/api/v1/terminals", e.token, map[string]string{"name": "一号窗口"})
	if status != http.StatusCreated {
		t.Fatalf("create register: %d %v", status, out)
	}
	code := out["enrol_code"].(string)
	id, _ := out["terminal_id"].(json.Number).Int64()
	if len(code) != 16 || id == 0 {
		t.Errorf("created: %v", out)
	}

	r := servertest.NewRegister(t)
	r.Time = e.clock.Now
	pub := base64.StdEncoding.EncodeToString(r.Public())
	status, out = e.do(t, "POST", "/api/v1/enroll", "", map[string]string{"code": code, "public_key": base64.StdEncoding.EncodeToString([]byte("short"))})
	wantError(t, "short key", status, out, 400, server.EINVALID)
	status, out = e.do(t, "POST", "/api/v1/enroll", "", map[string]string{"code": "WRONGCODE", "public_key": pub})
	wantError(t, "wrong code", status, out, 401, server.EUNAUTHORIZED)
	// Typed by a person: lower case, with a dash.
	status, out = e.do(t, "POST", "/api/v1/enroll", "", map[string]string{"code": strings.ToLower(code[:8]) + "-" + code[8:], "public_key": pub})
	want := map[string]any{"terminal_id": json.Number(fmt.Sprint(id)), "server_fingerprint": "ab12"}
	if diff := cmp.Diff(want, out); status != 200 || diff != "" {
		t.Fatalf("enrol: %d (-want +got):\n%s", status, diff)
	}
	r.ID = uint32(id)
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	status, out = e.do(t, "POST", "/api/v1/enroll", "", map[string]string{"code": code, "public_key": base64.StdEncoding.EncodeToString(other.Public().(ed25519.PublicKey))})
	wantError(t, "code used twice", status, out, 401, server.EUNAUTHORIZED)

	c := servertest.Dial(t, "wss"+strings.TrimPrefix(e.srv.URL, "https")+"/api/v1/terminal/ws", e.srv.Client().Transport.(*http.Transport).TLSClientConfig)
	c.Handshake(t, r, 0)
	c.Send(&wire.Entries{Entries: [][]byte{r.Sale(t, "04A1", 1250), r.Sale(t, "04A1", 1250)}})
	servertest.Expect[*wire.Acks](t, c)
	if err := c.Send(&wire.Entries{Entries: [][]byte{r.Void(t, "04A1", 1250, 2)}}); err != nil {
		t.Fatal(err)
	}
	servertest.Expect[*wire.Acks](t, c)

	status, out = e.do(t, "GET", "/api/v1/cards/04A1", e.token, nil)
	if status != 200 || out["balance"] != json.Number("3750") || out["today_count"] != json.Number("1") {
		t.Errorf("card after a sale and a voided one: %d %v", status, out)
	}
	e.clock.Add(24 * time.Hour)
	if _, out = e.do(t, "GET", "/api/v1/cards/04A1", e.login(t, "admin", "correct horse"), nil); out["today_count"] != json.Number("0") {
		t.Errorf("count the next day: %v", out)
	}
}

func TestEnrolCodeExpires(t *testing.T) {
	e := newEnv(t)
	_, out := e.do(t, "POST", "/api/v1/terminals", e.token, map[string]string{"name": "till"})
	e.clock.Add(admin.DefaultEnrolCodeTTL + time.Minute)
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	status, out := e.do(t, "POST", "/api/v1/enroll", "", map[string]string{"code": out["enrol_code"].(string), "public_key": base64.StdEncoding.EncodeToString(pub)})
	wantError(t, "expired code", status, out, 401, server.EUNAUTHORIZED)
}

func TestStatus(t *testing.T) {
	for code, want := range map[string]int{
		server.ECONFLICT: 409, server.EFORBIDDEN: 403, server.EINTERNAL: 500, server.EINVALID: 400,
		server.ENOTFOUND: 404, server.EUNAUTHORIZED: 401, "EWHATEVER": 500,
	} {
		if got := admin.Status(code); got != want {
			t.Errorf("Status(%s) = %d, want %d", code, got, want)
		}
	}
}
