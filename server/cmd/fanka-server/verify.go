package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/fanka/fanka/server"
	"github.com/fanka/fanka/server/sqlite"
)

// verifyFailed is a violated invariant, already reported on stdout.
type verifyFailed struct{ *server.Violation }

// verify checks the ledger's invariants and prints the result:
//
//	verify: ok: N transactions, M entries, K registers
//	verify: failed: TABLE row ID: PROBLEM
func (m *Main) verify(ctx context.Context, cfg Config) error {
	path, err := cfg.storePath()
	if err != nil {
		return err
	}
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("no database at %s", path)
	}
	store := sqlite.New(path)
	if err := store.Open(ctx); err != nil {
		return err
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
	fmt.Fprintf(m.Stdout, "verify: ok: %d transactions, %d entries, %d registers\n", rep.Transactions, rep.Entries, rep.Registers)
	return nil
}
