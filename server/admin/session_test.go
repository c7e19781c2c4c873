package admin_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fanka/fanka/server"
	"github.com/fanka/fanka/server/admin"
)

func TestCheckNewPassword(t *testing.T) {
	for _, tc := range []struct {
		name, password string
		ok             bool
	}{
		{"clerk", "", false},
		{"clerk", "elevenchars", false},
		{"clerk", "十一个字符的密码不够长啊", true}, // 12 characters, 36 bytes
		{"clerk", "十一个字符的密码不够长", false}, // 11 characters
		{"clerk", "my-clerk-password", false},
		{"clerk", "CLERK-and-more", false},
		{"clerk", "aaaaaaaaaaaaaaaa", false},
		{"clerk", "121212121212", false},
		{"clerk", "Password1234", false},
		{"clerk", "woaini1314520", false},
		{"clerk", "1qaz2wsx3edc", false},
		{"clerk", strings.Repeat("abcdef", 50), false}, // 300 bytes
		{"clerk", "Mittag-Essen-2026", true},
		{"li", "li-and-more-12", true}, // a name shorter than 3 is not searched for
		{"li", "li", false},
	} {
		err := admin.CheckNewPassword(tc.name, tc.password)
		if (err == nil) != tc.ok {
			t.Errorf("CheckNewPassword(%q, %q) = %v, want ok %v", tc.name, tc.password, err, tc.ok)
		}
		if err != nil && server.ErrorCode(err) != server.EINVALID {
			t.Errorf("CheckNewPassword(%q, %q): code %s, want EINVALID", tc.name, tc.password, server.ErrorCode(err))
		}
	}
}

// TestLoginThrottleWaits: past the limit each failure doubles the wait;
// when it is over, the right password signs in again and clears the count.
func TestLoginThrottleWaits(t *testing.T) {
	e := newEnv(t)
	e.addUser(t, "clerk", "right password", server.RoleOperator)
	login := func(password string) (int, string) {
		status, body := e.do(t, "POST", "/api/v1/login", "", map[string]string{"user": "clerk", "password": password})
		code, _ := body["error"].(map[string]any)["code"].(string)
		return status, code
	}
	for i := range admin.ThrottleUserFailures {
		if status, _ := login("wrong"); status != http.StatusUnauthorized {
			t.Fatalf("wrong password %d: %d, want 401", i+1, status)
		}
	}
	if status, code := login("right password"); status != http.StatusTooManyRequests || code != admin.ETHROTTLED {
		t.Fatalf("right password after %d failures: %d %s, want 429 ETHROTTLED", admin.ThrottleUserFailures, status, code)
	}
	e.clock.Add(admin.ThrottleFirstWait + time.Second)
	if status, _ := login("wrong"); status != http.StatusUnauthorized {
		t.Fatalf("wrong password after the wait: %d, want 401", status)
	}
	e.clock.Add(admin.ThrottleFirstWait + time.Second) // the wait doubled
	if status, _ := login("right password"); status != http.StatusTooManyRequests {
		t.Fatalf("right password before the doubled wait is over: %d, want 429", status)
	}
	e.clock.Add(admin.ThrottleFirstWait)
	if status, body := e.do(t, "POST", "/api/v1/login", "", map[string]string{"user": "clerk", "password": "right password"}); status != http.StatusOK {
		t.Fatalf("right password after the doubled wait: %d %v, want 200", status, body)
	}
	if status, _ := login("wrong"); status != http.StatusUnauthorized {
		t.Errorf("a wrong password after a success: %d, want 401 (the count was cleared)", status)
	}
}

// TestSessionCookie: the API takes the session cookie in place of the
// bearer token; a change needs the CSRF token; a signed-out cookie is
// refused.
func TestSessionCookie(t *testing.T) {
	e := newEnv(t)
	send := func(method, path string, cookie, csrf, body string) int {
		req, _ := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
		req.AddCookie(&http.Cookie{Name: admin.SessionCookie, Value: cookie})
		if csrf != "" {
			req.Header.Set(admin.CSRFHeader, csrf)
		}
		resp, err := e.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	cookie := e.token // a session cookie holds the same kind of token
	if got := send("GET", "/api/v1/users", cookie, "", ""); got != http.StatusOK {
		t.Errorf("GET /users with the cookie: %d, want 200", got)
	}
	if got := send("POST", "/api/v1/terminals", cookie, "", `{"name":"t"}`); got != http.StatusForbidden {
		t.Errorf("POST without the CSRF token: %d, want 403", got)
	}
	if got := send("POST", "/api/v1/terminals", cookie, admin.CSRFToken("another"), `{"name":"t"}`); got != http.StatusForbidden {
		t.Errorf("POST with another session's CSRF token: %d, want 403", got)
	}
	if got := send("POST", "/api/v1/terminals", cookie, admin.CSRFToken(cookie), `{"name":"t"}`); got != http.StatusCreated {
		t.Errorf("POST with the CSRF token: %d, want 201", got)
	}
	if got := send("GET", "/api/v1/users", "forged", "", ""); got != http.StatusUnauthorized {
		t.Errorf("GET with a forged cookie: %d, want 401", got)
	}
	if got := send("POST", "/api/v1/logout", cookie, admin.CSRFToken(cookie), ""); got != http.StatusNoContent {
		t.Errorf("logout: %d, want 204", got)
	}
	if got := send("GET", "/api/v1/users", cookie, "", ""); got != http.StatusUnauthorized {
		t.Errorf("GET after logout: %d, want 401", got)
	}
}
