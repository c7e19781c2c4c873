package server

import (
	"context"
	"crypto/ed25519"
	"time"

	"github.com/fanka/fanka/shared/money"
	"github.com/fanka/fanka/shared/wire"
)

// Store is what the server keeps in its database: the ledger, cards,
// registers, users and the print queue. Every back-end implements all of it and passes the
// conformance suite in storetest; the server's parts consume the smaller
// interfaces it is made of.
//
// Unless a method says otherwise, errors are *Error values with the codes
// named, or other errors (EINTERNAL) for faults of the database itself.
type Store interface {
	Settler
	CardStore
	OfficeStore
	RuleStore
	SubsidyStore
	CardFeed
	HotlistFeed
	TerminalStore
	TerminalStatusStore
	CanteenStore
	AlarmStore
	UserStore
	Verifier
	LedgerSealer
	PrintJobStore
	SaleStore
	TerminalLister
	ReportStore
	AuditStore
	// Close releases the database. No method may be called after it.
	Close() error
}

// Settler settles registers' journal entries into the ledger.
type Settler interface {
	// Settle settles a batch of encoded journal entries (journal.Entry
	// canonical encodings, in seq order) from register terminal, in one
	// database transaction, and returns one ack per entry once it is
	// committed. Batches of one register settle one after the other; a
	// store may commit batches of several registers in one transaction
	// (group commit), as long as a refused batch leaves the others unharmed.
	//
	// The batch is authenticated as a whole: every entry must hold the hash
	// of the entry before it in the batch, and the last entry must carry a
	// valid signature by the register's pinned key, which through the hash
	// chain covers every entry of the batch back to the first entry's Prev.
	// (Each entry keeps its own signature, which Verify checks.)
	//
	// An entry at or below the register's last settled seq whose bytes equal
	// the stored entry is a replay: its original ack is returned again and
	// nothing is posted. Every other entry must follow the previous one (the
	// register's last settled entry, then the entry before it in the batch);
	// it is then posted:
	//
	//   - a sale moves Amount from the card's account to revenue; it settles
	//     whatever the balance (the meal was eaten): wire.SettledOverdraft
	//     when the balance went below zero, wire.Flagged when the card was
	//     not active, or when the card has a public key (a fanka card) and
	//     the entry's CardSig is missing or does not verify (CardSigNote:
	//     the register's chain is intact, so refusing would stop its stream
	//     for good; a person reviews it instead); a sale for an unknown card
	//     number is posted to the suspense account and flagged;
	//   - a void posts the reverse of the sale VoidSeq of the same register;
	//     a void that does not match such a sale (not a sale, already voided,
	//     another card or amount) posts nothing and is flagged, so that the
	//     register's stream goes on and a person reviews it.
	//
	// If any entry of the batch is refused, nothing of the batch is
	// committed and the error, wrapped with the terminal and seq, is one of
	// journal.ErrMalformed, journal.ErrVersion or journal.ErrInvalid (the
	// entry cannot be decoded, is not this register's, or moves more than
	// MaxAmount), journal.ErrChain
	// (a gap, or an entry that does not follow or differs from the settled
	// one), journal.ErrSignature (the last entry's signature does not
	// verify); or
	// ENOTFOUND for an unknown register, EFORBIDDEN for one that is disabled
	// or not enrolled, EINVALID for a batch larger than wire.MaxBatch.
	Settle(ctx context.Context, terminal uint32, entries [][]byte) ([]wire.Ack, error)
}

// OpenCard asks to open a card: a diner account for a person, the card that
// pays from it, and the deposit paid in cash.
type OpenCard struct {
	RequestID string // the caller's idempotency key
	Operator  string // the user who asks
	// PersonID is the person's unique key among accounts not closed: the
	// server gives PersonCipher.Key of the ID card number or phone, so
	// that the database holds no person id in the clear.
	PersonID string
	Name     string    // display name, at most wire.MaxName bytes
	Deposit  money.Fen // > 0, paid into the cash drawer
	CardNo   string    // the card's number; empty: the store allocates one
	// CardPublicKey is a fanka card's P-256 public key, as
	// ParseCardPublicKey returns it (uncompressed); empty for a uid card.
	// Settlement checks the card's sale signatures against it.
	CardPublicKey []byte
	// PersonSealed and PhoneSealed: the person id and phone as
	// PersonCipher sealed them (optional; opaque to stores, and not part
	// of the request's fingerprint, for sealing is randomized).
	PersonSealed, PhoneSealed []byte
	PhoneKey                  string // PersonCipher.Key of the phone, for the fingerprint
	UserClass                 string // optional: see ValidUserClass
}

