package server

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/fanka/fanka/shared/journal"
	"github.com/fanka/fanka/shared/money"
	"github.com/fanka/fanka/shared/wire"
)

// Rules are the canteen's limits on sales. Registers apply them when they
// decide a sale; settlement applies them again to what registers sent: a
// sale that broke one (made offline, or by a register with older rules) is
// settled, for the meal was eaten, but flagged for review with the rules
// it broke.
type Rules struct {
	// MaxSalesPerDay bounds a card's sales, net of voids, per day; 0: no
	// bound. The original design's default is 3.
	MaxSalesPerDay int `json:"max_sales_per_day"`
	// MaxSale and MaxDay bound one sale and a card's sales in a day; 0:
	// no bound.
	MaxSale money.Fen `json:"max_sale"`
	MaxDay  money.Fen `json:"max_day"`
	// MinGapSeconds is the least time between two sales on a card: a
	// second tap within it is taken for a double tap; 0: none.
	MinGapSeconds int `json:"min_gap_seconds"`
	// Periods are the meal periods. With OutsidePeriods false, a sale
	// outside all of them breaks a rule.
	Periods        []MealPeriod `json:"periods"`
	OutsidePeriods bool         `json:"outside_periods"`
	// Classes override the limits for a user class (Card.UserClass).
	Classes map[string]ClassRules `json:"classes,omitempty"`
}

// MealPeriod is a meal's window of the day, in the server's time zone,
// with its own limits.
type MealPeriod struct {
	Name  string `json:"name"`  // breakfast, lunch, dinner, …
	Start string `json:"start"` // "HH:MM", inclusive
	End   string `json:"end"`   // "HH:MM", exclusive
	// MaxSales bounds a card's sales in the period, per day; 0: none.
	MaxSales int `json:"max_sales"`
}

// ClassRules are a user class's limits; 0 keeps the general one.
type ClassRules struct {
	MaxSalesPerDay int       `json:"max_sales_per_day,omitempty"`
	MaxSale        money.Fen `json:"max_sale,omitempty"`
	MaxDay         money.Fen `json:"max_day,omitempty"`
}

// DefaultRules are the rules of a new canteen: the original design's three
// sales per card per day, 100 yuan a sale, 300 a day, a 10-second double
// tap, and three meal periods of one sale each, sales outside them
// allowed.
func DefaultRules() Rules {
	return Rules{
		MaxSalesPerDay: 3,
		MaxSale:        100 * money.Yuan,
		MaxDay:         300 * money.Yuan,
		MinGapSeconds:  10,
		Periods: []MealPeriod{
			{Name: "breakfast", Start: "06:00", End: "10:00"},
			{Name: "lunch", Start: "10:30", End: "14:00"},
			{Name: "dinner", Start: "16:30", End: "20:00"},
		},
		OutsidePeriods: true,
	}
}

// Bounds on rules.
const (
	maxPeriods = 8
	maxClasses = 64
)

// Validate checks the rules: EINVALID with the first problem.
func (r Rules) Validate() error {
	switch {
	case r.MaxSalesPerDay < 0 || r.MaxSalesPerDay > 100:
		return Errorf(EINVALID, "max_sales_per_day must be 0 (no limit) to 100")
	case r.MaxSale < 0 || r.MaxSale > MaxAmount:
		return Errorf(EINVALID, "max_sale must be 0 (no limit) to %d fen", MaxAmount)
	case r.MaxDay < 0 || r.MaxDay > MaxAmount:
		return Errorf(EINVALID, "max_day must be 0 (no limit) to %d fen", MaxAmount)
	case r.MinGapSeconds < 0 || r.MinGapSeconds > 3600:
		return Errorf(EINVALID, "min_gap_seconds must be 0 to 3600")
	case len(r.Periods) > maxPeriods:
		return Errorf(EINVALID, "at most %d meal periods", maxPeriods)
	case len(r.Classes) > maxClasses:
		return Errorf(EINVALID, "at most %d user classes", maxClasses)
	}
	var prevEnd = -1
	for i, p := range r.Periods {
		if !validText(p.Name, 32) {
			return Errorf(EINVALID, "meal period %d: name must be 1 to 32 bytes of text", i+1)
		}
		start, err1 := clockMinutes(p.Start)
		end, err2 := clockMinutes(p.End)
		switch {
		case err1 != nil || err2 != nil:
			return Errorf(EINVALID, "meal period %s: start and end must be HH:MM", p.Name)
		case end <= start:
			return Errorf(EINVALID, "meal period %s: ends at %s, not after it starts at %s", p.Name, p.End, p.Start)
		case start < prevEnd:
			return Errorf(EINVALID, "meal period %s: starts before the one before it ends; list them in order, apart", p.Name)
		case p.MaxSales < 0 || p.MaxSales > 100:
			return Errorf(EINVALID, "meal period %s: max_sales must be 0 (no limit) to 100", p.Name)
		}
		prevEnd = end
	}
	for name, c := range r.Classes {
		switch {
		case !ValidUserClass(name):
			return Errorf(EINVALID, "user class %q: 1 to %d characters a-z, 0-9, - and _", name, MaxUserClass)
		case c.MaxSalesPerDay < 0 || c.MaxSalesPerDay > 100 || c.MaxSale < 0 || c.MaxSale > MaxAmount || c.MaxDay < 0 || c.MaxDay > MaxAmount:
			return Errorf(EINVALID, "user class %s: limits out of range", name)
		}
	}
	return nil
}

