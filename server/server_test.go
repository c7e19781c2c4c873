package server_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fanka/fanka/server"
	"github.com/fanka/fanka/shared/money"
	"github.com/fanka/fanka/shared/wire"
)

func TestErrorCode(t *testing.T) {
	nf := server.Errorf(server.ENOTFOUND, "no card %s", "04A1")
	wrapped := fmt.Errorf("lookup: %w", nf)
	tests := []struct {
		err       error
		code, msg string
	}{
		{nil, "", ""},
		{nf, server.ENOTFOUND, "no card 04A1"},
		{wrapped, server.ENOTFOUND, "no card 04A1"},
		{errors.New("disk on fire at /var/lib"), server.EINTERNAL, "internal error"},
	}
	for _, tt := range tests {
		if got := server.ErrorCode(tt.err); got != tt.code {
			t.Errorf("ErrorCode(%v) = %q, want %q", tt.err, got, tt.code)
		}
		if got := server.ErrorMessage(tt.err); got != tt.msg {
			t.Errorf("ErrorMessage(%v) = %q, want %q", tt.err, got, tt.msg)
		}
	}
	if got := nf.Error(); got != "ENOTFOUND: no card 04A1" {
		t.Errorf("Error() = %q", got)
	}
}

func TestPassword(t *testing.T) {
	p := server.PasswordParams{Memory: 64, Time: 1, Threads: 1}
	h, err := server.HashPasswordWith(p, "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Errorf("hash %q is not in the PHC format", h)
	}
	h2, _ := server.HashPasswordWith(p, "correct horse")
	if h == h2 {
		t.Error("two hashes of one password are equal: no salt")
	}
	if ok, err := server.CheckPassword(h, "correct horse"); !ok || err != nil {
		t.Errorf("right password: %v, %v", ok, err)
	}
	if ok, err := server.CheckPassword(h, "correct horse "); ok || err != nil {
		t.Errorf("wrong password: %v, %v", ok, err)
	}
	for _, bad := range []string{"", "plain", "$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=99999999,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", "$argon2id$v=19$m=64,t=1,p=1$!!$aGFzaA"} {
		if _, err := server.CheckPassword(bad, "x"); !errors.Is(err, server.ErrPasswordHash) {
			t.Errorf("CheckPassword(%q): %v, want ErrPasswordHash", bad, err)
		}
	}
	if h, err := server.HashPassword("x"); err != nil || !strings.Contains(h, "m=19456,t=2,p=1") {
		t.Errorf("default hash %q, %v", h, err)
	}
}

func TestSignal(t *testing.T) {
	var s server.Signal
	a, stopA := s.Subscribe()
	b, stopB := s.Subscribe()
	s.Notify()
	s.Notify() // coalesces: never blocks
	for _, ch := range []<-chan struct{}{a, b} {
		select {
		case <-ch:
		case <-time.After(time.Second):
			t.Fatal("no wake-up")
		}
		select {
		case <-ch:
			t.Fatal("two wake-ups for two coalesced notifies")
		default:
		}
	}
	stopA()
	stopA() // idempotent
	s.Notify()
	select {
	case <-a:
		t.Error("woken after unsubscribing")
	default:
	}
	<-b
	stopB()
}

func TestDay(t *testing.T) {
	shanghai := time.FixedZone("CST", 8*3600)
	tests := []struct {
		t    time.Time
		want int32
	}{
		{time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC), 0},
		{time.Date(1970, 1, 1, 23, 59, 59, 0, time.UTC), 0},
		{time.Date(1970, 1, 2, 0, 0, 0, 0, time.UTC), 1},
		{time.Date(2026, 3, 2, 0, 30, 0, 0, shanghai), 20514}, // 16:30 UTC the day before: still the 2nd in Shanghai
		{time.Date(2026, 3, 2, 23, 30, 0, 0, shanghai), 20514},
	}
	for _, tt := range tests {
		if got := server.Day(tt.t); got != tt.want {
			t.Errorf("Day(%v) = %d, want %d", tt.t, got, tt.want)
		}
	}
	now := time.Date(2026, 3, 2, 0, 30, 0, 0, shanghai)
	if got := server.SaleDay(now.Add(-time.Hour).UnixMilli(), now); got != 20513 {
		t.Errorf("a sale an hour before local midnight counts on day %d, want 20513", got)
	}
	if got := server.SaleDay(now.Add(48*time.Hour).UnixMilli(), now); got != 20514 {
		t.Errorf("a sale from a clock two days ahead counts on day %d, want today 20514", got)
	}
}

