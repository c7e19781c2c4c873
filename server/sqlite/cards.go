package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/fanka/fanka/server"
	"github.com/fanka/fanka/server/sqlops"
	"github.com/fanka/fanka/shared/wire"
)

// cardColumns are the columns scanCard reads, from cards c joined with
// accounts a.
const cardColumns = `c.card_no, c.account_id, a.person_id, a.name, c.status, a.balance, c.version, c.day, c.today_count, a.held, c.reason, a.user_class, c.day_amount, c.last_sale, c.period, c.period_count, COALESCE(a.subsidy_account, 0), COALESCE(s.balance, 0)`

type scanner interface{ Scan(dest ...any) error }

func scanCard(row scanner) (server.Card, error) {
	var c server.Card
	var status string
	err := row.Scan(&c.CardNo, &c.AccountID, &c.PersonID, &c.Name, &status, &c.Balance, &c.Version, &c.Day, &c.TodayCount, &c.Held, &c.Reason, &c.UserClass, &c.DayAmount, &c.LastSale, &c.Period, &c.PeriodCount, &c.SubsidyAccount, &c.Subsidy)
	c.Status = server.CardStatus(status)
	return c, err
}

// OpenCard implements server.CardStore.
func (db *DB) OpenCard(ctx context.Context, op server.OpenCard) (server.OpenedCard, error) {
	if err := op.Validate(); err != nil {
		return server.OpenedCard{}, fmt.Errorf("open card: %w", err)
	}
	fp := op.Fingerprint()
	var out server.OpenedCard
	changed := false
	err := db.inTx(ctx, func(tx *wtx) error {
		done, err := replayRequest(ctx, tx, op.RequestID, fp[:], &out)
		if err != nil || done {
			return err
		}
		now := ms(db.Now())
		cardNo := op.CardNo
		if cardNo == "" {
			if cardNo, err = allocateCardNo(ctx, tx); err != nil {
				return err
			}
		} else if err := tx.QueryRowContext(ctx, `SELECT 1 FROM cards WHERE card_no = ?`, cardNo).Scan(new(int)); err == nil {
			return server.Errorf(server.ECONFLICT, "card %s already exists", cardNo)
		} else if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		var other int64
		if err := tx.QueryRowContext(ctx, `SELECT id FROM accounts WHERE person_id = ? AND closed IS NULL`, op.PersonID).Scan(&other); err == nil {
			return server.Errorf(server.ECONFLICT, "person %s already has account %d", op.PersonID, other)
		} else if !errors.Is(err, sql.ErrNoRows) {
			return err
		}

		res, err := tx.ExecContext(ctx, `INSERT INTO accounts (kind, person_id, name, balance, created, user_class, person_sealed, phone_sealed)
			VALUES ('diner', ?, ?, 0, ?, ?, ?, ?)`,
			op.PersonID, op.Name, now, op.UserClass, op.PersonSealed, op.PhoneSealed)
		if err != nil {
			return err
		}
		account, err := res.LastInsertId()
		if err != nil {
			return err
		}
		version, err := nextCardVersion(ctx, tx)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO cards (card_no, account_id, status, version, created, public_key) VALUES (?, ?, 'active', ?, ?, ?)`,
			cardNo, account, version, now, op.StoredCardPublicKey()); err != nil {
			return err
		}
		txID, err := insertTx(ctx, tx, txRow{kind: server.TxOpen, origin: server.RequestOrigin(op.RequestID), created: now,
			cardNo: cardNo, operator: op.Operator})
		if err != nil {
			return err
		}
		if err := post(ctx, tx, txID, []server.Posting{
			{AccountID: server.CashAccount, Amount: -op.Deposit},
			{AccountID: account, Amount: op.Deposit},
		}); err != nil {
			return err
		}
		out = server.OpenedCard{CardNo: cardNo, AccountID: account, Balance: op.Deposit}
		changed = true
		return recordRequest(ctx, tx, op.RequestID, "open-card", fp[:], out, op.Operator, now)
	})
	if err != nil {
		return server.OpenedCard{}, fmt.Errorf("open card (request %s): %w", op.RequestID, err)
	}
	if changed {
		db.cards.Notify()
	}
	return out, nil
}

// replayRequest looks up an office request by id. If it was made before
// with the same fingerprint, it decodes the first result into out and
// returns true; with another fingerprint, ECONFLICT.
func replayRequest(ctx context.Context, tx *wtx, id string, fp []byte, out any) (bool, error) {
	var stored []byte
	var resp string
	err := tx.QueryRowContext(ctx, `SELECT fingerprint, response FROM requests WHERE request_id = ?`, id).Scan(&stored, &resp)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if !bytes.Equal(stored, fp) {
		return false, server.Errorf(server.ECONFLICT, "request_id %q was already used for a different request", id)
	}
	if err := json.Unmarshal([]byte(resp), out); err != nil {
		return false, fmt.Errorf("stored response of request %s: %w", id, err)
	}
	return true, nil
}

// recordRequest stores an office request's first result.
func recordRequest(ctx context.Context, tx *wtx, id, op string, fp []byte, result any, operator string, now int64) error {
	resp, err := json.Marshal(result)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO requests (request_id, op, fingerprint, response, operator, created) VALUES (?, ?, ?, ?, ?, ?)`,
		id, op, fp, string(resp), nullString(operator), now)
	return err
}

// allocateCardNo returns a free number for a card to be personalised:
// "FK" and ten digits. The K keeps it apart from every UID, which is hex.
func allocateCardNo(ctx context.Context, tx *wtx) (string, error) {
	for {
		var n int64
		if err := tx.QueryRowContext(ctx, `UPDATE counters SET value = value + 1 WHERE name = 'card_no' RETURNING value`).Scan(&n); err != nil {
			return "", fmt.Errorf("allocate card number: %w", err)
		}
		no := fmt.Sprintf("FK%010d", n)
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM cards WHERE card_no = ?`, no).Scan(new(int))
		if errors.Is(err, sql.ErrNoRows) {
			return no, nil
		}
		if err != nil {
			return "", fmt.Errorf("allocate card number: %w", err)
		}
	}
}

// Card implements server.CardStore.
func (db *DB) Card(ctx context.Context, cardNo string) (server.Card, error) {
	return sqlops.OfficeCard(ctx, readTx{db}, cardColumns, scanAny, cardNo)
}

// CardsSince implements server.CardFeed.
func (db *DB) CardsSince(ctx context.Context, version uint64, limit int) ([]server.Card, error) {
	rows, err := db.read.QueryContext(ctx,
		`SELECT `+cardColumns+` FROM `+sqlops.CardFrom+`
		 WHERE c.version > ? ORDER BY c.version LIMIT ?`, version, limit)
	if err != nil {
		return nil, fmt.Errorf("cards since %d: %w", version, err)
	}
	defer rows.Close()
	var out []server.Card
	for rows.Next() {
		c, err := scanCard(rows)
		if err != nil {
			return nil, fmt.Errorf("cards since %d: %w", version, err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cards since %d: %w", version, err)
	}
	return out, nil
}

// CardVersion implements server.CardFeed.
func (db *DB) CardVersion(ctx context.Context) (uint64, error) {
	var v uint64
	if err := db.read.QueryRowContext(ctx, `SELECT value FROM counters WHERE name = 'card_version'`).Scan(&v); err != nil {
		return 0, fmt.Errorf("card version: %w", err)
	}
	return v, nil
}

// SubscribeCards implements server.CardFeed.
func (db *DB) SubscribeCards() (<-chan struct{}, func()) { return db.cards.Subscribe() }

func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

// cardKeys returns the public keys of those of cards that have one, by
// card number: what server.CardSigNotes needs for a batch. A card's key is
// set when it is opened and never changes, so it is read outside the
// transaction that settles the batch, and remembered (server.CardKeys).
func (db *DB) cardKeys(ctx context.Context, cards []string) (map[string][]byte, error) {
	return db.cardKeyCache.Get(cards, func(cards []string) (map[string][]byte, error) {
		return queryCardKeys(ctx, db.read, cards)
	})
}

// queryCardKeys returns the stored public keys of those of cards that
// exist, nil for a card without one, in statements of at most 256 cards.
func queryCardKeys(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, cards []string) (map[string][]byte, error) {
	keys := map[string][]byte{}
	for len(cards) > 0 {
		n := min(len(cards), 256)
		args := make([]any, n)
		for i, no := range cards[:n] {
			args[i] = no
		}
		rows, err := q.QueryContext(ctx, `SELECT card_no, public_key FROM cards WHERE card_no IN (?`+
			strings.Repeat(", ?", n-1)+`)`, args...)
		if err != nil {
			return nil, fmt.Errorf("card keys: %w", err)
		}
		for rows.Next() {
			var no string
			var key []byte
			if err := rows.Scan(&no, &key); err != nil {
				rows.Close()
				return nil, fmt.Errorf("card keys: %w", err)
			}
			if len(key) == 0 {
				key = nil
			}
			keys[no] = key
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("card keys: %w", err)
		}
		cards = cards[n:]
	}
	return keys, nil
}

// HotlistSince implements server.HotlistFeed.
func (db *DB) HotlistSince(ctx context.Context, version uint64, limit int) ([]wire.HotlistEntry, error) {
	return sqlops.HotlistSince(ctx, readTx{db}, version, limit)
}

// HotlistSnapshot implements server.HotlistFeed.
func (db *DB) HotlistSnapshot(ctx context.Context, after string, limit int) ([]wire.HotlistEntry, error) {
	return sqlops.HotlistSnapshot(ctx, readTx{db}, after, limit)
}

// HotlistVersion implements server.HotlistFeed.
func (db *DB) HotlistVersion(ctx context.Context) (uint64, error) {
	return sqlops.HotlistVersion(ctx, readTx{db})
}

// CardsAfter implements server.CardFeed.
func (db *DB) CardsAfter(ctx context.Context, after string, limit int) ([]server.Card, error) {
	return sqlops.CardsAfter(ctx, readTx{db}, cardColumns, scanAny, after, limit)
}
