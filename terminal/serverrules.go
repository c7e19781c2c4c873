package terminal

import (
	"fmt"
	"time"

	"github.com/fanka/fanka/shared/money"
	"github.com/fanka/fanka/shared/wire"
)

// ServerRulesJournal is a Journal that also keeps the last rules the server
// sent (terminal/journal does): NewRegister applies them from the start,
// so that a register restarted while the server is out of reach still
// refuses what settlement would flag.
type ServerRulesJournal interface {
	ServerRules() (*wire.Rules, bool, error)
}

// SetServerRules makes the register apply the server's sale rules m on top
// of its own (Config.Rules), online and offline, so that it refuses on the
// display the sales settlement would flag:
//
//   - the per-sale maximum and the daily count: the lower of the server's
//     and the register's own limit applies;
//   - the per-day maximum: this register's sales of the card today
//     (CardView.OwnToday) plus the new one;
//   - the minimum gap between two sales of a card (a double tap): since
//     this register's last sale of it (CardView.OwnLastSale);
//   - sales outside the meal periods, when the server allows none;
//   - the preset meal keys: in a server meal period that prices them, the
//     server's prices replace the register's own presets (Rules.Meals),
//     key for key, and a key the server leaves at 0 has no meal; in a
//     period without server prices, or outside the server's periods, the
//     register's own presets hold;
//   - the offline limits: the stricter of the server's and the register's
//     own (Rules.Offline), limit by limit, a 0 on either side giving way to
//     the other's. The server's limits can tighten a register's config but
//     never loosen it, so a register that must be stricter (a till far
//     from the network) stays so; the office page shows the server's.
//
// wire.Card does not carry a card's user class, so the general limits
// apply to every card, not a class's own. Nor does it carry the card's
// amount spent today, its last sale time or its count in the current meal
// period on other registers: those the register checks with what it sold
// itself, and settlement flags the rest. Meal periods are taken on the
// register's clock, which must keep the server's time zone. nil removes
// the server's rules. It may be called from any goroutine.
func (r *Register) SetServerRules(m *wire.Rules) {
	if m == nil {
		r.server.Store(nil)
		return
	}
	c := *m
	c.Periods = append([]wire.MealPeriod(nil), m.Periods...)
	priced := 0
	for i := range c.Periods {
		c.Periods[i].Presets = append([]money.Fen(nil), m.Periods[i].Presets...)
		if len(c.Periods[i].Presets) > 0 {
			priced++
		}
	}
	c.Classes = append([]wire.ClassRules(nil), m.Classes...)
	r.server.Store(&c)
	sales, sale, day := c.Limits("")
	o := r.offlineLimits(r.rules.Load())
	r.log.Info("server rules in force", "version", c.Version, "max_sales_per_day", sales, "max_sale", sale.String(),
		"max_day", day.String(), "min_gap_seconds", c.MinGapSeconds, "periods", len(c.Periods), "outside_periods", c.OutsidePeriods,
		"periods_with_presets", priced, "offline_max_sale", o.MaxSale.String(), "offline_max_card_day", o.MaxCardDay.String(),
		"offline_max_unsynced", o.MaxUnsynced.String(), "offline_max_age", o.MaxAge.String(), "offline_soft_count", o.SoftCount,
		"offline_hard_count", o.HardCount)
}

// preset returns the price of preset key i at t: the server's, when the
// server's meal period that holds t prices its keys, else the register's
// own (Rules.Preset); false when the key has no meal then.
func (r *Register) preset(rules *Rules, t time.Time, i int) (money.Fen, bool) {
	if m := r.server.Load(); m != nil {
		if p, ok := m.Period(int(timeOfDay(t) / time.Minute)); ok && len(p.Presets) > 0 {
			if i < 0 || i >= len(p.Presets) || p.Presets[i] <= 0 {
				return 0, false
			}
			return p.Presets[i], true
		}
	}
	return rules.Preset(t, i)
}

