package sqlite

import (
	"context"
	"time"
)

// SchemaVersions is the number of migrations: the newest schema version.
var SchemaVersions = len(migrations)

// MigrateTo creates the database file at path with its schema at version,
// for tests of the migrations.
func MigrateTo(ctx context.Context, path string, version int) error {
	db, err := openRaw(path, "")
	if err != nil {
		return err
	}
	defer db.Close()
	return migrateTo(ctx, db, version, time.Now())
}
