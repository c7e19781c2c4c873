// Package sqlops runs the office's card operations (server.CardOp) on a
// SQL store: it reads the card's state, asks the operation's Plan what to
// do, and writes the plan. The SQL is the subset SQLite, MariaDB and TiDB
// share; what differs between the stores (posting, the card version
// counter, row locks) they hand in as a Tx.
package sqlops

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/fanka/fanka/server"
	"github.com/fanka/fanka/shared/money"
)

// CardFrom is what card columns (a store's cardColumns) are read from:
// the card c, its account a, and a's subsidy account s, if any.
const CardFrom = `cards c JOIN accounts a ON a.id = c.account_id LEFT JOIN accounts s ON s.id = a.subsidy_account`

// Tx is a store's write transaction, as the operations need it.
type Tx interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// Store is what an operation needs of the store beyond SQL.
type Store struct {
	// Lock is appended to the queries that read rows the operation will
	// write (" FOR UPDATE" on MariaDB, "" on SQLite, whose writer is
	// alone).
	Lock string
	// CardColumns and ScanCard read a card joined with its account
	// (cards c, accounts a).
	CardColumns string
	ScanCard    func(row interface{ Scan(...any) error }) (server.Card, error)
	// Post inserts a ledger transaction with its postings, updating the
	// balances, and returns its id. The operation's card's account is
	// locked already, with the balance st.Card.Balance.
	Post func(ctx context.Context, kind server.TxKind, origin string, cardNo, operator string, now int64, postings []server.Posting, account int64, balance money.Fen) (int64, error)
	// NextVersions returns n new card versions, in order, after the
	// operation's rows are locked.
	NextVersions func(ctx context.Context, n int) ([]uint64, error)
	// Duplicate reports whether err is a unique key violation.
	Duplicate func(error) bool
}

