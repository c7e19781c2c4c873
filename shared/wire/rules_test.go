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
			{Name: "lunch", Start: 10*60 + 30, End: 14 * 60, MaxSales: 1, Presets: []money.Fen{12 * money.Yuan, 0, 8 * money.Yuan}},
			{Name: "dinner", Start: 16*60 + 30, End: 20 * 60},
		},
		Classes: []wire.ClassRules{
			{Name: "staff", MaxSalesPerDay: 5},
			{Name: "student", MaxSale: 30 * money.Yuan, MaxDay: 60 * money.Yuan},
		},
		Offline: wire.OfflineLimits{MaxSale: 30 * money.Yuan, MaxCardDay: 50 * money.Yuan, MaxUnsynced: 5000 * money.Yuan,
			MaxAgeSeconds: 72 * 3600, SoftCount: 100, HardCount: 1000},
	}
}

func TestRulesGolden(t *testing.T) {
	m := wire.Rules{Version: 2, ServerTime: 1, MaxSalesPerDay: 3, MaxSale: 10000, MaxDay: 30000, MinGapSeconds: 10,
		Periods: []wire.MealPeriod{{Name: "L", Start: 630, End: 840, MaxSales: 1, Presets: []money.Fen{1200, 0}}},
		Classes: []wire.ClassRules{{Name: "s", MaxSalesPerDay: 5}},
		Offline: wire.OfflineLimits{MaxSale: 3000, MaxAgeSeconds: 3600, SoftCount: 100, HardCount: 1000}}
	v1 := "0000000000000002" + "0000000000000001" + "0003" + "0000000000002710" + "0000000000007530" + "0000000a" + "00" +
		"01" + "014c" + "0276" + "0348" + "0001" +
		"01" + "0173" + "0005" + "0000000000000000" + "0000000000000000"
	ext := "0000000000000bb8" + "0000000000000000" + "0000000000000000" + "00000e10" + "00000064" + "000003e8" +
		"02" + "00000000000004b0" + "0000000000000000"
	for _, tt := range []struct {
		m    wire.Message
		want string
	}{
		{&m, "0109" + v1 + ext},
		// The first registers' layout, byte for byte as before presets
		// and offline limits: the same message without them.
		{&wire.RulesV1{Rules: m}, "0108" + v1},
	} {
		b, err := wire.Encode(tt.m)
		if err != nil {
			t.Fatal(err)
		}
		if got := hex.EncodeToString(b); got != tt.want {
			t.Fatalf("%T: got  %s\nwant %s", tt.m, got, tt.want)
		}
	}
}

