package main

import (
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/fanka/fanka/shared/card"
	"github.com/fanka/fanka/shared/money"
	"github.com/fanka/fanka/terminal"
)

// TestExampleConfig: the example in firmware-config parses into the rules
// it documents.
func TestExampleConfig(t *testing.T) {
	b, err := os.ReadFile("../../../firmware-config/register.example.toml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := ParseConfig(b)
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.SaleRules()
	if err != nil {
		t.Fatal(err)
	}
	if r.MaxSale != 200*money.Yuan || r.DailyCount != 3 || r.VoidWindow != 5*time.Minute || len(r.Cashiers) != 1 ||
		r.Supervisors[0] != (terminal.Staff{ID: "S01", Code: "24680"}) || len(r.Meals) != 3 {
		t.Fatalf("rules %+v", r)
	}
	lunch := r.Meals[1]
	if lunch.Start != 11*time.Hour || lunch.End != 13*time.Hour+30*time.Minute || lunch.Presets[1] != 850 {
		t.Fatalf("lunch %+v", lunch)
	}
	if p, err := c.CardProfiles(); err != nil || len(p) != 2 || p[0] != card.ProfileFanka {
		t.Fatalf("card profiles %q %v", p, err)
	}
	rc, err := c.Receipts()
	if err != nil || rc == nil {
		t.Fatalf("receipts %+v %v", rc, err)
	}
	if rc.Printer.String() != "tcp://192.168.1.50:9100" || rc.Canteen != "第一食堂" || rc.Register != "二号窗口" || rc.MaxAge != 15*time.Minute {
		t.Fatalf("receipts: printer %s, %+v", rc.Printer, *rc)
	}
	if d, err := c.Status(); d != 15*time.Second || err != nil {
		t.Fatalf("status interval %v %v", d, err)
	}
	if len(c.Servers) != 2 || c.Servers[1].URL != "https://fanka-b.canteen.lan:8443" {
		t.Fatalf("servers %+v", c.Servers)
	}
	if keys, err := c.PurseKeys(); err != nil || len(keys) != 1 || len(keys[2]) != 32 {
		t.Fatalf("purse writers %v %v", keys, err)
	}
	want := terminal.OfflineLimits{MaxSale: 5000, MaxCardDay: 10000, MaxUnsynced: 300000, MaxAge: 72 * time.Hour, SoftCount: 100, HardCount: 1000}
	if r.Offline != want {
		t.Fatalf("offline %+v, want %+v", r.Offline, want)
	}
}

func TestConfigDefaultsAndErrors(t *testing.T) {
	const devices = "[keypad]\nport = \"/dev/k\"\n[display]\nport = \"/dev/k\"\n"
	const key32 = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=" // 32 bytes
	if keys, err := purseKeysOf(devices + "[[purse_writer]]\nid = 0\npublic_key = \"" + key32 + "\"\n"); err != nil || len(keys[0]) != 32 {
		t.Fatalf("the office's key: %v %v", keys, err)
	}
	c, err := ParseConfig([]byte(devices))
	if err != nil {
		t.Fatal(err)
	}
	if rc, err := c.Receipts(); rc != nil || err != nil {
		t.Fatalf("no printer configured: receipts %+v %v", rc, err)
	}
	if d, err := c.Status(); d != 15*time.Second || err != nil {
		t.Fatalf("status interval by default: %v %v, want 15s", d, err)
	}
	r, _ := c.SaleRules()
	d := terminal.DefaultRules()
	if r.MaxSale != d.MaxSale || r.DailyCount != d.DailyCount || r.VoidWindow != d.VoidWindow || r.Offline != d.Offline {
		t.Fatalf("defaults %+v, want %+v", r, d)
	}
	for _, tt := range []struct{ toml, want string }{
		{"max_sale = \"0\"\n", "max sale"},
		{"max_sale = \"1.234\"\n", "max_sale"},
		{"[rules]\nvoid_within = \"soon\"\n", "void_within"},
		{"[rules]\nbogus = 1\n", "unknown setting"},
		{"[[rules.meal]]\nname = \"x\"\nfrom = \"25:00\"\nto = \"26:00\"\n", "time of day"},
		{"[[rules.cashier]]\nid = \"C1\"\ncode = \"12\"\n", "code must be"},
		{"[rules.offline]\nmax_card_day = \"-5\"\n", "negative"},
		{"[reader]\nprofiles = [\"mifare\"]\n", "unknown card profile"},
		{"printer = \"lpt1\"\n", "printer"},
		{"printer = \"tcp://10.0.0.9?speed=9\"\n", "unknown parameter"},
		{"printer = \"file:/dev/usb/lp0\"\nreceipt_max_age = \"soon\"\n", "receipt_max_age"},
		{"status_interval = \"often\"\n", "status_interval"},
		{"status_interval = \"100ms\"\n", "1s or more"},
		{"[[server]]\nurl = \"ftp://a\"\n", "scheme must be https"},
		{"[[server]]\nurl = \"https://a:8443\"\nfingerprint = \"abcd\"\n", "64 hex digits"},
		{"[[purse_writer]]\npublic_key = \"" + key32 + "\"\n", "id is required"},
		{"[[purse_writer]]\nid = 2\npublic_key = \"AAAA\"\n", "public_key must be 32 bytes"},
		{"[[purse_writer]]\nid = 2\npublic_key = \"not base64!\"\n", "public_key must be 32 bytes"},
		{"[[purse_writer]]\nid = 2\npublic_key = \"" + key32 + "\"\n[[purse_writer]]\nid = 2\npublic_key = \"" + key32 + "\"\n", "id 2 given twice"},
		{"[[purse_writer]]\nid = -1\npublic_key = \"" + key32 + "\"\n", "purse_writer"},
	} {
		// Tables may not be defined twice: put the devices last.
		_, err := ParseConfig([]byte(tt.toml + devices))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: error %v, want %q", tt.toml, err, tt.want)
		}
	}
}

