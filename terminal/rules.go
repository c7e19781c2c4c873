package terminal

import (
	"errors"
	"fmt"
	"time"

	"github.com/fanka/fanka/shared/journal"
	"github.com/fanka/fanka/shared/money"
)

// Rules are the sale rules a register applies: limits, preset meal prices,
// who may sign in and void, and the offline limits of DESIGN §5.
//
// The register is given its Rules (NewRegister, Register.SetRules) and
// never reads them from anywhere itself: they come from the register's
// config file. The server's own sale rules (wire.Rules), which the uplink
// hands to Register.SetServerRules, apply on top of them: the lower limit
// holds. The zero value of a limit means "no limit" unless its doc says
// otherwise; DefaultRules holds the defaults a canteen starts with.
type Rules struct {
	// MaxSale is the largest amount one sale may have, online or offline.
	// It must be more than 0.
	MaxSale money.Fen
	// DailyCount is the most sales one card may make in a day (the
	// server's count of the day plus this register's sales it has not
	// settled yet). 0 means no limit.
	DailyCount int
	// Meals are the meal periods with the prices of the preset meal keys.
	// They must not overlap.
	Meals []MealPeriod
	// VoidWindow is how long after a sale a supervisor may void it (only
	// the register's last entry, and only a sale). 0 turns voids off.
	VoidWindow time.Duration
	// Cashiers may sign in with their code; their id goes into every entry
	// they make.
	Cashiers []Staff
	// Supervisors may void the last sale with their code; the void entry
	// carries the supervisor's id as its cashier.
	Supervisors []Staff
	// RequireCashier refuses every card until a cashier has signed in.
	RequireCashier bool
	// Offline limits apply to sales decided while the server is not
	// reachable.
	Offline OfflineLimits
}

// Staff is a cashier or supervisor as the register knows them.
type Staff struct {
	// ID is recorded in journal entries: 1 to journal.MaxCashier printable
	// ASCII characters.
	ID string
	// Code is what they key to identify themselves: MinCodeLen to
	// MaxCodeLen digits, unique among all staff.
	Code string
}

// Bounds of a staff code.
const (
	MinCodeLen = 4
	MaxCodeLen = 12
)

// MealPeriod is a time of day with its own preset meal prices (早餐, 午餐,
// 晚餐, 夜宵).
type MealPeriod struct {
	// Name is shown in logs ("午餐").
	Name string
	// Start and End are times of day on the register's clock, as a
	// duration since midnight; the period holds the instants from Start up
	// to, not including, End. An End at or before Start wraps past
	// midnight (夜宵 22:00 to 02:00).
	Start, End time.Duration
	// Presets holds the price of each preset meal key in this period:
	// Presets[i] for key i (A is 0). A price of 0 means the key has no meal
	// in this period.
	Presets []money.Fen
}

// OfflineLimits bound what a register sells while it cannot reach the
// server (DESIGN §5). Each is checked before an offline sale is recorded;
// cards on the hotlist (frozen, lost) are refused online and offline.
type OfflineLimits struct {
	// MaxSale is the largest amount of one offline sale (below
	// Rules.MaxSale); 0 means Rules.MaxSale only.
	MaxSale money.Fen
	// MaxCardDay is the most one card may spend in a day through this
	// register's sales the server has not settled yet, the new sale
	// included; 0 means no limit.
	MaxCardDay money.Fen
	// MaxUnsynced is the most this register may hold unsettled, in all
	// (its journal's backlog plus the new sale); 0 means no limit.
	MaxUnsynced money.Fen
	// MaxAge is the longest time since the register last heard from the
	// server (and so the age of its card cache and hotlist) that it still
	// sells offline; 0 means no limit.
	MaxAge time.Duration
	// SoftCount: once this many offline sales wait to be settled, the
	// register tries to reach the server (for at most ReachWait) before
	// each further sale, EMV-style. 0 turns it off.
	SoftCount int
	// HardCount: once this many offline sales wait to be settled, offline
	// sales are refused. 0 means no limit.
	HardCount int
}

// ReachWait is how long the register waits for the server once the soft
// count of offline sales is reached.
const ReachWait = 1500 * time.Millisecond

// DefaultRules returns the rules a register applies unless told otherwise:
// at most 200.00 a sale and 3 sales per card per day (the original
// design), voids within 5 minutes, and offline sales for up to 72 hours
// without the server, trying the server after 100 waiting offline sales
// and refusing after 1,000.
func DefaultRules() Rules {
	return Rules{
		MaxSale:    DefaultMaxSale,
		DailyCount: 3,
		VoidWindow: 5 * time.Minute,
		Offline: OfflineLimits{
			MaxAge:    72 * time.Hour,
			SoftCount: 100,
			HardCount: 1000,
		},
	}
}

// DefaultMaxSale is the per-sale maximum of DefaultRules.
const DefaultMaxSale = 200 * money.Yuan

