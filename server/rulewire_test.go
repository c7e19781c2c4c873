package server_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/fanka/fanka/server"
	"github.com/fanka/fanka/shared/money"
	"github.com/fanka/fanka/shared/wire"
)

func TestRulesWire(t *testing.T) {
	r := server.DefaultRules()
	r.Periods[1].MaxSales = 1
	r.Periods[1].Presets = []money.Fen{12 * money.Yuan, 0, 8 * money.Yuan}
	r.Offline = server.OfflineLimits{MaxSale: 30 * money.Yuan, MaxCardDay: 50 * money.Yuan, MaxUnsynced: 5000 * money.Yuan, MaxHours: 24, SoftCount: 10, HardCount: 20}
	r.Classes = map[string]server.ClassRules{"student": {MaxSale: 30 * money.Yuan}, "staff": {MaxSalesPerDay: 5}}
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
	got := r.Wire(7)
	want := wire.Rules{
		Version: 7, MaxSalesPerDay: 3, MaxSale: 100 * money.Yuan, MaxDay: 300 * money.Yuan, MinGapSeconds: 10, OutsidePeriods: true,
		Periods: []wire.MealPeriod{{Name: "breakfast", Start: 360, End: 600},
			{Name: "lunch", Start: 630, End: 840, MaxSales: 1, Presets: []money.Fen{1200, 0, 800}}, {Name: "dinner", Start: 990, End: 1200}},
		Classes: []wire.ClassRules{{Name: "staff", MaxSalesPerDay: 5}, {Name: "student", MaxSale: 30 * money.Yuan}},
		Offline: wire.OfflineLimits{MaxSale: 3000, MaxCardDay: 5000, MaxUnsynced: 500000, MaxAgeSeconds: 24 * 3600, SoftCount: 10, HardCount: 20},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	if _, err := wire.Encode(&got); err != nil {
		t.Fatalf("the default rules do not encode: %v", err)
	}
	// The widest valid rules fit the message too.
	presets := make([]money.Fen, server.MaxPresets)
	for i := range presets {
		presets[i] = server.MaxAmount
	}
	wide := server.Rules{MaxSalesPerDay: 100, MaxSale: server.MaxAmount, MaxDay: server.MaxAmount, MinGapSeconds: 3600,
		Periods: []server.MealPeriod{{Name: "all-day-long-name-of-32-bytes-xx", Start: "00:00", End: "23:59", MaxSales: 100, Presets: presets}},
		Offline: server.OfflineLimits{MaxSale: server.MaxAmount, MaxCardDay: server.MaxAmount, MaxUnsynced: server.MaxAmount,
			MaxHours: 366 * 24, SoftCount: 999_999, HardCount: 1_000_000}}
	if err := wide.Validate(); err != nil {
		t.Fatal(err)
	}
	w := wide.Wire(1)
	if _, err := wire.Encode(&w); err != nil {
		t.Fatalf("the widest rules do not encode: %v", err)
	}
}
