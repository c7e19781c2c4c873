package admin

import (
	"bufio"
	_ "embed"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/fanka/fanka/server"
)

// The strong-password rule for new passwords.
const (
	// MinPassword is the least number of characters of a password.
	MinPassword = 12
	// MaxPassword bounds a password, in bytes.
	MaxPassword = 256
	// minDistinct is the least number of different characters: it refuses
	// "aaaaaaaaaaaa" and "121212121212".
	minDistinct = 5
)

//go:embed common-passwords.txt
var commonPasswordsText string

// commonPasswords is the set of common-passwords.txt, lower case.
var commonPasswords = sync.OnceValue(func() map[string]bool {
	m := make(map[string]bool)
	sc := bufio.NewScanner(strings.NewReader(commonPasswordsText))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line != "" && !strings.HasPrefix(line, "#") {
			m[strings.ToLower(line)] = true
		}
	}
	return m
})

// CheckNewPassword returns an EINVALID error saying why password may not
// be the password of the user name: shorter than MinPassword characters,
// longer than MaxPassword bytes, the user name or holding it, too few
// different characters, or in the shipped list of common passwords.
func CheckNewPassword(name, password string) error {
	n := utf8.RuneCountInString(password)
	switch {
	case n < MinPassword:
		return server.Errorf(server.EINVALID, "password too short: %d characters, at least %d needed", n, MinPassword)
	case len(password) > MaxPassword:
		return server.Errorf(server.EINVALID, "password too long: %d bytes, at most %d", len(password), MaxPassword)
	case !utf8.ValidString(password):
		return server.Errorf(server.EINVALID, "password is not valid UTF-8")
	}
	lower := strings.ToLower(password)
	if lname := strings.ToLower(name); lname != "" && (lower == lname || (utf8.RuneCountInString(lname) >= 3 && strings.Contains(lower, lname))) {
		return server.Errorf(server.EINVALID, "password must not be or contain the user name")
	}
	distinct := make(map[rune]bool)
	for _, r := range password {
		distinct[r] = true
	}
	if len(distinct) < minDistinct {
		return server.Errorf(server.EINVALID, "password too simple: at least %d different characters needed", minDistinct)
	}
	if commonPasswords()[lower] {
		return server.Errorf(server.EINVALID, "password is on the list of common passwords")
	}
	return nil
}

// validUserName reports whether name is a user name the office can type
// and see: 1 to 64 bytes of letters, digits and . _ - (any script).
func validUserName(name string) bool {
	if name == "" || len(name) > 64 || !utf8.ValidString(name) {
		return false
	}
	for _, r := range name {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '.' && r != '_' && r != '-' {
			return false
		}
	}
	return true
}

// CreateUserRequest is the body of POST /api/v1/users.
type CreateUserRequest struct {
	Name     string      `json:"name"`
	Password string      `json:"password"`
	Role     server.Role `json:"role"`
}

// UserResponse is a user as the API shows it: never the password hash.
type UserResponse struct {
	Name    string      `json:"name"`
	Role    server.Role `json:"role"`
	Created time.Time   `json:"created"`
}

// UsersResponse answers GET /api/v1/users.
type UsersResponse struct {
	Users []UserResponse `json:"users"`
}

func (s *Server) handleCreateUser(w http.ResponseWriter, r *http.Request, u server.User) {
	var req CreateUserRequest
	if err := decode(w, r, &req); err != nil {
		s.error(w, r, err)
		return
	}
	if !validUserName(req.Name) {
		s.error(w, r, server.Errorf(server.EINVALID, "a user name is 1 to 64 bytes of letters, digits, '.', '_' and '-'"))
		return
	}
	if !req.Role.Valid() {
		s.error(w, r, server.Errorf(server.EINVALID, "role must be admin, operator or auditor, not %q", req.Role))
		return
	}
	if err := CheckNewPassword(req.Name, req.Password); err != nil {
		s.error(w, r, err)
		return
	}
	hash, err := server.HashPassword(req.Password)
	if err != nil {
		s.error(w, r, err)
		return
	}
	if err := s.store.CreateUser(r.Context(), server.User{Name: req.Name, PasswordHash: hash, Role: req.Role}); err != nil {
		s.error(w, r, err)
		return
	}
	s.Logger.Info("api: user created", "user", req.Name, "role", req.Role, "by", u.Name)
	s.audit(r, u, "user.create", map[string]any{"name": req.Name, "role": req.Role})
	s.json(w, http.StatusCreated, UserResponse{Name: req.Name, Role: req.Role, Created: s.Now().UTC().Truncate(time.Second)})
}

func (s *Server) handleUsers(w http.ResponseWriter, r *http.Request, _ server.User) {
	users, err := s.store.Users(r.Context())
	if err != nil {
		s.error(w, r, err)
		return
	}
	resp := UsersResponse{Users: make([]UserResponse, len(users))}
	for i, u := range users {
		resp.Users[i] = UserResponse{Name: u.Name, Role: u.Role, Created: u.Created.UTC().Truncate(time.Second)}
	}
	s.json(w, http.StatusOK, resp)
}
