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
	// Offline bounds what a register sells while it cannot reach the
	// server. Rules stored before it existed load with
	// DefaultOfflineLimits.
	Offline OfflineLimits `json:"offline"`
}

// OfflineLimits bound what a register sells while it cannot reach the
// server (DESIGN §5); 0 is no limit. They are the fields of a register's
// own offline limits (terminal.OfflineLimits), and a register applies the
// stricter of the two, field by field.
type OfflineLimits struct {
	// MaxSale bounds one offline sale.
	MaxSale money.Fen `json:"max_sale"`
	// MaxCardDay bounds what one card spends in a day through a
	// register's sales the server has not settled yet.
	MaxCardDay money.Fen `json:"max_card_day"`
	// MaxUnsynced bounds the amount a register holds unsettled, in all.
	MaxUnsynced money.Fen `json:"max_unsynced"`
	// MaxHours is the longest a register sells without hearing from the
	// server.
	MaxHours int `json:"max_hours"`
	// SoftCount: once this many offline sales wait, a register tries the
	// server before each further sale. HardCount: once this many wait, it
	// refuses offline sales.
	SoftCount int `json:"soft_count"`
	HardCount int `json:"hard_count"`
}

// DefaultOfflineLimits are a register's own defaults
// (terminal.DefaultRules): 72 hours without the server, trying it after
// 100 waiting offline sales and refusing after 1,000.
func DefaultOfflineLimits() OfflineLimits {
	return OfflineLimits{MaxHours: 72, SoftCount: 100, HardCount: 1000}
}

// MealPeriod is a meal's window of the day, in the server's time zone,
// with its own limits.
type MealPeriod struct {
	Name  string `json:"name"`  // breakfast, lunch, dinner, …
	Start string `json:"start"` // "HH:MM", inclusive
	End   string `json:"end"`   // "HH:MM", exclusive
	// MaxSales bounds a card's sales in the period, per day; 0: none.
	MaxSales int `json:"max_sales"`
	// Presets are the prices of the registers' preset meal keys in the
	// period: Presets[0] for key A, [1] for B, …; 0 is no meal on that
	// key. A period without them leaves each register its own.
	Presets []money.Fen `json:"presets,omitempty"`
}

// ClassRules are a user class's limits; 0 keeps the general one.
type ClassRules struct {
	MaxSalesPerDay int       `json:"max_sales_per_day,omitempty"`
	MaxSale        money.Fen `json:"max_sale,omitempty"`
	MaxDay         money.Fen `json:"max_day,omitempty"`
}

// DefaultRules are the rules of a new canteen: the original design's three
// sales per card per day, 100 yuan a sale, 300 a day, a 10-second double
// tap, three meal periods without a bound of their own or preset prices,
// sales outside them allowed, and the registers' default offline limits.
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
		Offline:        DefaultOfflineLimits(),
	}
}

// Bounds on rules.
const (
	maxPeriods = 8
	maxClasses = 64
	// MaxPresets is the most preset meal keys a meal period prices, as
	// many as a register takes (wire.MaxPresets).
	MaxPresets = wire.MaxPresets
	// maxOfflineHours bounds OfflineLimits.MaxHours: a year.
	maxOfflineHours = 366 * 24
	// maxOfflineCount bounds OfflineLimits' counts.
	maxOfflineCount = 1_000_000
)

