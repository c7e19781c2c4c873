package web_test

// Browser tests: the page in real headless Chromium, driven with chromedp,
// against a whole server over TLS (self-signed: Chromium runs with
// --ignore-certificate-errors). One browser serves every test; each test
// has its own browser context (its own cookies). A screenshot of each page
// goes to $FANKA_SCREENSHOTS (a temporary directory if unset).
//
// Without Chromium the tests fail in CI (CI set) and skip elsewhere.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/fanka/fanka/server/admin"
	printqueue "github.com/fanka/fanka/server/printer"
	"github.com/fanka/fanka/server/servertest"
	"github.com/fanka/fanka/server/sqlite"
	"github.com/fanka/fanka/shared/journal"
	"github.com/fanka/fanka/shared/printer"
	"github.com/fanka/fanka/shared/printer/printertest"
	"github.com/fanka/fanka/shared/wire"
)

var browser struct {
	once   sync.Once
	ctx    context.Context
	cancel func()
	err    error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if browser.cancel != nil {
		browser.cancel()
	}
	os.Exit(code)
}

// chromiumPath finds Chromium, or fails (in CI) or skips the test.
func chromiumPath(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "headless Chromium not found on PATH (chromium, chromium-browser, google-chrome): apt-get install chromium fonts-noto-cjk (scripts/test does)"
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// tab returns a new tab with its own cookies, at 1366×768, that fails the
// test if any JavaScript dialog (alert, confirm) opens.
func tab(t *testing.T) context.Context {
	t.Helper()
	path := chromiumPath(t)
	browser.once.Do(func() {
		opts := append(chromedp.DefaultExecAllocatorOptions[:],
			chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.WindowSize(1366, 768),
			chromedp.Flag("ignore-certificate-errors", true), chromedp.Flag("lang", "zh-CN"))
		alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
		ctx, cancel := chromedp.NewContext(alloc)
		browser.ctx = ctx
		browser.cancel = func() { cancel(); cancelAlloc() }
		browser.err = chromedp.Do(ctx)
	})
	if browser.err != nil {
		t.Fatalf("start %s: %v", path, browser.err)
	}
	tabCtx, cancel := chromedp.NewContext(browser.ctx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	if err := chromedp.Do(tabCtx); err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	var mu sync.Mutex
	var dialogs []string
	chromedp.Listen(tabCtx, func(ev any) {
		if d, ok := ev.(*page.EventJavascriptDialogOpening); ok {
			mu.Lock()
			dialogs = append(dialogs, d.Message)
			mu.Unlock()
		}
	})
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		if len(dialogs) > 0 {
			t.Errorf("JavaScript dialogs opened: %q", dialogs)
		}
	})
	ctx, cancelT := context.WithTimeout(tabCtx, 90*time.Second)
	t.Cleanup(cancelT)
	return ctx
}