// State reads, in tx, what op.Plan needs. ENOTFOUND for an unknown card.
func (s *Store) State(ctx context.Context, tx Tx, op server.CardOp) (server.CardState, error) {
	var st server.CardState
	c, err := s.ScanCard(tx.QueryRowContext(ctx,
		`SELECT `+s.CardColumns+` FROM `+CardFrom+` WHERE c.card_no = ?`+s.Lock, op.CardNo))
	if errors.Is(err, sql.ErrNoRows) {
		return st, server.Errorf(server.ENOTFOUND, "no card %s", op.CardNo)
	}
	if err != nil {
		return st, fmt.Errorf("card %s: %w", op.CardNo, err)
	}
	st.Card, st.Reason = c, c.Reason
	err = tx.QueryRowContext(ctx, `SELECT card_no FROM cards WHERE account_id = ? AND card_no <> ? AND status IN ('active', 'frozen')
		ORDER BY created DESC LIMIT 1`, c.AccountID, c.CardNo).Scan(&st.Successor)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return st, fmt.Errorf("card %s: successor: %w", op.CardNo, err)
	}
	if op.Kind == server.OpRefund || op.Kind == server.OpCapture {
		canteen := op.Canteen
		if canteen == 0 {
			canteen = server.FirstCanteen
		}
		err := tx.QueryRowContext(ctx, `SELECT revenue_account FROM canteens WHERE id = ?`, canteen).Scan(&st.Revenue)
		if errors.Is(err, sql.ErrNoRows) {
			return st, server.Errorf(server.ENOTFOUND, "no canteen %d", canteen)
		}
		if err != nil {
			return st, fmt.Errorf("card %s: canteen %d: %w", op.CardNo, canteen, err)
		}
	}
	switch op.Kind {
	case server.OpRefund:
		if st.Paid, err = Paid(ctx, tx, c.AccountID, st.Revenue); err != nil {
			return st, fmt.Errorf("card %s: %w", op.CardNo, err)
		}
	case server.OpRelease, server.OpCapture:
		var h server.Hold
		var created int64
		var state string
		err := tx.QueryRowContext(ctx, `SELECT id, account_id, card_no, amount, reason, state, created FROM holds
			WHERE id = ? AND account_id = ?`+s.Lock, op.HoldID, c.AccountID).Scan(&h.ID, &h.AccountID, &h.CardNo, &h.Amount, &h.Reason, &state, &created)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return st, fmt.Errorf("card %s: hold %d: %w", op.CardNo, op.HoldID, err)
		default:
			h.State, h.Created = server.HoldState(state), time.UnixMilli(created)
			st.Hold = h
		}
	case server.OpReplace:
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM cards WHERE card_no = ?`, op.NewCardNo).Scan(new(int))
		switch {
		case err == nil:
			st.NewCardTaken = true
		case !errors.Is(err, sql.ErrNoRows):
			return st, fmt.Errorf("card %s: %w", op.NewCardNo, err)
		}
	}
	return st, nil
}

// Run runs op in tx: it reads the card's state, asks op.Plan what to do,
// and writes it (State, then Apply).
func (s *Store) Run(ctx context.Context, tx Tx, op server.CardOp, now time.Time) (server.CardOpResult, error) {
	st, err := s.State(ctx, tx, op)
	if err != nil {
		return server.CardOpResult{}, err
	}
	plan, err := op.Plan(st)
	if err != nil {
		return server.CardOpResult{}, err
	}
	return s.Apply(ctx, tx, op, st, plan, now)
}

// Apply writes plan, which op.Plan made of st, and returns the result.
func (s *Store) Apply(ctx context.Context, tx Tx, op server.CardOp, st server.CardState, plan server.Plan, now time.Time) (server.CardOpResult, error) {
	out := plan.Result
	at := now.UnixMilli()
	account := st.Card.AccountID
	if plan.Tx != "" {
		id, err := s.Post(ctx, plan.Tx, server.RequestOrigin(op.RequestID), op.CardNo, op.Operator, at, plan.Postings, account, st.Card.Balance)
		if err != nil {
			return out, err
		}
		out.TxID = id
	}

	// Every card the plan changes, and the operation's own, get a new
	// version: registers fetch them again.
	changes := plan.Cards
	touched := false
	for _, c := range changes {
		touched = touched || c.CardNo == op.CardNo
	}
	if !touched {
		changes = append(changes, server.CardChange{CardNo: op.CardNo, Status: st.Card.Status, Reason: st.Reason})
	}
	versions, err := s.NextVersions(ctx, len(changes))
	if err != nil {
		return out, err
	}
	for i, c := range changes {
		if c.New {
			var key any
			if len(c.PublicKey) > 0 {
				key = c.PublicKey
			}
			_, err = tx.ExecContext(ctx, `INSERT INTO cards (card_no, account_id, status, reason, version, created, public_key) VALUES (?, ?, ?, ?, ?, ?, ?)`,
				c.CardNo, account, string(c.Status), c.Reason, versions[i], at, key)
			if err != nil && s.Duplicate(err) {
				return out, server.Errorf(server.ECONFLICT, "card %s already exists", c.CardNo)
			}
		} else {
			_, err = tx.ExecContext(ctx, `UPDATE cards SET status = ?, reason = ?, version = ? WHERE card_no = ?`,
				string(c.Status), c.Reason, versions[i], c.CardNo)
		}
		if err != nil {
			return out, fmt.Errorf("card %s: %w", c.CardNo, err)
		}
	}
	if err := WriteHotlist(ctx, tx, changes, versions); err != nil {
		return out, err
	}

	if h := plan.NewHold; h != nil {
		res, err := tx.ExecContext(ctx, `INSERT INTO holds (account_id, card_no, amount, reason, state, created, request_id) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			account, h.CardNo, int64(h.Amount), h.Reason, string(server.HoldHeld), at, op.RequestID)
		if err != nil {
			return out, fmt.Errorf("hold on card %s: %w", op.CardNo, err)
		}
		if out.HoldID, err = res.LastInsertId(); err != nil {
			return out, fmt.Errorf("hold on card %s: %w", op.CardNo, err)
		}
	}
	if plan.EndHold != 0 {
		res, err := tx.ExecContext(ctx, `UPDATE holds SET state = ?, ended = ?, end_request = ? WHERE id = ? AND state = 'held'`,
			string(plan.EndState), at, op.RequestID, plan.EndHold)
		if err != nil {
			return out, fmt.Errorf("hold %d: %w", plan.EndHold, err)
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return out, fmt.Errorf("hold %d: ended by another request meanwhile (%d rows, %v)", plan.EndHold, n, err)
		}
		out.HoldID = plan.EndHold
	}
	if plan.Held != st.Card.Held {
		if _, err := tx.ExecContext(ctx, `UPDATE accounts SET held = ? WHERE id = ?`, int64(plan.Held), account); err != nil {
			return out, fmt.Errorf("account %d: held: %w", account, err)
		}
	}
	if plan.Edit {
		var phone any
		if len(op.PhoneSealed) > 0 {
			phone = op.PhoneSealed
		}
		if _, err := tx.ExecContext(ctx, `UPDATE accounts SET name = COALESCE(NULLIF(?, ''), name), phone_sealed = COALESCE(?, phone_sealed),
			user_class = COALESCE(NULLIF(?, ''), user_class) WHERE id = ?`, op.Name, phone, op.UserClass, account); err != nil {
			return out, fmt.Errorf("account %d: edit: %w", account, err)
		}
	}
	if plan.CloseAccount {
		if _, err := tx.ExecContext(ctx, `UPDATE accounts SET closed = ? WHERE id = ?`, at, account); err != nil {
			return out, fmt.Errorf("account %d: close: %w", account, err)
		}
	}
	return out, nil
}

