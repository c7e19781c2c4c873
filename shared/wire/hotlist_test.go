package wire_test

import (
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/fanka/fanka/shared/wire"
)

func TestHotlistGolden(t *testing.T) {
	b, err := wire.Encode(&wire.Hotlist{Cursor: 9, Entries: []wire.HotlistEntry{{Version: 9, CardNo: "AB", Status: wire.CardLost}}})
	if err != nil {
		t.Fatal(err)
	}
	want := "010a" + "00" + "0000000000000009" + "0001" + "0000000000000009" + "02" + "4142" + "03"
	if got := hex.EncodeToString(b); got != want {
		t.Fatalf("got %s want %s", got, want)
	}
}

// An older register's Hello ends after its signature: it still decodes,
// as a register that takes no hotlist, and encodes back to the same bytes.
func TestHelloWithoutHotlistCursor(t *testing.T) {
	old := append([]byte{1, 2, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 99}, make([]byte, 64)...)
	m, err := wire.Decode(old)
	if err != nil {
		t.Fatal(err)
	}
	h := m.(*wire.Hello)
	if h.Hotlist || h.HotlistCursor != 0 || h.Terminal != 7 || h.CardCursor != 99 {
		t.Fatalf("old hello decoded as %+v", h)
	}
	again, _ := wire.Encode(h)
	if string(again) != string(old) {
		t.Fatalf("old hello encodes as %x", again)
	}
	if _, err := wire.Encode(&wire.Hello{HotlistCursor: 3}); !errors.Is(err, wire.ErrMalformed) {
		t.Fatalf("a hotlist cursor without Hotlist encodes: %v", err)
	}
	for _, n := range []int{1, 7, 9} {
		if _, err := wire.Decode(append(append([]byte{}, old...), make([]byte, n)...)); !errors.Is(err, wire.ErrMalformed) {
			t.Errorf("hello with %d bytes after the signature: %v, want malformed", n, err)
		}
	}
}