// do runs steps and fails the test with what was tried.
func do(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// eval evaluates a JavaScript expression (awaiting a promise) in the page.
func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// waitFor polls a JavaScript condition until it holds.
func waitFor(t *testing.T, ctx context.Context, what, cond string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("!!("+cond+")"))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('main') ? document.querySelector('main').innerText : document.body.innerText`))
			t.Fatalf("%s: %s did not hold in 20 s (err %v); page: %.600s", what, cond, err, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// screenshot saves the viewport as name.png in $FANKA_SCREENSHOTS.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("FANKA_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// signInBrowser signs in through the form and waits for the dashboard.
func signInBrowser(t *testing.T, ctx context.Context, s *site, user, password string) {
	t.Helper()
	do(t, ctx, "sign in as "+user,
		chromedp.Navigate(s.URL+"/login"),
		chromedp.WaitVisible(chromedp.CSS("#user")),
		chromedp.SendKeys(chromedp.CSS("#user"), user),
		chromedp.SendKeys(chromedp.CSS("#password"), password),
		chromedp.Click(chromedp.CSS("#login-submit")),
	)
	waitFor(t, ctx, "dashboard after sign-in as "+user, `document.body.dataset.page === 'dashboard'`)
}

// confirm presses OK in the page's confirm dialog.
func confirm(t *testing.T, ctx context.Context) {
	t.Helper()
	waitFor(t, ctx, "the confirm dialog", `document.querySelector('#confirm').open`)
	do(t, ctx, "press OK", chromedp.Click(chromedp.CSS("#confirm-ok")))
}

const evilName = `<script>alert(1)</script><img src=x id=pwn onerror=alert(2)>`

// TestBrowserCards: sign in as the operator, open a card whose name holds
// HTML (shown as text), find it, and recharge it.
func TestBrowserCards(t *testing.T) {
	t.Parallel()
	s := startSite(t)
	ctx := tab(t)
	do(t, ctx, "the sign-in page", chromedp.Navigate(s.URL+"/"), chromedp.WaitVisible(chromedp.CSS("#login-form")))
	screenshot(t, ctx, "login")
	signInBrowser(t, ctx, s, "operator", operatorPassword)
	waitFor(t, ctx, "dashboard loaded", `document.querySelector('#dash-sales').textContent !== '–' || !document.querySelector('#dash-error').hidden`)
	screenshot(t, ctx, "dashboard")

	do(t, ctx, "open a card",
		chromedp.Navigate(s.URL+"/cards"),
		chromedp.WaitVisible(chromedp.CSS("#open-name")),
		chromedp.SetValue(chromedp.CSS("#open-name"), evilName),
		chromedp.SetValue(chromedp.CSS("#open-person"), "110101199001011234"),
		chromedp.SetValue(chromedp.CSS("#open-deposit"), "50.00"),
		chromedp.SetValue(chromedp.CSS("#open-cardno"), "04A1B2C3D4E5F6"),
		chromedp.Click(chromedp.CSS("#open-submit")),
	)
	confirm(t, ctx)
	waitFor(t, ctx, "the opened card shown", `document.querySelector('#cd-no').textContent === '04A1B2C3D4E5F6'`)
	if got := eval[string](t, ctx, `document.querySelector('#cd-name').textContent`); got != evilName {
		t.Errorf("card name shown as %q, want the text %q", got, evilName)
	}
	if got := eval[string](t, ctx, `document.querySelector('#cd-balance').textContent`); got != "50.00" {
		t.Errorf("balance shown %q, want 50.00", got)
	}
	if eval[bool](t, ctx, `document.getElementById('pwn') !== null || document.querySelectorAll('main script').length > 0`) {
		t.Fatalf("the card name's HTML became elements of the page")
	}

	// Find it again from a fresh page: by its number, then by the name's
	// first characters (the search may not be merged yet: then the number
	// opens the card directly).
	for _, q := range []string{"04A1B2C3D4E5F6", "<script>"} {
		do(t, ctx, "search "+q,
			chromedp.Navigate(s.URL+"/cards"),
			chromedp.WaitVisible(chromedp.CSS("#card-q")),
			chromedp.SetValue(chromedp.CSS("#card-q"), q),
			chromedp.Click(chromedp.CSS("#card-search button")),
		)
		waitFor(t, ctx, "the card found by "+q, `document.querySelector('#cd-no').textContent === '04A1B2C3D4E5F6' || !document.querySelector('#card-error').hidden`)
		if eval[bool](t, ctx, `document.getElementById('pwn') !== null`) {
			t.Fatalf("the card name's HTML became elements of the page after a search for %q", q)
		}
		if q == "<script>" && eval[bool](t, ctx, `!document.querySelector('#card-error').hidden`) {
			t.Logf("search by name: %s (waits on GET /api/v1/cards?q=)", eval[string](t, ctx, `document.querySelector('#card-error').textContent`))
			continue
		}
		if got := eval[string](t, ctx, `[...document.querySelectorAll('#card-results td.cardname')].map(td => td.textContent).join('|')`); got != evilName && q == "<script>" {
			t.Errorf("search %q lists names %q, want the one card's name as text", q, got)
		}
	}
	screenshot(t, ctx, "cards-escaped")

	t.Run("recharge", func(t *testing.T) {
		c, csrf := s.signIn(t, "operator", operatorPassword)
		if !s.hasAPI(t, c, csrf, "POST", "/api/v1/cards/0FFFFFFF/recharge") {
			t.Skip("waits on POST /api/v1/cards/{card_no}/recharge, not merged yet")
		}
		do(t, ctx, "recharge 12.50",
			chromedp.SetValue(chromedp.CSS("#cd-amount"), "12.50"),
			chromedp.Click(chromedp.CSS(`#card-detail [data-action="recharge"]`)),
		)
		confirm(t, ctx)
		waitFor(t, ctx, "the new balance", `document.querySelector('#cd-balance').textContent === '62.50'`)
		screenshot(t, ctx, "card-recharged")
		if c, err := s.Store.Card(context.Background(), "04A1B2C3D4E5F6"); err != nil || c.Balance != 6250 {
			t.Errorf("card in the store after the recharge: %+v, %v; want a balance of 6250 fen", c, err)
		}
	})
	t.Run("freeze and unfreeze", func(t *testing.T) {
		c, csrf := s.signIn(t, "operator", operatorPassword)
		if !s.hasAPI(t, c, csrf, "POST", "/api/v1/cards/0FFFFFFF/freeze") {
			t.Skip("waits on POST /api/v1/cards/{card_no}/freeze, not merged yet")
		}
		do(t, ctx, "freeze", chromedp.Click(chromedp.CSS(`#card-detail [data-action="freeze"]`)))
		confirm(t, ctx)
		waitFor(t, ctx, "frozen", `document.querySelector('#cd-status').textContent.startsWith('已冻结')`)
		do(t, ctx, "unfreeze", chromedp.Click(chromedp.CSS(`#card-detail [data-action="unfreeze"]`)))
		confirm(t, ctx)
		waitFor(t, ctx, "active again", `document.querySelector('#cd-status').textContent === '正常'`)
	})

	// A card as most are, for the guide; /cards?card= opens it.
	servertest.OpenCard(t, s.Store, "0C0A1B2C", 8800)
	do(t, ctx, "open a card by link", chromedp.Navigate(s.URL+"/cards?card=0C0A1B2C"))
	waitFor(t, ctx, "the card shown", `document.querySelector('#cd-balance').textContent === '88.00'`)
	screenshot(t, ctx, "cards")
}

