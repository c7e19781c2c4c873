package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/fanka/fanka/server"
)

// CreateUser implements server.UserStore.
func (db *DB) CreateUser(ctx context.Context, u server.User) error {
	if u.Name == "" || len(u.Name) > 64 {
		return server.Errorf(server.EINVALID, "a user name must be 1 to 64 bytes")
	}
	if !u.Role.Valid() {
		return server.Errorf(server.EINVALID, "unknown role %q", u.Role)
	}
	if u.PasswordHash == "" {
		return server.Errorf(server.EINVALID, "user %s without a password hash", u.Name)
	}
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO users (name, password_hash, role, created) VALUES (?, ?, ?, ?)`,
			u.Name, u.PasswordHash, string(u.Role), ms(db.Now()))
		if isDuplicate(err) {
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
func (db *DB) User(ctx context.Context, name string) (server.User, error) {
	u, err := scanUser(db.db.QueryRowContext(ctx, `SELECT name, password_hash, role, created FROM users WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return server.User{}, server.Errorf(server.ENOTFOUND, "no user %s", name)
	}
	if err != nil {
		return server.User{}, fmt.Errorf("user %s: %w", name, err)
	}
	return u, nil
}

func scanUser(row scanner) (server.User, error) {
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

// CreateToken implements server.UserStore.
func (db *DB) CreateToken(ctx context.Context, t server.Token) error {
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		now := ms(db.Now())
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
			t.Hash[:], t.User, ms(t.Expires), now)
		return err
	})
	if err != nil {
		return fmt.Errorf("create token for %s: %w", t.User, err)
	}
	return nil
}

// TokenUser implements server.UserStore.
func (db *DB) TokenUser(ctx context.Context, hash [32]byte, now time.Time) (server.User, error) {
	u, err := scanUser(db.db.QueryRowContext(ctx, `SELECT u.name, u.password_hash, u.role, u.created
		FROM tokens t JOIN users u ON u.name = t.user_name WHERE t.hash = ? AND t.expires > ?`, hash[:], ms(now)))
	if errors.Is(err, sql.ErrNoRows) {
		return server.User{}, server.Errorf(server.EUNAUTHORIZED, "invalid or expired token")
	}
	if err != nil {
		return server.User{}, fmt.Errorf("token user: %w", err)
	}
	return u, nil
}

// DeleteToken implements server.UserStore.
func (db *DB) DeleteToken(ctx context.Context, hash [32]byte) error {
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM tokens WHERE hash = ?`, hash[:])
		return err
	})
	if err != nil {
		return fmt.Errorf("delete token: %w", err)
	}
	return nil
}

// Users implements server.UserStore.
func (db *DB) Users(ctx context.Context) ([]server.User, error) {
	rows, err := db.db.QueryContext(ctx, `SELECT name, password_hash, role, created FROM users ORDER BY name`)
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
