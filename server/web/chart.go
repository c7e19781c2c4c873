package web

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/fanka/fanka/server"
	"github.com/fanka/fanka/server/admin"
	"github.com/fanka/fanka/shared/money"
)

// Bar is one bar of a chart.
type Bar struct {
	Label string
	Value int64
}

// Chart sizes, in SVG user units; the SVG scales to its box.
const (
	chartW, chartH = 720, 260
	chartLeft      = 64
	chartBottom    = 28
	chartTop       = 28
)

// BarChart returns an SVG bar chart of bars under title, each value shown
// by format. Every text is escaped. The chart needs no script and no style
// sheet.
func BarChart(title string, bars []Bar, format func(int64) string) []byte {
	var b bytes.Buffer
	esc := html.EscapeString
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="%s">`,
		chartW, chartH, chartW, chartH, esc(title))
	fmt.Fprintf(&b, `<title>%s</title>`, esc(title))
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#ffffff"/>`, chartW, chartH)
	fmt.Fprintf(&b, `<text x="%d" y="18" font-family="sans-serif" font-size="14" fill="#222">%s</text>`, chartLeft, esc(title))
	var top int64
	for _, bar := range bars {
		top = max(top, bar.Value)
	}
	plotH := float64(chartH - chartTop - chartBottom)
	plotW := float64(chartW - chartLeft - 8)
	base := float64(chartH - chartBottom)
	// Grid: 0, half and the top.
	for _, frac := range []float64{0, 0.5, 1} {
		y := base - frac*plotH
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>`, chartLeft, y, chartW-8, y)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" font-family="sans-serif" font-size="11" text-anchor="end" fill="#555">%s</text>`,
			chartLeft-4, y+4, esc(format(int64(frac*float64(top)))))
	}
	if len(bars) == 0 {
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-family="sans-serif" font-size="13" fill="#888">—</text>`, chartW/2, chartH/2)
	}
	n := float64(max(len(bars), 1))
	slot := plotW / n
	step := 1 // every bar labelled up to 24, else about 12 labels
	if len(bars) > 24 {
		step = (len(bars) + 11) / 12
	}
	for i, bar := range bars {
		h := 0.0
		if top > 0 {
			h = float64(bar.Value) / float64(top) * plotH
		}
		x := float64(chartLeft) + float64(i)*slot + slot*0.15
		fmt.Fprintf(&b, `<rect class="bar" x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#c0392b"><title>%s: %s</title></rect>`,
			x, base-h, slot*0.7, h, esc(bar.Label), esc(format(bar.Value)))
		if i%step == 0 {
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-family="sans-serif" font-size="11" text-anchor="middle" fill="#333">%s</text>`,
				x+slot*0.35, chartH-10, esc(bar.Label))
		}
	}
	b.WriteString(`</svg>`)
	return b.Bytes()
}

// yuan formats fen as yuan with two decimals.
func yuan(f int64) string { return money.Fen(f).String() }

// dailyReport is what the chart needs of GET /api/v1/reports/daily.
type dailyReport struct {
	Date   string `json:"date"`
	ByHour []any  `json:"by_hour"`
}

// A chartSpec draws one chart from one answer of the API.
type chartSpec struct {
	// api is the API's path for the request (its ?date= checked).
	api func(r *http.Request, date string) string
	// bars decodes the API's answer into the chart's title (a text key) and
	// bars.
	bars func(body []byte, lang string) (title string, bars []Bar, err error)
}

// charts are the charts under /charts/, by name.
var charts = map[string]chartSpec{
	"daily": {
		api: func(_ *http.Request, date string) string {
			return "/api/v1/reports/daily?date=" + url.QueryEscape(date)
		},
		bars: func(body []byte, lang string) (string, []Bar, error) {
			var rep dailyReport
			err := decodeJSON(body, &rep)
			return text(lang, "rep.chart"), hourBars(rep.ByHour), err
		},
	},
	"periods": {
		api: func(_ *http.Request, date string) string {
			return "/api/v1/reports/periods?date=" + url.QueryEscape(date)
		},
		bars: func(body []byte, lang string) (string, []Bar, error) {
			var rep admin.PeriodsResponse
			err := decodeJSON(body, &rep)
			var bars []Bar
			for _, p := range rep.Periods {
				label := p.Period
				if label == server.OtherPeriod {
					label = text(lang, "rep.other")
				}
				bars = append(bars, Bar{Label: label, Value: int64(p.Amount)})
			}
			return text(lang, "rep.periodchart"), bars, err
		},
	},
	"registers": {
		api: func(_ *http.Request, date string) string {
			return "/api/v1/reports/registers?date=" + url.QueryEscape(date)
		},
		bars: func(body []byte, lang string) (string, []Bar, error) {
			var rep admin.RegistersResponse
			err := decodeJSON(body, &rep)
			var bars []Bar
			for _, reg := range rep.Registers {
				label := reg.Name
				if label == "" {
					label = "#" + strconv.FormatUint(uint64(reg.Terminal), 10)
				}
				bars = append(bars, Bar{Label: label, Value: int64(reg.Amount)})
			}
			return text(lang, "rep.regchart"), bars, err
		},
	},
	"minutes": {
		api: func(r *http.Request, date string) string {
			path := "/api/v1/reports/minutes?date=" + url.QueryEscape(date)
			if last := r.FormValue("last"); last != "" {
				path += "&last=" + url.QueryEscape(last)
			}
			return path
		},
		bars: func(body []byte, lang string) (string, []Bar, error) {
			var rep admin.MinutesResponse
			err := decodeJSON(body, &rep)
			var bars []Bar
			for _, m := range rep.Minutes {
				bars = append(bars, Bar{Label: m.Minute, Value: m.Sales})
			}
			return text(lang, "dash.perminute"), bars, err
		},
	},
}

// handleChart draws the chart named in the path as SVG for the day ?date=
// (today if empty), from the API's answer, asked with the request's own
// credentials: the API decides who may see it.
func (s *Server) handleChart(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.session(w, r); !ok {
		return
	}
	spec, ok := charts[strings.TrimSuffix(r.PathValue("chart"), ".svg")]
	if !ok || !strings.HasSuffix(r.PathValue("chart"), ".svg") {
		http.NotFound(w, r)
		return
	}
	date := r.FormValue("date")
	if date == "" {
		date = time.Now().Format(time.DateOnly)
	}
	if _, err := time.Parse(time.DateOnly, date); err != nil {
		http.Error(w, "date must be YYYY-MM-DD", http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "image/svg+xml")
	w.Header().Set("Cache-Control", "no-store")
	format := yuan
	if r.PathValue("chart") == "minutes.svg" {
		format = func(n int64) string { return strconv.FormatInt(n, 10) }
	}
	body, status, err := s.askAPI(r, spec.api(r, date))
	var title string
	var bars []Bar
	if err == nil {
		title, bars, err = spec.bars(body, lang(r))
		if err != nil {
			status = http.StatusBadGateway
		}
	}
	if err != nil {
		// The image says why there is no chart.
		s.logger.Info("web: chart", "chart", r.PathValue("chart"), "date", date, "status", status, "err", err)
		w.WriteHeader(status)
		w.Write(BarChart(text(lang(r), "error")+": "+err.Error(), nil, format))
		return
	}
	w.Write(BarChart(title+" "+date, bars, format))
}

func decodeJSON(body []byte, out any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	return dec.Decode(out)
}

// hourBars turns the report's by_hour rows into 24 bars, 0 to 23: the
// amount of each hour, 0 for an hour without a row. A row is an object
// {hour, amount, ...}, or a plain amount whose index is the hour.
func hourBars(rows []any) []Bar {
	bars := make([]Bar, 24)
	for h := range bars {
		bars[h].Label = strconv.Itoa(h)
	}
	for i, v := range rows {
		if a, ok := number(v); ok && i < 24 {
			bars[i].Value += a
			continue
		}
		row, ok := v.(map[string]any)
		if !ok {
			continue
		}
		h, ok := number(row["hour"])
		if !ok || h < 0 || h > 23 {
			continue
		}
		a, _ := number(row["amount"])
		bars[h].Value += a
	}
	return bars
}

// number returns v as an integer if it is a JSON number.
func number(v any) (int64, bool) {
	switch n := v.(type) {
	case float64:
		return int64(n), true
	case json.Number:
		i, err := n.Int64()
		return i, err == nil
	}
	return 0, false
}

// askAPI asks the API for path with r's credentials and returns its
// answer. On failure it returns the API's status and an error with its
// message.
func (s *Server) askAPI(r *http.Request, path string) ([]byte, int, error) {
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, path, nil)
	if err != nil {
		return nil, http.StatusBadRequest, err
	}
	req.RemoteAddr = r.RemoteAddr
	for _, c := range r.Cookies() {
		req.AddCookie(c)
	}
	rec := &recorder{header: make(http.Header), status: http.StatusOK}
	s.api.ServeHTTP(rec, req)
	if rec.status != http.StatusOK {
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		json.Unmarshal(rec.body.Bytes(), &e)
		return nil, rec.status, fmt.Errorf("%s: %s", e.Error.Code, e.Error.Message)
	}
	return rec.body.Bytes(), http.StatusOK, nil
}

// recorder keeps a response in memory.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
	wrote  bool
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(status int) {
	if !r.wrote {
		r.status, r.wrote = status, true
	}
}
func (r *recorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.body.Write(b)
}