// TestBrowserAuditorRefused: an auditor may read but not act as admin.
func TestBrowserAuditorRefused(t *testing.T) {
	t.Parallel()
	s := startSite(t)
	ctx := tab(t)
	signInBrowser(t, ctx, s, "auditor", auditorPassword)
	if eval[bool](t, ctx, `[...document.querySelectorAll('nav a')].some(a => a.getAttribute('href') === '/users')`) {
		t.Errorf("the auditor's menu offers the users page")
	}
	do(t, ctx, "open the users page", chromedp.Navigate(s.URL+"/users"), chromedp.WaitVisible(chromedp.CSS("#page-error")))
	if got := eval[string](t, ctx, `document.querySelector('#page-error').textContent`); got != "无权访问此页面" {
		t.Errorf("users page as auditor says %q, want 无权访问此页面", got)
	}
	screenshot(t, ctx, "forbidden")
	do(t, ctx, "open the registers page", chromedp.Navigate(s.URL+"/registers"), chromedp.WaitReady(chromedp.CSS("#reg-list")))
	if eval[bool](t, ctx, `document.querySelector('#reg-create') !== null`) {
		t.Errorf("the registers page offers the auditor to create a register")
	}
	// The API itself refuses, with the page's own session and CSRF token.
	got := eval[string](t, ctx, `fetch('/api/v1/terminals', {method: 'POST', headers: {'Content-Type': 'application/json',
		'X-CSRF-Token': document.querySelector('meta[name="csrf-token"]').content}, body: '{"name":"x"}'})
		.then(r => r.json().then(b => r.status + ' ' + b.error.code))`)
	if got != "403 EFORBIDDEN" {
		t.Errorf("auditor creates a register from the page: %s, want 403 EFORBIDDEN", got)
	}
}

