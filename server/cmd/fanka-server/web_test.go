package main_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestServeWebPage: the server serves the office's page at / on the same
// listener as the API, with its Content-Security-Policy, and the API still
// answers under /api/v1.
func TestServeWebPage(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir, map[string]string{"FANKA_ADMIN_PASSWORD": "Kantine-Admin-2026!"})
	c, _ := client(t, dir)
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Get(s.url + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
		t.Errorf("GET / signed out: %d to %q, want 303 to /login", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, err = c.Get(s.url + "/login")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `<form method="post" action="/login"`) ||
		!strings.Contains(resp.Header.Get("Content-Security-Policy"), "script-src 'self'") {
		t.Errorf("GET /login: %d, CSP %q, body %.300q; want the sign-in form under a CSP", resp.StatusCode, resp.Header.Get("Content-Security-Policy"), body)
	}
	var login struct{ Token string }
	if status := call(t, c, "POST", s.url+"/api/v1/login", "", map[string]string{"user": "admin", "password": "Kantine-Admin-2026!"}, &login); status != 200 || login.Token == "" {
		t.Errorf("API login beside the page: %d %+v", status, login)
	}
}