// ErrRules is wrapped by every error of Rules.Validate.
var ErrRules = errors.New("terminal: invalid rules")

// Validate reports every rule that cannot be applied, wrapped in ErrRules.
func (r *Rules) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if r.MaxSale <= 0 {
		bad("max sale %s: must be more than 0", r.MaxSale)
	}
	if r.DailyCount < 0 {
		bad("daily count %d: negative", r.DailyCount)
	}
	if r.VoidWindow < 0 {
		bad("void window %v: negative", r.VoidWindow)
	}
	codes := map[string]string{}
	staff := func(kind string, list []Staff) {
		ids := map[string]bool{}
		for i, s := range list {
			who := fmt.Sprintf("%s %d (%q)", kind, i+1, s.ID)
			if !validStaffID(s.ID) {
				bad("%s: id must be 1 to %d printable ASCII characters", who, journal.MaxCashier)
			}
			if ids[s.ID] {
				bad("%s: id used twice", who)
			}
			ids[s.ID] = true
			if !validCode(s.Code) {
				bad("%s: code must be %d to %d digits", who, MinCodeLen, MaxCodeLen)
			} else if other, ok := codes[s.Code]; ok {
				bad("%s: code already belongs to %s", who, other)
			} else {
				codes[s.Code] = who
			}
		}
	}
	staff("cashier", r.Cashiers)
	staff("supervisor", r.Supervisors)
	if r.RequireCashier && len(r.Cashiers) == 0 {
		bad("cashier sign-in required but no cashier has a code")
	}
	for i, m := range r.Meals {
		who := fmt.Sprintf("meal %d (%q)", i+1, m.Name)
		if m.Start < 0 || m.Start >= 24*time.Hour || m.End < 0 || m.End >= 24*time.Hour {
			bad("%s: start %v and end %v must be times of day", who, m.Start, m.End)
		}
		if m.Start == m.End {
			bad("%s: starts when it ends", who)
		}
		if len(m.Presets) > MaxPresets {
			bad("%s: %d preset prices, at most %d", who, len(m.Presets), MaxPresets)
		}
		for k, p := range m.Presets {
			if p < 0 || p > r.MaxSale {
				bad("%s: preset %c price %s: want 0 to the max sale %s", who, 'A'+k, p, r.MaxSale)
			}
		}
	}
	// Overlaps, minute by minute: a day has only 1,440 of them.
overlap:
	for tod := time.Duration(0); tod < 24*time.Hour; tod += time.Minute {
		first := -1
		for i := range r.Meals {
			if !r.Meals[i].holds(tod) {
				continue
			}
			if first >= 0 {
				bad("meals %q and %q overlap at %02d:%02d", r.Meals[first].Name, r.Meals[i].Name, tod/time.Hour, tod%time.Hour/time.Minute)
				break overlap
			}
			first = i
		}
	}
	o := r.Offline
	if o.MaxSale < 0 || o.MaxCardDay < 0 || o.MaxUnsynced < 0 || o.MaxAge < 0 || o.SoftCount < 0 || o.HardCount < 0 {
		bad("offline limits: negative value in %+v", o)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", ErrRules, err)
	}
	return nil
}

// MaxPresets is the most preset meal keys a meal period may price.
const MaxPresets = 64

// Meal returns the meal period the instant t falls in, on t's clock.
func (r *Rules) Meal(t time.Time) (MealPeriod, bool) {
	tod := timeOfDay(t)
	for _, m := range r.Meals {
		if m.holds(tod) {
			return m, true
		}
	}
	return MealPeriod{}, false
}

// Preset returns the price of preset meal key i at t, and false when no
// meal period holds t or the period has no meal on that key.
func (r *Rules) Preset(t time.Time, i int) (money.Fen, bool) {
	m, ok := r.Meal(t)
	if !ok || i < 0 || i >= len(m.Presets) || m.Presets[i] <= 0 {
		return 0, false
	}
	return m.Presets[i], true
}

func (m MealPeriod) holds(tod time.Duration) bool {
	if m.Start < m.End {
		return tod >= m.Start && tod < m.End
	}
	return tod >= m.Start || tod < m.End // wraps past midnight
}

func timeOfDay(t time.Time) time.Duration {
	h, min, s := t.Clock()
	return time.Duration(h)*time.Hour + time.Duration(min)*time.Minute + time.Duration(s)*time.Second
}

func validStaffID(id string) bool {
	if len(id) == 0 || len(id) > journal.MaxCashier {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x21 || id[i] > 0x7E {
			return false
		}
	}
	return true
}

func validCode(code string) bool {
	if len(code) < MinCodeLen || len(code) > MaxCodeLen {
		return false
	}
	for i := 0; i < len(code); i++ {
		if code[i] < '0' || code[i] > '9' {
			return false
		}
	}
	return true
}