// TestBrowserUsers: weak passwords are refused on the page, a strong one
// makes the user.
func TestBrowserUsers(t *testing.T) {
	t.Parallel()
	s := startSite(t)
	ctx := tab(t)
	signInBrowser(t, ctx, s, "admin", adminPassword)
	do(t, ctx, "open the users page", chromedp.Navigate(s.URL+"/users"), chromedp.WaitVisible(chromedp.CSS("#new-user")))
	waitFor(t, ctx, "the users listed", `document.querySelectorAll('#user-list tbody tr').length === 3`)
	for i, pw := range []string{"short", "qwerty123456", "cashier3cashier3", "Mittag-Essen-2026"} {
		do(t, ctx, "create cashier3 with "+pw,
			chromedp.SetValue(chromedp.CSS("#new-user"), "cashier3"),
			chromedp.SetValue(chromedp.CSS("#new-password"), pw),
			chromedp.Click(chromedp.CSS("#user-submit")),
		)
		confirm(t, ctx)
		if i < 3 {
			waitFor(t, ctx, "password "+pw+" refused", `!document.querySelector('#user-error').hidden && document.querySelector('#user-error').textContent.includes('EINVALID')`)
			if i == 1 {
				screenshot(t, ctx, "users-weak-password")
			}
			continue
		}
		waitFor(t, ctx, "cashier3 listed", `[...document.querySelectorAll('#user-list td')].some(td => td.textContent === 'cashier3')`)
	}
	screenshot(t, ctx, "users")
}

// TestBrowserSignInThrottled: wrong passwords in the form until the user
// is throttled; the page says to wait. (TestSignInThrottled sends 20, and
// checks the status and Retry-After, over HTTP: a page load each costs the
// browser test half a second.)
func TestBrowserSignInThrottled(t *testing.T) {
	t.Parallel()
	s := startSite(t)
	ctx := tab(t)
	for i := range admin.ThrottleUserFailures + 1 {
		do(t, ctx, fmt.Sprintf("wrong sign-in %d", i+1),
			chromedp.Navigate(s.URL+"/login"),
			chromedp.WaitVisible(chromedp.CSS("#user")),
			chromedp.SetValue(chromedp.CSS("#user"), "admin"),
			chromedp.SetValue(chromedp.CSS("#password"), "not the password"),
			chromedp.Click(chromedp.CSS("#login-submit")),
			chromedp.WaitVisible(chromedp.CSS("#login-error")),
		)
	}
	got := eval[string](t, ctx, `document.querySelector('#login-error').textContent`)
	if !strings.Contains(got, "失败次数过多") {
		t.Errorf("after %d wrong sign-ins the page says %q, want 失败次数过多…", admin.ThrottleUserFailures+1, got)
	}
	screenshot(t, ctx, "login-throttled")
}

