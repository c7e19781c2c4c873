package server

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"strconv"

	"github.com/fanka/fanka/shared/journal"
)

// ChainCheck checks one register's stored journal, as Verify walks it: the
// store feeds it the register's entries in seq order, then calls End. It
// holds no database: every store walks its rows and lets ChainCheck judge
// them, so that all stores verify alike.
type ChainCheck struct {
	// Terminal is the register, as stored: its pinned key and its cursor.
	Terminal Terminal
	// Entries counts the entries checked so far.
	Entries int64
	// CardSigFlagged counts the sales whose card signature is missing or
	// bad, on a card with a public key (see CardSigNote).
	CardSigFlagged int64

	prevSeq  uint64
	prevHash journal.Hash
}

// Next checks the stored entry seq: hash must be the SHA-256 of raw, raw a
// valid entry of this register at seq that follows the previous one, and
// its signature valid under the pinned key. It returns a *Violation naming
// the entry otherwise. cardKey is the stored public key of the card the
// entry's transaction names, if any: a sale whose card signature does not
// verify against it is counted in CardSigFlagged, not a violation.
func (c *ChainCheck) Next(seq uint64, hash, raw, cardKey []byte) error {
	c.Entries++
	id := c.Terminal.ID
	bad := func(format string, args ...any) error {
		return &Violation{Table: "entries", Row: fmt.Sprintf("%d/%d", id, seq), Problem: fmt.Sprintf(format, args...)}
	}
	h := journal.HashBytes(raw)
	if !bytes.Equal(hash, h[:]) {
		return bad("stored hash is not the SHA-256 of the entry")
	}
	e, err := journal.Unmarshal(raw)
	if err != nil {
		return bad("%v", err)
	}
	if e.Terminal != id || e.Seq != seq {
		return bad("the entry is %d/%d", e.Terminal, e.Seq)
	}
	if err := e.Follows(c.prevSeq, c.prevHash); err != nil {
		return bad("%v", err)
	}
	if len(c.Terminal.PublicKey) != ed25519.PublicKeySize {
		return bad("register %d has no pinned key", id)
	}
	if err := e.Verify(c.Terminal.PublicKey); err != nil {
		return bad("%v", err)
	}
	if CardSigNote(&e, cardKey) != "" {
		c.CardSigFlagged++
	}
	c.prevSeq, c.prevHash = seq, h
	return nil
}

// End checks that the register's cursor stands at the last entry checked.
// It returns a *Violation naming the register otherwise.
func (c *ChainCheck) End() error {
	if c.Terminal.LastSeq != c.prevSeq || c.Terminal.LastHash != c.prevHash {
		return &Violation{Table: "terminals", Row: strconv.FormatUint(uint64(c.Terminal.ID), 10),
			Problem: fmt.Sprintf("cursor at seq %d, but its entries end at seq %d", c.Terminal.LastSeq, c.prevSeq)}
	}
	return nil
}