// clockMinutes parses "HH:MM" (00:00 to 23:59) as minutes after
// midnight. It runs for every sale settled (Rules.Period), so it parses by
// hand rather than through time.Parse.
func clockMinutes(s string) (int, error) {
	digit := func(i int) int {
		if c := s[i]; c >= '0' && c <= '9' {
			return int(c - '0')
		}
		return -100
	}
	if len(s) != 5 || s[2] != ':' {
		return 0, fmt.Errorf("bad time of day %q", s)
	}
	h, m := digit(0)*10+digit(1), digit(3)*10+digit(4)
	if h < 0 || h > 23 || m < 0 || m > 59 {
		return 0, fmt.Errorf("bad time of day %q", s)
	}
	return h*60 + m, nil
}

// Period returns the number (1, 2, …) of the meal period t falls in, in
// t's location; 0 if none.
func (r Rules) Period(t time.Time) int {
	m := t.Hour()*60 + t.Minute()
	for i, p := range r.Periods {
		start, err1 := clockMinutes(p.Start)
		end, err2 := clockMinutes(p.End)
		if err1 == nil && err2 == nil && m >= start && m < end {
			return i + 1
		}
	}
	return 0
}

// limits returns the limits for a user class.
func (r Rules) limits(class string) (sales int, sale, day money.Fen) {
	sales, sale, day = r.MaxSalesPerDay, r.MaxSale, r.MaxDay
	if c, ok := r.Classes[class]; ok {
		if c.MaxSalesPerDay != 0 {
			sales = c.MaxSalesPerDay
		}
		if c.MaxSale != 0 {
			sale = c.MaxSale
		}
		if c.MaxDay != 0 {
			day = c.MaxDay
		}
	}
	return sales, sale, day
}

// SaleNote returns the rules the sale e on card c breaks, as a note for
// review ("" if none). c is the card before the sale; day and at are when
// the sale counts (SaleDay, and the register's time, no later than the
// server's), at in the server's time zone.
func (r Rules) SaleNote(c *Card, e *journal.Entry, day int32, at time.Time) string {
	var broken []string
	maxSales, maxSale, maxDay := r.limits(c.UserClass)
	if maxSales > 0 && c.CountOn(day) >= maxSales {
		broken = append(broken, fmt.Sprintf("sale %d of the day, above %d", c.CountOn(day)+1, maxSales))
	}
	if maxSale > 0 && e.Amount > maxSale {
		broken = append(broken, fmt.Sprintf("%s above the %s a sale", e.Amount, maxSale))
	}
	if maxDay > 0 {
		spent := e.Amount
		if c.Day == day {
			spent += c.DayAmount
		}
		if spent > maxDay {
			broken = append(broken, fmt.Sprintf("%s in the day, above %s", spent, maxDay))
		}
	}
	if r.MinGapSeconds > 0 && c.LastSale != 0 {
		gap := time.Duration(e.Time-c.LastSale) * time.Millisecond
		if gap >= 0 && gap < time.Duration(r.MinGapSeconds)*time.Second {
			broken = append(broken, fmt.Sprintf("%v after the card's last sale, within %ds: a double tap?", gap, r.MinGapSeconds))
		}
	}
	switch p := r.Period(at); {
	case p == 0 && len(r.Periods) > 0 && !r.OutsidePeriods:
		broken = append(broken, "outside the meal periods")
	case p > 0 && r.Periods[p-1].MaxSales > 0 && c.Day == day && c.Period == p && c.PeriodCount >= r.Periods[p-1].MaxSales:
		broken = append(broken, fmt.Sprintf("sale %d of %s, above %d", c.PeriodCount+1, r.Periods[p-1].Name, r.Periods[p-1].MaxSales))
	}
	if len(broken) == 0 {
		return ""
	}
	return "rules: " + strings.Join(broken, "; ")
}

