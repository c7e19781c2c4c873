package admin

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/fanka/fanka/server"
)

// A browser signs in once and then carries its token in a cookie rather
// than in an Authorization header. The cookie is the same kind of token as
// a bearer token (a row of the tokens table, only its SHA-256 stored), set
// Secure, HttpOnly and SameSite=Strict under the __Host- prefix (this host
// only, path /, HTTPS only).
//
// A cookie is sent by the browser on its own, so a request that carries
// one and changes anything must also carry the session's CSRF token in the
// X-CSRF-Token header (or the csrf form field, for the web page's forms).
// The CSRF token is derived from the session token (see CSRFToken): a page
// of another site can neither read the HttpOnly cookie nor compute it.
const (
	// SessionCookie is the name of the session cookie.
	SessionCookie = "__Host-fanka_session"
	// CSRFHeader is the request header that carries the CSRF token.
	CSRFHeader = "X-CSRF-Token"
	// CSRFField is the form field that carries the CSRF token.
	CSRFField = "csrf"
)

// CSRFToken returns the CSRF token of the session whose token is session.
func CSRFToken(session string) string {
	h := sha256.Sum256([]byte("fanka/csrf/v1\x00" + session))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

// safeMethod reports whether a request with method changes nothing.
func safeMethod(method string) bool {
	return method == http.MethodGet || method == http.MethodHead || method == http.MethodOptions
}

// Session is who a request comes from.
type Session struct {
	User server.User
	// Token is the session cookie's token; empty for a bearer token.
	Token string
}

// CSRF returns the CSRF token the session's state-changing requests must
// carry; empty for a bearer token, which needs none.
func (s Session) CSRF() string {
	if s.Token == "" {
		return ""
	}
	return CSRFToken(s.Token)
}

// Authenticate returns the user of the request's bearer token or, without
// an Authorization header, of its session cookie. A state-changing request
// (not GET, HEAD or OPTIONS) with a cookie must carry the session's CSRF
// token in the X-CSRF-Token header or the csrf form field: EFORBIDDEN
// otherwise. EUNAUTHORIZED without valid credentials.
func (s *Server) Authenticate(r *http.Request) (Session, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		token, ok := strings.CutPrefix(h, "Bearer ")
		if !ok || token == "" {
			return Session{}, server.Errorf(server.EUNAUTHORIZED, "the Authorization header must be \"Bearer <token>\"")
		}
		u, err := s.store.TokenUser(r.Context(), hashToken(token), s.Now())
		if err != nil {
			return Session{}, err
		}
		return Session{User: u}, nil
	}
	c, err := r.Cookie(SessionCookie)
	if err != nil || c.Value == "" {
		return Session{}, server.Errorf(server.EUNAUTHORIZED, "not signed in: missing bearer token or session cookie (POST /api/v1/login first)")
	}
	u, err := s.store.TokenUser(r.Context(), hashToken(c.Value), s.Now())
	if err != nil {
		return Session{}, err
	}
	sess := Session{User: u, Token: c.Value}
	if !safeMethod(r.Method) {
		got := r.Header.Get(CSRFHeader)
		if got == "" && strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
			r.Body = http.MaxBytesReader(nil, r.Body, MaxBody)
			got = r.PostFormValue(CSRFField)
		}
		if got == "" {
			return Session{}, server.Errorf(server.EFORBIDDEN, "missing CSRF token: a %s with a session cookie needs the %s header", r.Method, CSRFHeader)
		}
		if subtle.ConstantTimeCompare([]byte(got), []byte(sess.CSRF())) != 1 {
			return Session{}, server.Errorf(server.EFORBIDDEN, "wrong CSRF token for this session")
		}
	}
	return sess, nil
}

// ThrottledError refuses a sign-in after too many failures: HTTP 429 with
// a Retry-After header.
type ThrottledError struct {
	// What is throttled, e.g. "user admin" or "address 192.0.2.1".
	What       string
	RetryAfter time.Duration
}

