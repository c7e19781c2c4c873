package admin

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/fanka/fanka/server"
	"github.com/fanka/fanka/shared/escpos"
)

// Printing the day's reports on an office printer: the daily report, a
// meal period's Z report and a register's shift report, rendered from the
// day's report (the numbers the page shows) and queued on the durable
// print queue as an operation's slip is.

// The reports POST /api/v1/reports/print prints.
const (
	PrintDaily = "daily"
	PrintZ     = "z"
	PrintShift = "shift"
)

// AuditReportPrint is the audit log's action for a report printed.
const AuditReportPrint = "report.print"

// PrintReportRequest is the body of POST /api/v1/reports/print.
type PrintReportRequest struct {
	Printer string `json:"printer"` // a configured printer's name
	Report  string `json:"report"`  // daily, z or shift
	Date    string `json:"date"`    // YYYY-MM-DD; empty: today
	// Period names the meal period of a Z report.
	Period string `json:"period,omitempty"`
	// TerminalID names the register of a shift report.
	TerminalID uint32 `json:"terminal_id,omitempty"`
}

// PrintReportResponse answers POST /api/v1/reports/print: the job queued.
type PrintReportResponse struct {
	JobID int64  `json:"job_id"`
	Title string `json:"title"`
}

// otherPeriodPrinted is how a report prints server.OtherPeriod.
const otherPeriodPrinted = "其他"

// printerKnown checks that the server has a printer called name.
func (s *Server) printerKnown(ctx context.Context, name string) error {
	if s.Printers == nil {
		return server.Errorf(server.EINVALID, "this server has no printers")
	}
	states, err := s.Printers.Printers(ctx)
	if err != nil {
		return err
	}
	for _, st := range states {
		if st.Name == name {
			return nil
		}
	}
	return server.Errorf(server.EINVALID, "no printer %q", truncate(name, 64))
}

