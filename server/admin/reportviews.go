package admin

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/fanka/fanka/server"
	"github.com/fanka/fanka/shared/money"
)

// The day's report seen one way at a time: per meal period, per register,
// per minute. Each is cut from the day's report (server.ReportStore), so
// that the views of a day always add up to the same totals.

// dailyReport reads the query of r (see dailyQuery) and returns its
// report, with the meal periods it was totalled by.
func (s *Server) dailyReport(r *http.Request) (server.DailyReport, []server.MealPeriod, error) {
	q, err := s.dailyQuery(r)
	if err != nil {
		return server.DailyReport{}, nil, err
	}
	periods := q.Periods
	if periods == nil {
		periods = server.DefaultRules().Periods
	}
	rep, err := s.store.DailyReport(r.Context(), q)
	return rep, periods, err
}

// PeriodRow is a meal period's part of a day as GET
// /api/v1/reports/periods shows it: its name and times (empty for
// server.OtherPeriod, the time outside every period) and its totals.
type PeriodRow struct {
	server.PeriodTotal
	Start string `json:"start"` // HH:MM, inclusive
	End   string `json:"end"`   // HH:MM, exclusive
}

// PeriodsResponse answers GET /api/v1/reports/periods?date=: every meal
// period in order, then "other".
type PeriodsResponse struct {
	Date    string      `json:"date"`
	Sales   int64       `json:"sales"`
	Amount  money.Fen   `json:"amount"`
	Periods []PeriodRow `json:"periods"`
}

func periodsResponse(rep server.DailyReport, periods []server.MealPeriod) PeriodsResponse {
	resp := PeriodsResponse{Date: rep.Date, Sales: rep.Sales, Amount: rep.Amount, Periods: make([]PeriodRow, len(rep.ByPeriod))}
	for i, p := range rep.ByPeriod {
		resp.Periods[i].PeriodTotal = p
		if i < len(periods) {
			resp.Periods[i].Start, resp.Periods[i].End = periods[i].Start, periods[i].End
		}
	}
	return resp
}

