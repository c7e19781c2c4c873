package card_test

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"

	"github.com/fanka/fanka/shared/card"
)

var (
	writerKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))
	otherKey  = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{8}, 32))
	writers   = card.PurseKeys{3: writerKey.Public().(ed25519.PublicKey)}
)

var purse = card.Purse{CardNo: "FK01", Balance: -250, Day: 20_787, TodayCount: 2,
	LastSale: 1_795_000_000_000, Seq: 0x0102030405060708, Writer: 3}

func signed(t testing.TB, p card.Purse, key ed25519.PrivateKey) card.Purse {
	t.Helper()
	p, err := card.SignPurse(p, key)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestPurseBytes pins the record, what its writer signs and both commands
// to the byte.
func TestPurseBytes(t *testing.T) {
	body := "01 04 464B3031 " + strings.Repeat("00", 28) + // version, card number zero-padded to 32
		" FFFFFFFFFFFFFF06" + // balance -2.50
		" 00005133" + // day 20787
		" 0002" + // today's count
		" 000001A1EE565E00" + // last sale, Unix ms
		" 0102030405060708" + // sequence
		" 00000003" // writer
	if got, want := card.PurseMessage(purse), append([]byte("fanka/card/purse/v1\x00"), unhex(t, body)...); !bytes.Equal(got, want) {
		t.Fatalf("PurseMessage = % X\nwant           % X", got, want)
	}
	p := signed(t, purse, writerKey)
	rec := p.Marshal()
	if len(rec) != card.PurseSize || card.PurseSize != 132 {
		t.Fatalf("record of %d bytes, PurseSize %d, want 132", len(rec), card.PurseSize)
	}
	if !bytes.Equal(rec[:68], unhex(t, body)) || !bytes.Equal(rec[68:], ed25519.Sign(writerKey, card.PurseMessage(purse))) {
		t.Fatalf("record % X", rec)
	}
	if want := unhex(t, "80 30 00 00 00"); !bytes.Equal(card.ReadPurse, want) {
		t.Errorf("READ PURSE = % X, want % X", card.ReadPurse, want)
	}
	if w := card.WritePurse(p); !bytes.Equal(w[:5], unhex(t, "80 32 00 00 84")) || !bytes.Equal(w[5:], rec) {
		t.Errorf("WRITE PURSE = % X", w)
	}
	got, ok, err := card.ParseReadPurse(append(rec, 0x90, 0x00))
	if err != nil || !ok || got != p {
		t.Fatalf("ParseReadPurse = %+v, %v, %v", got, ok, err)
	}
	if _, ok, err := card.ParseReadPurse(unhex(t, "6A88")); ok || err != nil {
		t.Fatalf("no record: %v, %v", ok, err)
	}
	if _, _, err := card.ParseReadPurse(unhex(t, "6985")); !errors.Is(err, card.ErrStatus) {
		t.Fatalf("not selected: %v", err)
	}
	if err := card.ParseWritePurse(unhex(t, "9000")); err != nil {
		t.Fatal(err)
	}
	var se *card.StatusError
	if err := card.ParseWritePurse(unhex(t, "6984")); !errors.As(err, &se) || se.SW != card.SWPurseStale {
		t.Fatalf("stale write: %v", err)
	}
	if err := card.ParseWritePurse(unhex(t, "01 9000")); !errors.Is(err, card.ErrResponse) {
		t.Fatalf("data with 90 00: %v", err)
	}
}

// TestPurseBounds: the extremes of every field survive the round trip; a
// card number of 32 characters fills its field.
func TestPurseBounds(t *testing.T) {
	for _, p := range []card.Purse{
		{CardNo: "0", Writer: card.WriterOffice},
		{CardNo: "ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ", Balance: 1<<63 - 1, Day: 1<<31 - 1, TodayCount: 0xFFFF,
			LastSale: 1<<63 - 1, Seq: 1<<64 - 1, Writer: 1<<32 - 1},
		{CardNo: "9", Balance: -1 << 63, Day: -1 << 31, LastSale: -1 << 63},
	} {
		p = signed(t, p, writerKey)
		got, err := card.OpenPurse(p.Marshal(), p.CardNo, card.PurseKeys{p.Writer: writerKey.Public().(ed25519.PublicKey)})
		if err != nil || got != p {
			t.Errorf("%+v: OpenPurse = %+v, %v", p, got, err)
		}
	}
	for _, no := range []string{"", "fk01", "ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ"} {
		if _, err := card.SignPurse(card.Purse{CardNo: no}, writerKey); err == nil {
			t.Errorf("SignPurse took card number %q", no)
		}
	}
}

// TestBadPurse: records that must not be believed, each with the error
// that says why.
func TestBadPurse(t *testing.T) {
	good := signed(t, purse, writerKey)
	rec := good.Marshal()
	edit := func(f func([]byte) []byte) []byte { return f(bytes.Clone(rec)) }
	for _, tt := range []struct {
		name   string
		rec    []byte
		cardNo string
		keys   card.PurseKeys
		err    error
	}{
		{"empty", nil, "FK01", writers, card.ErrResponse},
		{"one byte short", rec[:len(rec)-1], "FK01", writers, card.ErrResponse},
		{"one byte long", append(bytes.Clone(rec), 0), "FK01", writers, card.ErrResponse},
		{"version 0", edit(func(b []byte) []byte { b[0] = 0; return b }), "FK01", writers, card.ErrResponse},
		{"version 2", edit(func(b []byte) []byte { b[0] = 2; return b }), "FK01", writers, card.ErrResponse},
		{"card number longer than its field", edit(func(b []byte) []byte { b[1] = 33; return b }), "FK01", writers, card.ErrResponse},
		{"empty card number", edit(func(b []byte) []byte { b[1] = 0; return b }), "FK01", writers, card.ErrResponse},
		{"lower-case card number", edit(func(b []byte) []byte { b[2] = 'f'; return b }), "FK01", writers, card.ErrResponse},
		{"padding not zero", edit(func(b []byte) []byte { b[2+31] = 'X'; return b }), "FK01", writers, card.ErrResponse},
		{"another card's record", rec, "FK02", writers, card.ErrPurse},
		{"balance raised", edit(func(b []byte) []byte { b[2+32] = 0x7F; return b }), "FK01", writers, card.ErrPurse},
		{"count lowered", edit(func(b []byte) []byte { b[2+32+8+4+1] = 0; return b }), "FK01", writers, card.ErrPurse},
		{"signature flipped", edit(func(b []byte) []byte { b[len(b)-1] ^= 1; return b }), "FK01", writers, card.ErrPurse},
		{"unknown writer", rec, "FK01", card.PurseKeys{4: writers[3]}, card.ErrPurse},
		{"no keys", rec, "FK01", nil, card.ErrPurse},
		{"writer's id, another key", signed(t, purse, otherKey).Marshal(), "FK01", writers, card.ErrPurse},
	} {
		if _, err := card.OpenPurse(tt.rec, tt.cardNo, tt.keys); !errors.Is(err, tt.err) {
			t.Errorf("%s: OpenPurse = %v, want %v", tt.name, err, tt.err)
		}
	}
	if _, err := card.OpenPurse(rec, "FK01", writers); err != nil {
		t.Fatalf("the good record: %v", err)
	}
}

func FuzzParsePurse(f *testing.F) {
	f.Add(signed(f, purse, writerKey).Marshal())
	f.Add(make([]byte, card.PurseSize))
	f.Add([]byte{1, 4})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := card.ParsePurse(b)
		if err != nil {
			return
		}
		if again := p.Marshal(); !bytes.Equal(again, b) {
			t.Fatalf("% X reads as %+v, written back % X", b, p, again)
		}
		// Whatever it reads as, it does not verify without its writer's key.
		if err := card.VerifyPurse(p, p.CardNo, card.PurseKeys{}); !errors.Is(err, card.ErrPurse) {
			t.Fatalf("verified with no keys: %v", err)
		}
	})
}
