package web_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/fanka/fanka/server/admin"
	"github.com/fanka/fanka/server/servertest"
	"github.com/fanka/fanka/server/sqlite"
	"github.com/fanka/fanka/shared/wire"
)

// TestBrowserRegisterStatus: a register that sold offline connects (the
// register's end of the real link, over TLS) and reports three entries
// waiting, two of them offline sales, its reader gone and its printer out
// of paper. The dashboard shows the backlog and the exposure in yuan and
// the devices as badges; three minutes later, with no new status, the
// registers page shows the last figures flagged stale with their age.
func TestBrowserRegisterStatus(t *testing.T) {
	t.Parallel()
	clock := servertest.NewClock(time.Now())
	s := startSite(t, func(api *admin.Server, _ *sqlite.DB) { api.Now = clock.Now })
	r := servertest.NewRegister(t)
	servertest.Enroll(t, s.Store, r)
	c := servertest.Dial(t, "wss"+strings.TrimPrefix(s.URL, "https")+"/api/v1/terminal/ws", s.TLS.Client().Transport.(*http.Transport).TLSClientConfig)
	c.Handshake(t, r, 0)
	now := time.Now()
	st := &wire.Status{Clock: now.UnixMilli(), Unsynced: 3, UnsyncedAmount: 3550, OldestUnsynced: now.Add(-40 * time.Minute).UnixMilli(),
		OfflineSales: 2, OfflineAmount: 2350, LimitUnsynced: 50000, LimitHardCount: 1000,
		Reader:       wire.Device{State: wire.DeviceAbsent, Detail: "no reader named \"ACS\""},
		Keypad:       wire.Device{State: wire.DeviceOK},
		Display:      wire.Device{State: wire.DeviceOK},
		Printer:      wire.Device{State: wire.DeviceError, Detail: "paper_out"},
		JournalBytes: 1 << 20, FreeBytes: 4 << 30, Software: "fanka-terminal test"}
	if err := c.Send(st); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		all, err := s.Store.TerminalStatuses(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if all[r.ID].Status.Unsynced == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the register's status was not stored: %+v", all)
		}
		time.Sleep(20 * time.Millisecond)
	}

	ctx := tab(t)
	signInBrowser(t, ctx, s, "operator", operatorPassword)
	row := `[...document.querySelectorAll('#dash-registers tbody tr')].find(tr => tr.cells[0].textContent === '` + strconv.FormatUint(uint64(r.ID), 10) + `')`
	waitFor(t, ctx, "the register's backlog on the dashboard", row+` && `+row+`.querySelector('td.backlog').textContent.startsWith('3 / 35.50')`)
	for what, cond := range map[string]string{
		"the offline exposure, against its limit": row + `.querySelector('td.exposure').textContent === '2 / 23.50限额 500.00'`,
		"the reader absent":                       row + `.querySelector('[data-device=reader]').textContent === '读卡器 未连接'`,
		"the reader's error as its title":         row + `.querySelector('[data-device=reader]').title === 'no reader named "ACS"'`,
		"the printer in error":                    row + `.querySelector('[data-device=printer][data-state=error]').textContent === '打印机 故障'`,
		"the keypad ok":                           row + `.querySelector('[data-device=keypad][data-state=ok]') !== null`,
		"online":                                  row + `.cells[2].textContent === '在线'`,
		"not stale":                               row + `.querySelector('.stale') === null`,
	} {
		if !eval[bool](t, ctx, cond) {
			t.Errorf("dashboard: %s: %s does not hold; row: %s", what, cond, eval[string](t, ctx, row+`.innerText`))
		}
	}
	eval[bool](t, ctx, `(document.querySelector('#dash-registers').scrollIntoView(), true)`)
	screenshot(t, ctx, "dashboard-register-status")

	// Three minutes pass and the register reports nothing more.
	clock.Add(3 * time.Minute)
	do(t, ctx, "open the registers page", chromedp.Navigate(s.URL+"/registers"))
	row = `[...document.querySelectorAll('#reg-list tbody tr')].find(tr => tr.cells[0].textContent === '` + strconv.FormatUint(uint64(r.ID), 10) + `')`
	waitFor(t, ctx, "the stale note", row+` && `+row+`.querySelector('.stale-note')`)
	for what, cond := range map[string]string{
		"its age":                row + `.querySelector('.stale-note').textContent === '过时，上报于 3 分钟 前'`,
		"the last backlog kept":  row + `.querySelector('td.backlog.stale').textContent.startsWith('3 / 35.50')`,
		"the last exposure kept": row + `.querySelector('td.exposure.stale').textContent.startsWith('2 / 23.50')`,
		"offline":                row + `.cells[3].textContent === '离线'`,
	} {
		if !eval[bool](t, ctx, cond) {
			t.Errorf("registers page: %s: %s does not hold; row: %s", what, cond, eval[string](t, ctx, row+`.innerText`))
		}
	}
	eval[bool](t, ctx, `(document.querySelector('#reg-list').scrollIntoView(), true)`)
	screenshot(t, ctx, "registers-stale-status")
}
