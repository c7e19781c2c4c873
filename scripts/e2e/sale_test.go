package e2e_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/BurntSushi/toml"

	firmwareconfig "github.com/fanka/fanka/firmware-config"
	"github.com/fanka/fanka/shared/card"
	"github.com/fanka/fanka/terminal/serial"
	"github.com/fanka/fanka/terminal/virtual"
)

const cardUID = "04A1B2C3D4E5F6"

var cardBytes = []byte{0x04, 0xA1, 0xB2, 0xC3, 0xD4, 0xE5, 0xF6}

// register is a running fanka-terminal on a pty keypad+display and the vpcd
// reader of slot 0.
type register struct {
	t       *testing.T
	proc    *proc
	display *virtual.DisplayPeer
	keypad  *virtual.KeypadPeer
	pty     *virtual.PTY
	data    string // its data directory
}

func startRegister(t *testing.T, srv *server) *register {
	t.Helper()
	return startRegisterWith(t, srv, "", "请刷卡")
}

// startRegisterWith starts a register whose config file ends with rules
// (TOML: a [rules] table and its subtables), and waits for its display to
// show ready.
func startRegisterWith(t *testing.T, srv *server, rules, ready string) *register {
	t.Helper()
	var reg struct {
		TerminalID uint32 `json:"terminal_id"`
		EnrolCode  string `json:"enrol_code"`
	}
	if code := srv.call("POST", "/terminals", map[string]any{"name": "一号窗口"}, &reg); code != 200 && code != 201 {
		t.Fatalf("create register: HTTP %d", code)
	}
	data := filepath.Join(t.TempDir(), "register")
	out, err := exec.Command(bin.client, "enroll", "--server", srv.url(), "--code", reg.EnrolCode, "--data", data).CombinedOutput()
	if err != nil {
		t.Fatalf("enroll: %v\n%s", err, out)
	}
	// The code is single use.
	again, err := exec.Command(bin.client, "enroll", "--server", srv.url(), "--code", reg.EnrolCode, "--data", data+"2").CombinedOutput()
	if err == nil {
		t.Fatalf("second enrolment with the same code succeeded: %s", again)
	}

	pty := virtual.MustPTY(t)
	dp, err := serial.LoadDisplayProfile(firmwareconfig.Devices, firmwareconfig.DefaultDisplay)
	if err != nil {
		t.Fatal(err)
	}
	kp, err := serial.LoadKeypadProfile(firmwareconfig.Devices, firmwareconfig.DefaultKeypad)
	if err != nil {
		t.Fatal(err)
	}
	r := &register{t: t, pty: pty, data: data, display: virtual.MustDisplayPeer(t, pty, dp), keypad: virtual.NewKeypadPeer(pty.Master, kp)}
	config := filepath.Join(t.TempDir(), "register.toml")
	err = os.WriteFile(config, []byte(`data = "`+data+`"
max_sale = "200.00"
[reader]
prefix = "`+virtual.Slot0.Reader+`"
profiles = ["fanka", "uid"]
[keypad]
port = "`+pty.SlavePath+`"
profile = "keypad-ascii"
[display]
port = "`+pty.SlavePath+`"
profile = "display-epson"
`+rules), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	r.proc = start(t, "fanka-terminal", nil, bin.client, "run", "--config", config)
	r.see(ready)
	return r
}

// see waits until the customer display shows s.
func (r *register) see(s string) []string {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	lines, err := r.display.WaitFor(ctx, s)
	if err != nil {
		r.t.Fatalf("display: %v", err)
	}
	return lines
}

func (r *register) keys(s string) {
	r.t.Helper()
	if err := r.keypad.Type(s); err != nil {
		r.t.Fatal(err)
	}
}

// insert puts the virtual card on the reader; the returned func removes it.
func (r *register) insert(uid []byte) func() {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	in, err := virtual.Slot0.Insert(ctx, virtual.Card{UID: uid})
	if err != nil {
		r.t.Fatal(err)
	}
	return func() {
		if err := in.Remove(); err != nil {
			r.t.Fatal(err)
		}
		r.see("请刷卡")
	}
}

// sell makes one sale of amount keys with the card and checks the display.
func (r *register) sell(keys, balanceBefore, balanceAfter string) {
	r.t.Helper()
	remove := r.insert(cardBytes)
	r.see(balanceBefore)
	r.keys(keys + "\r")
	lines := r.see("成功")
	if !strings.Contains(strings.Join(lines, "|"), balanceAfter) {
		r.t.Fatalf("after the sale the display shows %q, want balance %s", lines, balanceAfter)
	}
	remove()
}

func openCard(t *testing.T, srv *server) {
	t.Helper()
	setQuickRules(t, srv)
	var out struct {
		CardNo  string `json:"card_no"`
		Balance int64  `json:"balance"`
	}
	code := srv.call("POST", "/cards", map[string]any{
		"person_id": "110101199003071234", "name": "张三", "deposit": 10000,
		"request_id": "open-1", "card_no": cardUID}, &out)
	if code != 200 && code != 201 || out.CardNo != cardUID || out.Balance != 10000 {
		t.Fatalf("open card: HTTP %d %+v", code, out)
	}
}

// setQuickRules sets the canteen's rules for these stories, which tap one
// card several times within seconds and test the register's own per-sale
// maximum: 3 sales a day, no double-tap gap and no amount limits of the
// server's. Registers get them at their handshake.
func setQuickRules(t *testing.T, srv *server) {
	t.Helper()
	var out struct{ Version uint64 }
	rules := map[string]any{"max_sales_per_day": 3, "outside_periods": true}
	if code := srv.call("PUT", "/rules", map[string]any{"rules": rules}, &out); code != 200 || out.Version == 0 {
		t.Fatalf("set rules: HTTP %d %+v", code, out)
	}
}

// TestSaleOnlineThenOffline is the walking skeleton's story: a sale settled
// online, then two sales while the server is down, settled exactly once when
// it is back.
func TestSaleOnlineThenOffline(t *testing.T) {
	virtual.MustPCSCD(t)
	serverData := filepath.Join(t.TempDir(), "server")
	addr := freePort(t)
	srv := startServer(t, serverData, addr)
	openCard(t, srv)
	reg := startRegister(t, srv)
	reg.proc.waitOutput("cards received", 15*time.Second)

	// Card in → 100.00; 12.50⏎ → 成功 and 87.50; card out; the server agrees.
	reg.sell("12.50", "100.00", "87.50")
	c := srv.waitBalance(cardUID, 8750)
	if c.TodayCount != 1 || c.Status != "active" || c.Name != "张三" {
		t.Fatalf("card after one sale: %+v", c)
	}

	// The server goes away; the register keeps selling from its cache.
	srv.proc.stop(syscall.SIGTERM)
	reg.see("离线")
	reg.sell("10", "87.50", "77.50")
	reg.sell("5.00", "77.50", "72.50")
	reg.see("待传 2")

	// The server is back on the same address: both sales settle, once.
	srv = startServer(t, serverData, addr)
	c = srv.waitBalance(cardUID, 7250)
	if c.TodayCount != 3 {
		t.Fatalf("today_count %d, want 3", c.TodayCount)
	}
	reg.see("请刷卡")
	time.Sleep(500 * time.Millisecond) // give a wrongly resent entry time to be settled twice
	srv.waitBalance(cardUID, 7250)

	// The register reports its backlog settled and its devices: the
	// reader (pcscd and vpcd), the keypad and display (a pty) there, no
	// printer.
	st := srv.waitRegisterStatus(func(s registerStatus) bool { return s.ReportedAt != "" && s.Unsynced == 0 })
	want := map[string]string{"reader": "ok", "keypad": "ok", "display": "ok", "printer": "not_configured"}
	for name, state := range want {
		if st.Devices[name].State != state {
			t.Errorf("the register's %s: %+v, want %s", name, st.Devices[name], state)
		}
	}
	if !st.Online || st.OfflineSales != 0 || st.UnsyncedAmount != 0 || !strings.HasPrefix(st.Software, "fanka-terminal") || st.FreeBytes == 0 {
		t.Errorf("the register's status: %+v", st)
	}

	// The register restarts: nothing is sent as new again.
	reg.proc.stop(syscall.SIGTERM)
	srv.proc.stop(syscall.SIGTERM)
	out := verify(t, serverData)
	if os.Getenv("FANKA_E2E_LOG") != "" {
		t.Logf("register log:\n%s", reg.proc.out.String())
	}
	if !strings.Contains(out, "3 entries") {
		t.Fatalf("verify: %s", out)
	}
}

// TestBadInput: what the cashier, the card and an API client get wrong is
// refused with a message and records nothing.
func TestBadInput(t *testing.T) {
	virtual.MustPCSCD(t)
	serverData := filepath.Join(t.TempDir(), "server")
	srv := startServer(t, serverData, freePort(t))
	openCard(t, srv)
	reg := startRegister(t, srv)
	reg.proc.waitOutput("cards received", 15*time.Second)

	// An unknown card: 未开卡, nothing recorded.
	remove := reg.insert([]byte{0xDE, 0xAD, 0xBE, 0xEF})
	reg.see("未开卡")
	reg.keys("5\r")
	remove()

	remove = reg.insert(cardBytes)
	reg.see("100.00")
	for _, tt := range []struct{ keys, want string }{
		{"0\r", "须大于0"},        // amount 0
		{"1.234\r", "最多两位小数"},  // more than two decimals
		{"200.01\r", "超出单笔限额"}, // above the per-sale maximum
		{"150\r", "余额不足"},      // above the balance
	} {
		reg.keys(tt.keys)
		reg.see(tt.want)
	}
	// Garbage bytes from the keypad are dropped and logged, not keyed.
	if _, err := reg.pty.Master.Write([]byte{0x00, 0xFF, '~', 0x7F}); err != nil {
		t.Fatal(err)
	}
	reg.keys("1\r")
	reg.see("成功 消费 1.00")
	remove()
	if got := lines(reg.proc.out.String(), "dropped"); len(got) == 0 {
		t.Fatalf("garbage keypad bytes not logged; register log:\n%s", reg.proc.out.String())
	}
	c := srv.waitBalance(cardUID, 9900)
	if c.TodayCount != 1 {
		t.Fatalf("today_count %d: a refused sale was recorded", c.TodayCount)
	}

	// The API: no token → 401; unknown card → 404.
	token := srv.token
	srv.token = ""
	var e struct {
		Error struct{ Code, Message string }
	}
	if code := srv.call("GET", "/cards/"+cardUID, nil, &e); code != 401 || e.Error.Code == "" {
		t.Fatalf("no token: HTTP %d %+v", code, e)
	}
	srv.token = "forged-token"
	if code := srv.call("GET", "/cards/"+cardUID, nil, &e); code != 401 {
		t.Fatalf("forged token: HTTP %d", code)
	}
	srv.token = token
	if code := srv.call("GET", "/cards/FFFF0000", nil, &e); code != 404 || e.Error.Code == "" {
		t.Fatalf("unknown card: HTTP %d %+v", code, e)
	}
	srv.proc.stop(syscall.SIGTERM)
	if out := verify(t, serverData); !strings.Contains(out, "1 entries") {
		t.Fatalf("verify: %s", out)
	}
}

// TestSignInRemovalAndVoid: a cashier signs in by code; a card pulled out
// before 确认 makes no sale; a supervisor voids a wrong sale with the card
// still in, the diner pays the right amount, and the server settles the
// sale, its void and the new sale once each.
func TestSignInRemovalAndVoid(t *testing.T) {
	virtual.MustPCSCD(t)
	serverData := filepath.Join(t.TempDir(), "server")
	srv := startServer(t, serverData, freePort(t))
	openCard(t, srv)
	reg := startRegisterWith(t, srv, `
[rules]
require_cashier = true
[[rules.cashier]]
id = "C01"
code = "1357"
[[rules.supervisor]]
id = "S01"
code = "24680"
`, "请签到")
	reg.proc.waitOutput("cards received", 15*time.Second)

	// No cashier, no sale.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	in, err := virtual.Slot0.Insert(ctx, virtual.Card{UID: cardBytes})
	if err != nil {
		t.Fatal(err)
	}
	reg.see("收银员未签到")
	if err := in.Remove(); err != nil {
		t.Fatal(err)
	}
	reg.see("请签到")
	reg.keys("1357\r")
	reg.see("C01 已签到")

	// The card leaves before 确认: nothing is recorded.
	remove := reg.insert(cardBytes)
	reg.see("余额 100.00")
	reg.keys("5")
	reg.see("消费 5")
	remove()
	reg.keys("\r")

	// 15.00 instead of 1.50: the supervisor voids it, the card still in.
	remove = reg.insert(cardBytes)
	reg.see("余额 100.00")
	reg.keys("15\r")
	reg.see("成功 消费 15.00")
	reg.keys("24680\r")
	reg.see("撤销 消费 15.00")
	reg.keys("\r")
	reg.see("余额 100.00")
	reg.keys("1.50\r")
	reg.see("成功 消费 1.50")
	remove()

	c := srv.waitBalance(cardUID, 9850)
	if c.TodayCount != 1 {
		t.Fatalf("today_count %d after a sale, its void and a sale; want 1", c.TodayCount)
	}
	log := reg.proc.out.String()
	if got := lines(log, `"msg":"void"`); len(got) != 1 || !strings.Contains(got[0], `"supervisor":"S01"`) {
		t.Fatalf("void log lines %q", got)
	}
	if got := lines(log, `"msg":"sale"`); len(got) != 2 {
		t.Fatalf("%d sales logged, want 2:\n%s", len(got), log)
	}
	srv.proc.stop(syscall.SIGTERM)
	if out := verify(t, serverData); !strings.Contains(out, "3 entries") {
		t.Fatalf("verify: %s", out)
	}
}

// TestFankaCardSale: a fanka card (the card application, selected by AID)
// is read by its card number, signs the sale through pcscd, and the sale
// with the card's signature settles.
func TestFankaCardSale(t *testing.T) {
	virtual.MustPCSCD(t)
	serverData := filepath.Join(t.TempDir(), "server")
	srv := startServer(t, serverData, freePort(t))
	const cardNo = "FK20260001"
	var out struct {
		CardNo string `json:"card_no"`
	}
	code := srv.call("POST", "/cards", map[string]any{
		"person_id": "110101199003071299", "name": "李四", "deposit": 5000,
		"request_id": "open-fanka", "card_no": cardNo}, &out)
	if code != 200 && code != 201 || out.CardNo != cardNo {
		t.Fatalf("open card: HTTP %d %+v", code, out)
	}
	reg := startRegisterWith(t, srv, "", "请刷卡")
	reg.proc.waitOutput("cards received", 15*time.Second)
	app, err := virtual.NewFankaApp(cardNo)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	in, err := virtual.Slot0.Insert(ctx, virtual.Card{UID: cardBytes, Fanka: app})
	if err != nil {
		t.Fatal(err)
	}
	reg.see("余额 50.00")
	reg.keys("8.50\r")
	reg.see("成功 消费 8.50")
	if err := in.Remove(); err != nil {
		t.Fatal(err)
	}
	reg.see("请刷卡")
	srv.waitBalance(cardNo, 4150)
	if app.Counter() != 1 {
		t.Fatalf("the card signed %d times", app.Counter())
	}
	// The register wrote the card its purse record after the sale, signed
	// with the key `fanka-terminal key` prints for the other registers.
	keyOut, err := exec.Command(bin.client, "key", "--data", reg.data).CombinedOutput()
	if err != nil {
		t.Fatalf("fanka-terminal key: %v\n%s", err, keyOut)
	}
	var writers struct {
		PurseWriter []struct {
			ID        uint32 `toml:"id"`
			PublicKey string `toml:"public_key"`
		} `toml:"purse_writer"`
	}
	if _, err := toml.Decode(string(keyOut), &writers); err != nil || len(writers.PurseWriter) != 1 {
		t.Fatalf("fanka-terminal key printed %q (%v)", keyOut, err)
	}
	w := writers.PurseWriter[0]
	pub, err := base64.StdEncoding.DecodeString(w.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	p, ok := app.Purse()
	if !ok || p.Balance != 4150 || p.TodayCount != 1 || p.Seq != 1 || p.Writer != w.ID {
		t.Fatalf("purse record on the card %+v (%v), want balance 41.50, one sale, seq 1, writer %d", p, ok, w.ID)
	}
	if _, err := card.OpenPurse(p.Marshal(), cardNo, card.PurseKeys{w.ID: ed25519.PublicKey(pub)}); err != nil {
		t.Fatal(err)
	}
	if got := lines(reg.proc.out.String(), `"msg":"sale"`); len(got) != 1 || !strings.Contains(got[0], `"card_signed":true`) {
		t.Fatalf("sale log %q", got)
	}
	srv.proc.stop(syscall.SIGTERM)
	if out := verify(t, serverData); !strings.Contains(out, "1 entries") {
		t.Fatalf("verify: %s", out)
	}
}
