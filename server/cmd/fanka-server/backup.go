package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/fanka/fanka/server"
	"github.com/fanka/fanka/server/backup"
	"github.com/fanka/fanka/server/mysql"
	"github.com/fanka/fanka/server/sqlite"
)

// backup writes a consistent snapshot of the database to cfg.Out and
// prints:
//
//	backup: ok: FILE: ENGINE schema version V, T tables, R rows
//
// The file is written beside cfg.Out and renamed into place once it is
// complete and synced, so a backup cut off leaves no file that looks whole.
func (m *Main) backup(ctx context.Context, cfg Config) error {
	kind, where, err := cfg.storeKind()
	if err != nil {
		return err
	}
	if _, err := os.Lstat(cfg.Out); err == nil {
		return fmt.Errorf("--out %s exists: a backup never overwrites a file", cfg.Out)
	}
	tmp, err := os.CreateTemp(filepath.Dir(cfg.Out), "."+filepath.Base(cfg.Out)+".*")
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer os.Remove(tmp.Name()) // after the rename: nothing
	// The backup holds password hashes and tokens' hashes: owner only.
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("backup: %w", err)
	}
	var h backup.Header
	if kind == "mysql" {
		h, err = mysql.Backup(ctx, where, tmp, time.Now())
	} else {
		h, err = sqlite.Backup(ctx, where, tmp, time.Now())
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	// Count what the file holds, reading it back: a backup is only as good
	// as what can be read from it.
	f, err := os.Open(tmp.Name())
	if err != nil {
		return fmt.Errorf("backup: read back: %w", err)
	}
	_, rows, err := backup.Check(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("backup: read back: %w", err)
	}
	// A link fails if cfg.Out appeared meanwhile; a file system without
	// links gets a rename.
	if err := os.Link(tmp.Name(), cfg.Out); errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("backup: %w", err)
	} else if err != nil {
		if err := os.Rename(tmp.Name(), cfg.Out); err != nil {
			return fmt.Errorf("backup: %w", err)
		}
	}
	if d, err := os.Open(filepath.Dir(cfg.Out)); err == nil {
		d.Sync() // the new name, durably; best effort
		d.Close()
	}
	var n int64
	for _, r := range rows {
		n += r
	}
	fmt.Fprintf(m.Stdout, "backup: ok: %s: %s schema version %d, %d tables, %d rows\n", cfg.Out, h.Engine, h.Schema, len(h.Tables), n)
	return nil
}

// restore fills a new database from the backup cfg.In, opens it as the
// server would (bringing its schema to this server's version) and
// verifies it, and prints:
//
//	restore: ok: FILE: ENGINE schema version V, T tables, R rows
//	verify: ok: …
func (m *Main) restore(ctx context.Context, cfg Config) error {
	kind, where, err := cfg.storeKind()
	if err != nil {
		return err
	}
	f, err := os.Open(cfg.In)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	defer f.Close()
	var (
		h    backup.Header
		rows map[string]int64
	)
	if kind == "mysql" {
		h, rows, err = mysql.Restore(ctx, where, f)
	} else {
		if err := os.MkdirAll(filepath.Dir(where), 0o700); err != nil {
			return fmt.Errorf("restore: %w", err)
		}
		h, rows, err = sqlite.Restore(ctx, where, f)
	}
	if err != nil {
		return err
	}
	var n int64
	for _, r := range rows {
		n += r
	}
	fmt.Fprintf(m.Stdout, "restore: ok: %s: %s schema version %d, %d tables, %d rows\n", cfg.In, h.Engine, h.Schema, len(h.Tables), n)

	store, _, err := m.openStore(ctx, cfg, true)
	if err != nil {
		return fmt.Errorf("restore: open the restored database: %w", err)
	}
	defer store.Close()
	rep, err := store.Verify(ctx)
	var v *server.Violation
	if errors.As(err, &v) {
		fmt.Fprintf(m.Stdout, "verify: failed: %s row %s: %s\n", v.Table, v.Row, v.Problem)
		return verifyFailed{v}
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(m.Stdout, "verify: ok: %d transactions, %d entries, %d registers, %d card signatures flagged for review\n",
		rep.Transactions, rep.Entries, rep.Registers, rep.CardSigFlagged)
	return nil
}
