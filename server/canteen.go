package server

import (
	"context"
	"strings"
	"time"

	"github.com/fanka/fanka/shared/money"
)

// Canteen is a place that sells meals, with registers of its own: the
// sales made on them are its revenue, posted to an account of its own, so
// that each canteen's takings are in the ledger apart from the others'.
type Canteen struct {
	ID             int64  `json:"id"`
	Name           string `json:"name"`
	RevenueAccount int64  `json:"revenue_account"`
	// Revenue is the balance of its revenue account: its sales and hold
	// captures less voids and refunds, to date.
	Revenue money.Fen `json:"revenue"`
	Created time.Time `json:"created"`
}

// FirstCanteen is the canteen every store starts with (its revenue account
// is RevenueAccount): registers are created in it, and refunds and hold
// captures name it, unless told another.
const FirstCanteen int64 = 1

// MaxCanteenName bounds a canteen's name, in bytes.
const MaxCanteenName = 64

// CheckCanteenName returns the name trimmed, or EINVALID.
func CheckCanteenName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if !validText(name, MaxCanteenName) {
		return "", Errorf(EINVALID, "a canteen's name must be 1 to %d bytes of printable text", MaxCanteenName)
	}
	return name, nil
}

// CanteenStore keeps the canteens.
type CanteenStore interface {
	// CreateCanteen adds a canteen with a revenue account of its own.
	// ECONFLICT if the name is taken; EINVALID for a bad name.
	CreateCanteen(ctx context.Context, name string) (Canteen, error)
	// Canteens returns every canteen, in id order.
	Canteens(ctx context.Context) ([]Canteen, error)
}