// TestUplinkServers: the config's servers become the uplink's, each with its
// own pin, the enrolment's where it names none, the system's roots for
// "system"; with none configured, the enrolment's server alone.
func TestUplinkServers(t *testing.T) {
	enrolPin := strings.Repeat("ab", 32)
	e := Enrolment{Server: "https://a:8443", TerminalID: 7, Fingerprint: enrolPin}
	list, err := parseServers("https://a:8443, https://b:8443=" + strings.Repeat("cd", 32) + ",https://c/fanka=system")
	if err != nil {
		t.Fatal(err)
	}
	got, err := uplinkServers(e, list)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].URL != "wss://a:8443/api/v1/terminal/ws" || hex.EncodeToString(got[0].Fingerprint) != enrolPin ||
		got[1].URL != "wss://b:8443/api/v1/terminal/ws" || hex.EncodeToString(got[1].Fingerprint) != strings.Repeat("cd", 32) ||
		got[2].URL != "wss://c/fanka/api/v1/terminal/ws" || got[2].Fingerprint != nil {
		t.Fatalf("servers %+v", got)
	}
	if got, err := uplinkServers(e, nil); err != nil || len(got) != 1 || got[0].URL != "wss://a:8443/api/v1/terminal/ws" || hex.EncodeToString(got[0].Fingerprint) != enrolPin {
		t.Fatalf("no servers configured: %+v %v", got, err)
	}
	if _, err := parseServers("https://b=zz"); err == nil || !strings.Contains(err.Error(), "64 hex digits") {
		t.Fatalf("a damaged fingerprint: %v", err)
	}
}

func purseKeysOf(toml string) (card.PurseKeys, error) {
	c, err := ParseConfig([]byte(toml))
	if err != nil {
		return nil, err
	}
	return c.PurseKeys()
}