// OfficeColumns are the columns of a card the office sees beyond
// CardColumns: the sealed person id and phone.
const OfficeColumns = `a.person_sealed, a.phone_sealed`

// Holds returns the holds of the account card cardNo pays from, newest
// first.
func Holds(ctx context.Context, q Tx, cardNo string) ([]server.Hold, error) {
	var account int64
	err := q.QueryRowContext(ctx, `SELECT account_id FROM cards WHERE card_no = ?`, cardNo).Scan(&account)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, server.Errorf(server.ENOTFOUND, "no card %s", cardNo)
	}
	if err != nil {
		return nil, fmt.Errorf("holds of card %s: %w", cardNo, err)
	}
	rows, err := q.QueryContext(ctx, `SELECT id, account_id, card_no, amount, reason, state, created, ended FROM holds
		WHERE account_id = ? ORDER BY id DESC`, account)
	if err != nil {
		return nil, fmt.Errorf("holds of card %s: %w", cardNo, err)
	}
	defer rows.Close()
	var out []server.Hold
	for rows.Next() {
		var h server.Hold
		var state string
		var created int64
		var ended sql.NullInt64
		if err := rows.Scan(&h.ID, &h.AccountID, &h.CardNo, &h.Amount, &h.Reason, &state, &created, &ended); err != nil {
			return nil, fmt.Errorf("holds of card %s: %w", cardNo, err)
		}
		h.State, h.Created = server.HoldState(state), time.UnixMilli(created)
		if ended.Valid {
			h.Ended = time.UnixMilli(ended.Int64)
		}
		out = append(out, h)
	}
	return out, rows.Err()
}

// Search runs a server.CardQuery: cards by number prefix, holder's name
// prefix, or exact person key, by card number.
func Search(ctx context.Context, q Tx, cardColumns string, scan func(row interface{ Scan(...any) error }) (server.Card, error), cq server.CardQuery) ([]server.Card, error) {
	if cq.Limit <= 0 || cq.Limit > server.MaxSearch {
		return nil, server.Errorf(server.EINVALID, "limit must be 1 to %d", server.MaxSearch)
	}
	if cq.Text == "" && cq.PersonID == "" {
		return nil, server.Errorf(server.EINVALID, "search for what? give a card number, a name or a person id")
	}
	prefix := escapeLike(cq.Text) + "%"
	if cq.Text == "" {
		prefix = "" // matches nothing: LIKE '' only matches ''
	}
	rows, err := q.QueryContext(ctx, `SELECT `+cardColumns+`, `+OfficeColumns+` FROM `+CardFrom+`
		WHERE c.card_no LIKE ? ESCAPE '!' OR a.name LIKE ? ESCAPE '!' OR a.person_id = ?
		ORDER BY c.card_no LIMIT ?`, prefix, prefix, cq.PersonID, cq.Limit)
	if err != nil {
		return nil, fmt.Errorf("search cards: %w", err)
	}
	defer rows.Close()
	var out []server.Card
	for rows.Next() {
		var sealed struct{ person, phone []byte }
		c, err := scan(scanExtra{rows, []any{&sealed.person, &sealed.phone}})
		if err != nil {
			return nil, fmt.Errorf("search cards: %w", err)
		}
		c.PersonSealed, c.PhoneSealed = sealed.person, sealed.phone
		out = append(out, c)
	}
	return out, rows.Err()
}

