package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/fanka/fanka/server"
	"github.com/fanka/fanka/server/sqlite"
	"github.com/fanka/fanka/shared/money"
)

// TestRulesStoredBeforeOfflineLimits: rules a server stored before preset
// prices and offline limits existed (the JSON below, as it wrote it) still
// load, with the default offline limits and no presets; rules stored with
// offline limits of 0 (no limits) keep them.
func TestRulesStoredBeforeOfflineLimits(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "fanka.db")
	db := sqlite.New(path)
	if err := db.Open(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.SetRules(ctx, server.DefaultRules(), "admin"); err != nil {
		t.Fatal(err)
	}
	raw := mustRawDB(t, path)
	old := `{"max_sales_per_day":2,"max_sale":2500,"max_day":6000,"min_gap_seconds":30,` +
		`"periods":[{"name":"lunch","start":"11:00","end":"13:30","max_sales":1}],"outside_periods":false,` +
		`"classes":{"staff":{"max_sales_per_day":4}}}`
	if _, err := raw.Exec(`UPDATE settings SET value = ?, version = 7 WHERE name = 'rules'`, old); err != nil {
		t.Fatal(err)
	}
	got, v, err := db.Rules(ctx)
	if err != nil {
		t.Fatalf("rules stored before offline limits: %v", err)
	}
	want := server.Rules{MaxSalesPerDay: 2, MaxSale: 25 * money.Yuan, MaxDay: 60 * money.Yuan, MinGapSeconds: 30,
		Periods: []server.MealPeriod{{Name: "lunch", Start: "11:00", End: "13:30", MaxSales: 1}},
		Classes: map[string]server.ClassRules{"staff": {MaxSalesPerDay: 4}}, Offline: server.DefaultOfflineLimits()}
	if diff := cmp.Diff(want, got); diff != "" || v != 7 {
		t.Errorf("version %d, rules (-want +got):\n%s", v, diff)
	}
	if err := got.Validate(); err != nil {
		t.Errorf("old rules, loaded, are not valid: %v", err)
	}

	// Offline limits set to none stay none.
	want.Offline = server.OfflineLimits{}
	want.Periods[0].Presets = []money.Fen{15 * money.Yuan, 0, 9 * money.Yuan}
	if _, err := db.SetRules(ctx, want, "admin"); err != nil {
		t.Fatal(err)
	}
	if got, _, err := db.Rules(ctx); err != nil || !cmp.Equal(got, want) {
		t.Errorf("rules without offline limits: %+v, %v; want %+v", got, err, want)
	}
}
