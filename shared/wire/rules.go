package wire

import (
	"fmt"

	"github.com/fanka/fanka/shared/internal/bin"
	"github.com/fanka/fanka/shared/money"
)

// Bounds on a Rules message.
const (
	MaxPeriods  = 16 // meal periods
	MaxClasses  = 64 // user classes with their own limits
	MaxRuleName = 32 // bytes of a meal period's or a user class's name
	MaxPresets  = 64 // preset meal prices of a meal period
	MinutesADay = 1440
)

// Rules are the server's sale rules as registers apply them (the server's
// server.Rules): a register refuses, online and offline, a sale that
// settlement would flag, sells the server's preset meal prices and keeps
// to its offline limits. The gateway sends them after Welcome and again
// whenever their Version changes.
//
// A zero limit means no limit, as on the server.
//
//	Rules = RulesV1
//	        Offline: MaxSale:i64 MaxCardDay:i64 MaxUnsynced:i64
//	                 MaxAgeSeconds:u32 SoftCount:u32 HardCount:u32
//	        for each meal period, in order: n:u8 n×(Price:i64)
//	RulesV1 = Version:u64 ServerTime:i64 MaxSalesPerDay:u16 MaxSale:i64 MaxDay:i64
//	        MinGapSeconds:u32 OutsidePeriods:u8(0|1)
//	        n:u8 n×(Name:bytes8 Start:u16 End:u16 MaxSales:u16)
//	        n:u8 n×(Name:bytes8 MaxSalesPerDay:u16 MaxSale:i64 MaxDay:i64)
//
// The encoding is canonical: amounts and prices are not negative, a period
// starts before it ends and within the day, OutsidePeriods is 0 or 1, a
// period has at most MaxPresets prices, and classes are sorted by name,
// each once.
type Rules struct {
	Version        uint64 // the server's rules version; increases with each change
	ServerTime     int64  // the server's clock when it sent them, Unix milliseconds
	MaxSalesPerDay uint16
	MaxSale        money.Fen
	MaxDay         money.Fen
	MinGapSeconds  uint32
	// OutsidePeriods allows sales outside every meal period (when there
	// are periods at all).
	OutsidePeriods bool
	Periods        []MealPeriod
	Classes        []ClassRules
	Offline        OfflineLimits
}

// RulesV1 are Rules in the layout of the first registers (TypeRulesV1),
// without preset prices and offline limits: encoding one drops them. Such
// a register refuses a frame with bytes it does not know, but skips a
// message of a type it does not know; so the gateway sends Rules first,
// which it skips, then RulesV1, which it applies. A register that knows
// Rules takes a RulesV1 only when its Version is above that of the Rules
// it holds (from a server that predates Rules).
type RulesV1 struct {
	Rules
}

// MealPeriod is a meal's window of the day on the server's clock, how many
// sales a card may make in it per day (0: no limit), and the prices of the
// preset meal keys in it.
type MealPeriod struct {
	Name     string
	Start    uint16 // minutes after midnight, inclusive
	End      uint16 // minutes after midnight, exclusive; after Start
	MaxSales uint16
	// Presets[i] is the price of preset key i (A is 0); 0: no meal on
	// that key. None: each register keeps its own presets in the period.
	Presets []money.Fen
}

// OfflineLimits bound what a register sells while it cannot reach the
// server; 0 is no limit (SoftCount: off). A register applies the stricter
// of these and its own.
type OfflineLimits struct {
	MaxSale       money.Fen // one offline sale
	MaxCardDay    money.Fen // a card's unsettled sales of the day on the register
	MaxUnsynced   money.Fen // all the register's unsettled sales
	MaxAgeSeconds uint32    // time since the register last heard from the server
	SoftCount     uint32    // offline sales waiting before it tries the server first
	HardCount     uint32    // offline sales waiting before it refuses more
}

// ClassRules are a user class's limits; a zero keeps the general one.
type ClassRules struct {
	Name           string
	MaxSalesPerDay uint16
	MaxSale        money.Fen
	MaxDay         money.Fen
}