// TestBrowserRegisters: admin creates a register and gets its enrolment
// code.
func TestBrowserRegisters(t *testing.T) {
	t.Parallel()
	s := startSite(t)
	ctx := tab(t)
	signInBrowser(t, ctx, s, "admin", adminPassword)
	do(t, ctx, "create a canteen",
		chromedp.Navigate(s.URL+"/registers"),
		chromedp.WaitVisible(chromedp.CSS("#canteen-name")),
		chromedp.SetValue(chromedp.CSS("#canteen-name"), "<b>东区</b>"),
		chromedp.Click(chromedp.CSS("#canteen-create button")),
	)
	confirm(t, ctx)
	waitFor(t, ctx, "the canteen listed and offered", `[...document.querySelectorAll('#reg-canteen option')].some(o => o.textContent === '<b>东区</b>')`)
	if eval[bool](t, ctx, `document.querySelector('#canteen-list b') !== null`) {
		t.Fatalf("the canteen's name became HTML")
	}
	do(t, ctx, "create a register in it",
		chromedp.SetValue(chromedp.CSS("#reg-name"), "<i>一号窗口</i>"),
		chromedp.SetValue(chromedp.CSS("#reg-canteen"), "2"),
		chromedp.Click(chromedp.CSS("#reg-create button")),
	)
	confirm(t, ctx)
	waitFor(t, ctx, "the enrolment code", `document.querySelector('#reg-code').textContent.length === 16`)
	waitFor(t, ctx, "the register listed in the canteen", `[...document.querySelectorAll('#reg-list select')].some(s => s.value === '2')`)
	screenshot(t, ctx, "registers")
	ts, err := s.Store.Terminals(context.Background())
	if err != nil || len(ts) != 1 || ts[0].Canteen != 2 {
		t.Fatalf("registers in the store: %+v (%v), want one, of canteen 2", ts, err)
	}

	t.Run("list and disable", func(t *testing.T) {
		c, csrf := s.signIn(t, "admin", adminPassword)
		if !s.hasAPI(t, c, csrf, "GET", "/api/v1/terminals") || !s.hasAPI(t, c, csrf, "POST", "/api/v1/terminals/999999/disable") {
			t.Skip("waits on GET /api/v1/terminals and POST /api/v1/terminals/{id}/disable, not merged yet")
		}
		waitFor(t, ctx, "the register listed", `[...document.querySelectorAll('#reg-list td')].some(td => td.textContent === '<i>一号窗口</i>')`)
		if eval[bool](t, ctx, `document.querySelector('#reg-list i') !== null`) {
			t.Fatalf("the register's name became HTML")
		}
		do(t, ctx, "disable", chromedp.Click(chromedp.CSS(`#reg-list tbody button`)))
		confirm(t, ctx)
		waitFor(t, ctx, "disabled", `[...document.querySelectorAll('#reg-list td')].some(td => td.textContent === '已停用')`)
	})
}

// TestBrowserReports: the report page draws the SVG chart and the CSV
// downloads with the session.
func TestBrowserReports(t *testing.T) {
	t.Parallel()
	s := startSite(t)
	c, csrf := s.signIn(t, "admin", adminPassword)
	if !s.hasAPI(t, c, csrf, "GET", "/api/v1/reports/daily?date=2026-01-01") {
		t.Skip("waits on GET /api/v1/reports/daily, not merged yet")
	}
	// Two sales today by a register.
	servertest.OpenCard(t, s.Store, "0C02", 10000)
	reg := servertest.NewRegister(t)
	servertest.Enroll(t, s.Store, reg)
	if _, err := s.Store.Settle(context.Background(), reg.ID, [][]byte{reg.Sale(t, "0C02", 1250), reg.Sale(t, "0C02", 800)}); err != nil {
		t.Fatalf("settle two sales: %v", err)
	}
	ctx := tab(t)
	signInBrowser(t, ctx, s, "admin", adminPassword)
	do(t, ctx, "open the reports", chromedp.Navigate(s.URL+"/reports"), chromedp.WaitVisible(chromedp.CSS("#rep-chart")))
	waitFor(t, ctx, "the chart drawn", `document.querySelector('#rep-chart').complete && document.querySelector('#rep-chart').naturalWidth > 0`)
	bars := eval[int](t, ctx, `fetch(document.querySelector('#rep-chart').src).then(r => r.text()).then(s => (s.match(/class="bar"/g) || []).length)`)
	if bars != 24 {
		t.Errorf("the chart has %d bars, want 24 (one per hour)", bars)
	}
	waitFor(t, ctx, "the day's figures", `document.querySelector('#rep-sales').textContent === '2' && document.querySelector('#rep-amount').textContent === '20.50'`)
	screenshot(t, ctx, "reports")
	csv := download(t, ctx, "#rep-csv")
	if len(csv) == 0 || !strings.Contains(csv, ",") {
		t.Errorf("the CSV downloaded from the page: %q, want comma-separated lines", csv)
	}
}

