package mysql

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/fanka/fanka/server"
)

// A settlement writes the transactions rows of its entries many at a time
// (flushTx), not one statement per entry: until then each has a
// provisional id, negative, which the postings and entries rows of the
// settlement carry and flushTx replaces with the id the row was given.

// pendingTx is a transactions row not yet inserted, and its provisional id.
type pendingTx struct {
	id  int64 // provisional: below zero
	row txRow
}

// values returns the row's columns as txColumns names them.
func (r txRow) values() []any {
	v := []any{string(r.kind), r.origin, r.created, nil, nil, nullString(r.cardNo), nil, nil, nullString(r.operator)}
	if r.terminal != 0 {
		v[3], v[4] = int64(r.terminal), r.seq
	}
	if r.day != nil {
		v[6] = int64(*r.day)
	}
	if r.voidOf != 0 {
		v[7] = r.voidOf
	}
	return v
}

const txColumns = `kind, origin, created, terminal_id, seq, card_no, day, void_of, operator`

// newTx keeps a transactions row to insert and returns its provisional id.
func (s *settlement) newTx(r txRow) int64 {
	id := -int64(len(s.pendingTx)+1) - s.flushedTx
	s.pendingTx = append(s.pendingTx, pendingTx{id: id, row: r})
	return id
}

// flushTx inserts the transactions rows kept by newTx, reads back the ids
// they were given (by origin, which is unique: nothing is assumed of how
// the database allocates AUTO_INCREMENT values), and replaces their
// provisional ids in the postings and entries not yet written.
func (s *settlement) flushTx(ctx context.Context) error {
	if len(s.pendingTx) == 0 {
		return nil
	}
	args := make([]any, 0, 9*len(s.pendingTx))
	origins := make([]any, len(s.pendingTx))
	for i, p := range s.pendingTx {
		args = append(args, p.row.values()...)
		origins[i] = p.row.origin
	}
	err := insertRows(ctx, s.tx, `INSERT INTO transactions (`+txColumns+`) VALUES `, 9, args)
	if isDuplicate(err) {
		return server.Errorf(server.ECONFLICT, "a transaction of register %d's batch (%s to %s) already exists",
			s.terminal, s.pendingTx[0].row.origin, s.pendingTx[len(s.pendingTx)-1].row.origin)
	}
	if err != nil {
		return fmt.Errorf("insert transactions: %w", err)
	}
	ids := make(map[string]int64, len(origins))
	for len(origins) > 0 {
		n := min(len(origins), maxRowsPerStatement)
		if err := readTxIDs(ctx, s.tx, origins[:n], ids); err != nil {
			return err
		}
		origins = origins[n:]
	}
	real := make(map[int64]int64, len(s.pendingTx))
	for _, p := range s.pendingTx {
		id, ok := ids[p.row.origin]
		if !ok {
			return fmt.Errorf("insert transactions: transaction %s is not in the table after its insert", p.row.origin)
		}
		real[p.id] = id
	}
	s.flushedTx += int64(len(s.pendingTx))
	s.pendingTx = s.pendingTx[:0]

	b := s.books
	for i := 0; i < len(b.postings); i += 3 {
		if id, ok := b.postings[i].(int64); ok && id < 0 {
			b.postings[i] = real[id]
		}
	}
	for id, p := range b.posted {
		if id < 0 {
			delete(b.posted, id)
			b.posted[real[id]] = p
		}
	}
	for seq, id := range s.presetTx {
		if id < 0 {
			s.presetTx[seq] = real[id]
		}
	}
	for i := 4; i < len(s.entries); i += entryColumns {
		if id, ok := s.entries[i].(sql.NullInt64); ok && id.Int64 < 0 {
			s.entries[i] = sql.NullInt64{Int64: real[id.Int64], Valid: true}
		}
	}
	return nil
}

// readTxIDs adds the ids of the transactions with the given origins to ids.
func readTxIDs(ctx context.Context, tx *sql.Tx, origins []any, ids map[string]int64) error {
	rows, err := tx.QueryContext(ctx, `SELECT id, origin FROM transactions WHERE origin IN (`+
		strings.TrimSuffix(strings.Repeat("?, ", len(origins)), ", ")+`)`, origins...)
	if err != nil {
		return fmt.Errorf("read transaction ids: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var origin string
		if err := rows.Scan(&id, &origin); err != nil {
			return fmt.Errorf("read transaction ids: %w", err)
		}
		ids[origin] = id
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read transaction ids: %w", err)
	}
	return nil
}