// handlePrintReport queues a report on a printer. It answers 202: the
// queue prints it when the printer is ready (GET /api/v1/printers shows
// the job waiting).
func (s *Server) handlePrintReport(w http.ResponseWriter, r *http.Request, u server.User) {
	var req PrintReportRequest
	if err := decode(w, r, &req); err != nil {
		s.error(w, r, err)
		return
	}
	if req.Printer == "" {
		s.error(w, r, server.Errorf(server.EINVALID, "printer: name the printer to print on"))
		return
	}
	if !slices.Contains([]string{PrintDaily, PrintZ, PrintShift}, req.Report) {
		s.error(w, r, server.Errorf(server.EINVALID, "report %q: want daily, z or shift", truncate(req.Report, 32)))
		return
	}
	if err := s.printerKnown(r.Context(), req.Printer); err != nil {
		s.error(w, r, err)
		return
	}
	// The day, as ?date= gives it to the report's views.
	q := r.URL.Query()
	q.Set("date", req.Date)
	if req.Date == "" {
		q.Del("date")
	}
	r.URL.RawQuery = q.Encode()
	rep, periods, err := s.dailyReport(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	var doc []byte
	var title string
	switch req.Report {
	case PrintDaily:
		title = "daily report " + rep.Date
		doc, err = s.renderDaily(rep)
	case PrintZ:
		title = fmt.Sprintf("Z report %s %s", rep.Date, req.Period)
		doc, err = s.renderZ(rep, periods, req.Period)
	case PrintShift:
		title = fmt.Sprintf("shift report %s register %d", rep.Date, req.TerminalID)
		doc, err = s.renderShift(r.Context(), rep, req.TerminalID)
	}
	if err != nil {
		s.error(w, r, err)
		return
	}
	ids, err := s.Printers.Enqueue(r.Context(), server.PrintJob{Printer: req.Printer, Title: title, Doc: doc})
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.audit(r, u, AuditReportPrint, map[string]any{"printer": req.Printer, "report": req.Report, "date": rep.Date,
		"period": req.Period, "terminal_id": req.TerminalID, "job_id": ids[0]})
	s.Logger.Info("api: report queued", "report", title, "printer", req.Printer, "user", u.Name, "job", ids[0])
	s.json(w, http.StatusAccepted, PrintReportResponse{JobID: ids[0], Title: title})
}

// day returns the date of rep, in the server's location.
func (s *Server) day(rep server.DailyReport) time.Time {
	d, _ := time.ParseInLocation(time.DateOnly, rep.Date, s.Now().Location())
	return d
}

func periodLines(totals []server.PeriodTotal) []escpos.Line {
	lines := make([]escpos.Line, 0, len(totals))
	for _, p := range totals {
		name := p.Period
		if name == server.OtherPeriod {
			if p.Sales == 0 && p.Amount == 0 {
				continue // nothing outside the periods: no line
			}
			name = otherPeriodPrinted
		}
		lines = append(lines, escpos.Line{Name: name, Tally: escpos.Tally{Count: p.Sales, Amount: p.Amount}})
	}
	return lines
}

func registerName(reg server.RegisterTotal) string {
	if reg.Name == "" {
		return fmt.Sprintf("#%d", reg.Terminal)
	}
	return reg.Name
}

func (s *Server) renderDaily(rep server.DailyReport) ([]byte, error) {
	d := escpos.DailyReport{Canteen: s.Canteen, Date: s.day(rep), Printed: s.Now(),
		MealPeriods: periodLines(rep.ByPeriod),
		Sales:       escpos.Tally{Count: rep.Sales, Amount: rep.Amount},
		Voids:       escpos.Tally{Count: rep.Voids, Amount: rep.VoidAmount},
		Flagged:     escpos.Tally{Count: rep.Flagged, Amount: rep.FlaggedAmount},
		Recharges:   escpos.Tally{Count: rep.Recharges, Amount: rep.RechargeAmount},
		Refunds:     escpos.Tally{Count: rep.Refunds, Amount: rep.RefundAmount},
		Closes:      escpos.Tally{Count: rep.Closes, Amount: rep.CloseAmount},
	}
	for _, reg := range rep.ByRegister {
		d.Registers = append(d.Registers, escpos.Line{Name: registerName(reg), Tally: escpos.Tally{Count: reg.Sales, Amount: reg.Amount}})
	}
	return escpos.RenderDailyReport(d)
}

// renderZ renders the Z report of the meal period named period. Its
// number counts the meal periods from the first day of 1970, so that the
// Z reports of one set of periods follow one another without a gap: the
// period's index plus the day number times the number of periods, plus
// 1. A reprint has the same number.
func (s *Server) renderZ(rep server.DailyReport, periods []server.MealPeriod, period string) ([]byte, error) {
	i := slices.IndexFunc(periods, func(p server.MealPeriod) bool { return p.Name == period })
	if i < 0 {
		names := make([]string, len(periods))
		for j, p := range periods {
			names[j] = p.Name
		}
		return nil, server.Errorf(server.EINVALID, "period %q: want one of the meal periods %s", truncate(period, 32), strings.Join(names, ", "))
	}
	day := s.day(rep)
	from, err := clockOn(day, periods[i].Start)
	if err != nil {
		return nil, err
	}
	to, err := clockOn(day, periods[i].End)
	if err != nil {
		return nil, err
	}
	p := rep.ByPeriod[i]
	z := escpos.ZReport{Canteen: s.Canteen, MealPeriod: period, From: from, To: to, Printed: s.Now(),
		No:      uint64(server.Day(day))*uint64(len(periods)) + uint64(i) + 1,
		Sales:   escpos.Tally{Count: p.Sales, Amount: p.Amount},
		Voids:   escpos.Tally{Count: p.Voids, Amount: p.VoidAmount},
		Flagged: escpos.Tally{Count: p.Flagged, Amount: p.FlaggedAmount},
	}
	for _, reg := range rep.ByRegister {
		if rp := reg.ByPeriod[i]; rp.Sales != 0 || rp.Amount != 0 || rp.Voids != 0 {
			z.Registers = append(z.Registers, escpos.Line{Name: registerName(reg), Tally: escpos.Tally{Count: rp.Sales, Amount: rp.Amount}})
		}
	}
	return escpos.RenderZReport(z)
}

// clockOn returns the time hh:mm on day.
func clockOn(day time.Time, hhmm string) (time.Time, error) {
	t, err := time.Parse("15:04", hhmm)
	if err != nil {
		return time.Time{}, fmt.Errorf("meal period time %q: %w", hhmm, err)
	}
	return time.Date(day.Year(), day.Month(), day.Day(), t.Hour(), t.Minute(), 0, 0, day.Location()), nil
}

// renderShift renders register id's shift report of the day: its whole
// day (a register's shift is its day until cashiers sign shifts in and
// out on the register), to now if the day is today, with the cashiers its
// entries name.
func (s *Server) renderShift(ctx context.Context, rep server.DailyReport, id uint32) ([]byte, error) {
	if id == 0 {
		return nil, server.Errorf(server.EINVALID, "terminal_id: name the register of the shift report")
	}
	t, err := s.store.Terminal(ctx, id)
	if err != nil {
		return nil, err
	}
	day := s.day(rep)
	end := day.AddDate(0, 0, 1)
	if now := s.Now(); now.Before(end) && !now.Before(day) {
		end = now
	}
	sh := escpos.ShiftReport{Canteen: s.Canteen, Register: t.Name, RegisterID: id, Start: day, End: end, Printed: s.Now(),
		MealPeriods: []escpos.Line{}}
	if i := slices.IndexFunc(rep.ByRegister, func(reg server.RegisterTotal) bool { return reg.Terminal == id }); i >= 0 {
		reg := rep.ByRegister[i]
		var cashiers []string
		for _, c := range reg.ByCashier {
			if c.Cashier != "" {
				cashiers = append(cashiers, c.Cashier)
			}
		}
		sh.Cashier = strings.Join(cashiers, "、")
		sh.FirstSeq, sh.LastSeq = reg.FirstSeq, reg.LastSeq
		sh.MealPeriods = periodLines(reg.ByPeriod)
		sh.Sales = escpos.Tally{Count: reg.Sales, Amount: reg.Amount}
		sh.Voids = escpos.Tally{Count: reg.Voids, Amount: reg.VoidAmount}
		sh.Flagged = escpos.Tally{Count: reg.Flagged, Amount: reg.FlaggedAmount}
	}
	return escpos.RenderShiftReport(sh)
}