// CountSale counts the sale e, of day and meal period (Rules.Period), in
// the card's counters.
func (c *Card) CountSale(e *journal.Entry, day int32, period int) {
	switch {
	case day > c.Day:
		c.Day, c.TodayCount, c.DayAmount = day, 1, e.Amount
		c.Period, c.PeriodCount = period, 1
	case day == c.Day:
		c.TodayCount++
		c.DayAmount += e.Amount
		if period == c.Period {
			c.PeriodCount++
		} else {
			c.Period, c.PeriodCount = period, 1
		}
	}
	if e.Time > c.LastSale {
		c.LastSale = e.Time
	}
}

// CountVoid takes back a sale of amount on day that was voided, if the
// card still counts that day, and from the current meal period's count
// (voids follow their sale at the till).
func (c *Card) CountVoid(day int32, amount money.Fen) {
	if c.Day != day {
		return
	}
	if c.TodayCount > 0 {
		c.TodayCount--
	}
	c.DayAmount = max(c.DayAmount-amount, 0)
	if c.PeriodCount > 0 {
		c.PeriodCount--
	}
}

// FreezeIfOverdrawn freezes an active card whose spendable balance is
// below zero, until a recharge covers it; it reports whether it did.
func (c *Card) FreezeIfOverdrawn() bool {
	if c.Status != CardActive || c.Spendable() >= 0 {
		return false
	}
	c.Status, c.Reason = CardFrozen, FrozenByOverdraft
	return true
}

// RulesCache keeps the rules a store read last, for at most RulesTTL: a
// change made through another server on the same database is in force
// within it.
type RulesCache struct {
	mu      sync.Mutex
	rules   Rules
	version uint64
	read    time.Time // zero: nothing cached
}

// RulesTTL is how long RulesCache keeps rules.
const RulesTTL = time.Second

// Get returns the cached rules, or those load reads if they are older
// than RulesTTL at now.
func (c *RulesCache) Get(now time.Time, load func() (Rules, uint64, error)) (Rules, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.read.IsZero() && now.Sub(c.read) < RulesTTL && now.Sub(c.read) >= 0 {
		return c.rules, nil
	}
	r, v, err := load()
	if err != nil {
		return Rules{}, err
	}
	c.rules, c.version, c.read = r, v, now
	return r, nil
}

// Forget drops the cached rules: the next Get loads them.
func (c *RulesCache) Forget() {
	c.mu.Lock()
	c.read = time.Time{}
	c.mu.Unlock()
}

// SaleSettled is how a sale on a card settled.
type SaleSettled struct {
	Ack  wire.Ack
	Note string // why it was flagged
}

// SettleSale decides the outcome of the sale seq on card c, which has been
// posted and counted (c is the card after it), with note the rules it
// broke (Rules.SaleNote): flagged when the card was not active or a rule
// was broken, settled with overdraft when the spendable balance went below
// zero, else settled. An active card overdrawn is frozen until a
// recharge covers it (FreezeIfOverdrawn).
func SettleSale(c *Card, seq uint64, note string) SaleSettled {
	outcome := SaleOutcome(c.Status, c.Spendable())
	switch {
	case outcome == wire.Flagged:
		note = strings.TrimPrefix(fmt.Sprintf("sale on a %s card; %s", c.Status, note), "; ")
		note = strings.TrimSuffix(note, "; ")
	case note != "":
		outcome = wire.Flagged
	}
	c.FreezeIfOverdrawn()
	return SaleSettled{Ack: c.Ack(seq, outcome), Note: note}
}