// offlineLimits returns the offline limits in force: the stricter of the
// register's (rules.Offline) and the server's, limit by limit.
func (r *Register) offlineLimits(rules *Rules) OfflineLimits {
	o := rules.Offline
	m := r.server.Load()
	if m == nil {
		return o
	}
	s := m.Offline
	o.MaxSale = stricter(o.MaxSale, s.MaxSale)
	o.MaxCardDay = stricter(o.MaxCardDay, s.MaxCardDay)
	o.MaxUnsynced = stricter(o.MaxUnsynced, s.MaxUnsynced)
	o.MaxAge = stricter(o.MaxAge, time.Duration(s.MaxAgeSeconds)*time.Second)
	o.SoftCount = stricter(o.SoftCount, int(s.SoftCount))
	o.HardCount = stricter(o.HardCount, int(s.HardCount))
	return o
}

// OfflineLimits returns the offline limits in force: the stricter of the
// register's own and the server's, limit by limit. It is safe to call
// from any goroutine.
func (r *Register) OfflineLimits() OfflineLimits { return r.offlineLimits(r.rules.Load()) }

// stricter returns the lower of two limits where 0 is no limit.
func stricter[T ~int | ~int64](a, b T) T {
	if a == 0 || (b != 0 && b < a) {
		return b
	}
	return a
}

// ServerRules returns the server's rules the register applies, nil if none.
func (r *Register) ServerRules() *wire.Rules { return r.server.Load() }

// dailyCount is the daily count in force: the lower of the register's and
// the server's, 0 for none.
func (r *Register) dailyCount(rules *Rules) int {
	n := rules.DailyCount
	if m := r.server.Load(); m != nil {
		if s, _, _ := m.Limits(""); s > 0 && (n == 0 || s < n) {
			n = s
		}
	}
	return n
}

// maxSale is the per-sale maximum in force: the lower of the register's
// and the server's.
func (r *Register) maxSale(rules *Rules) money.Fen {
	n := rules.MaxSale
	if m := r.server.Load(); m != nil {
		if _, s, _ := m.Limits(""); s > 0 && s < n {
			n = s
		}
	}
	return n
}

// serverRefusal checks a sale of amount (0: just the card, before an
// amount is keyed) on the card view at now against the server's rules,
// other than the daily count and the per-sale maximum, and says why it is
// refused.
func (r *Register) serverRefusal(view CardView, amount money.Fen, now time.Time) (line1, line2, reason string, refused bool) {
	m := r.server.Load()
	if m == nil {
		return "", "", "", false
	}
	if m.MinGapSeconds > 0 && !view.OwnLastSale.IsZero() {
		gap := now.Sub(view.OwnLastSale)
		if min := time.Duration(m.MinGapSeconds) * time.Second; gap >= 0 && gap < min {
			wait := (min - gap + time.Second - 1) / time.Second
			return msgDoubleTap, fmt.Sprintf("%d 秒后再试", wait),
				fmt.Sprintf("double tap: %v after this register's last sale of the card, within %ds", gap.Round(time.Millisecond), m.MinGapSeconds), true
		}
	}
	if len(m.Periods) > 0 && !m.OutsidePeriods {
		if _, ok := m.Period(int(timeOfDay(now) / time.Minute)); !ok {
			return msgNoMeal, "", "outside the meal periods", true
		}
	}
	if amount == 0 {
		return "", "", "", false
	}
	if _, _, maxDay := m.Limits(""); maxDay > 0 && view.OwnToday+amount > maxDay {
		left := max(maxDay-view.OwnToday, 0)
		return msgDayLimit, "今日可用 " + left.String(),
			fmt.Sprintf("%s today with this sale, above the %s a day", view.OwnToday+amount, maxDay), true
	}
	return "", "", "", false
}

// What the display says for the server's rules.
const (
	msgDoubleTap = "重复刷卡"
	msgNoMeal    = "非用餐时间"
	msgDayLimit  = "超出每日限额"
)
