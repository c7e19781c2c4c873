package admin

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/fanka/fanka/server"
	"github.com/fanka/fanka/shared/money"
	"github.com/fanka/fanka/shared/wire"
)

// Bounds and defaults of the read side's queries.
const (
	DefaultSales = 100 // GET /api/v1/sales without limit
	DefaultAudit = 100 // GET /api/v1/audit without limit
)

// Actions in the audit log, written by the handlers that do them.
const (
	AuditCardOpen        = "card.open"
	AuditTerminalCreate  = "terminal.create"
	AuditTerminalDisable = "terminal.disable"
	AuditTerminalEnable  = "terminal.enable"
	AuditTerminalMove    = "terminal.move"
	AuditCanteenCreate   = "canteen.create"
)

// audit records user's action in the audit log. The action has happened
// (it is committed) by the time it is logged: a log that fails is an
// internal error written to the server's log, and the caller still gets
// the action's result, so that a retry does not do it twice.
func (s *Server) audit(r *http.Request, u server.User, action string, detail any) {
	if _, err := s.store.AppendAudit(r.Context(), u.Name, action, detail); err != nil {
		s.Logger.Error("api: audit log append failed", "action", action, "user", u.Name, "path", r.URL.Path, "err", err)
	}
}

// intParam parses the query parameter name as an integer from min to max,
// or returns def when it is absent. Its errors are EINVALID and name what
// was given.
func intParam(r *http.Request, name string, def, min, max int64) (int64, error) {
	q := r.URL.Query()
	if !q.Has(name) {
		return def, nil
	}
	v := q.Get(name)
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < min || n > max {
		return 0, server.Errorf(server.EINVALID, "%s=%q: want an integer from %d to %d", name, truncate(v, 32), min, max)
	}
	return n, nil
}

// truncate shortens what a client sent, for an error message.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// TerminalInfo is a register as GET /api/v1/terminals shows it.
type TerminalInfo struct {
	ID       uint32     `json:"id"`
	Name     string     `json:"name"`
	Enrolled bool       `json:"enrolled"`
	Disabled bool       `json:"disabled"`
	LastSeen *time.Time `json:"last_seen"` // null: never connected
	LastSeq  uint64     `json:"last_seq"`  // the last entry settled
	Created  time.Time  `json:"created"`
	Canteen  int64      `json:"canteen_id"` // the canteen it sells for
	// Status is the register's link and last reported status (GET
	// /api/v1/terminals only); null for a register that has not connected
	// since the server keeps them.
	Status *TerminalStatusInfo `json:"status"`
}

// StatusStaleAfter is the age past which a register's status is stale: a
// connected register reports every 15 s and the gateway stores it at least
// every 30 s, so a status this old is from a register that is offline
// (or whose server stopped without saying).
const StatusStaleAfter = 2 * time.Minute

// TerminalStatusInfo is a register's link and its last reported status
// (wire.Status) as GET /api/v1/terminals shows them. Amounts in fen,
// times in UTC.
type TerminalStatusInfo struct {
	// Online: a session is open and its status, if the register sends
	// one, is not stale.
	Online         bool       `json:"online"`
	ConnectedAt    *time.Time `json:"connected_at"`    // the last session's start
	DisconnectedAt *time.Time `json:"disconnected_at"` // its end; null while it lasts
	// ReportedAt is when the server got the status, null for a register
	// that sends none (older than it); AgeSeconds how long ago, and Stale
	// whether that is more than StatusStaleAfter: the figures below are
	// then the last known, not the register's now.
	ReportedAt *time.Time `json:"reported_at"`
	AgeSeconds int64      `json:"age_seconds"`
	Stale      bool       `json:"stale"`
	// ClockSkewMS is the register's clock less the server's when the
	// status came, in milliseconds.
	ClockSkewMS int64 `json:"clock_skew_ms"`
	// Unsynced entries (sales and voids the server has not settled),
	// their amount (sales less voids) and the oldest one's time.
	Unsynced       uint32     `json:"unsynced"`
	UnsyncedAmount money.Fen  `json:"unsynced_amount"`
	OldestUnsynced *time.Time `json:"oldest_unsynced"`
	// OfflineSales and OfflineAmount: the unsettled sales the register
	// decided offline, its offline exposure; LimitUnsynced and
	// LimitHardCount: the offline limits it works under (0: none).
	OfflineSales   uint32    `json:"offline_sales"`
	OfflineAmount  money.Fen `json:"offline_amount"`
	LimitUnsynced  money.Fen `json:"limit_unsynced"`
	LimitHardCount uint32    `json:"limit_hard_count"`
	// Devices are reader, keypad, display and printer: each a state (ok,
	// absent, error or not_configured) and a short detail (its last error).
	Devices      map[string]wire.Device `json:"devices"`
	JournalBytes uint64                 `json:"journal_bytes"`
	FreeBytes    uint64                 `json:"free_bytes"`
	Software     string                 `json:"software"`
}