// TestRulesV1: a RulesV1 frame decodes as one, with the rules it carries
// and no presets or offline limits; and the frame of Rules is a RulesV1
// frame's bytes and more, under another type, so that a register that
// knows only RulesV1 skips it as a message of an unknown type (the
// uplink's rule) instead of refusing its trailing bytes.
func TestRulesV1(t *testing.T) {
	full := sampleRules()
	b1, err := wire.Encode(&wire.RulesV1{Rules: *full})
	if err != nil {
		t.Fatal(err)
	}
	m, err := wire.Decode(b1)
	if err != nil {
		t.Fatal(err)
	}
	want := *full
	want.Offline = wire.OfflineLimits{}
	want.Periods = append([]wire.MealPeriod(nil), full.Periods...)
	for i := range want.Periods {
		want.Periods[i].Presets = nil
	}
	if diff := cmp.Diff(&wire.RulesV1{Rules: want}, m); diff != "" {
		t.Fatalf("RulesV1 decoded (-want +got):\n%s", diff)
	}
	b, err := wire.Encode(full)
	if err != nil {
		t.Fatal(err)
	}
	if b[1] != byte(wire.TypeRules) || b1[1] != byte(wire.TypeRulesV1) || !bytes.Equal(b[2:len(b1)], b1[2:]) {
		t.Fatalf("Rules %x does not extend RulesV1 %x", b, b1)
	}
	// A RulesV1 frame with Rules' extra bytes is refused, as the first
	// registers refuse it.
	if _, err := wire.Decode(append(bytes.Clone(b1), b[len(b1):]...)); !errors.Is(err, wire.ErrMalformed) {
		t.Fatalf("RulesV1 with trailing bytes: %v, want ErrMalformed", err)
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
		"negative preset":     {func(r *wire.Rules) { r.Periods[1].Presets[2] = -1 }, wire.ErrMalformed},
		"too many presets":    {func(r *wire.Rules) { r.Periods[0].Presets = make([]money.Fen, wire.MaxPresets+1) }, wire.ErrTooLarge},
		"negative offline":    {func(r *wire.Rules) { r.Offline.MaxCardDay = -1 }, wire.ErrMalformed},
		"negative offline 2":  {func(r *wire.Rules) { r.Offline.MaxUnsynced = -100 }, wire.ErrMalformed},
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

	// After the classes: the offline limits, then each period's presets.
	// The sample's periods have 0, 3 and 0 prices.
	v1, _ := wire.Encode(&wire.RulesV1{Rules: *sampleRules()})
	ext := len(v1)             // the offline limits' first byte
	presets := ext + 3*8 + 3*4 // breakfast's preset count
	tail := map[string]struct {
		b   []byte
		err error
	}{
		"negative offline max sale": {patch(good, ext, 0x80), wire.ErrMalformed},
		"65 presets":                {append(append([]byte{}, good[:presets]...), wire.MaxPresets+1), wire.ErrTooLarge},
		"negative preset":           {patch(good, presets+2, 0x80), wire.ErrMalformed},
		"presets cut short":         {good[:presets+1+8], wire.ErrMalformed},
		"no presets at all":         {good[:presets], wire.ErrMalformed},
		"no offline limits":         {patch(v1, 1, byte(wire.TypeRules)), wire.ErrMalformed},
	}
	for name, tt := range tail {
		if m, err := wire.Decode(tt.b); !errors.Is(err, tt.err) {
			t.Errorf("decode %s: %#v, %v; want %v", name, m, err, tt.err)
		}
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
	for _, m := range []*wire.Rules{sampleRules(), {Version: 1}, {MaxSalesPerDay: 100, Periods: []wire.MealPeriod{{Name: "夜宵", Start: 0, End: wire.MinutesADay,
		Presets: make([]money.Fen, wire.MaxPresets)}}}} {
		for _, msg := range []wire.Message{m, &wire.RulesV1{Rules: *m}} {
			b, err := wire.Encode(msg)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b[1] == byte(wire.TypeRules), b[2:])
		}
	}
	f.Fuzz(func(t *testing.T, full bool, payload []byte) {
		typ := wire.TypeRulesV1
		if full {
			typ = wire.TypeRules
		}
		b := append([]byte{wire.Version, byte(typ)}, payload...)
		m, err := wire.Decode(b)
		if err != nil {
			return
		}
		var r *wire.Rules
		switch m := m.(type) {
		case *wire.Rules:
			r = m
		case *wire.RulesV1:
			r = &m.Rules
		}
		o := r.Offline
		if len(r.Periods) > wire.MaxPeriods || len(r.Classes) > wire.MaxClasses || r.MaxSale < 0 || r.MaxDay < 0 ||
			o.MaxSale < 0 || o.MaxCardDay < 0 || o.MaxUnsynced < 0 {
			t.Fatalf("out of bounds: %+v", r)
		}
		for _, p := range r.Periods {
			if p.Start >= p.End || p.End > wire.MinutesADay || len(p.Presets) > wire.MaxPresets {
				t.Fatalf("period %+v accepted", p)
			}
			for _, price := range p.Presets {
				if price < 0 {
					t.Fatalf("period %+v accepted", p)
				}
			}
		}
		again, err := wire.Encode(m)
		if err != nil {
			t.Fatalf("decoded rules do not encode: %v", err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("non-canonical frame accepted:\n%x\n%x", b, again)
		}
	})
}