// Limits returns the limits for user class (the general ones for a class
// without its own, or for "").
func (m *Rules) Limits(class string) (sales int, sale, day money.Fen) {
	sales, sale, day = int(m.MaxSalesPerDay), m.MaxSale, m.MaxDay
	for _, c := range m.Classes {
		if c.Name != class {
			continue
		}
		if c.MaxSalesPerDay != 0 {
			sales = int(c.MaxSalesPerDay)
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

// Period returns the meal period that holds minute (minutes after
// midnight), and false if none does.
func (m *Rules) Period(minute int) (MealPeriod, bool) {
	for _, p := range m.Periods {
		if minute >= int(p.Start) && minute < int(p.End) {
			return p, true
		}
	}
	return MealPeriod{}, false
}

// check reports the first field that cannot be encoded canonically.
func (m *Rules) check() error {
	switch {
	case m.MaxSale < 0 || m.MaxDay < 0:
		return fmt.Errorf("%w: negative limit", ErrMalformed)
	case len(m.Periods) > MaxPeriods:
		return fmt.Errorf("%w: %d meal periods", ErrTooLarge, len(m.Periods))
	case len(m.Classes) > MaxClasses:
		return fmt.Errorf("%w: %d user classes", ErrTooLarge, len(m.Classes))
	case m.Offline.MaxSale < 0 || m.Offline.MaxCardDay < 0 || m.Offline.MaxUnsynced < 0:
		return fmt.Errorf("%w: negative offline limit", ErrMalformed)
	}
	for i, p := range m.Periods {
		if p.Name == "" || len(p.Name) > MaxRuleName {
			return fmt.Errorf("%w: meal period %d: name of %d bytes", ErrMalformed, i+1, len(p.Name))
		}
		if p.Start >= p.End || p.End > MinutesADay {
			return fmt.Errorf("%w: meal period %q: minutes %d to %d", ErrMalformed, p.Name, p.Start, p.End)
		}
		if len(p.Presets) > MaxPresets {
			return fmt.Errorf("%w: meal period %q: %d preset prices", ErrTooLarge, p.Name, len(p.Presets))
		}
		for k, price := range p.Presets {
			if price < 0 {
				return fmt.Errorf("%w: meal period %q: preset %d: negative price", ErrMalformed, p.Name, k)
			}
		}
	}
	for i, c := range m.Classes {
		if c.Name == "" || len(c.Name) > MaxRuleName {
			return fmt.Errorf("%w: user class %d: name of %d bytes", ErrMalformed, i+1, len(c.Name))
		}
		if i > 0 && m.Classes[i-1].Name >= c.Name {
			return fmt.Errorf("%w: user class %q: classes must be sorted by name, each once", ErrMalformed, c.Name)
		}
		if c.MaxSale < 0 || c.MaxDay < 0 {
			return fmt.Errorf("%w: user class %q: negative limit", ErrMalformed, c.Name)
		}
	}
	return nil
}

func (m *Rules) encode(w *bin.Writer) error {
	if err := m.encodeV1(w); err != nil {
		return err
	}
	o := m.Offline
	w.I64(int64(o.MaxSale))
	w.I64(int64(o.MaxCardDay))
	w.I64(int64(o.MaxUnsynced))
	w.U32(o.MaxAgeSeconds)
	w.U32(o.SoftCount)
	w.U32(o.HardCount)
	for _, p := range m.Periods {
		w.U8(uint8(len(p.Presets)))
		for _, price := range p.Presets {
			w.I64(int64(price))
		}
	}
	return nil
}

func (m *RulesV1) encode(w *bin.Writer) error { return m.encodeV1(w) }

// encodeV1 writes the part of Rules that RulesV1 carries.
func (m *Rules) encodeV1(w *bin.Writer) error {
	if err := m.check(); err != nil {
		return err
	}
	w.U64(m.Version)
	w.I64(m.ServerTime)
	w.U16(m.MaxSalesPerDay)
	w.I64(int64(m.MaxSale))
	w.I64(int64(m.MaxDay))
	w.U32(m.MinGapSeconds)
	if m.OutsidePeriods {
		w.U8(1)
	} else {
		w.U8(0)
	}
	w.U8(uint8(len(m.Periods)))
	for _, p := range m.Periods {
		w.Bytes8([]byte(p.Name))
		w.U16(p.Start)
		w.U16(p.End)
		w.U16(p.MaxSales)
	}
	w.U8(uint8(len(m.Classes)))
	for _, c := range m.Classes {
		w.Bytes8([]byte(c.Name))
		w.U16(c.MaxSalesPerDay)
		w.I64(int64(c.MaxSale))
		w.I64(int64(c.MaxDay))
	}
	return nil
}

// decodeRules reads a Rules payload, or a RulesV1 one if not full; a count
// over its bound is ErrTooLarge, anything else wrong is recorded in r.
func decodeRules(r *bin.Reader, full bool) (*Rules, error) {
	m := &Rules{Version: r.U64(), ServerTime: r.I64(), MaxSalesPerDay: r.U16(),
		MaxSale: money.Fen(r.I64()), MaxDay: money.Fen(r.I64()), MinGapSeconds: r.U32()}
	switch outside := r.U8(); outside {
	case 0, 1:
		m.OutsidePeriods = outside == 1
	default:
		r.Fail(fmt.Errorf("outside_periods %d", outside))
	}
	n := int(r.U8())
	if n > MaxPeriods {
		return nil, fmt.Errorf("%w: %d meal periods", ErrTooLarge, n)
	}
	for i := 0; i < n && r.Err() == nil; i++ {
		p := MealPeriod{Name: string(r.Bytes8(MaxRuleName)), Start: r.U16(), End: r.U16(), MaxSales: r.U16()}
		m.Periods = append(m.Periods, p)
	}
	n = int(r.U8())
	if r.Err() == nil && n > MaxClasses {
		return nil, fmt.Errorf("%w: %d user classes", ErrTooLarge, n)
	}
	for i := 0; i < n && r.Err() == nil; i++ {
		c := ClassRules{Name: string(r.Bytes8(MaxRuleName)), MaxSalesPerDay: r.U16(), MaxSale: money.Fen(r.I64()), MaxDay: money.Fen(r.I64())}
		m.Classes = append(m.Classes, c)
	}
	if full {
		m.Offline = OfflineLimits{MaxSale: money.Fen(r.I64()), MaxCardDay: money.Fen(r.I64()), MaxUnsynced: money.Fen(r.I64()),
			MaxAgeSeconds: r.U32(), SoftCount: r.U32(), HardCount: r.U32()}
		for i := range m.Periods {
			n := int(r.U8())
			if r.Err() != nil {
				break
			}
			if n > MaxPresets {
				return nil, fmt.Errorf("%w: meal period %q: %d preset prices", ErrTooLarge, m.Periods[i].Name, n)
			}
			for k := 0; k < n && r.Err() == nil; k++ {
				m.Periods[i].Presets = append(m.Periods[i].Presets, money.Fen(r.I64()))
			}
		}
	}
	if r.Err() == nil {
		if err := m.check(); err != nil {
			r.Fail(err)
		}
	}
	return m, nil
}