// OfficeCard reads one card with what the office sees of it.
func OfficeCard(ctx context.Context, q Tx, cardColumns string, scan func(row interface{ Scan(...any) error }) (server.Card, error), cardNo string) (server.Card, error) {
	var person, phone []byte
	c, err := scan(scanExtra{q.QueryRowContext(ctx, `SELECT `+cardColumns+`, `+OfficeColumns+`
		FROM `+CardFrom+` WHERE c.card_no = ?`, cardNo), []any{&person, &phone}})
	if errors.Is(err, sql.ErrNoRows) {
		return server.Card{}, server.Errorf(server.ENOTFOUND, "no card %s", cardNo)
	}
	if err != nil {
		return server.Card{}, fmt.Errorf("card %s: %w", cardNo, err)
	}
	c.PersonSealed, c.PhoneSealed = person, phone
	return c, nil
}

// Paid returns what account paid the canteen whose revenue account is
// revenue, net: its own postings in the transactions that move money
// between it and that revenue (sales and captures, less voids and
// refunds), as tx sees them.
func Paid(ctx context.Context, tx Tx, account, revenue int64) (money.Fen, error) {
	var paid money.Fen
	// The revenue's postings are found from each transaction (by tx_id),
	// never by the revenue account, which has a posting in every sale: an
	// EXISTS naming r.account_id = ? had SQLite scan them all for each of
	// the account's postings.
	err := tx.QueryRowContext(ctx, `SELECT COALESCE(-SUM(p.amount), 0) FROM postings p JOIN transactions t ON t.id = p.tx_id
		WHERE p.account_id = ? AND t.kind IN ('sale', 'void', 'refund', 'capture')
		AND ? IN (SELECT r.account_id FROM postings r WHERE r.tx_id = t.id)`, account, revenue).Scan(&paid)
	if err != nil {
		return 0, fmt.Errorf("paid by account %d to revenue account %d: %w", account, revenue, err)
	}
	return paid, nil
}

// VoidPaysTwice reports, for the void of a sale whose postings reversed
// are reverse, whether it would pay account back more than the account
// paid that sale's canteen net (Paid): the office refunded it already. It
// returns a flag note if so, "" if the void may post.
func VoidPaysTwice(ctx context.Context, tx Tx, reverse []server.Posting, account int64) (string, error) {
	back, revenue := server.PaidBack(reverse, account)
	if back <= 0 {
		return "", nil
	}
	paid, err := Paid(ctx, tx, account, revenue)
	if err != nil {
		return "", err
	}
	if back <= paid {
		return "", nil
	}
	return fmt.Sprintf("it would pay %d fen back to account %d, which has %d fen paid to the canteen not yet paid back (the office refunded it)",
		back, account, max(paid, 0)), nil
}

// scanExtra scans a row into a card's destinations and then extra ones.
type scanExtra struct {
	row   interface{ Scan(...any) error }
	extra []any
}

func (s scanExtra) Scan(dest ...any) error { return s.row.Scan(append(dest, s.extra...)...) }

// escapeLike escapes LIKE's wildcards with '!'.
func escapeLike(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' || s[i] == '_' || s[i] == '!' {
			out = append(out, '!')
		}
		out = append(out, s[i])
	}
	return string(out)
}