func (s *Server) handlePeriods(w http.ResponseWriter, r *http.Request, _ server.User) {
	rep, periods, err := s.dailyReport(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.json(w, http.StatusOK, periodsResponse(rep, periods))
}

// handlePeriodsCSV answers GET /api/v1/reports/periods.csv: a row per
// meal period, then "other", then the day's total; amounts in yuan.
func (s *Server) handlePeriodsCSV(w http.ResponseWriter, r *http.Request, _ server.User) {
	rep, periods, err := s.dailyReport(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	rows := [][]string{{"日期 date", "餐次 meal period", "开始 start", "结束 end", "笔数 sales", "金额(元) amount (yuan)",
		"撤销 voids", "撤销金额(元) voided (yuan)", "待复核 flagged", "待复核金额(元) flagged (yuan)"}}
	for _, p := range periodsResponse(rep, periods).Periods {
		rows = append(rows, []string{rep.Date, csvText(p.Period), p.Start, p.End, count(p.Sales), p.Amount.String(),
			count(p.Voids), p.VoidAmount.String(), count(p.Flagged), p.FlaggedAmount.String()})
	}
	rows = append(rows, []string{rep.Date, "合计 total", "", "", count(rep.Sales), rep.Amount.String(),
		count(rep.Voids), rep.VoidAmount.String(), count(rep.Flagged), rep.FlaggedAmount.String()})
	s.csv(w, r, "fanka-periods-"+rep.Date+".csv", rows)
}

// RegistersResponse answers GET /api/v1/reports/registers?date=: each
// register with a sale or void on the day, in id order, with its meal
// periods and cashiers. Periods names the meal periods of each register's
// by_period, in order.
type RegistersResponse struct {
	Date      string                 `json:"date"`
	Periods   []string               `json:"periods"`
	Registers []server.RegisterTotal `json:"registers"`
}

func (s *Server) handleRegisters(w http.ResponseWriter, r *http.Request, _ server.User) {
	rep, _, err := s.dailyReport(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.json(w, http.StatusOK, RegistersResponse{Date: rep.Date, Periods: periodNames(rep), Registers: rep.ByRegister})
}

func periodNames(rep server.DailyReport) []string {
	names := make([]string, len(rep.ByPeriod))
	for i, p := range rep.ByPeriod {
		names[i] = p.Period
	}
	return names
}

// handleRegistersCSV answers GET /api/v1/reports/registers.csv: a row per
// register, its cashiers in one column ("C01: 12; C02: 3", the sales each
// made; "(none)" for entries made with no cashier signed in), then its sales
// and amount in each meal period; then the day's total. The register's
// canteen follows its name.
func (s *Server) handleRegistersCSV(w http.ResponseWriter, r *http.Request, _ server.User) {
	rep, _, err := s.dailyReport(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	head := []string{"日期 date", "收银机编号 register id", "收银机 register", "食堂 canteen", "收银员 cashiers", "笔数 sales", "金额(元) amount (yuan)",
		"撤销 voids", "待复核 flagged", "首笔流水 first seq", "末笔流水 last seq"}
	for _, p := range rep.ByPeriod {
		head = append(head, csvText(p.Period)+" 笔数 sales", csvText(p.Period)+" 金额(元) amount (yuan)")
	}
	rows := [][]string{head}
	for _, reg := range rep.ByRegister {
		cashiers := make([]string, len(reg.ByCashier))
		for i, c := range reg.ByCashier {
			name := c.Cashier
			if name == "" {
				name = "(none)"
			}
			cashiers[i] = fmt.Sprintf("%s: %d", name, c.Sales)
		}
		row := []string{rep.Date, strconv.FormatUint(uint64(reg.Terminal), 10), csvText(reg.Name), csvText(reg.CanteenName), csvText(strings.Join(cashiers, "; ")),
			count(reg.Sales), reg.Amount.String(), count(reg.Voids), count(reg.Flagged),
			strconv.FormatUint(reg.FirstSeq, 10), strconv.FormatUint(reg.LastSeq, 10)}
		for _, p := range reg.ByPeriod {
			row = append(row, count(p.Sales), p.Amount.String())
		}
		rows = append(rows, row)
	}
	total := []string{rep.Date, "", "合计 total", "", "", count(rep.Sales), rep.Amount.String(), count(rep.Voids), count(rep.Flagged), "", ""}
	for _, p := range rep.ByPeriod {
		total = append(total, count(p.Sales), p.Amount.String())
	}
	s.csv(w, r, "fanka-registers-"+rep.Date+".csv", append(rows, total))
}

func count(n int64) string { return strconv.FormatInt(n, 10) }

// Bounds of GET /api/v1/reports/minutes.
const (
	DefaultMinutes = 60
	MaxMinutes     = 24 * 60
)

// MinuteRow is a minute of a day: sales net of voids made in it.
type MinuteRow struct {
	Minute string    `json:"minute"` // HH:MM
	Sales  int64     `json:"sales"`
	Amount money.Fen `json:"amount"`
}

// MinutesResponse answers GET /api/v1/reports/minutes?date=&last=: the
// last minutes of the day (today: up to and with the current minute), in
// order.
type MinutesResponse struct {
	Date    string      `json:"date"`
	Minutes []MinuteRow `json:"minutes"`
}

func (s *Server) handleMinutes(w http.ResponseWriter, r *http.Request, _ server.User) {
	last, err := intParam(r, "last", DefaultMinutes, 1, MaxMinutes)
	if err != nil {
		s.error(w, r, err)
		return
	}
	rep, _, err := s.dailyReport(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	end := MaxMinutes // after the day's last minute
	now := s.Now()
	if rep.Date == now.Format(time.DateOnly) {
		end = now.Hour()*60 + now.Minute() + 1
	}
	start := max(end-int(last), 0)
	resp := MinutesResponse{Date: rep.Date, Minutes: make([]MinuteRow, 0, end-start)}
	for m := start; m < end; m++ {
		resp.Minutes = append(resp.Minutes, MinuteRow{Minute: fmt.Sprintf("%02d:%02d", m/60, m%60), Sales: rep.ByMinute[m].Sales, Amount: rep.ByMinute[m].Amount})
	}
	s.json(w, http.StatusOK, resp)
}