// statusInfo shows s as of now.
func statusInfo(s server.TerminalStatus, now time.Time) *TerminalStatusInfo {
	st := s.Status
	info := &TerminalStatusInfo{ConnectedAt: utcOrNil(s.Connected), DisconnectedAt: utcOrNil(s.Disconnected)}
	info.Online = !s.Connected.IsZero() && s.Disconnected.IsZero()
	if s.ReportedAt.IsZero() {
		return info
	}
	age := now.Sub(s.ReportedAt)
	info.ReportedAt, info.AgeSeconds, info.Stale = utcOrNil(s.ReportedAt), int64(max(age, 0)/time.Second), age > StatusStaleAfter
	info.Online = info.Online && !info.Stale
	info.ClockSkewMS = st.Clock - s.ReportedAt.UnixMilli()
	info.Unsynced, info.UnsyncedAmount = st.Unsynced, st.UnsyncedAmount
	if st.OldestUnsynced != 0 {
		info.OldestUnsynced = utcOrNil(time.UnixMilli(st.OldestUnsynced))
	}
	info.OfflineSales, info.OfflineAmount = st.OfflineSales, st.OfflineAmount
	info.LimitUnsynced, info.LimitHardCount = st.LimitUnsynced, st.LimitHardCount
	info.Devices = st.Devices()
	info.JournalBytes, info.FreeBytes, info.Software = st.JournalBytes, st.FreeBytes, st.Software
	return info
}

// utcOrNil returns t in UTC, nil for the zero time.
func utcOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

func terminalInfo(t server.Terminal) TerminalInfo {
	info := TerminalInfo{ID: t.ID, Name: t.Name, Enrolled: t.Enrolled(), Disabled: t.Disabled, LastSeq: t.LastSeq, Created: t.Created.UTC(),
		Canteen: t.Canteen}
	if !t.LastSeen.IsZero() {
		seen := t.LastSeen.UTC()
		info.LastSeen = &seen
	}
	return info
}

// TerminalsResponse answers GET /api/v1/terminals: every register, in id
// order.
type TerminalsResponse struct {
	Terminals []TerminalInfo `json:"terminals"`
}

func (s *Server) handleTerminals(w http.ResponseWriter, r *http.Request, _ server.User) {
	ts, err := s.store.Terminals(r.Context())
	if err != nil {
		s.error(w, r, err)
		return
	}
	statuses, err := s.store.TerminalStatuses(r.Context())
	if err != nil {
		s.error(w, r, err)
		return
	}
	now := s.Now()
	resp := TerminalsResponse{Terminals: make([]TerminalInfo, len(ts))}
	for i, t := range ts {
		resp.Terminals[i] = terminalInfo(t)
		if st, ok := statuses[t.ID]; ok {
			resp.Terminals[i].Status = statusInfo(st, now)
		}
	}
	s.json(w, http.StatusOK, resp)
}

// terminalID parses the path's register id.
func terminalID(r *http.Request) (uint32, error) {
	v := r.PathValue("id")
	id, err := strconv.ParseUint(v, 10, 32)
	if err != nil || id == 0 {
		return 0, server.Errorf(server.EINVALID, "register id %q: want an integer from 1 to %d", truncate(v, 32), uint32(1<<32-1))
	}
	return uint32(id), nil
}

