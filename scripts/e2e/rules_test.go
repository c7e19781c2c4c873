package e2e_test

import (
	"syscall"
	"testing"
	"time"

	"github.com/fanka/fanka/terminal/virtual"
)

// TestServerPresetsAndOfflineLimits: the office prices lunch's preset keys
// and sets an offline per-sale limit; the register's keypad key A then
// sells the office's price, not the register's own, and once the server is
// gone the office's offline limit holds where the register's own is
// looser. Through the real binaries, the pty keypad and display and the
// virtual card.
func TestServerPresetsAndOfflineLimits(t *testing.T) {
	virtual.MustPCSCD(t)
	if now := time.Now(); now.Hour() == 23 && now.Minute() >= 55 {
		t.Skip("too close to midnight for the day-long lunch of this test")
	}
	srv := startServer(t, t.TempDir(), freePort(t))
	openCard(t, srv)
	// Lunch all day (server and register share this machine's clock):
	// A 16.00, B none, C 9.00; offline at most 10.00 a sale.
	rules := map[string]any{"max_sales_per_day": 5, "outside_periods": true,
		"periods": []map[string]any{{"name": "lunch", "start": "00:00", "end": "23:59", "presets": []int{1600, 0, 900}}},
		"offline": map[string]any{"max_sale": 1000, "max_hours": 72}}
	var out struct{ Version uint64 }
	if code := srv.call("PUT", "/rules", map[string]any{"rules": rules}, &out); code != 200 || out.Version == 0 {
		t.Fatalf("set rules: HTTP %d %+v", code, out)
	}
	// The register's own: A at 12.00 all day, offline up to 50.00 a sale.
	reg := startRegisterWith(t, srv, `
[rules]
[[rules.meal]]
name = "午餐"
from = "00:00"
to = "23:59"
presets = ["12.00"]
[rules.offline]
max_sale = "50.00"
`, "请刷卡")
	reg.proc.waitOutput(`"periods_with_presets":1`, 15*time.Second)
	reg.proc.waitOutput("cards received", 15*time.Second)

	remove := reg.insert(cardBytes)
	reg.see("100.00")
	reg.keys("A")
	reg.see("消费 16.00")
	reg.keys("\r")
	reg.see("成功 消费 16.00")
	remove()
	srv.waitBalance(cardUID, 8400)

	// The server goes away: the office's 10.00 a sale holds offline.
	srv.proc.stop(syscall.SIGTERM)
	reg.see("离线")
	remove = reg.insert(cardBytes)
	reg.see("84.00")
	reg.keys("A\r")
	reg.see("超出离线限额")
	reg.keys("C\r")
	reg.see("成功 消费 9.00")
	remove()
	reg.see("待传 1")
}