func TestHotlistRefused(t *testing.T) {
	entry := func(version uint64, card string, status wire.CardStatus) string {
		return hex.EncodeToString([]byte{0, 0, 0, 0, 0, 0, 0, byte(version), byte(len(card))}) + hex.EncodeToString([]byte(card)) + hex.EncodeToString([]byte{byte(status)})
	}
	frame := func(flags byte, cursor uint64, n int, entries ...string) []byte {
		s := "010a" + hex.EncodeToString([]byte{flags, 0, 0, 0, 0, 0, 0, 0, byte(cursor), byte(n >> 8), byte(n)}) + strings.Join(entries, "")
		b, err := hex.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	good := frame(0, 5, 1, entry(5, "AB", wire.CardLost))
	if _, err := wire.Decode(good); err != nil {
		t.Fatalf("the good frame: %v", err)
	}
	tests := map[string]struct {
		b   []byte
		err error
	}{
		"truncated":                 {good[:len(good)-1], wire.ErrMalformed},
		"truncated in card number":  {good[:len(good)-3], wire.ErrMalformed},
		"trailing byte":             {append(append([]byte{}, good...), 0), wire.ErrMalformed},
		"count above MaxHotlist":    {frame(0, 5, wire.MaxHotlist+1), wire.ErrTooLarge},
		"count above entries":       {frame(0, 5, 2, entry(5, "AB", wire.CardLost)), wire.ErrMalformed},
		"unknown flag":              {frame(8, 5, 0), wire.ErrMalformed},
		"first without snapshot":    {frame(wire.HotlistFirst, 5, 0), wire.ErrMalformed},
		"unknown status":            {frame(0, 5, 1, entry(5, "AB", 9)), wire.ErrMalformed},
		"status zero":               {frame(0, 5, 1, entry(5, "AB", 0)), wire.ErrMalformed},
		"empty card number":         {frame(0, 5, 1, entry(5, "", wire.CardLost)), wire.ErrMalformed},
		"card number too long":      {frame(0, 5, 1, entry(5, strings.Repeat("A", 33), wire.CardLost)), wire.ErrMalformed},
		"version above cursor":      {frame(0, 4, 1, entry(5, "AB", wire.CardLost)), wire.ErrMalformed},
		"version zero":              {frame(0, 4, 1, entry(0, "AB", wire.CardLost)), wire.ErrMalformed},
		"versions out of order":     {frame(0, 9, 2, entry(6, "AB", wire.CardLost), entry(5, "AC", wire.CardLost)), wire.ErrMalformed},
		"snapshot with an active":   {frame(wire.HotlistSnapshot, 9, 1, entry(6, "AB", wire.CardActive)), wire.ErrMalformed},
		"snapshot out of order":     {frame(wire.HotlistSnapshot, 9, 2, entry(6, "AC", wire.CardLost), entry(5, "AB", wire.CardLost)), wire.ErrMalformed},
		"snapshot card twice":       {frame(wire.HotlistSnapshot, 9, 2, entry(6, "AB", wire.CardLost), entry(5, "AB", wire.CardFrozen)), wire.ErrMalformed},
		"oversized frame":           {append(frame(0, 5, 0), make([]byte, wire.MaxFrame)...), wire.ErrTooLarge},
		"header only":               {[]byte{1, 10}, wire.ErrMalformed},
		"cursor cut short":          {[]byte{1, 10, 0, 0, 0}, wire.ErrMalformed},
		"snapshot versions any way": {frame(wire.HotlistSnapshot, 4, 2, entry(6, "AB", wire.CardLost), entry(5, "AC", wire.CardLost)), nil},
	}
	for name, tt := range tests {
		_, err := wire.Decode(tt.b)
		if !errors.Is(err, tt.err) || (tt.err != nil) != (err != nil) {
			t.Errorf("%s: %v, want %v", name, err, tt.err)
		}
	}
	full := &wire.Hotlist{Entries: make([]wire.HotlistEntry, wire.MaxHotlist+1)}
	if _, err := wire.Encode(full); !errors.Is(err, wire.ErrTooLarge) {
		t.Errorf("encode %d entries: %v", len(full.Entries), err)
	}
	if _, err := wire.Encode(&wire.Hotlist{Cursor: 1, Entries: []wire.HotlistEntry{{Version: 2, CardNo: "AB", Status: wire.CardLost}}}); !errors.Is(err, wire.ErrMalformed) {
		t.Errorf("encode a version above the cursor: %v", err)
	}
}

// The largest Hotlist frame fits in MaxFrame.
func TestHotlistLargest(t *testing.T) {
	m := &wire.Hotlist{Flags: wire.HotlistSnapshot, Cursor: 1}
	for i := range wire.MaxHotlist {
		m.Entries = append(m.Entries, wire.HotlistEntry{Version: uint64(i + 1), CardNo: strings.Repeat("0", 22) + hex.EncodeToString([]byte{byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i)})[:8] + "ZZ", Status: wire.CardClosed})
	}
	b, err := wire.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wire.Decode(b); err != nil {
		t.Fatalf("%d bytes: %v", len(b), err)
	}
}

// FuzzDecodeHotlist feeds the Hotlist decoder arbitrary payloads: it never
// panics, and what it accepts is canonical and within its bounds.
func FuzzDecodeHotlist(f *testing.F) {
	for _, m := range samples() {
		if m.Type() == wire.TypeHotlist {
			b, _ := wire.Encode(m)
			f.Add(b[2:])
		}
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		b := append([]byte{wire.Version, byte(wire.TypeHotlist)}, payload...)
		m, err := wire.Decode(b)
		if err != nil {
			return
		}
		h := m.(*wire.Hotlist)
		if len(h.Entries) > wire.MaxHotlist {
			t.Fatalf("%d entries accepted", len(h.Entries))
		}
		again, err := wire.Encode(h)
		if err != nil {
			t.Fatalf("decoded hotlist does not encode: %v", err)
		}
		if string(again) != string(b) {
			t.Fatalf("non-canonical hotlist accepted:\n%x\n%x", b, again)
		}
	})
}