// TestBrowserReportViews: the report page draws the day per meal period
// and per register, the per-register CSV downloads, and the Print button
// queues the daily report on the office printer, which prints it once;
// the dashboard draws the sales of the last 60 minutes.
func TestBrowserReportViews(t *testing.T) {
	t.Parallel()
	office := printertest.MustPrinter(t)
	var q *printqueue.Queue
	s := startSite(t, func(api *admin.Server, store *sqlite.DB) {
		q = printqueue.NewQueue(store, nil)
		q.MinBackoff, q.StatusInterval = 20*time.Millisecond, 20*time.Millisecond
		if err := q.Add("office", &printer.Network{Addr: office.Addr(), TwoWay: true}); err != nil {
			t.Fatal(err)
		}
		if err := q.Open(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { q.Close() })
		api.Printers = q
	})
	servertest.OpenCard(t, s.Store, "0C03", 10000)
	reg := servertest.NewRegister(t)
	servertest.Enroll(t, s.Store, reg)
	if _, err := s.Store.Settle(context.Background(), reg.ID, [][]byte{
		reg.Record(t, journal.Entry{Kind: journal.KindSale, CardNo: "0C03", Amount: 1250, Cashier: "C01"}),
		reg.Record(t, journal.Entry{Kind: journal.KindSale, CardNo: "0C03", Amount: 800, Cashier: "C01"}),
	}); err != nil {
		t.Fatalf("settle two sales: %v", err)
	}
	ctx := tab(t)
	signInBrowser(t, ctx, s, "auditor", auditorPassword)

	do(t, ctx, "the dashboard", chromedp.Navigate(s.URL+"/"), chromedp.WaitVisible(chromedp.CSS("#dash-minutes")))
	waitFor(t, ctx, "the minutes chart drawn", `document.querySelector('#dash-minutes').complete && document.querySelector('#dash-minutes').naturalWidth > 0`)
	minutes := eval[int](t, ctx, `fetch(document.querySelector('#dash-minutes').src).then(r => r.text()).then(s => (s.match(/class="bar"/g) || []).length)`)
	if minutes != 60 && minutes != time.Now().Hour()*60+time.Now().Minute()+1 {
		t.Errorf("the minutes chart has %d bars, want 60 (or the minutes since midnight)", minutes)
	}
	waitFor(t, ctx, "the register's sales today", `[...document.querySelectorAll('#dash-registers td')].some(td => td.textContent === '2 / 20.50')`)
	screenshot(t, ctx, "dashboard-minutes")

	do(t, ctx, "open the reports", chromedp.Navigate(s.URL+"/reports"), chromedp.WaitVisible(chromedp.CSS("#rep-period-chart")))
	for _, c := range []struct {
		sel  string
		bars int
	}{{"#rep-period-chart", 4}, {"#rep-reg-chart", 1}} {
		waitFor(t, ctx, c.sel+" drawn", `document.querySelector('`+c.sel+`').complete && document.querySelector('`+c.sel+`').naturalWidth > 0`)
		bars := eval[int](t, ctx, `fetch(document.querySelector('`+c.sel+`').src).then(r => r.text()).then(s => (s.match(/class="bar"/g) || []).length)`)
		if bars != c.bars {
			t.Errorf("%s has %d bars, want %d", c.sel, bars, c.bars)
		}
	}
	// The period chart's bars are the periods' takings: one of them 20.50.
	if got := eval[bool](t, ctx, `fetch(document.querySelector('#rep-period-chart').src).then(r => r.text()).then(s => s.includes(': 20.50</title>'))`); !got {
		t.Errorf("no bar of the period chart is 20.50")
	}
	waitFor(t, ctx, "the register's row", `[...document.querySelectorAll('#rep-byreg td')].some(td => td.textContent === 'C01: 2')`)
	waitFor(t, ctx, "the periods' rows", `document.querySelectorAll('#rep-byperiod tbody tr').length === 4`)
	waitFor(t, ctx, "the canteen's row", `[...document.querySelectorAll('#rep-bycanteen tbody tr')].some(tr => tr.textContent.includes('食堂') && tr.textContent.includes('20.50'))`)
	do(t, ctx, "scroll to the periods", chromedp.ScrollIntoView(chromedp.CSS("#rep-periods")))
	screenshot(t, ctx, "reports-periods")
	do(t, ctx, "scroll to the registers", chromedp.ScrollIntoView(chromedp.CSS("#rep-registers")))
	screenshot(t, ctx, "reports-registers")

	csv := download(t, ctx, "#rep-reg-csv")
	if !strings.Contains(csv, "收银员 cashiers") || !strings.Contains(csv, ",till,食堂,C01: 2,2,20.50,") {
		t.Errorf("the per-register CSV downloaded from the page:\n%s", csv)
	}

	waitFor(t, ctx, "the printer offered", `document.querySelector('#rep-printer').value === 'office'`)
	do(t, ctx, "print the daily report", chromedp.ScrollIntoView(chromedp.CSS("#rep-printing")), chromedp.Click(chromedp.CSS("#rep-print-printer")))
	waitFor(t, ctx, "queued", `!document.querySelector('#rep-print-notice').hidden && document.querySelector('#rep-print-notice').textContent.includes('office')`)
	screenshot(t, ctx, "reports-print")
	deadline := time.Now().Add(10 * time.Second)
	for len(office.Transcripts()) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // a second copy would be on its way by now
	got := office.Transcripts()
	if len(got) != 1 || !strings.Contains(got[0], "营业日报") || !strings.Contains(got[0], "消费合计          2      ￥20.50") {
		t.Errorf("the office printer printed %d documents, want the daily report once:\n%s", len(got), strings.Join(got, "\n----\n"))
	}
}