// OpenedCard is the result of OpenCard.
type OpenedCard struct {
	CardNo    string    `json:"card_no"`
	AccountID int64     `json:"account_id"`
	Balance   money.Fen `json:"balance"`
}

// CardStore opens cards and reads them.
type CardStore interface {
	// OpenCard creates the person's diner account and card, and posts the
	// deposit from the cash drawer, in one transaction. It is idempotent by
	// RequestID: repeating a request returns the first result and changes
	// nothing.
	//
	// Errors: EINVALID for a request that Validate refuses; ECONFLICT for a
	// RequestID already used by a different request, a card number that
	// exists or a person who already has an account.
	OpenCard(ctx context.Context, op OpenCard) (OpenedCard, error)
	// Card returns a card with its account's balance. ENOTFOUND if there is
	// no such card.
	Card(ctx context.Context, cardNo string) (Card, error)
}

// OfficeStore runs the office's operations on cards.
type OfficeStore interface {
	// CardOp runs op in one transaction: it reads the card (CardState),
	// asks op.Plan what to do and writes it. It is idempotent by
	// RequestID: repeating a request returns the first result and changes
	// nothing; ECONFLICT for a RequestID used by a different request.
	// Errors: EINVALID for a request Validate refuses, ENOTFOUND for an
	// unknown card, and those of Plan.
	CardOp(ctx context.Context, op CardOp) (CardOpResult, error)
	// Holds returns the holds of the account card cardNo pays from, newest
	// first. ENOTFOUND if there is no such card.
	Holds(ctx context.Context, cardNo string) ([]Hold, error)
	// SearchCards returns up to q.Limit cards whose number starts with
	// q.Text, whose holder's name starts with q.Text, or whose person key
	// is q.PersonID, by card number.
	SearchCards(ctx context.Context, q CardQuery) ([]Card, error)
}

// RuleStore keeps the rules settlement checks sales against.
type RuleStore interface {
	// Rules returns the rules in force and their version: DefaultRules and
	// 0 until rules are set.
	Rules(ctx context.Context) (Rules, uint64, error)
	// SetRules replaces the rules and returns their new version. EINVALID
	// for rules that Validate refuses.
	SetRules(ctx context.Context, r Rules, operator string) (uint64, error)
}

// CardQuery asks SearchCards for cards.
type CardQuery struct {
	Text     string // a card number or name prefix
	PersonID string // a person key (PersonCipher.Key), exact; "" for none
	Limit    int    // 1 to MaxSearch
}

// MaxSearch bounds the cards SearchCards returns.
const MaxSearch = 200

// CardFeed tells registers which cards changed.
type CardFeed interface {
	// CardsSince returns up to limit cards whose Version is above version,
	// in Version order.
	CardsSince(ctx context.Context, version uint64, limit int) ([]Card, error)
	// CardsAfter returns up to limit cards whose card number is above
	// after, in card number order: a new register's whole card list, which
	// it stores faster in key order than in Version order.
	CardsAfter(ctx context.Context, after string, limit int) ([]Card, error)
	// CardVersion returns the Version of the last card change committed:
	// CardsSince it returns nothing, and no change committed later has a
	// lower Version.
	CardVersion(ctx context.Context) (uint64, error)
	// SubscribeCards returns a channel that receives a value (coalesced: a
	// buffer of one) after each commit that changed a card, and a function
	// that ends the subscription.
	SubscribeCards() (<-chan struct{}, func())
}

// HotlistFeed tells registers which cards to refuse whatever their card
// cache says: the hotlist, every card frozen, lost or closed. It is written
// in the transaction that changes a card's status, and versioned by the
// card change counter: an entry's Version is the card's Version after the
// change that listed it or took it off (wire.Hotlist). The store keeps an
// entry for every card ever listed, so that any cursor up to
// HotlistVersion can be continued from; SubscribeCards signals its changes.
type HotlistFeed interface {
	// HotlistSince returns up to limit entries whose Version is above
	// version, in Version order: cards listed (frozen, lost, closed) or
	// taken off (active) since.
	HotlistSince(ctx context.Context, version uint64, limit int) ([]wire.HotlistEntry, error)
	// HotlistSnapshot returns up to limit listed cards whose card number
	// is above after, in card number order.
	HotlistSnapshot(ctx context.Context, after string, limit int) ([]wire.HotlistEntry, error)
	// HotlistVersion returns the highest Version of an entry committed, 0
	// when no card was ever listed.
	HotlistVersion(ctx context.Context) (uint64, error)
}