// handleSetDisabled answers POST /api/v1/terminals/{id}/disable and
// /enable with the register as it is now.
func (s *Server) handleSetDisabled(disabled bool) func(http.ResponseWriter, *http.Request, server.User) {
	return func(w http.ResponseWriter, r *http.Request, u server.User) {
		id, err := terminalID(r)
		if err != nil {
			s.error(w, r, err)
			return
		}
		if err := s.store.SetTerminalDisabled(r.Context(), uint32(id), disabled); err != nil {
			s.error(w, r, err)
			return
		}
		action := AuditTerminalEnable
		if disabled {
			action = AuditTerminalDisable
		}
		s.audit(r, u, action, map[string]any{"terminal_id": id})
		s.Logger.Info("api: register "+strings.TrimPrefix(action, "terminal."), "terminal", id, "user", u.Name)
		t, err := s.store.Terminal(r.Context(), uint32(id))
		if err != nil {
			s.error(w, r, err)
			return
		}
		s.json(w, http.StatusOK, terminalInfo(t))
	}
}

// SalesResponse answers GET /api/v1/sales: sales and voids in id order.
type SalesResponse struct {
	Sales []server.Sale `json:"sales"`
}

func (s *Server) handleSales(w http.ResponseWriter, r *http.Request, _ server.User) {
	since, err := intParam(r, "since_id", 0, 0, 1<<62)
	if err != nil {
		s.error(w, r, err)
		return
	}
	limit, err := intParam(r, "limit", DefaultSales, 1, server.MaxSalesPage)
	if err != nil {
		s.error(w, r, err)
		return
	}
	sales, err := s.reports().Sales(r.Context(), since, int(limit))
	if err != nil {
		s.error(w, r, err)
		return
	}
	for i := range sales {
		sales[i].Time = sales[i].Time.UTC()
	}
	s.json(w, http.StatusOK, SalesResponse{Sales: sales})
}

// dailyQuery reads ?date=YYYY-MM-DD (default: today) as a day in the
// server's location, with the server's meal periods.
func (s *Server) dailyQuery(r *http.Request) (server.DailyQuery, error) {
	now := s.Now()
	q := server.DailyQuery{Date: now}
	if s.MealPeriods != nil {
		periods, err := s.MealPeriods(r.Context())
		if err != nil {
			return q, fmt.Errorf("meal periods: %w", err)
		}
		q.Periods = periods
	}
	if v := r.URL.Query().Get("date"); v != "" || r.URL.Query().Has("date") {
		d, err := time.ParseInLocation(time.DateOnly, v, now.Location())
		if err != nil {
			return q, server.Errorf(server.EINVALID, "date=%q: want a date as YYYY-MM-DD, e.g. %s", truncate(v, 32), now.Format(time.DateOnly))
		}
		if d.Year() < 2000 || d.Year() > 9999 {
			return q, server.Errorf(server.EINVALID, "date=%q: want a year from 2000 to 9999", v)
		}
		q.Date = d
	}
	return q, nil
}

