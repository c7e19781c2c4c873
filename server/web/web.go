// Package web is the canteen office's web page: sign in, the dashboard,
// cards, registers, the live sale feed, reports with charts, the sale
// rules, the audit log, users and the user guide. It is served by fanka-server at "/" next to the
// JSON API (/api/v1) on the same HTTPS listener.
//
// The pages are HTML from the server with one small script that calls the
// JSON API with the browser's session cookie; charts are SVG drawn here from
// the API's own answers. Everything the page needs is embedded in the
// binary: a canteen LAN has no internet. Every response carries a strict
// Content-Security-Policy (no inline script, nothing from another host).
package web

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/fanka/fanka/server"
	"github.com/fanka/fanka/server/admin"
)

//go:embed templates static guide
var files embed.FS

// ContentSecurityPolicy is sent with every page: scripts and styles only
// from this server, no inline script, no framing, forms only to this
// server.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// Cookies of the page besides the session (admin.SessionCookie).
const (
	// loginCookie carries the sign-in form's CSRF token (double submit).
	loginCookie = "__Host-fanka_login"
	// langCookie remembers the chosen language.
	langCookie = "__Host-fanka_lang"
)

// Server is the web page, an http.Handler for every path but /api/.
type Server struct {
	api    *admin.Server
	logger *slog.Logger
	mux    *http.ServeMux
	pages  map[string]*template.Template
	static http.Handler
}

// A pageSpec is one page of the menu: its path, template and who may open it.
type pageSpec struct {
	Path  string
	Name  string // template file and menu key
	Roles []server.Role
}

var (
	all     = []server.Role{server.RoleAdmin, server.RoleOperator, server.RoleAuditor}
	pageSet = []pageSpec{
		{"/", "dashboard", all},
		{"/cards", "cards", all},
		{"/registers", "registers", all},
		{"/sales", "sales", all},
		{"/reports", "reports", all},
		{"/rules", "rules", all},
		{"/audit", "audit", all},
		{"/users", "users", []server.Role{server.RoleAdmin}},
		{"/help", "help", all},
	}
)

// New returns the web page in front of api.
func New(api *admin.Server, logger *slog.Logger) (*Server, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{api: api, logger: logger, mux: http.NewServeMux(), pages: make(map[string]*template.Template)}
	names := []string{"login", "error"}
	for _, p := range pageSet {
		names = append(names, p.Name)
	}
	for _, name := range names {
		t, err := template.ParseFS(files, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("web: template %s: %w", name, err)
		}
		s.pages[name] = t
	}
	static, err := fs.Sub(files, "static")
	if err != nil {
		return nil, err
	}
	s.static = http.StripPrefix("/static/", http.FileServerFS(static))

	s.mux.HandleFunc("GET /login", s.handleLoginPage)
	s.mux.HandleFunc("POST /login", s.handleLogin)
	s.mux.HandleFunc("POST /logout", s.handleLogout)
	s.mux.HandleFunc("GET /lang", s.handleLang)
	s.mux.Handle("GET /static/", s.static)
	s.mux.Handle("GET /guide/img/", http.FileServerFS(files))
	s.mux.HandleFunc("GET /charts/{chart}", s.handleChart)
	for _, p := range pageSet {
		pattern := "GET " + p.Path
		if p.Path == "/" {
			pattern = "GET /{$}"
		}
		s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) { s.handlePage(w, r, p) })
	}
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.renderError(w, r, http.StatusNotFound, "notfound")
	})
	return s, nil
}

// ServeHTTP implements http.Handler: every response gets the security
// headers.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", ContentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Strict-Transport-Security", "max-age=31536000")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	s.mux.ServeHTTP(w, r)
}

// view is what a template sees.
type view struct {
	Lang    string
	Page    string
	Path    string
	User    server.User
	CSRF    string
	Nav     []pageSpec
	Message string // an error or notice for the person
	Status  int
	Next    string
	Login   string // the sign-in form's CSRF token
	Guide   template.HTML
	Other   string // the other language
}

// T returns the text of key in the page's language.
func (v view) T(key string) string { return text(v.Lang, key) }

// Texts returns every text in the page's language, for the script.
func (v view) Texts() map[string]string { return allText(v.Lang) }

// Can reports whether the user has one of roles.
func (v view) Can(roles ...string) bool {
	for _, r := range roles {
		if string(v.User.Role) == r {
			return true
		}
	}
	return false
}

// lang returns the request's language: the cookie's, else Chinese.
func lang(r *http.Request) string {
	if c, err := r.Cookie(langCookie); err == nil && c.Value == LangEN {
		return LangEN
	}
	return LangZH
}

func (s *Server) newView(r *http.Request, page string) view {
	v := view{Lang: lang(r), Page: page, Path: r.URL.Path, Other: LangEN}
	if v.Lang == LangEN {
		v.Other = LangZH
	}
	return v
}

