package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/fanka/fanka/server"
)

// verifyFailed is a violated invariant, already reported on stdout.
type verifyFailed struct{ *server.Violation }

// verify checks the ledger's invariants and prints the result:
//
//	verify: ok: N transactions, M entries, K registers
//	verify: failed: TABLE row ID: PROBLEM
func (m *Main) verify(ctx context.Context, cfg Config) error {
	store, _, err := m.openStore(ctx, cfg, true)
	if err != nil {
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
	fmt.Fprintf(m.Stdout, "verify: ok: %d transactions, %d entries, %d registers, %d card signatures flagged for review\n",
		rep.Transactions, rep.Entries, rep.Registers, rep.CardSigFlagged)
	fmt.Fprintf(m.Stdout, "verify: ledger seals: %d seals over %d transactions, %d not yet sealed; head seal %d hash %x\n",
		rep.Seals.Seals, rep.Seals.Sealed, rep.Seals.Unsealed, rep.Seals.HeadSeq, rep.Seals.HeadHash)
	return nil
}
