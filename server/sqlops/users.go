package sqlops

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/fanka/fanka/server"
)

// Users is server.UserStore in the SQL both stores share: the office's
// users and their sign-in tokens.
type Users struct {
	Read      Tx                                                    // for reads
	InTx      func(ctx context.Context, fn func(tx Tx) error) error // runs fn in a write transaction
	Duplicate func(error) bool                                      // reports a unique key violation
	Now       func() time.Time
}

// userColumns are the columns scanUser reads, of users u.
const userColumns = `u.name, u.password_hash, u.role, u.created`

// scanUser scans a row of userColumns.
func scanUser(row interface{ Scan(...any) error }) (server.User, error) {
	var u server.User
	var role string
	var created int64
	if err := row.Scan(&u.Name, &u.PasswordHash, &role, &created); err != nil {
		return server.User{}, err
	}
	u.Role = server.Role(role)
	u.Created = time.UnixMilli(created)
	return u, nil
}

// CreateUser implements server.UserStore.
func (s Users) CreateUser(ctx context.Context, u server.User) error {
	if u.Name == "" || len(u.Name) > 64 {
		return server.Errorf(server.EINVALID, "a user name must be 1 to 64 bytes")
	}
	if !u.Role.Valid() {
		return server.Errorf(server.EINVALID, "unknown role %q", u.Role)
	}
	if u.PasswordHash == "" {
		return server.Errorf(server.EINVALID, "user %s without a password hash", u.Name)
	}
	err := s.InTx(ctx, func(tx Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO users (name, password_hash, role, created) VALUES (?, ?, ?, ?)`,
			u.Name, u.PasswordHash, string(u.Role), s.Now().UnixMilli())
		if s.Duplicate(err) {
			return server.Errorf(server.ECONFLICT, "user %s already exists", u.Name)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("create user %s: %w", u.Name, err)
	}
	return nil
}

// User implements server.UserStore.
func (s Users) User(ctx context.Context, name string) (server.User, error) {
	u, err := scanUser(s.Read.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users u WHERE u.name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return server.User{}, server.Errorf(server.ENOTFOUND, "no user %s", name)
	}
	if err != nil {
		return server.User{}, fmt.Errorf("user %s: %w", name, err)
	}
	return u, nil
}

// Users implements server.UserStore.
func (s Users) Users(ctx context.Context) ([]server.User, error) {
	rows, err := s.Read.QueryContext(ctx, `SELECT `+userColumns+` FROM users u ORDER BY u.name`)
	if err != nil {
		return nil, fmt.Errorf("users: %w", err)
	}
	defer rows.Close()
	var users []server.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("users: %w", err)
		}
		users = append(users, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("users: %w", err)
	}
	return users, nil
}

// CreateToken implements server.UserStore.
func (s Users) CreateToken(ctx context.Context, t server.Token) error {
	err := s.InTx(ctx, func(tx Tx) error {
		now := s.Now().UnixMilli()
		// Expired tokens are of no use to anyone: drop them as new ones come.
		if _, err := tx.ExecContext(ctx, `DELETE FROM tokens WHERE expires <= ?`, now); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, `SELECT 1 FROM users WHERE name = ?`, t.User).Scan(new(int)); errors.Is(err, sql.ErrNoRows) {
			return server.Errorf(server.ENOTFOUND, "no user %s", t.User)
		} else if err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO tokens (hash, user_name, expires, created) VALUES (?, ?, ?, ?)`,
			t.Hash[:], t.User, t.Expires.UnixMilli(), now)
		return err
	})
	if err != nil {
		return fmt.Errorf("create token for %s: %w", t.User, err)
	}
	return nil
}

// TokenUser implements server.UserStore.
func (s Users) TokenUser(ctx context.Context, hash [32]byte, now time.Time) (server.User, error) {
	u, err := scanUser(s.Read.QueryRowContext(ctx, `SELECT `+userColumns+`
		FROM tokens t JOIN users u ON u.name = t.user_name WHERE t.hash = ? AND t.expires > ?`, hash[:], now.UnixMilli()))
	if errors.Is(err, sql.ErrNoRows) {
		return server.User{}, server.Errorf(server.EUNAUTHORIZED, "invalid or expired token")
	}
	if err != nil {
		return server.User{}, fmt.Errorf("token user: %w", err)
	}
	return u, nil
}

// DeleteToken implements server.UserStore.
func (s Users) DeleteToken(ctx context.Context, hash [32]byte) error {
	err := s.InTx(ctx, func(tx Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM tokens WHERE hash = ?`, hash[:])
		return err
	})
	if err != nil {
		return fmt.Errorf("delete token: %w", err)
	}
	return nil
}