// render writes the page template name with v.
func (s *Server) render(w http.ResponseWriter, status int, name string, v view) {
	var buf bytes.Buffer
	if err := s.pages[name].ExecuteTemplate(&buf, "layout", v); err != nil {
		s.logger.Error("web: render", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

func (s *Server) renderError(w http.ResponseWriter, r *http.Request, status int, key string) {
	v := s.newView(r, "error")
	if sess, err := s.api.Authenticate(r); err == nil {
		v.User, v.CSRF, v.Nav = sess.User, sess.CSRF(), navFor(sess.User.Role)
	}
	v.Status, v.Message = status, v.T(key)
	s.render(w, status, "error", v)
}

// navFor returns the pages role may open.
func navFor(role server.Role) []pageSpec {
	var out []pageSpec
	for _, p := range pageSet {
		if allowed(p.Roles, role) {
			out = append(out, p)
		}
	}
	return out
}

func allowed(roles []server.Role, role server.Role) bool {
	for _, r := range roles {
		if r == role {
			return true
		}
	}
	return false
}

// session returns the request's session, or redirects to the sign-in page
// and returns false.
func (s *Server) session(w http.ResponseWriter, r *http.Request) (admin.Session, bool) {
	sess, err := s.api.Authenticate(r)
	if err == nil && sess.Token != "" {
		return sess, true
	}
	if err != nil && server.ErrorCode(err) != server.EUNAUTHORIZED {
		s.logger.Info("web: no session", "path", r.URL.Path, "err", err)
	}
	http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
	return admin.Session{}, false
}

func (s *Server) handlePage(w http.ResponseWriter, r *http.Request, p pageSpec) {
	sess, ok := s.session(w, r)
	if !ok {
		return
	}
	if !allowed(p.Roles, sess.User.Role) {
		s.logger.Info("web: page refused", "path", r.URL.Path, "user", sess.User.Name, "role", sess.User.Role)
		s.renderError(w, r, http.StatusForbidden, "forbidden")
		return
	}
	v := s.newView(r, p.Name)
	v.User, v.CSRF, v.Nav = sess.User, sess.CSRF(), navFor(sess.User.Role)
	if p.Name == "help" {
		g, err := s.guide(v.Lang)
		if err != nil {
			s.logger.Error("web: guide", "err", err)
		}
		v.Guide = g
	}
	s.render(w, http.StatusOK, p.Name, v)
}

// safeNext returns next if it is a path on this server, else "/": no
// scheme, no host, no "//" or backslash (which browsers read as a host),
// no control characters (which browsers drop), and not the sign-in page.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/login") {
		return "/"
	}
	for _, r := range next {
		if r < 0x20 || r == 0x7f || r == '\\' {
			return "/"
		}
	}
	if u, err := url.Parse(next); err != nil || u.Scheme != "" || u.Host != "" || strings.HasPrefix(u.Path, "//") {
		return "/"
	}
	return next
}

func (s *Server) handleLoginPage(w http.ResponseWriter, r *http.Request) {
	s.loginPage(w, r, http.StatusOK, "")
}

// loginPage shows the sign-in form with a fresh form token and message.
func (s *Server) loginPage(w http.ResponseWriter, r *http.Request, status int, message string) {
	v := s.newView(r, "login")
	v.Next = safeNext(r.FormValue("next"))
	v.Message = message
	v.Login = rand.Text()
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: v.Login, Path: "/", Secure: true, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, MaxAge: 3600})
	s.render(w, status, "login", v)
}

func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		s.loginPage(w, r, http.StatusBadRequest, err.Error())
		return
	}
	c, err := r.Cookie(loginCookie)
	if err != nil || c.Value == "" || subtle.ConstantTimeCompare([]byte(c.Value), []byte(r.PostFormValue("login"))) != 1 {
		s.logger.Info("web: sign-in form token missing or wrong", "remote", r.RemoteAddr)
		s.loginPage(w, r, http.StatusForbidden, text(lang(r), "login.expired"))
		return
	}
	token, expires, err := s.api.Login(r, r.PostFormValue("user"), r.PostFormValue("password"))
	var th *admin.ThrottledError
	switch {
	case errors.As(err, &th):
		secs := int((th.RetryAfter + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", fmt.Sprint(secs))
		s.loginPage(w, r, http.StatusTooManyRequests, fmt.Sprintf(text(lang(r), "login.throttled"), secs))
		return
	case server.ErrorCode(err) == server.EUNAUTHORIZED || server.ErrorCode(err) == server.EINVALID:
		s.loginPage(w, r, http.StatusUnauthorized, text(lang(r), "login.wrong"))
		return
	case err != nil:
		s.logger.Error("web: sign in", "err", err)
		s.loginPage(w, r, http.StatusInternalServerError, text(lang(r), "error"))
		return
	}
	http.SetCookie(w, admin.SessionCookieFor(token, expires))
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode, MaxAge: -1})
	http.Redirect(w, r, safeNext(r.PostFormValue("next")), http.StatusSeeOther)
}

func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) {
	if _, err := s.api.Authenticate(r); err != nil {
		if server.ErrorCode(err) == server.EFORBIDDEN {
			s.renderError(w, r, http.StatusForbidden, "forbidden")
			return
		}
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	if err := s.api.Logout(r); err != nil {
		s.logger.Error("web: sign out", "err", err)
	}
	http.SetCookie(w, admin.SessionCookieFor("", time.Time{}))
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

func (s *Server) handleLang(w http.ResponseWriter, r *http.Request) {
	l := LangZH
	if r.FormValue("to") == LangEN {
		l = LangEN
	}
	http.SetCookie(w, &http.Cookie{Name: langCookie, Value: l, Path: "/", Secure: true, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, MaxAge: 365 * 24 * 3600})
	http.Redirect(w, r, safeNext(r.FormValue("next")), http.StatusSeeOther)
}
