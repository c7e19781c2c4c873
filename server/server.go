// Package server is the canteen's central server: the double-entry ledger
// that settles every register's signed journal exactly once, the cards and
// accounts it keeps balances for, and the small interfaces the server's
// parts consume.
//
// The domain lives here, with no I/O: the types (Account, Card, Transaction,
// Posting, Terminal), the Store contract that the database back-ends
// implement (sqlite/, and mysql/ for MariaDB and TiDB) and that one
// conformance suite (storetest/) checks, the coded Error the admin API maps
// to HTTP, and the store-independent ledger rules (origins, days, outcomes,
// acks, the journal chain check, password hashes). The terminal WebSocket endpoint lives in gateway/, the
// JSON API in admin/, and the binary in cmd/fanka-server/.
package server

import (
	"crypto/ed25519"
	"time"

	"github.com/fanka/fanka/shared/journal"
	"github.com/fanka/fanka/shared/money"
	"github.com/fanka/fanka/shared/wire"
)

// AccountKind says whose money an account holds.
type AccountKind string

// Account kinds. A diner account belongs to a person; the others are the
// canteen's own accounts, one of each.
const (
	// KindDiner is a diner's prepaid balance.
	KindDiner AccountKind = "diner"
	// KindRevenue is the canteen's takings from sales.
	KindRevenue AccountKind = "revenue"
	// KindCash is the office's cash drawer: recharges come from it and
	// closed cards are paid out to it.
	KindCash AccountKind = "cash"
	// KindSubsidy is the employer's subsidy fund.
	KindSubsidy AccountKind = "subsidy"
	// KindSuspense holds sales that could not be matched to a card (an
	// unknown card number): the meal was eaten, the money is owed, someone
	// must find out by whom.
	KindSuspense AccountKind = "suspense"
)

// The canteen's own accounts have fixed ids, created by the first schema
// migration of every store. RevenueAccount is the first canteen's revenue;
// canteens created after it have revenue accounts of their own (Canteen).
const (
	RevenueAccount  int64 = 1
	CashAccount     int64 = 2
	SubsidyAccount  int64 = 3
	SuspenseAccount int64 = 4
)

// Account is one balance in the ledger. Its Balance is a cache of the sum of
// its postings, kept in the same database transaction as the postings.
type Account struct {
	ID       int64
	Kind     AccountKind
	PersonID string // the person's unique key (ID card number or phone); diner accounts only
	Name     string // the holder's display name; diner accounts only
	Balance  money.Fen
	Created  time.Time
}

// CardStatus is whether a card may be used.
type CardStatus string

// Card statuses.
const (
	CardActive CardStatus = "active"
	CardFrozen CardStatus = "frozen" // by the office, or by a rule
	CardLost   CardStatus = "lost"   // reported lost: registers keep the card
	CardClosed CardStatus = "closed" // the rest was paid out
)

// Wire returns the status as registers receive it.
func (s CardStatus) Wire() wire.CardStatus {
	st, ok := wire.ParseCardStatus(string(s))
	if !ok {
		return wire.CardClosed // an unknown status must never let a card pay
	}
	return st
}

// Card is a diner's card as the office and the registers see it: the card
// number the register reads, the account it pays from, and the per-card
// state registers cache.
type Card struct {
	CardNo    string
	AccountID int64
	PersonID  string
	Name      string
	Status    CardStatus
	Balance   money.Fen // the account's balance
	// Version is the server-wide change counter value of the card's last
	// change (balance, status or count): registers fetch the cards with a
	// version above the highest one they hold.
	Version uint64
	// Day and TodayCount: the card's number of sales, net of voids, on Day
	// (see Day). TodayCount of an earlier day means no sale yet today.
	Day        int32
	TodayCount int
	// DayAmount is what the card's sales on Day came to, net of voids;
	// LastSale the register time of its last sale (Unix ms); Period and
	// PeriodCount the meal period (Rules.Period) of its last sale on Day
	// and its sales in it.
	DayAmount   money.Fen
	LastSale    int64
	Period      int
	PeriodCount int
	// Held is the part of Balance held by the office (fund holds): it
	// cannot be spent.
	Held money.Fen
	// SubsidyAccount is the account of the holder's subsidies (0: none
	// yet) and Subsidy its balance, spent before Balance (see
	// SubsidySchedule).
	SubsidyAccount int64
	Subsidy        money.Fen
	// Reason is why a frozen card is frozen: FrozenByOffice or
	// FrozenByOverdraft.
	Reason string
	// UserClass is the holder's class (e.g. "staff", "student"), which
	// rules and subsidies are per.
	UserClass string
	// PersonSealed and PhoneSealed are the holder's person id and phone as
	// PersonCipher sealed them; set by office reads only (Card, SearchCards).
	PersonSealed, PhoneSealed []byte
}

