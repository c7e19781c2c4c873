package server

import (
	"sort"

	"github.com/fanka/fanka/shared/money"
	"github.com/fanka/fanka/shared/wire"
)

// Wire returns the rules as registers get them (a wire.Rules message) at
// version; the caller stamps ServerTime when it sends them. The rules must
// be valid (Validate): their limits then fit the message's fields.
func (r Rules) Wire(version uint64) wire.Rules {
	w := wire.Rules{
		Version:        version,
		MaxSalesPerDay: uint16(r.MaxSalesPerDay),
		MaxSale:        r.MaxSale,
		MaxDay:         r.MaxDay,
		MinGapSeconds:  uint32(r.MinGapSeconds),
		OutsidePeriods: r.OutsidePeriods,
		Offline: wire.OfflineLimits{
			MaxSale:       r.Offline.MaxSale,
			MaxCardDay:    r.Offline.MaxCardDay,
			MaxUnsynced:   r.Offline.MaxUnsynced,
			MaxAgeSeconds: uint32(r.Offline.MaxHours) * 3600,
			SoftCount:     uint32(r.Offline.SoftCount),
			HardCount:     uint32(r.Offline.HardCount),
		},
	}
	for _, p := range r.Periods {
		start, err1 := clockMinutes(p.Start)
		end, err2 := clockMinutes(p.End)
		if err1 != nil || err2 != nil {
			continue // Validate refuses these: not in force anywhere
		}
		w.Periods = append(w.Periods, wire.MealPeriod{Name: p.Name, Start: uint16(start), End: uint16(end), MaxSales: uint16(p.MaxSales),
			Presets: append([]money.Fen(nil), p.Presets...)})
	}
	for name, c := range r.Classes {
		w.Classes = append(w.Classes, wire.ClassRules{Name: name, MaxSalesPerDay: uint16(c.MaxSalesPerDay), MaxSale: c.MaxSale, MaxDay: c.MaxDay})
	}
	sort.Slice(w.Classes, func(i, j int) bool { return w.Classes[i].Name < w.Classes[j].Name })
	return w
}
