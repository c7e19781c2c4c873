package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/fanka/fanka/server"
	"github.com/fanka/fanka/server/admin"
	"github.com/fanka/fanka/server/gateway"
	"github.com/fanka/fanka/server/servertest"
	"github.com/fanka/fanka/server/sqlite"
	"github.com/fanka/fanka/server/web"
)

// Passwords of the users every test server has.
const (
	adminPassword    = "Kantine-Admin-2026!"
	operatorPassword = "Kassen-Buero-77#x"
	auditorPassword  = "Pruefer-Lesen-42%q"
)

// cheap keeps password hashing fast in tests (the race detector slows
// argon2 tenfold); the hash format is the real one.
var cheap = server.PasswordParams{Memory: 64, Time: 1, Threads: 1}

// site is a whole server over TLS, as fanka-server serves it: the API with
// the registers' endpoint under /api/, the web page at /, on SQLite in a
// temporary directory.
type site struct {
	URL   string
	Store *sqlite.DB
	TLS   *httptest.Server
}

// startSite starts the page and the API over a new store; setup, if
// given, sets the API's fields before it serves.
func startSite(t *testing.T, setup ...func(*admin.Server, *sqlite.DB)) *site {
	t.Helper()
	store := servertest.MustOpenSQLite(t, nil)
	ctx := context.Background()
	for _, u := range []struct {
		name, password string
		role           server.Role
	}{{"admin", adminPassword, server.RoleAdmin}, {"operator", operatorPassword, server.RoleOperator}, {"auditor", auditorPassword, server.RoleAuditor}} {
		hash, err := server.HashPasswordWith(cheap, u.password)
		if err != nil {
			t.Fatal(err)
		}
		if err := store.CreateUser(ctx, server.User{Name: u.name, PasswordHash: hash, Role: u.role}); err != nil {
			t.Fatalf("create user %s: %v", u.name, err)
		}
	}
	gw := gateway.New(store, nil)
	api := admin.New(store, gw, nil)
	for _, f := range setup {
		f(api, store)
	}
	page, err := web.New(api, nil)
	if err != nil {
		t.Fatalf("web.New: %v", err)
	}
	root := http.NewServeMux()
	root.Handle("/api/", api)
	root.Handle("/", page)
	ts := httptest.NewUnstartedServer(root)
	ts.EnableHTTP2 = true
	ts.StartTLS()
	t.Cleanup(func() {
		ts.CloseClientConnections()
		ts.Close()
		gw.Close()
	})
	return &site{URL: ts.URL, Store: store, TLS: ts}
}

// client is an HTTPS client of the site with its own cookie jar, that does
// not follow redirects.
func (s *site) client(t *testing.T) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := *s.TLS.Client()
	c.Jar = jar
	c.Timeout = 10 * time.Second
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

var loginField = regexp.MustCompile(`name="login" value="([^"]+)"`)

// signIn signs in through the web page's form and returns the client with
// the session cookie and the session's CSRF token.
func (s *site) signIn(t *testing.T, user, password string) (*http.Client, string) {
	t.Helper()
	c := s.client(t)
	resp := s.postForm(t, c, user, password)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign in as %s: status %d, want 303", user, resp.StatusCode)
	}
	resp, body := get(t, c, s.URL+"/")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET / signed in as %s: status %d", user, resp.StatusCode)
	}
	m := regexp.MustCompile(`<meta name="csrf-token" content="([^"]+)">`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("GET / signed in as %s: no CSRF token in the page", user)
	}
	return c, m[1]
}

// postForm fetches the sign-in form and posts user and password with its
// form token.
func (s *site) postForm(t *testing.T, c *http.Client, user, password string) *http.Response {
	t.Helper()
	_, body := get(t, c, s.URL+"/login")
	m := loginField.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("GET /login: no form token in %q", body)
	}
	resp, err := c.PostForm(s.URL+"/login", url.Values{"login": {m[1]}, "user": {user}, "password": {password}, "next": {"/"}})
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func get(t *testing.T, c *http.Client, u string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// apiCall sends body (a []byte as is, anything else as JSON) to the API
// with the given headers and returns the status and the error code, if
// any.
func apiCall(t *testing.T, c *http.Client, method, u string, headers map[string]string, body any) (int, string, []byte) {
	t.Helper()
	var b []byte
	switch v := body.(type) {
	case nil:
	case []byte:
		b = v
	default:
		b, _ = json.Marshal(v)
	}
	req, _ := http.NewRequest(method, u, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	var e struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	json.Unmarshal(out, &e)
	return resp.StatusCode, e.Error.Code, out
}

// hasAPI reports whether the API has a route for method and path: the
// routes of the cards, sales, reports and audit are built in parallel and
// may not be merged yet. An unknown route answers 404 "no such API". The
// probe sends a malformed body; give paths of cards and registers that do
// not exist, so that a route that reads no body changes nothing.
func (s *site) hasAPI(t *testing.T, c *http.Client, csrf, method, path string) bool {
	t.Helper()
	status, _, body := apiCall(t, c, method, s.URL+path, map[string]string{admin.CSRFHeader: csrf}, []byte("{"))
	return !(status == http.StatusNotFound && strings.Contains(string(body), "no such API")) && status != http.StatusMethodNotAllowed
}