func (s *Server) handleDailyReport(w http.ResponseWriter, r *http.Request, _ server.User) {
	q, err := s.dailyQuery(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	rep, err := s.reports().DailyReport(r.Context(), q)
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.json(w, http.StatusOK, rep)
}

// utf8BOM starts the CSV, so that Excel reads it as UTF-8 and shows the
// Chinese names.
const utf8BOM = "\uFEFF"

// handleDailyCSV answers GET /api/v1/reports/daily.csv: one row per
// register with sales on the day, then the day's total; amounts in yuan.
func (s *Server) handleDailyCSV(w http.ResponseWriter, r *http.Request, _ server.User) {
	q, err := s.dailyQuery(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	rep, err := s.reports().DailyReport(r.Context(), q)
	if err != nil {
		s.error(w, r, err)
		return
	}
	rows := [][]string{{"日期 date", "收银机编号 register id", "收银机 register", "笔数 sales", "金额(元) amount (yuan)"}}
	for _, reg := range rep.ByRegister {
		rows = append(rows, []string{rep.Date, strconv.FormatUint(uint64(reg.Terminal), 10), csvText(reg.Name), strconv.FormatInt(reg.Sales, 10), reg.Amount.String()})
	}
	rows = append(rows, []string{rep.Date, "", "合计 total", strconv.FormatInt(rep.Sales, 10), rep.Amount.String()})
	s.csv(w, r, "fanka-daily-"+rep.Date+".csv", rows)
}

// csv answers with rows as a CSV file named name, for a spreadsheet: a
// UTF-8 byte order mark first, so that Excel shows the Chinese, and CRLF
// line ends, as Excel writes them.
func (s *Server) csv(w http.ResponseWriter, r *http.Request, name string, rows [][]string) {
	var b bytes.Buffer
	b.WriteString(utf8BOM)
	cw := csv.NewWriter(&b)
	cw.UseCRLF = true
	cw.WriteAll(rows)
	if err := cw.Error(); err != nil {
		s.error(w, r, fmt.Errorf("%s: %w", name, err))
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s"`, name))
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	w.Write(b.Bytes())
}

// csvText keeps a spreadsheet from reading text as a formula (CSV
// injection): text starting with = + - @ or a tab or CR is prefixed with
// an apostrophe, which Excel shows as text.
func csvText(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// AuditEntry is an audit record as the API shows it, with its hashes in
// hex.
type AuditEntry struct {
	ID       int64           `json:"id"`
	Time     time.Time       `json:"time"`
	User     string          `json:"user"`
	Action   string          `json:"action"`
	Detail   json.RawMessage `json:"detail"`
	PrevHash string          `json:"prev_hash"`
	Hash     string          `json:"hash"`
}

// AuditResponse answers GET /api/v1/audit: the most recent records, newest
// first.
type AuditResponse struct {
	Audit []AuditEntry `json:"audit"`
}

func (s *Server) handleAudit(w http.ResponseWriter, r *http.Request, _ server.User) {
	limit, err := intParam(r, "limit", DefaultAudit, 1, server.MaxAuditPage)
	if err != nil {
		s.error(w, r, err)
		return
	}
	recs, err := s.reports().Audit(r.Context(), int(limit))
	if err != nil {
		s.error(w, r, err)
		return
	}
	resp := AuditResponse{Audit: make([]AuditEntry, len(recs))}
	for i, rec := range recs {
		detail := rec.Detail
		if !json.Valid(detail) {
			// Edited by hand into something that is not JSON: show it as
			// text (verify names the record).
			detail, _ = json.Marshal(string(detail))
		}
		resp.Audit[i] = AuditEntry{ID: rec.ID, Time: rec.Time.UTC(), User: rec.User, Action: rec.Action, Detail: detail,
			PrevHash: fmt.Sprintf("%x", rec.Prev), Hash: fmt.Sprintf("%x", rec.Hash)}
	}
	s.json(w, http.StatusOK, resp)
}

// AuditVerifyResponse answers POST /api/v1/audit/verify. FirstBad is the
// id of the first record that does not hold (0 when OK), Problem what is
// wrong with it.
type AuditVerifyResponse struct {
	OK       bool   `json:"ok"`
	Checked  int    `json:"checked"`
	FirstBad int64  `json:"first_bad"`
	Problem  string `json:"problem,omitempty"`
}

func (s *Server) handleAuditVerify(w http.ResponseWriter, r *http.Request, u server.User) {
	checked, bad, err := s.store.VerifyAudit(r.Context())
	resp := AuditVerifyResponse{OK: err == nil, Checked: checked, FirstBad: bad}
	if err != nil {
		var v *server.Violation
		if !errors.As(err, &v) {
			s.error(w, r, err)
			return
		}
		resp.Problem = v.Problem
		s.Logger.Warn("api: audit log does not verify", "user", u.Name, "first_bad", bad, "err", err)
	}
	s.json(w, http.StatusOK, resp)
}