// download clicks the link sel as a person would and returns the file the
// browser saved.
func download(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	dir := t.TempDir()
	// Downloads of the tests that run beside this one are events of the
	// same browser: a completed download is this one's if its file is in
	// this one's directory.
	done := make(chan string, 16)
	chromedp.ListenBrowser(ctx, func(ev any) {
		if p, ok := ev.(*cdpbrowser.EventDownloadProgress); ok && p.State == cdpbrowser.DownloadProgressStateCompleted {
			select {
			case done <- p.GUID:
			default:
			}
		}
	})
	events := true
	_, err := chromedp.CallBrowser(ctx, cdpbrowser.SetDownloadBehavior, cdpbrowser.SetDownloadBehaviorParams{
		Behavior: cdpbrowser.SetDownloadBehaviorBehaviorAllowAndName, BrowserContextID: chromedp.FromContext(ctx).BrowserContextID,
		DownloadPath: dir, EventsEnabled: &events,
	})
	if err != nil {
		t.Fatalf("allow downloads: %v", err)
	}
	do(t, ctx, "click "+sel, chromedp.Click(chromedp.CSS(sel)))
	timeout := time.After(20 * time.Second)
	for {
		select {
		case guid := <-done:
			b, err := os.ReadFile(filepath.Join(dir, guid))
			if errors.Is(err, os.ErrNotExist) {
				continue // another test's download
			}
			if err != nil {
				t.Fatalf("the downloaded file: %v", err)
			}
			return string(b)
		case <-timeout:
			t.Fatalf("clicking %s downloaded nothing in 20 s", sel)
		}
	}
}

