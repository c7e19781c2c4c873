package web_test

import (
	"context"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/google/go-cmp/cmp"

	"github.com/fanka/fanka/server"
	"github.com/fanka/fanka/shared/money"
)

// TestBrowserRules: the admin changes the lunch prices and an offline
// limit on the rules page and saves; a reload shows them, and so does the
// store. Bad input (lunch ending before it starts, a negative price, HTML
// in a period's name, a number that is not one) is refused with the error
// next to its field, and changes nothing. An auditor sees the page read
// only, and the API refuses the auditor's PUT.
func TestBrowserRules(t *testing.T) {
	t.Parallel()
	s := startSite(t)
	ctx := tab(t)
	bg := context.Background()
	signInBrowser(t, ctx, s, "admin", adminPassword)
	do(t, ctx, "open the rules page", chromedp.Navigate(s.URL+"/rules"), chromedp.WaitVisible(chromedp.CSS("#r-max_sale")))
	waitFor(t, ctx, "the default rules shown", `document.querySelectorAll('#rules-periods tbody tr').length === 3 && document.querySelector('#r-max_sale').value === '100.00'`)
	if got := eval[string](t, ctx, `document.querySelector('#r-offline-max_hours').value`); got != "72" {
		t.Errorf("default offline hours shown %q, want 72", got)
	}

	lunch := `#rules-periods tbody tr:nth-child(2) `
	do(t, ctx, "set lunch's prices and the offline per-sale limit",
		chromedp.SetValue(chromedp.CSS(lunch+".p-presets"), "15, 0, 8.5"),
		chromedp.SetValue(chromedp.CSS("#r-offline-max_sale"), "25.00"),
		chromedp.Click(chromedp.CSS("#rules-save")),
	)
	confirm(t, ctx)
	waitFor(t, ctx, "saved", `!document.querySelector('#rules-notice').hidden`)
	// The meal periods, user classes and offline limits fill the screen.
	eval[bool](t, ctx, `document.querySelector('#rules-periods').closest('section').scrollIntoView(), true`)
	screenshot(t, ctx, "rules")
	want := server.DefaultRules()
	want.Periods[1].Presets = []money.Fen{15 * money.Yuan, 0, 850}
	want.Offline.MaxSale = 25 * money.Yuan
	saved, version, err := s.Store.Rules(bg)
	if err != nil || version != 1 {
		t.Fatalf("rules in the store: version %d, %v; want version 1", version, err)
	}
	if diff := cmp.Diff(want, saved); diff != "" {
		t.Fatalf("rules in the store after saving (-want +got):\n%s", diff)
	}
	do(t, ctx, "reload the page", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#r-max_sale")))
	waitFor(t, ctx, "the saved rules shown", `document.querySelector('#rules-version').textContent.includes('1')`)
	if got := eval[string](t, ctx, `document.querySelector('`+lunch+`.p-presets').value`); got != "15.00, 0.00, 8.50" {
		t.Errorf("lunch prices after a reload: %q, want 15.00, 0.00, 8.50", got)
	}
	if got := eval[string](t, ctx, `document.querySelector('#r-offline-max_sale').value`); got != "25.00" {
		t.Errorf("offline per-sale limit after a reload: %q, want 25.00", got)
	}

	// Bad input: each is refused next to its field, and the store keeps
	// version 1.
	for _, tt := range []struct {
		what, sel, value, field string
	}{
		{"lunch ending before it starts", lunch + ".p-end", "10:00", "periods.1.end"},
		{"a negative lunch price", lunch + ".p-presets", "15, -1", "periods.1.presets"},
		{"HTML in lunch's name", lunch + ".p-name", "<b id=bold>午餐</b>", "periods.1.name"},
		{"hours offline that are no number", "#r-offline-max_hours", "seventy", "offline.max_hours"},
	} {
		do(t, ctx, "reload before "+tt.what, chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#r-max_sale")))
		waitFor(t, ctx, "the rules shown", `document.querySelector('#rules-version').textContent.includes('1')`)
		do(t, ctx, tt.what, chromedp.SetValue(chromedp.CSS(tt.sel), tt.value), chromedp.Click(chromedp.CSS("#rules-save")))
		if tt.field != "offline.max_hours" { // the page itself refuses what is no number, before asking
			confirm(t, ctx)
		}
		box := `document.querySelector('[data-error-for="` + tt.field + `"]')`
		waitFor(t, ctx, "the error next to the field for "+tt.what, box+` && !`+box+`.hidden && `+box+`.textContent !== ''`)
		if !eval[bool](t, ctx, `document.querySelector('`+tt.sel+`').getAttribute('aria-invalid') === 'true'`) {
			t.Errorf("%s: the field is not marked invalid", tt.what)
		}
		if eval[bool](t, ctx, `document.getElementById('bold') !== null`) {
			t.Errorf("%s: a period's name became HTML on the page", tt.what)
		}
		t.Logf("%s: %s", tt.what, eval[string](t, ctx, box+`.textContent`))
		if tt.field == "periods.1.end" {
			screenshot(t, ctx, "rules-refused")
		}
		got, v, err := s.Store.Rules(bg)
		if err != nil || v != 1 || !cmp.Equal(got, want) {
			t.Fatalf("%s changed the rules: version %d, %v, %+v", tt.what, v, err, got)
		}
	}

	// The admin's own session, without or with a forged CSRF token, is
	// refused too.
	for _, token := range []string{"", "forged"} {
		headers := `{'Content-Type': 'application/json'}`
		if token != "" {
			headers = `{'Content-Type': 'application/json', 'X-CSRF-Token': '` + token + `'}`
		}
		got := eval[string](t, ctx, `fetch('/api/v1/rules', {method: 'PUT', headers: `+headers+`,
			body: JSON.stringify({rules: {max_sales_per_day: 9}})}).then(r => r.json().then(b => r.status + ' ' + b.error.code))`)
		if got != "403 EFORBIDDEN" {
			t.Errorf("admin PUTs the rules with CSRF token %q: %s, want 403 EFORBIDDEN", token, got)
		}
	}
	if _, v, _ := s.Store.Rules(bg); v != 1 {
		t.Errorf("PUTs without the CSRF token changed the rules to version %d", v)
	}

	t.Run("auditor reads only", func(t *testing.T) {
		ctx := tab(t)
		signInBrowser(t, ctx, s, "auditor", auditorPassword)
		do(t, ctx, "open the rules page", chromedp.Navigate(s.URL+"/rules"), chromedp.WaitVisible(chromedp.CSS("#rules-readonly")))
		waitFor(t, ctx, "the rules shown", `document.querySelector('#r-offline-max_sale').value === '25.00'`)
		if eval[bool](t, ctx, `document.querySelector('#rules-save') !== null || !document.querySelector('#rules-fields').disabled`) {
			t.Errorf("the auditor's rules page can be edited or saved")
		}
		got := eval[string](t, ctx, `fetch('/api/v1/rules', {method: 'PUT', headers: {'Content-Type': 'application/json',
			'X-CSRF-Token': document.querySelector('meta[name="csrf-token"]').content}, body: JSON.stringify({rules: {max_sales_per_day: 9}})})
			.then(r => r.json().then(b => r.status + ' ' + b.error.code))`)
		if got != "403 EFORBIDDEN" {
			t.Errorf("auditor PUTs the rules from the page: %s, want 403 EFORBIDDEN", got)
		}
		if _, v, _ := s.Store.Rules(bg); v != 1 {
			t.Errorf("the auditor's PUT changed the rules to version %d", v)
		}
	})
}