func TestSaleOutcome(t *testing.T) {
	tests := []struct {
		status  server.CardStatus
		balance money.Fen
		want    wire.Outcome
	}{
		{server.CardActive, 0, wire.Settled},
		{server.CardActive, 100, wire.Settled},
		{server.CardActive, -1, wire.SettledOverdraft},
		{server.CardFrozen, 100, wire.Flagged},
		{server.CardLost, -100, wire.Flagged},
		{server.CardClosed, 0, wire.Flagged},
	}
	for _, tt := range tests {
		if got := server.SaleOutcome(tt.status, tt.balance); got != tt.want {
			t.Errorf("SaleOutcome(%s, %d) = %v, want %v", tt.status, tt.balance, got, tt.want)
		}
	}
}

func TestCardWire(t *testing.T) {
	c := server.Card{CardNo: "04A1", Name: "张三", Status: server.CardLost, Balance: -5, Version: 9, Day: 3, TodayCount: 70000}
	want := wire.Card{Version: 9, CardNo: "04A1", Name: "张三", Status: wire.CardLost, Balance: -5, Day: 3, TodayCount: 0xFFFF}
	if got := c.Wire(); got != want {
		t.Errorf("Wire() = %+v, want %+v", got, want)
	}
	if got := server.CardStatus("weird").Wire(); got != wire.CardClosed {
		t.Errorf("an unknown status goes to registers as %v, want closed", got)
	}
	if c.CountOn(3) != 70000 || c.CountOn(4) != 0 {
		t.Error("CountOn")
	}
}

func TestOpenCardValidate(t *testing.T) {
	ok := server.OpenCard{RequestID: "r-1", PersonID: "110101199001011234", Name: "张三", Deposit: 1}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid request: %v", err)
	}
	if ok.Fingerprint() == (server.OpenCard{RequestID: "r-1", PersonID: "110101199001011234", Name: "张三", Deposit: 2}).Fingerprint() {
		t.Error("fingerprint ignores the deposit")
	}
	other := ok
	other.RequestID, other.Operator = "r-2", "clerk"
	if ok.Fingerprint() != other.Fingerprint() {
		t.Error("fingerprint depends on the request id or the operator")
	}
	// Field boundaries must not blur: ("ab","c") differs from ("a","bc").
	a := server.OpenCard{PersonID: "ab", Name: "c"}
	b := server.OpenCard{PersonID: "a", Name: "bc"}
	if a.Fingerprint() == b.Fingerprint() {
		t.Error("fingerprint is ambiguous")
	}
	for name, mod := range map[string]func(*server.OpenCard){
		"request id with a space": func(o *server.OpenCard) { o.RequestID = "a b" },
		"blank name":              func(o *server.OpenCard) { o.Name = "   " },
		"control in name":         func(o *server.OpenCard) { o.Name = "a\nb" },
		"bad UTF-8":               func(o *server.OpenCard) { o.Name = "\xff" },
		"lower-case card":         func(o *server.OpenCard) { o.CardNo = "04a1" },
		"deposit over the max":    func(o *server.OpenCard) { o.Deposit = server.MaxAmount + 1 },
	} {
		o := ok
		mod(&o)
		if server.ErrorCode(o.Validate()) != server.EINVALID {
			t.Errorf("%s: %v, want EINVALID", name, o.Validate())
		}
	}
}

func TestOrigins(t *testing.T) {
	if got := server.TerminalOrigin(3, 17); got != "T3/17" {
		t.Errorf("TerminalOrigin = %q", got)
	}
	if got := server.RequestOrigin("abc"); got != "Rabc" {
		t.Errorf("RequestOrigin = %q", got)
	}
}
