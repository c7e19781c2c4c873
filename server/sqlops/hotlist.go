package sqlops

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/fanka/fanka/server"
	"github.com/fanka/fanka/shared/wire"
)

// The hotlist table holds one row per card that was ever on the hotlist:
// its status (frozen, lost or closed while listed, active once taken off)
// and the card version of the change that last listed it or took it off.
// Rows are written in the transaction that changes the card's status, so
// the hotlist and the cards never disagree; they are never deleted, so a
// register's cursor is never too old to continue from.

// WriteHotlist records, in the transaction that changes them, the cards
// whose status changed to the given one at the given version: a status
// other than active lists the card (again, at the new version); active
// takes a listed card off. Cards that were active and stay so are not
// written.
func WriteHotlist(ctx context.Context, tx Tx, changes []server.CardChange, versions []uint64) error {
	var listed []any
	var cards []string
	for i, c := range changes {
		if c.Status == server.CardActive {
			if c.New {
				continue
			}
			_, err := tx.ExecContext(ctx, `UPDATE hotlist SET status = 'active', version = ? WHERE card_no = ? AND status <> 'active'`,
				versions[i], c.CardNo)
			if err != nil {
				return fmt.Errorf("hotlist: take card %s off: %w", c.CardNo, err)
			}
			continue
		}
		cards = append(cards, c.CardNo)
		listed = append(listed, c.CardNo, string(c.Status), versions[i])
	}
	return listCards(ctx, tx, cards, listed)
}

// ListCards puts cards on the hotlist in the transaction that changed
// them: every card given, with its status (not active) and version.
func ListCards(ctx context.Context, tx Tx, cards []server.Card) error {
	nos := make([]string, len(cards))
	listed := make([]any, 0, 3*len(cards))
	for i, c := range cards {
		nos[i] = c.CardNo
		listed = append(listed, c.CardNo, string(c.Status), c.Version)
	}
	return listCards(ctx, tx, nos, listed)
}

// listCards replaces the hotlist rows of cards with listed (card_no,
// status, version triples), in two statements every store speaks.
func listCards(ctx context.Context, tx Tx, cards []string, listed []any) error {
	if len(cards) == 0 {
		return nil
	}
	nos := make([]any, len(cards))
	for i, c := range cards {
		nos[i] = c
	}
	marks := strings.Repeat(", ?", len(cards))[2:]
	if _, err := tx.ExecContext(ctx, `DELETE FROM hotlist WHERE card_no IN (`+marks+`)`, nos...); err != nil {
		return fmt.Errorf("hotlist: list %d cards: %w", len(cards), err)
	}
	rows := strings.Repeat(", (?, ?, ?)", len(cards))[2:]
	if _, err := tx.ExecContext(ctx, `INSERT INTO hotlist (card_no, status, version) VALUES `+rows, listed...); err != nil {
		return fmt.Errorf("hotlist: list %d cards: %w", len(cards), err)
	}
	return nil
}

// HotlistSince implements server.HotlistFeed on q.
func HotlistSince(ctx context.Context, q Tx, version uint64, limit int) ([]wire.HotlistEntry, error) {
	rows, err := q.QueryContext(ctx, `SELECT card_no, status, version FROM hotlist WHERE version > ? ORDER BY version LIMIT ?`, version, limit)
	if err != nil {
		return nil, fmt.Errorf("hotlist since %d: %w", version, err)
	}
	return scanHotlist(rows, fmt.Sprintf("hotlist since %d", version))
}

// HotlistSnapshot implements server.HotlistFeed on q.
func HotlistSnapshot(ctx context.Context, q Tx, after string, limit int) ([]wire.HotlistEntry, error) {
	rows, err := q.QueryContext(ctx, `SELECT card_no, status, version FROM hotlist WHERE status <> 'active' AND card_no > ? ORDER BY card_no LIMIT ?`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("hotlist after card %q: %w", after, err)
	}
	return scanHotlist(rows, fmt.Sprintf("hotlist after card %q", after))
}

// HotlistVersion implements server.HotlistFeed on q.
func HotlistVersion(ctx context.Context, q Tx) (uint64, error) {
	var v sql.NullInt64
	if err := q.QueryRowContext(ctx, `SELECT MAX(version) FROM hotlist`).Scan(&v); err != nil {
		return 0, fmt.Errorf("hotlist version: %w", err)
	}
	return uint64(v.Int64), nil
}

func scanHotlist(rows *sql.Rows, what string) ([]wire.HotlistEntry, error) {
	defer rows.Close()
	var out []wire.HotlistEntry
	for rows.Next() {
		var e wire.HotlistEntry
		var status string
		if err := rows.Scan(&e.CardNo, &status, &e.Version); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		e.Status = server.CardStatus(status).Wire()
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}
