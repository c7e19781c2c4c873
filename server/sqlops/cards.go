package sqlops

import (
	"context"
	"fmt"

	"github.com/fanka/fanka/server"
)

// CardsAfter implements server.CardFeed's CardsAfter on q, with a store's
// card columns and scanner.
func CardsAfter(ctx context.Context, q Tx, cardColumns string, scan func(row interface{ Scan(...any) error }) (server.Card, error), after string, limit int) ([]server.Card, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+cardColumns+` FROM `+CardFrom+` WHERE c.card_no > ? ORDER BY c.card_no LIMIT ?`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("cards after %q: %w", after, err)
	}
	defer rows.Close()
	var out []server.Card
	for rows.Next() {
		c, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("cards after %q: %w", after, err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cards after %q: %w", after, err)
	}
	return out, nil
}