// Spendable is what the card may spend: its balance and subsidy, less
// what is held.
func (c Card) Spendable() money.Fen { return c.Balance + c.Subsidy - c.Held }

// CountOn returns the card's sale count on day: TodayCount if it was
// counted for that day, else 0.
func (c Card) CountOn(day int32) int {
	if c.Day != day {
		return 0
	}
	return c.TodayCount
}

// Wire returns the card as a register's cache holds it.
func (c Card) Wire() wire.Card {
	return wire.Card{
		Version:    c.Version,
		CardNo:     c.CardNo,
		Name:       c.Name,
		Status:     c.Status.Wire(),
		Balance:    c.Spendable(),
		Day:        c.Day,
		TodayCount: clampCount(c.TodayCount),
	}
}

// Ack is the ack of the entry seq on the card, as the card stands after
// the entry settled with outcome.
func (c Card) Ack(seq uint64, outcome wire.Outcome) wire.Ack {
	w := c.Wire()
	return wire.Ack{Seq: seq, Outcome: outcome, CardNo: c.CardNo, Balance: c.Spendable(), Version: c.Version, Day: w.Day, TodayCount: w.TodayCount}
}

func clampCount(n int) uint16 {
	switch {
	case n < 0:
		return 0
	case n > 0xFFFF:
		return 0xFFFF
	}
	return uint16(n)
}

// TxKind says what a ledger transaction records.
type TxKind string

// Transaction kinds.
const (
	TxSale     TxKind = "sale"     // diner (or suspense) → revenue, from a register entry
	TxVoid     TxKind = "void"     // the reverse of a sale, from a register entry
	TxOpen     TxKind = "open"     // cash → diner: the deposit when a card is opened
	TxRecharge TxKind = "recharge" // cash → diner
	TxRefund   TxKind = "refund"   // revenue → diner
	TxClose    TxKind = "close"    // diner → cash: the rest paid out
	TxSubsidy  TxKind = "subsidy"  // subsidy → diner
)

// Transaction is one movement of money: a set of postings that sum to zero,
// with the origin that makes it unique.
type Transaction struct {
	ID      int64
	Kind    TxKind
	Origin  string // TerminalOrigin or RequestOrigin; unique across the ledger
	Created time.Time
	// Terminal and Seq name the register entry of a sale or void.
	Terminal uint32
	Seq      uint64
	CardNo   string
	// VoidOf is the id of the sale a void reverses.
	VoidOf int64
}

// Posting is one leg of a transaction: Amount added to an account's
// balance (negative: taken from it).
type Posting struct {
	TxID      int64
	AccountID int64
	Amount    money.Fen
}

// Terminal is a register as the server knows it.
type Terminal struct {
	ID   uint32
	Name string
	// PublicKey is the register's Ed25519 key, pinned at enrolment; nil
	// until the register has enrolled.
	PublicKey ed25519.PublicKey
	// LastSeq and LastHash are the register's last settled journal entry.
	LastSeq  uint64
	LastHash journal.Hash
	LastSeen time.Time // zero if never connected
	Disabled bool
	Created  time.Time
	// Canteen is the canteen the register sells for: its sales are that
	// canteen's revenue.
	Canteen int64
}

// Enrolled reports whether the register has pinned its key.
func (t Terminal) Enrolled() bool { return len(t.PublicKey) == ed25519.PublicKeySize }

// Role is what a user of the office API may do.
type Role string

// Roles.
const (
	RoleAdmin    Role = "admin"    // everything, including registers and users
	RoleOperator Role = "operator" // cards and money
	RoleAuditor  Role = "auditor"  // read only
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool {
	return r == RoleAdmin || r == RoleOperator || r == RoleAuditor
}

// User is a person who signs in to the office API.
type User struct {
	Name         string
	PasswordHash string // see HashPassword
	Role         Role
	Created      time.Time
}

// Token is an API bearer token as stored: only its SHA-256 is kept.
type Token struct {
	Hash    [32]byte
	User    string
	Expires time.Time
}

// Alarm is an event someone must look at: a register whose stream broke, a
// forged signature.
type Alarm struct {
	ID       int64
	Created  time.Time
	Terminal uint32 // 0 when not about a register
	Code     string // short machine-readable reason, e.g. "chain", "signature"
	Message  string
}