// TerminalStore keeps the registers.
type TerminalStore interface {
	// CreateTerminal adds a register of canteen (0: FirstCanteen) that
	// may enrol, before expires, with the enrolment code whose SHA-256 is
	// codeHash. ENOTFOUND for an unknown canteen.
	CreateTerminal(ctx context.Context, name string, canteen int64, codeHash [32]byte, expires time.Time) (Terminal, error)
	// MoveTerminal makes a register sell for another canteen: the sales it
	// makes from then on are that canteen's revenue (those settled before
	// stay with the first). ENOTFOUND for an unknown register or canteen.
	MoveTerminal(ctx context.Context, id uint32, canteen int64) error
	// EnrollTerminal pins pub as the key of the register whose unused,
	// unexpired code hashes to codeHash, and uses the code up.
	// EUNAUTHORIZED if there is no such code (unknown, used or expired);
	// EINVALID if pub is not an Ed25519 public key.
	EnrollTerminal(ctx context.Context, codeHash [32]byte, pub ed25519.PublicKey) (Terminal, error)
	// Terminal returns a register. ENOTFOUND if there is none.
	Terminal(ctx context.Context, id uint32) (Terminal, error)
	// TouchTerminal records that the register connected at seen.
	// ENOTFOUND if there is no such register.
	TouchTerminal(ctx context.Context, id uint32, seen time.Time) error
	// SetTerminalDisabled disables or re-enables a register: a disabled
	// register is refused at the handshake and its entries are not
	// settled. ENOTFOUND if there is no such register.
	SetTerminalDisabled(ctx context.Context, id uint32, disabled bool) error
}

// AlarmStore records alarms.
type AlarmStore interface {
	// RaiseAlarm records a and returns it with its ID and Created set.
	RaiseAlarm(ctx context.Context, a Alarm) (Alarm, error)
	// Alarms returns the most recent alarms, newest first, at most limit.
	Alarms(ctx context.Context, limit int) ([]Alarm, error)
}

// UserStore keeps the office's users and their API tokens.
type UserStore interface {
	// CreateUser adds u. ECONFLICT if the name is taken; EINVALID for an
	// empty name or an unknown role.
	CreateUser(ctx context.Context, u User) error
	// User returns a user by name. ENOTFOUND if there is none.
	User(ctx context.Context, name string) (User, error)
	// CreateToken stores a bearer token for an existing user.
	// ENOTFOUND if the user does not exist.
	CreateToken(ctx context.Context, t Token) error
	// TokenUser returns the user a token hash belongs to, if it has not
	// expired at now. EUNAUTHORIZED otherwise.
	TokenUser(ctx context.Context, hash [32]byte, now time.Time) (User, error)
	// DeleteToken removes a token (a sign-out). Removing a token that does
	// not exist is not an error.
	DeleteToken(ctx context.Context, hash [32]byte) error
	// Users returns every user, by name.
	Users(ctx context.Context) ([]User, error)
}

// Verifier checks the ledger's invariants.
type Verifier interface {
	// Verify checks, in one consistent snapshot, that the postings of every
	// transaction sum to zero; every account balance equals the sum of its
	// postings; origins are unique and match their entries; and every
	// register's entries form an unbroken chain from seq 1, each hash the
	// SHA-256 of the stored bytes and each signature valid under the pinned
	// key. It returns what it checked, and a *Violation naming the first row
	// that breaks an invariant.
	Verify(ctx context.Context) (VerifyReport, error)
}

// LedgerSealer seals the ledger's rows into a hash chain (see SealedTx).
type LedgerSealer interface {
	// Seal seals the transactions committed since the last seal, at most
	// MaxSeal, in one seal, and returns how many it sealed (0: none to
	// seal, or another server sealed them first).
	Seal(ctx context.Context) (int, error)
}

// VerifyReport counts what Verify checked.
type VerifyReport struct {
	Transactions int64
	Entries      int64
	Registers    int64
	// CardSigFlagged counts the sales on cards with a public key whose card
	// signature is missing or does not verify (server.CardSigNote): settled
	// and flagged for review, not a broken invariant.
	CardSigFlagged int64
	// Seals: the hash chain over the ledger's rows (see SealedTx).
	Seals SealReport
}

// Violation is a broken ledger invariant, named by its table and row.
type Violation struct {
	Table   string
	Row     string // the row's key, e.g. "42" or "3/17" (terminal/seq)
	Problem string
}

// Error implements the error interface.
func (v *Violation) Error() string {
	return "verify: " + v.Table + " row " + v.Row + ": " + v.Problem
}