// Validate checks the rules: EINVALID with the first problem, naming the
// field at fault (Error.Field: "max_sale", "periods.2.end",
// "periods.2.presets.0", "classes.staff", "offline.max_hours").
func (r Rules) Validate() error {
	switch {
	case r.MaxSalesPerDay < 0 || r.MaxSalesPerDay > 100:
		return FieldErrorf("max_sales_per_day", "max_sales_per_day must be 0 (no limit) to 100")
	case r.MaxSale < 0 || r.MaxSale > MaxAmount:
		return FieldErrorf("max_sale", "max_sale must be 0 (no limit) to %d fen", MaxAmount)
	case r.MaxDay < 0 || r.MaxDay > MaxAmount:
		return FieldErrorf("max_day", "max_day must be 0 (no limit) to %d fen", MaxAmount)
	case r.MinGapSeconds < 0 || r.MinGapSeconds > 3600:
		return FieldErrorf("min_gap_seconds", "min_gap_seconds must be 0 to 3600")
	case len(r.Periods) > maxPeriods:
		return FieldErrorf("periods", "at most %d meal periods", maxPeriods)
	case len(r.Classes) > maxClasses:
		return FieldErrorf("classes", "at most %d user classes", maxClasses)
	}
	var prevEnd = -1
	for i, p := range r.Periods {
		field := fmt.Sprintf("periods.%d.", i)
		if !validText(p.Name, wire.MaxRuleName) || strings.ContainsAny(p.Name, markup) {
			return FieldErrorf(field+"name", "meal period %d: name must be 1 to %d bytes of text, without any of %s", i+1, wire.MaxRuleName, markup)
		}
		start, err1 := clockMinutes(p.Start)
		end, err2 := clockMinutes(p.End)
		switch {
		case err1 != nil:
			return FieldErrorf(field+"start", "meal period %s: start %q must be HH:MM", p.Name, p.Start)
		case err2 != nil:
			return FieldErrorf(field+"end", "meal period %s: end %q must be HH:MM", p.Name, p.End)
		case end <= start:
			return FieldErrorf(field+"end", "meal period %s: ends at %s, not after it starts at %s", p.Name, p.End, p.Start)
		case start < prevEnd:
			return FieldErrorf(field+"start", "meal period %s: starts before the one before it ends; list them in order, apart", p.Name)
		case p.MaxSales < 0 || p.MaxSales > 100:
			return FieldErrorf(field+"max_sales", "meal period %s: max_sales must be 0 (no limit) to 100", p.Name)
		case len(p.Presets) > MaxPresets:
			return FieldErrorf(field+"presets", "meal period %s: %d preset prices, at most %d", p.Name, len(p.Presets), MaxPresets)
		}
		for k, price := range p.Presets {
			top := MaxAmount
			if r.MaxSale > 0 {
				top = r.MaxSale
			}
			if price < 0 || price > top {
				return FieldErrorf(fmt.Sprintf("%spresets.%d", field, k), "meal period %s: preset %c costs %d fen: want 0 (no meal) to %d (max_sale)",
					p.Name, 'A'+k, price, top)
			}
		}
		prevEnd = end
	}
	for name, c := range r.Classes {
		switch {
		case !ValidUserClass(name):
			return FieldErrorf("classes", "user class %q: 1 to %d characters a-z, 0-9, - and _", name, MaxUserClass)
		case c.MaxSalesPerDay < 0 || c.MaxSalesPerDay > 100 || c.MaxSale < 0 || c.MaxSale > MaxAmount || c.MaxDay < 0 || c.MaxDay > MaxAmount:
			return FieldErrorf("classes."+name, "user class %s: limits out of range", name)
		}
	}
	return r.Offline.validate()
}

// markup are the characters a meal period's name may not hold: it is shown
// on web pages and receipts, and plain words need none of them.
const markup = `<>&"'`

func (o OfflineLimits) validate() error {
	switch {
	case o.MaxSale < 0 || o.MaxSale > MaxAmount:
		return FieldErrorf("offline.max_sale", "offline max_sale must be 0 (no limit) to %d fen", MaxAmount)
	case o.MaxCardDay < 0 || o.MaxCardDay > MaxAmount:
		return FieldErrorf("offline.max_card_day", "offline max_card_day must be 0 (no limit) to %d fen", MaxAmount)
	case o.MaxUnsynced < 0 || o.MaxUnsynced > MaxAmount:
		return FieldErrorf("offline.max_unsynced", "offline max_unsynced must be 0 (no limit) to %d fen", MaxAmount)
	case o.MaxHours < 0 || o.MaxHours > maxOfflineHours:
		return FieldErrorf("offline.max_hours", "offline max_hours must be 0 (no limit) to %d", maxOfflineHours)
	case o.SoftCount < 0 || o.SoftCount > maxOfflineCount:
		return FieldErrorf("offline.soft_count", "offline soft_count must be 0 (off) to %d", maxOfflineCount)
	case o.HardCount < 0 || o.HardCount > maxOfflineCount:
		return FieldErrorf("offline.hard_count", "offline hard_count must be 0 (no limit) to %d", maxOfflineCount)
	case o.SoftCount > 0 && o.HardCount > 0 && o.SoftCount >= o.HardCount:
		return FieldErrorf("offline.soft_count", "offline soft_count %d must be below hard_count %d: past the hard count nothing is sold offline", o.SoftCount, o.HardCount)
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
