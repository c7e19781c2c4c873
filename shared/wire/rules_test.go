package wire_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/fanka/fanka/shared/money"
	"github.com/fanka/fanka/shared/wire"
)

// sampleRules are the server's default rules (three sales a day, 100 yuan
// a sale, 300 a day, a 10-second double tap, three meals) with two user
// classes.
func sampleRules() *wire.Rules {
	return &wire.Rules{
		Version: 3, ServerTime: 1764000000000,
		MaxSalesPerDay: 3, MaxSale: 100 * money.Yuan, MaxDay: 300 * money.Yuan, MinGapSeconds: 10,
		OutsidePeriods: true,
		Periods: []wire.MealPeriod{
			{Name: "breakfast", Start: 6 * 60, End: 10 * 60},
			{Name: "lunch", Start: 10*60 + 30, End: 14 * 60, MaxSales: 1},
			{Name: "dinner", Start: 16*60 + 30, End: 20 * 60},
		},
		Classes: []wire.ClassRules{
			{Name: "staff", MaxSalesPerDay: 5},
			{Name: "student", MaxSale: 30 * money.Yuan, MaxDay: 60 * money.Yuan},
		},
	}
}

func TestRulesGolden(t *testing.T) {
	b, err := wire.Encode(&wire.Rules{Version: 2, ServerTime: 1, MaxSalesPerDay: 3, MaxSale: 10000, MaxDay: 30000, MinGapSeconds: 10,
		Periods: []wire.MealPeriod{{Name: "L", Start: 630, End: 840, MaxSales: 1}},
		Classes: []wire.ClassRules{{Name: "s", MaxSalesPerDay: 5}}})
	if err != nil {
		t.Fatal(err)
	}
	want := "0108" + "0000000000000002" + "0000000000000001" + "0003" + "0000000000002710" + "0000000000007530" + "0000000a" + "00" +
		"01" + "014c" + "0276" + "0348" + "0001" +
		"01" + "0173" + "0005" + "0000000000000000" + "0000000000000000"
	if got := hex.EncodeToString(b); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestRulesLimits(t *testing.T) {
	r := sampleRules()
	tests := []struct {
		class     string
		sales     int
		sale, day money.Fen
	}{
		{"", 3, 10000, 30000},
		{"nobody", 3, 10000, 30000},
		{"staff", 5, 10000, 30000},
		{"student", 3, 3000, 6000},
	}
	for _, tt := range tests {
		sales, sale, day := r.Limits(tt.class)
		if sales != tt.sales || sale != tt.sale || day != tt.day {
			t.Errorf("Limits(%q) = %d, %s, %s; want %d, %s, %s", tt.class, sales, sale, day, tt.sales, tt.sale, tt.day)
		}
	}
	if p, ok := r.Period(12 * 60); !ok || p.Name != "lunch" {
		t.Errorf("Period(12:00) = %+v, %v; want lunch", p, ok)
	}
	if p, ok := r.Period(14 * 60); ok {
		t.Errorf("Period(14:00) = %+v: lunch ends at 14:00, exclusive", p)
	}
}

func TestRulesRefused(t *testing.T) {
	long := strings.Repeat("x", wire.MaxRuleName+1)
	tests := map[string]struct {
		change func(*wire.Rules)
		err    error
	}{
		"negative max sale":   {func(r *wire.Rules) { r.MaxSale = -1 }, wire.ErrMalformed},
		"negative max day":    {func(r *wire.Rules) { r.MaxDay = -1 }, wire.ErrMalformed},
		"period ends first":   {func(r *wire.Rules) { r.Periods[0].End = r.Periods[0].Start }, wire.ErrMalformed},
		"period past the day": {func(r *wire.Rules) { r.Periods[0].End = wire.MinutesADay + 1 }, wire.ErrMalformed},
		"period unnamed":      {func(r *wire.Rules) { r.Periods[0].Name = "" }, wire.ErrMalformed},
		"period name long":    {func(r *wire.Rules) { r.Periods[0].Name = long }, wire.ErrMalformed},
		"classes unsorted":    {func(r *wire.Rules) { r.Classes[0], r.Classes[1] = r.Classes[1], r.Classes[0] }, wire.ErrMalformed},
		"class twice":         {func(r *wire.Rules) { r.Classes[1].Name = r.Classes[0].Name }, wire.ErrMalformed},
		"class negative":      {func(r *wire.Rules) { r.Classes[0].MaxDay = -5 }, wire.ErrMalformed},
		"class name long":     {func(r *wire.Rules) { r.Classes[1].Name = long }, wire.ErrMalformed},
		"too many periods":    {func(r *wire.Rules) { r.Periods = make([]wire.MealPeriod, wire.MaxPeriods+1) }, wire.ErrTooLarge},
		"too many classes":    {func(r *wire.Rules) { r.Classes = make([]wire.ClassRules, wire.MaxClasses+1) }, wire.ErrTooLarge},
	}
	for name, tt := range tests {
		r := sampleRules()
		tt.change(r)
		if _, err := wire.Encode(r); !errors.Is(err, tt.err) {
			t.Errorf("encode %s: %v, want %v", name, err, tt.err)
		}
	}

	// The decoder refuses the same, and counts over their bounds, from
	// frames built by hand.
	good, _ := wire.Encode(sampleRules())
	head := 2 + 8 + 8 + 2 + 8 + 8 + 4 // up to OutsidePeriods
	frames := map[string]struct {
		b   []byte
		err error
	}{
		"outside periods 2": {patch(good, head, 2), wire.ErrMalformed},
		"17 periods":        {append(append([]byte{}, good[:head+1]...), wire.MaxPeriods+1), wire.ErrTooLarge},
		"65 classes":        {append(append([]byte{}, good[:head+1]...), 0, wire.MaxClasses+1), wire.ErrTooLarge},
		"truncated":         {good[:len(good)-1], wire.ErrMalformed},
		"trailing":          {append(append([]byte{}, good...), 0), wire.ErrMalformed},
		"name over bound":   {append(append([]byte{}, good[:head+1]...), 1, wire.MaxRuleName+1), wire.ErrMalformed},
	}
	for name, tt := range frames {
		if m, err := wire.Decode(tt.b); !errors.Is(err, tt.err) {
			t.Errorf("decode %s: %#v, %v; want %v", name, m, err, tt.err)
		}
	}
	// A negative amount, by hand: MaxSale's top byte.
	if _, err := wire.Decode(patch(good, 2+8+8+2, 0x80)); !errors.Is(err, wire.ErrMalformed) {
		t.Errorf("decode a negative max sale: %v", err)
	}
}

// patch returns a copy of b with the byte at i set to v.
func patch(b []byte, i int, v byte) []byte {
	c := bytes.Clone(b)
	c[i] = v
	return c
}

func TestRulesRoundTripEmpty(t *testing.T) {
	// No limits, no periods, no classes: the smallest rules.
	m := &wire.Rules{Version: 1}
	b, err := wire.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	got, err := wire.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(m, got); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
}

// FuzzDecodeRules feeds the Rules decoder arbitrary payloads: it never
// panics, and what it accepts is canonical and within every bound.
func FuzzDecodeRules(f *testing.F) {
	for _, m := range []*wire.Rules{sampleRules(), {Version: 1}, {MaxSalesPerDay: 100, Periods: []wire.MealPeriod{{Name: "夜宵", Start: 0, End: wire.MinutesADay}}}} {
		b, err := wire.Encode(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b[2:])
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		b := append([]byte{wire.Version, byte(wire.TypeRules)}, payload...)
		m, err := wire.Decode(b)
		if err != nil {
			return
		}
		r := m.(*wire.Rules)
		if len(r.Periods) > wire.MaxPeriods || len(r.Classes) > wire.MaxClasses || r.MaxSale < 0 || r.MaxDay < 0 {
			t.Fatalf("out of bounds: %+v", r)
		}
		for _, p := range r.Periods {
			if p.Start >= p.End || p.End > wire.MinutesADay {
				t.Fatalf("period %+v accepted", p)
			}
		}
		again, err := wire.Encode(r)
		if err != nil {
			t.Fatalf("decoded rules do not encode: %v", err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("non-canonical frame accepted:\n%x\n%x", b, again)
		}
	})
}