// Error implements the error interface.
func (e *ThrottledError) Error() string {
	return "too many failed sign-ins for " + e.What + ": retry after " + strconv.Itoa(retrySeconds(e.RetryAfter)) + " s"
}

// retrySeconds rounds d up to whole seconds, at least 1.
func retrySeconds(d time.Duration) int {
	s := int((d + time.Second - 1) / time.Second)
	return max(s, 1)
}

// Login checks a user's password and, if it matches, stores and returns a
// new token valid until expires. Failures are counted per user name and
// per remote address (the host of r.RemoteAddr); past the limits, Login
// refuses with a *ThrottledError before checking the password. Errors:
// EINVALID without a user name, EUNAUTHORIZED for a wrong user or password
// (the same message for both).
func (s *Server) Login(r *http.Request, name, password string) (token string, expires time.Time, err error) {
	ctx := r.Context()
	if name == "" {
		return "", time.Time{}, server.Errorf(server.EINVALID, "user is required")
	}
	ip := remoteHost(r)
	now := s.Now()
	if err := s.throttle.check(name, ip, now); err != nil {
		s.Logger.Warn("api: sign-in throttled", "user", name, "remote", ip, "err", err)
		return "", time.Time{}, err
	}
	wrong := server.Errorf(server.EUNAUTHORIZED, "wrong user name or password")
	u, err := s.store.User(ctx, name)
	if server.ErrorCode(err) == server.ENOTFOUND {
		server.CheckPassword(dummyHash(), password)
		s.throttle.fail(name, ip, now)
		return "", time.Time{}, wrong
	}
	if err != nil {
		return "", time.Time{}, err
	}
	ok, err := server.CheckPassword(u.PasswordHash, password)
	if err != nil {
		return "", time.Time{}, err
	}
	if !ok {
		s.throttle.fail(name, ip, now)
		s.Logger.Info("api: wrong password", "user", name, "remote", ip)
		return "", time.Time{}, wrong
	}
	s.throttle.succeed(name)
	token, expires, err = s.newToken(ctx, u.Name)
	if err != nil {
		return "", time.Time{}, err
	}
	s.Logger.Info("api: user signed in", "user", u.Name, "remote", ip)
	return token, expires, nil
}

// newToken stores and returns a new token for user.
func (s *Server) newToken(ctx context.Context, user string) (string, time.Time, error) {
	b := make([]byte, 32)
	rand.Read(b)
	token := base64.RawURLEncoding.EncodeToString(b)
	expires := s.Now().Add(s.TokenTTL)
	if err := s.store.CreateToken(ctx, server.Token{Hash: hashToken(token), User: user, Expires: expires}); err != nil {
		return "", time.Time{}, err
	}
	return token, expires, nil
}

// Logout ends the session or bearer token of r, if any.
func (s *Server) Logout(r *http.Request) error {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		c, err := r.Cookie(SessionCookie)
		if err != nil {
			return nil
		}
		token = c.Value
	}
	if token == "" {
		return nil
	}
	return s.store.DeleteToken(r.Context(), hashToken(token))
}

// SessionCookieFor returns the cookie that carries token until expires;
// an empty token and a zero time give the cookie that removes it.
func SessionCookieFor(token string, expires time.Time) *http.Cookie {
	c := &http.Cookie{
		Name: SessionCookie, Value: token, Path: "/",
		Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode,
	}
	if token == "" {
		c.MaxAge = -1
	} else {
		c.Expires = expires
	}
	return c
}

// remoteHost is the address a request comes from, without the port.
func remoteHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// errorStatus returns the HTTP status and code of err and, for a
// *ThrottledError, sets Retry-After.
func errorStatus(w http.ResponseWriter, err error) (status int, code string) {
	var th *ThrottledError
	if errors.As(err, &th) {
		w.Header().Set("Retry-After", strconv.Itoa(retrySeconds(th.RetryAfter)))
		return http.StatusTooManyRequests, ETHROTTLED
	}
	code = server.ErrorCode(err)
	return Status(code), code
}

// ETHROTTLED is the error code of a throttled sign-in (HTTP 429).
const ETHROTTLED = "ETHROTTLED"