// TestBrowserLiveFeed: a sale made by a register appears in the live feed.
func TestBrowserLiveFeed(t *testing.T) {
	t.Parallel()
	s := startSite(t)
	c, csrf := s.signIn(t, "admin", adminPassword)
	if !s.hasAPI(t, c, csrf, "GET", "/api/v1/sales?limit=1") {
		t.Skip("waits on GET /api/v1/sales and /api/v1/sales/live, not merged yet")
	}
	servertest.OpenCard(t, s.Store, "0C01", 10000)
	reg := servertest.NewRegister(t)
	servertest.Enroll(t, s.Store, reg)
	ctx := tab(t)
	signInBrowser(t, ctx, s, "admin", adminPassword)
	do(t, ctx, "open the live feed", chromedp.Navigate(s.URL+"/sales"))
	waitFor(t, ctx, "the feed connected", `document.querySelector('#sales-status').textContent === '已连接，新消费将即时显示'`)
	tlsConf := s.TLS.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	tlsConf.NextProtos = nil // a WebSocket speaks HTTP/1.1
	ws := servertest.Dial(t, "wss"+strings.TrimPrefix(s.URL, "https")+"/api/v1/terminal/ws", tlsConf)
	ws.Handshake(t, reg, 0)
	sent := time.Now()
	if err := ws.Send(&wire.Entries{Entries: [][]byte{reg.Sale(t, "0C01", 1250)}}); err != nil {
		t.Fatalf("send a sale: %v", err)
	}
	servertest.Expect[*wire.Acks](t, ws)
	waitFor(t, ctx, "the sale in the feed", `[...document.querySelectorAll('#sales-feed td')].some(td => td.textContent === '0C01')`)
	d := time.Since(sent)
	t.Logf("the sale appeared in the feed %v after the register sent it", d)
	if d > time.Second {
		t.Errorf("the sale appeared %v after it was sent, want within 1 s", d)
	}
	screenshot(t, ctx, "sales")
}

// TestBrowserAudit: the audit log and its verify button.
func TestBrowserAudit(t *testing.T) {
	t.Parallel()
	s := startSite(t)
	c, csrf := s.signIn(t, "auditor", auditorPassword)
	if !s.hasAPI(t, c, csrf, "GET", "/api/v1/audit?limit=1") {
		t.Skip("waits on GET /api/v1/audit and POST /api/v1/audit/verify, not merged yet")
	}
	ctx := tab(t)
	signInBrowser(t, ctx, s, "auditor", auditorPassword)
	do(t, ctx, "verify the chain", chromedp.Navigate(s.URL+"/audit"), chromedp.WaitVisible(chromedp.CSS("#audit-verify")), chromedp.Click(chromedp.CSS("#audit-verify")))
	waitFor(t, ctx, "the verdict", `!document.querySelector('#audit-result').hidden`)
	if got := eval[string](t, ctx, `document.querySelector('#audit-result').textContent`); !strings.HasPrefix(got, "审计链完整") {
		t.Errorf("verify says %q, want 审计链完整…", got)
	}
	screenshot(t, ctx, "audit")
}

// TestBrowserPhoneAndEnglish: on a phone's screen nothing is wider than
// the screen; the language switch turns the page English; the help page
// shows the guide.
func TestBrowserPhoneAndEnglish(t *testing.T) {
	t.Parallel()
	s := startSite(t)
	ctx := tab(t)
	signInBrowser(t, ctx, s, "admin", adminPassword)
	do(t, ctx, "help page", chromedp.Navigate(s.URL+"/help"), chromedp.WaitVisible(chromedp.CSS("#guide h1")))
	screenshot(t, ctx, "help")
	do(t, ctx, "switch to English", chromedp.Click(chromedp.CSS("a.lang")))
	waitFor(t, ctx, "English page", `document.documentElement.lang === 'en' && document.querySelector('nav a[href="/cards"]').textContent === 'Cards'`)
	do(t, ctx, "phone screen", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	for _, path := range []string{"/", "/cards", "/registers", "/sales", "/reports", "/rules", "/audit", "/users", "/help"} {
		do(t, ctx, "open "+path, chromedp.Navigate(s.URL+path), chromedp.WaitReady(chromedp.CSS("main")))
		if w := eval[int](t, ctx, `document.documentElement.scrollWidth - window.innerWidth`); w > 0 {
			t.Errorf("%s on a 390 px screen is %d px too wide", path, w)
		}
	}
	screenshot(t, ctx, "phone-users")
}
