package server

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"log/slog"
	"time"
)

// The ledger's rows are sealed into a hash chain, so that a money column
// edited by hand in the database is found, and named, by verify:
//
//   - each transaction, with its postings, has a digest (TxDigest) over a
//     canonical encoding of every column;
//   - a seal covers the transactions with ids above the previous seal's
//     last one, up to its own last one: it keeps their digests, in id
//     order, and its hash is SealHash of the previous seal's hash and
//     those digests.
//
// Verify recomputes every digest and every hash: an edited row no longer
// matches its digest, and a row edited together with its digest breaks
// the hash of its seal and, through it, of every later one. The head of
// the chain (its seq and hash) is printed by verify and on the daily
// report, so that an auditor who wrote it down can tell that the chain as
// a whole was not rebuilt.
//
// Seals are written after settlement, off its path (a store's Seal, run
// every second by the server), so a transaction is unsealed for at most a
// few seconds; Verify counts those.

// SealedTx is a ledger transaction as a seal commits to it.
type SealedTx struct {
	ID       int64
	Kind     string
	Origin   string
	Created  int64
	Terminal int64 // 0: NULL
	Seq      int64
	CardNo   string
	Day      int64 // -1: NULL
	VoidOf   int64
	Operator string
	Postings []Posting // in posting id order; TxID is not encoded
}

// Digest returns the transaction's digest.
func (t *SealedTx) Digest() [32]byte {
	b := make([]byte, 0, 256)
	b = append(b, "fanka/ledger-tx/v1\x00"...)
	str := func(s string) {
		b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
	}
	num := func(v int64) { b = binary.BigEndian.AppendUint64(b, uint64(v)) }
	num(t.ID)
	str(t.Kind)
	str(t.Origin)
	num(t.Created)
	num(t.Terminal)
	num(t.Seq)
	str(t.CardNo)
	num(t.Day)
	num(t.VoidOf)
	str(t.Operator)
	num(int64(len(t.Postings)))
	for _, p := range t.Postings {
		num(p.AccountID)
		num(int64(p.Amount))
	}
	return sha256.Sum256(b)
}

// SealHash returns the hash of a seal: the previous seal's hash (zero for
// the first) and the digests of the transactions it covers, in id order,
// with its range.
func SealHash(prev [32]byte, seq, firstTx, lastTx int64, digests []byte) [32]byte {
	h := sha256.New()
	h.Write([]byte("fanka/ledger-seal/v1\x00"))
	h.Write(prev[:])
	var n [24]byte
	binary.BigEndian.PutUint64(n[0:], uint64(seq))
	binary.BigEndian.PutUint64(n[8:], uint64(firstTx))
	binary.BigEndian.PutUint64(n[16:], uint64(lastTx))
	h.Write(n[:])
	h.Write(digests)
	var sum [32]byte
	h.Sum(sum[:0])
	return sum
}

// MaxSeal bounds the transactions of one seal.
const MaxSeal = 5000

// SealReport is what Verify found of the seals.
type SealReport struct {
	Seals    int64    // seals checked
	Sealed   int64    // transactions they cover
	Unsealed int64    // transactions above the last seal, not yet sealed
	HeadSeq  int64    // the last seal
	HeadHash [32]byte // and its hash
}

// SealInterval is how often a server seals the ledger.
const SealInterval = time.Second

// SealLedger seals what settled since the last seal, every SealInterval
// (and at once again while a seal was full), until ctx ends.
func SealLedger(ctx context.Context, store LedgerSealer, logger *slog.Logger) {
	t := time.NewTicker(SealInterval)
	defer t.Stop()
	for {
		n, err := store.Seal(ctx)
		if err != nil && ctx.Err() == nil {
			logger.Error("fanka-server: seal the ledger", "err", err)
		}
		if n == MaxSeal {
			continue
		}
		select {
		case <-ctx.Done():
			// What settled last is sealed before the server stops.
			if _, err := store.Seal(context.WithoutCancel(ctx)); err != nil {
				logger.Error("fanka-server: seal the ledger at shutdown", "err", err)
			}
			return
		case <-t.C:
		}
	}
}
