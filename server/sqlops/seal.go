package sqlops

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"

	"github.com/fanka/fanka/server"
)

// Head returns the last seal's seq, last transaction and hash; zeros if
// there is none.
func Head(ctx context.Context, q Tx) (seq, lastTx int64, hash [32]byte, err error) {
	var h []byte
	err = q.QueryRowContext(ctx, `SELECT seq, last_tx, hash FROM seals ORDER BY seq DESC LIMIT 1`).Scan(&seq, &lastTx, &h)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, hash, nil
	}
	if err != nil {
		return 0, 0, hash, fmt.Errorf("last seal: %w", err)
	}
	copy(hash[:], h)
	return seq, lastTx, hash, nil
}

// ReadTxs reads the transactions with ids above after and at most upTo,
// at most limit, with their postings, as seals commit to them.
func ReadTxs(ctx context.Context, q Tx, after, upTo int64, limit int) ([]server.SealedTx, error) {
	rows, err := q.QueryContext(ctx, `SELECT id, kind, origin, created, COALESCE(terminal_id, 0), COALESCE(seq, 0), COALESCE(card_no, ''),
		COALESCE(day, -1), COALESCE(void_of, 0), COALESCE(operator, '')
		FROM transactions WHERE id > ? AND id <= ? ORDER BY id LIMIT ?`, after, upTo, limit)
	if err != nil {
		return nil, fmt.Errorf("read transactions after %d: %w", after, err)
	}
	var txs []server.SealedTx
	for rows.Next() {
		var t server.SealedTx
		if err := rows.Scan(&t.ID, &t.Kind, &t.Origin, &t.Created, &t.Terminal, &t.Seq, &t.CardNo, &t.Day, &t.VoidOf, &t.Operator); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read transactions after %d: %w", after, err)
		}
		txs = append(txs, t)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read transactions after %d: %w", after, err)
	}
	if len(txs) == 0 {
		return nil, nil
	}
	first, last := txs[0].ID, txs[len(txs)-1].ID
	prows, err := q.QueryContext(ctx, `SELECT tx_id, account_id, amount FROM postings WHERE tx_id >= ? AND tx_id <= ? ORDER BY tx_id, id`, first, last)
	if err != nil {
		return nil, fmt.Errorf("read postings of transactions %d to %d: %w", first, last, err)
	}
	defer prows.Close()
	i := 0
	for prows.Next() {
		var p server.Posting
		if err := prows.Scan(&p.TxID, &p.AccountID, &p.Amount); err != nil {
			return nil, fmt.Errorf("read postings: %w", err)
		}
		for i < len(txs) && txs[i].ID < p.TxID {
			i++
		}
		if i == len(txs) || txs[i].ID != p.TxID {
			return nil, fmt.Errorf("read postings: posting of transaction %d, which has none", p.TxID)
		}
		txs[i].Postings = append(txs[i].Postings, server.Posting{AccountID: p.AccountID, Amount: p.Amount})
	}
	return txs, prows.Err()
}

// NextSeal makes the seal after the one given, of txs: its row values
// (seq, first_tx, last_tx, count, digests, hash).
func NextSeal(prevSeq, prevLast int64, prevHash [32]byte, txs []server.SealedTx) []any {
	digests := make([]byte, 0, 32*len(txs))
	for i := range txs {
		d := txs[i].Digest()
		digests = append(digests, d[:]...)
	}
	seq, first, last := prevSeq+1, prevLast+1, txs[len(txs)-1].ID
	h := server.SealHash(prevHash, seq, first, last, digests)
	return []any{seq, first, last, int64(len(txs)), digests, h[:]}
}

// InsertSeal is the statement that stores a seal made by NextSeal (and its
// creation time, last).
const InsertSeal = `INSERT INTO seals (seq, first_tx, last_tx, count, digests, hash, created) VALUES (?, ?, ?, ?, ?, ?, ?)`

