package web_test

import (
	"bytes"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/fanka/fanka/server/admin"
	"github.com/fanka/fanka/server/web"
)

func TestPagesNeedASession(t *testing.T) {
	s := startSite(t)
	c := s.client(t)
	for _, path := range []string{"/", "/cards", "/registers", "/sales", "/reports", "/rules", "/audit", "/users", "/help", "/charts/daily.svg"} {
		resp, _ := get(t, c, s.URL+path)
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login?next=") {
			t.Errorf("GET %s without a session: %d to %q, want 303 to /login", path, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
}

func TestSecurityHeadersAndNoInlineScript(t *testing.T) {
	s := startSite(t)
	c, _ := s.signIn(t, "admin", adminPassword)
	inline := regexp.MustCompile(`<script(?: [^>]*)?>`)
	for _, path := range []string{"/login", "/", "/cards", "/registers", "/sales", "/reports", "/rules", "/audit", "/users", "/help", "/nope", "/static/app.js"} {
		resp, body := get(t, c, s.URL+path)
		if got := resp.Header.Get("Content-Security-Policy"); got != web.ContentSecurityPolicy {
			t.Errorf("GET %s: CSP %q, want %q", path, got, web.ContentSecurityPolicy)
		}
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("X-Frame-Options") != "DENY" {
			t.Errorf("GET %s: headers %v lack nosniff or DENY", path, resp.Header)
		}
		for _, tag := range inline.FindAllString(body, -1) {
			// The only scripts: the file from /static, and the texts as JSON data (never run).
			if tag != `<script src="/static/app.js" defer>` && tag != `<script type="application/json" id="i18n">` {
				t.Errorf("GET %s: script tag %s", path, tag)
			}
		}
	}
	if !strings.Contains(web.ContentSecurityPolicy, "script-src 'self'") || strings.Contains(web.ContentSecurityPolicy, "unsafe-inline") {
		t.Errorf("CSP %q must allow scripts from this server only", web.ContentSecurityPolicy)
	}
}

func TestSessionCookieFlags(t *testing.T) {
	s := startSite(t)
	c := s.client(t)
	resp := s.postForm(t, c, "admin", adminPassword)
	var found bool
	for _, ck := range resp.Cookies() {
		if ck.Name != admin.SessionCookie {
			continue
		}
		found = true
		if !ck.Secure || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/" || ck.Domain != "" {
			t.Errorf("session cookie %+v: want Secure, HttpOnly, SameSite=Strict, path /, no domain", ck)
		}
	}
	if !found {
		t.Fatalf("sign in set no %s cookie: %v", admin.SessionCookie, resp.Header["Set-Cookie"])
	}
}

func TestSignInFormNeedsItsToken(t *testing.T) {
	s := startSite(t)
	c := s.client(t)
	resp, err := c.PostForm(s.URL+"/login", map[string][]string{"login": {"forged"}, "user": {"admin"}, "password": {adminPassword}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("sign-in with a forged form token: %d, want 403", resp.StatusCode)
	}
}

// TestCSRF: with the session cookie, a state-changing call needs the
// session's CSRF token; a bearer token needs none.
func TestCSRF(t *testing.T) {
	s := startSite(t)
	c, csrf := s.signIn(t, "admin", adminPassword)
	_, other := s.signIn(t, "operator", operatorPassword)
	body := map[string]string{"name": "till 1"}
	for _, tc := range []struct {
		name    string
		headers map[string]string
		want    int
	}{
		{"missing", nil, http.StatusForbidden},
		{"forged", map[string]string{admin.CSRFHeader: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}, http.StatusForbidden},
		{"another session's", map[string]string{admin.CSRFHeader: other}, http.StatusForbidden},
		{"right", map[string]string{admin.CSRFHeader: csrf}, http.StatusCreated},
	} {
		status, code, out := apiCall(t, c, "POST", s.URL+"/api/v1/terminals", tc.headers, body)
		if status != tc.want {
			t.Errorf("POST /terminals with the %s CSRF token: %d %s %s, want %d", tc.name, status, code, out, tc.want)
		}
	}
	// Reads need no CSRF token.
	if status, code, _ := apiCall(t, c, "GET", s.URL+"/api/v1/users", nil, nil); status != http.StatusOK {
		t.Errorf("GET /users with the cookie: %d %s", status, code)
	}
	// The sign-out form is checked too.
	resp, err := c.PostForm(s.URL+"/logout", map[string][]string{"csrf": {"forged"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("sign out with a forged CSRF token: %d, want 403", resp.StatusCode)
	}
	// A bearer token is not sent by a browser on its own: no CSRF token.
	tc := s.client(t)
	status, _, out := apiCall(t, tc, "POST", s.URL+"/api/v1/login", nil, map[string]string{"user": "admin", "password": adminPassword})
	if status != http.StatusOK {
		t.Fatalf("login: %d %s", status, out)
	}
	token := regexp.MustCompile(`"token":"([^"]+)"`).FindSubmatch(out)[1]
	if status, code, out := apiCall(t, tc, "POST", s.URL+"/api/v1/terminals", map[string]string{"Authorization": "Bearer " + string(token)}, body); status != http.StatusCreated {
		t.Errorf("POST /terminals with a bearer token: %d %s %s", status, code, out)
	}
	// Signed out, the cookie is worth nothing.
	resp, err = c.PostForm(s.URL+"/logout", map[string][]string{"csrf": {csrf}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("sign out: %d, want 303", resp.StatusCode)
	}
}

// TestSignInThrottled: 20 wrong sign-ins for one user, and 20 for as many
// user names from one address, are answered 429 with Retry-After; the
// right password does not get through while throttled.
func TestSignInThrottled(t *testing.T) {
	s := startSite(t)
	c := s.client(t)
	var statuses []int
	for range 20 {
		statuses = append(statuses, s.postForm(t, c, "operator", "wrong password!").StatusCode)
	}
	if statuses[0] != http.StatusUnauthorized || statuses[19] != http.StatusTooManyRequests {
		t.Errorf("20 wrong sign-ins as operator: statuses %v, want 401 first and 429 last", statuses)
	}
	status, code, out := apiCall(t, c, "POST", s.URL+"/api/v1/login", nil, map[string]string{"user": "operator", "password": operatorPassword})
	if status != http.StatusTooManyRequests || code != admin.ETHROTTLED {
		t.Errorf("API login with the right password while throttled: %d %s %s, want 429", status, code, out)
	}
	if resp := s.postForm(t, c, "operator", operatorPassword); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("web sign-in with the right password while throttled: %d, want 429", resp.StatusCode)
	} else if n, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || n < 1 {
		t.Errorf("Retry-After %q, want whole seconds", resp.Header.Get("Retry-After"))
	}
	// One wrong password each for 20 user names from one address: the
	// address is throttled, for every user.
	statuses = statuses[:0]
	for i := range 20 {
		status, _, _ := apiCall(t, c, "POST", s.URL+"/api/v1/login", nil, map[string]string{"user": "guess" + strconv.Itoa(i), "password": "nope nope nope"})
		statuses = append(statuses, status)
	}
	status, code, _ = apiCall(t, c, "POST", s.URL+"/api/v1/login", nil, map[string]string{"user": "auditor", "password": auditorPassword})
	if status != http.StatusTooManyRequests {
		t.Errorf("login as auditor after wrong passwords for 20 user names from this address (%v): %d %s, want 429", statuses, status, code)
	}
}

// TestUsersAPI: admin creates users under the password rule; others may not.
func TestUsersAPI(t *testing.T) {
	s := startSite(t)
	c, csrf := s.signIn(t, "admin", adminPassword)
	h := map[string]string{admin.CSRFHeader: csrf}
	for _, tc := range []struct {
		name, password, role string
		want                 int
	}{
		{"cashier2", "short", "operator", http.StatusBadRequest},
		{"cashier2", "password1234", "operator", http.StatusBadRequest},   // common
		{"cashier2", "Cashier2-is-me", "operator", http.StatusBadRequest}, // holds the name
		{"cashier2", "aaaaaaaaaaaaaaa", "operator", http.StatusBadRequest},
		{"cashier2", "Mittag-Essen-2026", "boss", http.StatusBadRequest},
		{"<b>x</b>", "Mittag-Essen-2026", "operator", http.StatusBadRequest},
		{"cashier2", "Mittag-Essen-2026", "operator", http.StatusCreated},
		{"cashier2", "Mittag-Essen-2026", "operator", http.StatusConflict},
	} {
		status, code, out := apiCall(t, c, "POST", s.URL+"/api/v1/users", h, map[string]string{"name": tc.name, "password": tc.password, "role": tc.role})
		if status != tc.want {
			t.Errorf("create user %q password %q role %s: %d %s %s, want %d", tc.name, tc.password, tc.role, status, code, out, tc.want)
		}
	}
	status, _, out := apiCall(t, c, "GET", s.URL+"/api/v1/users", nil, nil)
	if status != http.StatusOK || !bytes.Contains(out, []byte(`"name":"cashier2","role":"operator"`)) || bytes.Contains(out, []byte("argon2")) {
		t.Errorf("GET /users: %d %s, want cashier2 and no hash", status, out)
	}
	for _, who := range []struct{ name, password string }{{"operator", operatorPassword}, {"auditor", auditorPassword}} {
		c, csrf := s.signIn(t, who.name, who.password)
		status, code, _ := apiCall(t, c, "POST", s.URL+"/api/v1/users", map[string]string{admin.CSRFHeader: csrf},
			map[string]string{"name": "mallory", "password": "Mittag-Essen-2026", "role": "admin"})
		if status != http.StatusForbidden {
			t.Errorf("%s creates a user: %d %s, want 403", who.name, status, code)
		}
	}
}

// TestBadBodies: huge and malformed JSON bodies are refused, with the
// session cookie as with a bearer token.
func TestBadBodies(t *testing.T) {
	s := startSite(t)
	c, csrf := s.signIn(t, "admin", adminPassword)
	h := map[string]string{admin.CSRFHeader: csrf}
	huge := append([]byte(`{"name":"`), bytes.Repeat([]byte("x"), admin.MaxBody+10)...)
	huge = append(huge, `"}`...)
	for _, tc := range []struct {
		name string
		body []byte
	}{
		{"huge", huge},
		{"malformed", []byte(`{"name":`)},
		{"not an object", []byte(`[1,2]`)},
		{"two values", []byte(`{"name":"a"}{"name":"b"}`)},
		{"unknown field", []byte(`{"name":"a","admin":true}`)},
		{"empty", nil},
	} {
		for _, path := range []string{"/api/v1/terminals", "/api/v1/users", "/api/v1/cards"} {
			status, code, out := apiCall(t, c, "POST", s.URL+path, h, tc.body)
			if status != http.StatusBadRequest || code != "EINVALID" {
				t.Errorf("POST %s with a %s body: %d %s %.200s, want 400 EINVALID", path, tc.name, status, code, out)
			}
		}
	}
}

func TestChartIsSVGAndEscaped(t *testing.T) {
	svg := string(web.BarChart(`<script>alert(1)</script>`, []web.Bar{{Label: "<b>", Value: 5}, {Label: "1", Value: 10}}, func(v int64) string { return strconv.FormatInt(v, 10) }))
	if !strings.HasPrefix(svg, "<svg ") || strings.Contains(svg, "<script>") || strings.Contains(svg, "<b>") {
		t.Errorf("chart %s: want SVG with every text escaped", svg)
	}
	if n := strings.Count(svg, `class="bar"`); n != 2 {
		t.Errorf("chart has %d bars, want 2", n)
	}
}

func TestMarkdownEscapes(t *testing.T) {
	got := web.Markdown("# Title <x>\n\ntext **bold** [link](javascript:alert(1)) ![img](img/a.png)\n\n- one\n- two\n")
	for _, want := range []string{"<h1>Title &lt;x&gt;</h1>", "<strong>bold</strong>", `<img src="/guide/img/a.png" alt="img">`, "<ul>\n<li>one</li>"} {
		if !strings.Contains(got, want) {
			t.Errorf("markdown %q lacks %q", got, want)
		}
	}
	if strings.Contains(got, "javascript:") && strings.Contains(got, "href=") {
		t.Errorf("markdown %q links to javascript:", got)
	}
}

// TestNoOpenRedirect: the language switch and the sign-in go back only to
// paths on this server.
func TestNoOpenRedirect(t *testing.T) {
	s := startSite(t)
	c := s.client(t)
	for next, want := range map[string]string{
		"/cards":                   "/cards",
		"/reports?date=2026-03-02": "/reports?date=2026-03-02",
		"//evil.example":           "/",
		"/\\evil.example":          "/",
		"/\t/evil.example":         "/",
		"https://evil.example":     "/",
		"/%2F/evil.example":        "/", // decodes to //evil.example: refused, to be safe
	} {
		resp, _ := get(t, c, s.URL+"/lang?to=en&next="+url.QueryEscape(next))
		if got := resp.Header.Get("Location"); got != want {
			t.Errorf("/lang?next=%q redirects to %q, want %q", next, got, want)
		}
	}
}
