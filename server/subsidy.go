package server

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/fanka/fanka/shared/money"
)

// Subsidies (餐补): each month the employer's subsidy fund credits every
// open diner account of a user class with an amount, on a day of the
// month. The money goes to the diner's subsidy account, apart from the
// cash they paid in: a sale spends subsidy first, then cash; at the end of
// the month what is left of it may expire back to the fund, and the cash
// balance is untouched by either.
//
// The scheduler (Store.RunSubsidies, run every minute by the server) runs
// each month's credit and expiry exactly once, even across restarts and
// with several servers on one database: every posting's origin names the
// job and the account, and a job's row is written with its last batch.

// SubsidySchedule credits a user class each month.
type SubsidySchedule struct {
	ID        int64     `json:"id"`
	UserClass string    `json:"user_class"`
	Amount    money.Fen `json:"amount"`
	Day       int       `json:"day"` // of the month, 1 to 28, from 00:00 server time
	// Expires: what is left of the month's subsidies expires back to the
	// fund when the month ends.
	Expires bool `json:"expires"`
}

// Validate checks a schedule: EINVALID with the first problem.
func (s SubsidySchedule) Validate() error {
	switch {
	case !ValidUserClass(s.UserClass):
		return Errorf(EINVALID, "user_class must be 1 to %d characters a-z, 0-9, - and _", MaxUserClass)
	case s.Amount <= 0 || s.Amount > MaxAmount:
		return Errorf(EINVALID, "amount must be 1 to %d fen", MaxAmount)
	case s.Day < 1 || s.Day > 28:
		return Errorf(EINVALID, "day must be 1 to 28, so that every month has it")
	}
	return nil
}

// Month is a calendar month, "2026-12".
type Month string

// MonthOf returns t's month, in t's location.
func MonthOf(t time.Time) Month { return Month(t.Format("2006-01")) }

// Start returns the month's first instant in loc.
func (m Month) Start(loc *time.Location) (time.Time, error) {
	t, err := time.ParseInLocation("2006-01", string(m), loc)
	if err != nil {
		return time.Time{}, fmt.Errorf("month %q: %w", m, err)
	}
	return t, nil
}

// Previous returns the month before.
func (m Month) Previous() Month {
	t, err := time.Parse("2006-01", string(m))
	if err != nil {
		return m
	}
	return MonthOf(t.AddDate(0, -1, 0))
}

// SubsidyJob is one run of the scheduler: a schedule's credit in a month,
// or the expiry of a month's subsidies.
type SubsidyJob struct {
	Key      string    `json:"key"` // "credit/<schedule>/<month>" or "expire/<month>"
	Accounts int       `json:"accounts"`
	Amount   money.Fen `json:"amount"` // moved in all
	Finished time.Time `json:"finished"`
}

// TxExpire is the kind of the transaction that expires a diner's
// subsidies back to the fund.
const TxExpire TxKind = "expire"

// CreditKey and ExpireKey name the jobs of a month.
func CreditKey(schedule int64, m Month) string { return fmt.Sprintf("credit/%d/%s", schedule, m) }
func ExpireKey(m Month) string                 { return "expire/" + string(m) }

// SubsidyStore keeps the schedules and runs them.
type SubsidyStore interface {
	// AddSchedule adds a schedule and returns it with its ID. EINVALID for
	// one Validate refuses.
	AddSchedule(ctx context.Context, s SubsidySchedule, operator string) (SubsidySchedule, error)
	// Schedules returns the schedules.
	Schedules(ctx context.Context) ([]SubsidySchedule, error)
	// RunSubsidies runs the jobs due at now that have not run: this
	// month's credits whose day has come, and the expiry of last month's
	// subsidies if a schedule expires. It returns the jobs it finished.
	RunSubsidies(ctx context.Context, now time.Time) ([]SubsidyJob, error)
}

// SubsidyOrigin is the origin of the ledger transaction that job posts
// for account: unique, so a job run again posts nothing twice.
func SubsidyOrigin(job string, account int64) string { return fmt.Sprintf("J%s/%d", job, account) }

// SalePostings returns the postings of a sale of amount on card c: its
// subsidy first, as far as it goes, then its cash, to the revenue account
// of the register's canteen.
func SalePostings(c *Card, amount money.Fen, revenue int64) []Posting {
	sub := min(max(c.Subsidy, 0), amount)
	ps := make([]Posting, 0, 3)
	if sub > 0 {
		ps = append(ps, Posting{AccountID: c.SubsidyAccount, Amount: -sub})
	}
	if amount-sub > 0 {
		ps = append(ps, Posting{AccountID: c.AccountID, Amount: -(amount - sub)})
	}
	return append(ps, Posting{AccountID: revenue, Amount: amount})
}

// PaidBack returns what the reverse of a sale (its postings reversed, as a
// void posts them) pays back to account, and the revenue account it takes
// it from (the one posting that takes money).
func PaidBack(reverse []Posting, account int64) (back money.Fen, revenue int64) {
	for _, p := range reverse {
		switch {
		case p.Amount < 0:
			revenue = p.AccountID
		case p.AccountID == account:
			back += p.Amount
		}
	}
	return back, revenue
}

// SaleAmount is what a sale whose postings reversed are reverse paid its
// canteen: the one posting to revenue, which reversed is the one taken
// from an account.
func SaleAmount(reverse []Posting) money.Fen {
	var sold money.Fen
	for _, p := range reverse {
		if p.Amount < 0 {
			sold -= p.Amount
		}
	}
	return sold
}

// ApplyBalances sets the card's balances from those of the accounts a
// posting changed.
func (c *Card) ApplyBalances(balances map[int64]money.Fen) {
	if b, ok := balances[c.AccountID]; ok {
		c.Balance = b
	}
	if b, ok := balances[c.SubsidyAccount]; ok && c.SubsidyAccount != 0 {
		c.Subsidy = b
	}
}

// PaidFrom reports whether postings that changed balances touched the
// card's accounts: a void reversed a sale paid by the card.
func (c *Card) PaidFrom(balances map[int64]money.Fen) bool {
	if _, ok := balances[c.AccountID]; ok {
		return true
	}
	_, ok := balances[c.SubsidyAccount]
	return ok && c.SubsidyAccount != 0
}

// SubsidyInterval is how often the server looks for subsidy jobs due.
const SubsidyInterval = time.Minute

// RunSubsidies runs the subsidy jobs due (server.SubsidyStore), at once
// and every SubsidyInterval, until ctx ends. Each job runs once, whichever
// server runs it.
func RunSubsidies(ctx context.Context, store SubsidyStore, logger *slog.Logger) {
	t := time.NewTicker(SubsidyInterval)
	defer t.Stop()
	for {
		jobs, err := store.RunSubsidies(ctx, time.Now())
		if err != nil && ctx.Err() == nil {
			logger.Error("fanka-server: subsidies", "err", err)
		}
		for _, j := range jobs {
			logger.Info("fanka-server: subsidy job done", "job", j.Key, "accounts", j.Accounts, "amount", j.Amount.String())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
