package gateway_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/fanka/fanka/server"
	"github.com/fanka/fanka/server/gateway"
	"github.com/fanka/fanka/shared/money"
	"github.com/fanka/fanka/shared/wire"
)

// TestRulesPushed: a register gets the rules in force right after Welcome,
// stamped with the server's time, and every connected register gets them
// again once an office sets new ones.
func TestRulesPushed(t *testing.T) {
	e := newEnv(t, func(g *gateway.Gateway) { g.RulesInterval = 20 * time.Millisecond })
	r1, r2 := e.register(t), e.register(t)
	c1, c2 := e.dial(t), e.dial(t)
	before := time.Now().UnixMilli()
	c1.Handshake(t, r1, 0)
	c2.Handshake(t, r2, 0)
	inForce, v0, err := e.store.Rules(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defaults := inForce.Wire(v0)
	for i, c := range []*wire.Rules{c1.Rules, c2.Rules} {
		if c.ServerTime < before || c.ServerTime > time.Now().UnixMilli() {
			t.Errorf("register %d: rules stamped %d, not the server's time", i+1, c.ServerTime)
		}
		got := *c
		got.ServerTime = 0
		if diff := cmp.Diff(defaults, got); diff != "" {
			t.Errorf("register %d: rules at the handshake, those in force (-want +got):\n%s", i+1, diff)
		}
	}

	rules := server.DefaultRules()
	rules.MaxSalesPerDay, rules.MaxSale, rules.MinGapSeconds = 2, 25*money.Yuan, 30
	rules.Classes = map[string]server.ClassRules{"staff": {MaxSalesPerDay: 4}}
	v, err := e.store.SetRules(context.Background(), rules, "admin")
	if err != nil {
		t.Fatal(err)
	}
	want := rules.Wire(v)
	for i, c := range []interface {
		Recv() (wire.Message, error)
	}{c1, c2} {
		got := expectRules(t, c)
		got.ServerTime = 0
		if diff := cmp.Diff(want, *got); diff != "" {
			t.Errorf("register %d: rules pushed after SetRules (-want +got):\n%s", i+1, diff)
		}
	}

	// A register that connects now gets the new rules at once.
	c3 := e.dial(t)
	c3.Handshake(t, r1, 0)
	if c3.Rules.Version != v || c3.Rules.MaxSalesPerDay != 2 {
		t.Errorf("rules at a later handshake: %+v, want version %d", c3.Rules, v)
	}
}

// expectRules reads until a Rules message arrives, skipping card deltas.
func expectRules(t *testing.T, c interface {
	Recv() (wire.Message, error)
}) *wire.Rules {
	t.Helper()
	for {
		m, err := c.Recv()
		if err != nil {
			t.Fatalf("waiting for rules: %v", err)
		}
		switch m := m.(type) {
		case *wire.Rules:
			return m
		case *wire.Cards, *wire.RulesV1:
		default:
			t.Fatalf("got %#v, want rules", m)
		}
	}
}
