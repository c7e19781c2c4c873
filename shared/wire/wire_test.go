package wire_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/fanka/fanka/shared/journal"
	"github.com/fanka/fanka/shared/wire"
)

func samples() []wire.Message {
	return []wire.Message{
		&wire.Challenge{Nonce: [32]byte{1, 2, 3}, ServerTime: 1764000000000},
		&wire.Hello{Terminal: 7, CardCursor: 99, Sig: [64]byte{9}},
		&wire.Welcome{LastSeq: 41, LastHash: journal.Hash{0xaa}, ServerTime: -1},
		&wire.Entries{Entries: [][]byte{{1, 2, 3}, bytes.Repeat([]byte{5}, 200)}},
		&wire.Acks{Acks: []wire.Ack{{Seq: 1, Outcome: wire.Settled, CardNo: "04A1", Balance: 8750, Version: 5, Day: 20417, TodayCount: 1}, {Seq: 2, Outcome: wire.SettledOverdraft, CardNo: "04A1", Balance: -10, Version: 6}}},
		&wire.Cards{Cursor: 12, Cards: []wire.Card{{Version: 12, CardNo: "04A1", Name: "张三", Status: wire.CardFrozen, Balance: 10000, Day: 20417, TodayCount: 2}}},
		&wire.Refused{Code: wire.RefuseChain, Message: "gap after seq 4"},
		sampleRules(),
		&wire.RulesV1{Rules: wire.Rules{Version: 2, MaxSale: 500, Periods: []wire.MealPeriod{{Name: "lunch", Start: 600, End: 800}}}},
		&wire.Hello{Terminal: 7, CardCursor: 99, Sig: [64]byte{9}, Hotlist: true, HotlistCursor: 12},
		&wire.Hotlist{Cursor: 30, Entries: []wire.HotlistEntry{{Version: 12, CardNo: "04A1", Status: wire.CardLost}, {Version: 30, CardNo: "04A2", Status: wire.CardActive}}},
		&wire.Hotlist{Flags: wire.HotlistSnapshot | wire.HotlistFirst | wire.HotlistLast, Cursor: 30, Entries: []wire.HotlistEntry{{Version: 31, CardNo: "04A1", Status: wire.CardFrozen}, {Version: 5, CardNo: "04B0", Status: wire.CardClosed}}},
		&wire.Hotlist{Flags: wire.HotlistSnapshot, Cursor: 30},
		sampleStatus(),
		&wire.Status{Unsynced: 1, UnsyncedAmount: -2000, OldestUnsynced: 1, Reader: wire.Device{State: wire.DeviceOK}, Keypad: wire.Device{State: wire.DeviceOK},
			Display: wire.Device{State: wire.DeviceOK}, Printer: wire.Device{State: wire.DeviceOK}},
		&wire.StatusRequest{},
	}
}

func TestRoundTrip(t *testing.T) {
	for _, m := range samples() {
		b, err := wire.Encode(m)
		if err != nil {
			t.Fatalf("%T: %v", m, err)
		}
		if b[0] != wire.Version || wire.Type(b[1]) != m.Type() {
			t.Fatalf("%T: header %x", m, b[:2])
		}
		got, err := wire.Decode(b)
		if err != nil {
			t.Fatalf("%T: %v", m, err)
		}
		if diff := cmp.Diff(m, got); diff != "" {
			t.Fatalf("%T (-want +got):\n%s", m, diff)
		}
	}
}

func TestGolden(t *testing.T) {
	b, _ := wire.Encode(&wire.Acks{Acks: []wire.Ack{{Seq: 1, Outcome: wire.Settled, CardNo: "AB", Balance: 8750, Version: 3, Day: 20417, TodayCount: 2}}})
	want := "0105" + "0001" + "0000000000000001" + "01" + "02" + "4142" + "000000000000222e" + "0000000000000003" + "00004fc1" + "0002"
	if got := hex.EncodeToString(b); got != want {
		t.Fatalf("got %s want %s", got, want)
	}
}

func TestDecodeRefuses(t *testing.T) {
	good, _ := wire.Encode(samples()[4])
	tests := map[string]struct {
		b   []byte
		err error
	}{
		"empty":           {nil, wire.ErrMalformed},
		"version 2":       {append([]byte{2}, good[1:]...), wire.ErrVersion},
		"unknown type":    {[]byte{1, 99}, wire.ErrType},
		"truncated":       {good[:len(good)-3], wire.ErrMalformed},
		"trailing":        {append(append([]byte{}, good...), 0), wire.ErrMalformed},
		"oversized":       {make([]byte, wire.MaxFrame+1), wire.ErrTooLarge},
		"batch too big":   {[]byte{1, 4, 0xff, 0xff}, wire.ErrTooLarge},
		"bad outcome":     {[]byte{1, 5, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0}, wire.ErrMalformed},
		"entry too long":  {append([]byte{1, 4, 0, 1, 0xff, 0xff}, make([]byte, 10)...), wire.ErrMalformed},
		"lying count":     {[]byte{1, 4, 0, 5, 0, 1, 7}, wire.ErrMalformed},
		"challenge short": {[]byte{1, 1, 0}, wire.ErrMalformed},
	}
	for name, tt := range tests {
		if _, err := wire.Decode(tt.b); !errors.Is(err, tt.err) {
			t.Errorf("%s: %v, want %v", name, err, tt.err)
		}
	}
	if _, err := wire.Encode(&wire.Entries{Entries: make([][]byte, wire.MaxBatch+1)}); !errors.Is(err, wire.ErrTooLarge) {
		t.Errorf("encode over-long batch: %v", err)
	}
}

func TestHelloMessageBindsTerminal(t *testing.T) {
	n := [32]byte{1}
	if bytes.Equal(wire.HelloMessage(n, 1), wire.HelloMessage(n, 2)) {
		t.Fatal("hello message does not depend on the terminal")
	}
}

func FuzzDecode(f *testing.F) {
	for _, m := range samples() {
		b, _ := wire.Encode(m)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := wire.Decode(b)
		if err != nil {
			return
		}
		again, err := wire.Encode(m)
		if err != nil {
			t.Fatalf("decoded %T does not encode: %v", m, err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("%T: non-canonical frame accepted:\n%x\n%x", m, b, again)
		}
	})
}
