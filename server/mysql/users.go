package mysql

import (
	"context"
	"database/sql"
	"time"

	"github.com/fanka/fanka/server"
	"github.com/fanka/fanka/server/sqlops"
)

// users is the store's server.UserStore: the SQL both stores share.
func (db *DB) users() sqlops.Users {
	return sqlops.Users{Read: db.db, Duplicate: isDuplicate, Now: db.Now,
		InTx: func(ctx context.Context, fn func(sqlops.Tx) error) error {
			return db.inTx(ctx, func(tx *sql.Tx) error { return fn(tx) })
		}}
}

// CreateUser implements server.UserStore.
func (db *DB) CreateUser(ctx context.Context, u server.User) error {
	return db.users().CreateUser(ctx, u)
}

// User implements server.UserStore.
func (db *DB) User(ctx context.Context, name string) (server.User, error) {
	return db.users().User(ctx, name)
}

// Users implements server.UserStore.
func (db *DB) Users(ctx context.Context) ([]server.User, error) { return db.users().Users(ctx) }

// CreateToken implements server.UserStore.
func (db *DB) CreateToken(ctx context.Context, t server.Token) error {
	return db.users().CreateToken(ctx, t)
}

// TokenUser implements server.UserStore.
func (db *DB) TokenUser(ctx context.Context, hash [32]byte, now time.Time) (server.User, error) {
	return db.users().TokenUser(ctx, hash, now)
}

// DeleteToken implements server.UserStore.
func (db *DB) DeleteToken(ctx context.Context, hash [32]byte) error {
	return db.users().DeleteToken(ctx, hash)
}
