package server_test

import (
	"strings"
	"testing"

	"github.com/fanka/fanka/server"
	"github.com/fanka/fanka/shared/money"
)

// TestRulesValidate: each bad rule is EINVALID and names the field at
// fault, so that the office page shows the message next to it.
func TestRulesValidate(t *testing.T) {
	good := func() server.Rules {
		r := server.DefaultRules()
		r.Periods[1].Presets = []money.Fen{12 * money.Yuan, 0, 8 * money.Yuan}
		return r
	}
	if r := good(); r.Validate() != nil {
		t.Fatalf("good rules refused: %v", r.Validate())
	}
	tests := []struct {
		name  string
		bad   func(*server.Rules)
		field string
	}{
		{"max sale negative", func(r *server.Rules) { r.MaxSale = -1 }, "max_sale"},
		{"daily count 101", func(r *server.Rules) { r.MaxSalesPerDay = 101 }, "max_sales_per_day"},
		{"gap of two hours", func(r *server.Rules) { r.MinGapSeconds = 7200 }, "min_gap_seconds"},
		{"lunch ends before it starts", func(r *server.Rules) { r.Periods[1].End = "10:00" }, "periods.1.end"},
		{"lunch starts at 25:00", func(r *server.Rules) { r.Periods[1].Start = "25:00" }, "periods.1.start"},
		{"lunch starts in breakfast", func(r *server.Rules) { r.Periods[1].Start = "09:00" }, "periods.1.start"},
		{"HTML in a period name", func(r *server.Rules) { r.Periods[0].Name = "<b>早餐</b>" }, "periods.0.name"},
		{"quote in a period name", func(r *server.Rules) { r.Periods[0].Name = `a"b` }, "periods.0.name"},
		{"period name of 33 bytes", func(r *server.Rules) { r.Periods[0].Name = strings.Repeat("x", 33) }, "periods.0.name"},
		{"negative preset", func(r *server.Rules) { r.Periods[1].Presets[1] = -100 }, "periods.1.presets.1"},
		{"preset above the max sale", func(r *server.Rules) { r.Periods[1].Presets[2] = r.MaxSale + 1 }, "periods.1.presets.2"},
		{"65 presets", func(r *server.Rules) { r.Periods[2].Presets = make([]money.Fen, server.MaxPresets+1) }, "periods.2.presets"},
		{"period max sales negative", func(r *server.Rules) { r.Periods[2].MaxSales = -1 }, "periods.2.max_sales"},
		{"class with a bad name", func(r *server.Rules) { r.Classes = map[string]server.ClassRules{"Staff!": {}} }, "classes"},
		{"class limit negative", func(r *server.Rules) { r.Classes = map[string]server.ClassRules{"staff": {MaxDay: -1}} }, "classes.staff"},
		{"offline max sale negative", func(r *server.Rules) { r.Offline.MaxSale = -1 }, "offline.max_sale"},
		{"offline card day above the max", func(r *server.Rules) { r.Offline.MaxCardDay = server.MaxAmount + 1 }, "offline.max_card_day"},
		{"offline unsynced negative", func(r *server.Rules) { r.Offline.MaxUnsynced = -5 }, "offline.max_unsynced"},
		{"offline for two years", func(r *server.Rules) { r.Offline.MaxHours = 2 * 366 * 24 }, "offline.max_hours"},
		{"offline hours negative", func(r *server.Rules) { r.Offline.MaxHours = -1 }, "offline.max_hours"},
		{"soft count at the hard count", func(r *server.Rules) { r.Offline.SoftCount = r.Offline.HardCount }, "offline.soft_count"},
		{"hard count negative", func(r *server.Rules) { r.Offline.HardCount = -1 }, "offline.hard_count"},
	}
	for _, tt := range tests {
		r := good()
		tt.bad(&r)
		err := r.Validate()
		if server.ErrorCode(err) != server.EINVALID || server.ErrorField(err) != tt.field {
			t.Errorf("%s: %v (field %q), want EINVALID on %s", tt.name, err, server.ErrorField(err), tt.field)
		}
	}
	// No limits at all are valid: 0 is no limit everywhere, and presets
	// may be any price when there is no per-sale maximum.
	free := server.Rules{Periods: []server.MealPeriod{{Name: "lunch", Start: "11:00", End: "13:00", Presets: []money.Fen{server.MaxAmount}}}}
	if err := free.Validate(); err != nil {
		t.Errorf("rules without limits: %v", err)
	}
}