// VerifySeals checks the chain of seals and that every sealed
// transaction still has the digest its seal holds; a *server.Violation
// names the first seal or transaction that does not.
func VerifySeals(ctx context.Context, q Tx, rep *server.SealReport) error {
	rows, err := q.QueryContext(ctx, `SELECT seq, first_tx, last_tx, count, digests, hash FROM seals ORDER BY seq`)
	if err != nil {
		return err
	}
	type seal struct {
		seq, first, last, count int64
		digests, hash           []byte
	}
	var seals []seal
	for rows.Next() {
		var s seal
		if err := rows.Scan(&s.seq, &s.first, &s.last, &s.count, &s.digests, &s.hash); err != nil {
			rows.Close()
			return err
		}
		seals = append(seals, s)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	var prev [32]byte
	var prevLast int64
	for i, s := range seals {
		row := strconv.FormatInt(s.seq, 10)
		switch {
		case s.seq != int64(i+1):
			return &server.Violation{Table: "seals", Row: row, Problem: fmt.Sprintf("seal %d follows seal %d", s.seq, i)}
		case s.first != prevLast+1 || s.last < s.first:
			return &server.Violation{Table: "seals", Row: row, Problem: fmt.Sprintf("covers transactions %d to %d, after %d", s.first, s.last, prevLast)}
		case int64(len(s.digests)) != 32*s.count:
			return &server.Violation{Table: "seals", Row: row, Problem: fmt.Sprintf("%d bytes of digests for %d transactions", len(s.digests), s.count)}
		}
		if h := server.SealHash(prev, s.seq, s.first, s.last, s.digests); !bytes.Equal(h[:], s.hash) {
			return &server.Violation{Table: "seals", Row: row, Problem: "hash does not match the previous seal and its digests: the chain was edited"}
		}
		txs, err := ReadTxs(ctx, q, s.first-1, s.last, server.MaxSeal+1)
		if err != nil {
			return err
		}
		if int64(len(txs)) != s.count {
			return &server.Violation{Table: "seals", Row: row, Problem: fmt.Sprintf("sealed %d transactions from %d to %d, %d are there now", s.count, s.first, s.last, len(txs))}
		}
		for j := range txs {
			if d := txs[j].Digest(); !bytes.Equal(d[:], s.digests[32*j:32*j+32]) {
				return &server.Violation{Table: "transactions", Row: strconv.FormatInt(txs[j].ID, 10),
					Problem: fmt.Sprintf("the transaction or its postings differ from what seal %d sealed", s.seq)}
			}
		}
		copy(prev[:], s.hash)
		prevLast = s.last
		rep.Seals++
		rep.Sealed += s.count
		rep.HeadSeq, rep.HeadHash = s.seq, prev
	}
	return q.QueryRowContext(ctx, `SELECT COUNT(*) FROM transactions WHERE id > ?`, prevLast).Scan(&rep.Unsealed)
}

// VerifyHolds checks that every account's held total is the sum of its
// open holds, and that the holds are well formed.
func VerifyHolds(ctx context.Context, q Tx) error {
	var id int64
	var held, sum int64
	err := q.QueryRowContext(ctx, `SELECT a.id, a.held, COALESCE(SUM(h.amount), 0) FROM accounts a
		LEFT JOIN holds h ON h.account_id = a.id AND h.state = 'held'
		GROUP BY a.id, a.held HAVING a.held <> COALESCE(SUM(h.amount), 0) ORDER BY a.id LIMIT 1`).Scan(&id, &held, &sum)
	switch {
	case err == nil:
		return &server.Violation{Table: "accounts", Row: strconv.FormatInt(id, 10), Problem: fmt.Sprintf("held %d, but its open holds sum to %d", held, sum)}
	case !errors.Is(err, sql.ErrNoRows):
		return err
	}
	err = q.QueryRowContext(ctx, `SELECT id FROM holds WHERE (state = 'held') <> (ended IS NULL) ORDER BY id LIMIT 1`).Scan(&id)
	switch {
	case err == nil:
		return &server.Violation{Table: "holds", Row: strconv.FormatInt(id, 10), Problem: "state and end time disagree"}
	case !errors.Is(err, sql.ErrNoRows):
		return err
	}
	return nil
}

// Seal seals what is committed after the last seal, reading in read (a
// consistent snapshot) and storing the seal with insert (InsertSeal's
// arguments). Only transactions created at or before cutoff (Unix
// milliseconds) are sealed: on a database where several servers commit at
// once, a transaction with a lower id may commit after one with a higher
// id, and the cutoff leaves time for it. insert reports a seal that
// another server stored first as dup: then nothing is sealed.
func Seal(ctx context.Context, read Tx, cutoff, now int64, insert func(args []any) (dup bool, err error)) (int, error) {
	seq, last, hash, err := Head(ctx, read)
	if err != nil {
		return 0, err
	}
	var top int64
	if err := read.QueryRowContext(ctx, `SELECT COALESCE(MAX(id), 0) FROM transactions`).Scan(&top); err != nil {
		return 0, fmt.Errorf("seal: %w", err)
	}
	txs, err := ReadTxs(ctx, read, last, top, server.MaxSeal)
	if err != nil {
		return 0, fmt.Errorf("seal: %w", err)
	}
	for i := range txs {
		if txs[i].Created > cutoff {
			txs = txs[:i]
			break
		}
	}
	if len(txs) == 0 {
		return 0, nil
	}
	dup, err := insert(append(NextSeal(seq, last, hash, txs), now))
	if err != nil {
		return 0, fmt.Errorf("seal %d: %w", seq+1, err)
	}
	if dup {
		return 0, nil
	}
	return len(txs), nil
}
