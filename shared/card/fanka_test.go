package card_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/fanka/fanka/shared/card"
)

// testKey is a fixed card key: the scalar 1…32.
func testKey(t testing.TB) *ecdsa.PrivateKey { return testKeyFrom(t, 1) }

// testKeyFrom is the card key with scalar from, from+1, … (32 bytes).
func testKeyFrom(t testing.TB, from byte) *ecdsa.PrivateKey {
	t.Helper()
	d := make([]byte, 32)
	for i := range d {
		d[i] = from + byte(i)
	}
	k, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), d)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var challenge = card.Challenge{Terminal: 7, Seq: 0x0102030405, Amount: 1250, Time: 1_795_000_000_000}

// TestCommandBytes pins every command to the byte.
func TestCommandBytes(t *testing.T) {
	for _, tt := range []struct {
		name string
		got  []byte
		want string
	}{
		{"SELECT", card.Select, "00 A4 04 00 07 F0 46 41 4E 4B 41 01 00"},
		{"READ IDENTITY", card.ReadIdentity, "80 10 00 00 00"},
		{"SIGN SALE", card.SignSale(challenge),
			"80 20 00 00 1C" + " 00000007" + " 0000000102030405" + " 00000000000004E2" + " 000001A1EE565E00" + " 00"},
	} {
		if want := unhex(t, tt.want); !bytes.Equal(tt.got, want) {
			t.Errorf("%s = % X, want % X", tt.name, tt.got, want)
		}
	}
	ch, err := card.ParseChallenge(card.SignSale(challenge)[5 : 5+card.ChallengeSize])
	if err != nil || ch != challenge {
		t.Fatalf("ParseChallenge = %+v, %v", ch, err)
	}
	if _, err := card.ParseChallenge(make([]byte, 27)); !errors.Is(err, card.ErrResponse) {
		t.Fatalf("short challenge: %v", err)
	}
}

// TestSaleMessageBytes pins what a card signs.
func TestSaleMessageBytes(t *testing.T) {
	got := card.SaleMessage("FK01", challenge, 9)
	want := append([]byte("fanka/card/sale/v1\x00"), unhex(t, "04 464B3031 00000007 0000000102030405 00000000000004E2 000001A1EE565E00 00000009")...)
	if !bytes.Equal(got, want) {
		t.Fatalf("SaleMessage = % X\nwant          % X", got, want)
	}
}

func TestSelect(t *testing.T) {
	for _, tt := range []struct {
		resp string
		want int
		err  error
	}{
		{"01 9000", 1, nil},
		{"6A82", 0, card.ErrStatus},
		{"6D00", 0, card.ErrStatus},
		{"9000", 0, card.ErrResponse},
		{"01 02 9000", 0, card.ErrResponse},
		{"90", 0, card.ErrResponse},
	} {
		v, err := card.ParseSelect(unhex(t, tt.resp))
		if v != tt.want || !errors.Is(err, tt.err) {
			t.Errorf("ParseSelect(%s) = %d, %v; want %d, %v", tt.resp, v, err, tt.want, tt.err)
		}
	}
}

func TestIdentity(t *testing.T) {
	key := testKey(t)
	id := card.Identity{CardNo: "FK0001", PublicKey: &key.PublicKey, Counter: 0x01020304}
	resp, err := card.IdentityResponse(id)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := key.PublicKey.Bytes()
	want := append(append([]byte{6}, "FK0001"...), pub...)
	want = append(want, 0x01, 0x02, 0x03, 0x04, 0x90, 0x00)
	if !bytes.Equal(resp, want) {
		t.Fatalf("identity answer % X\nwant % X", resp, want)
	}
	got, err := card.ParseIdentity(resp)
	if err != nil || got.CardNo != id.CardNo || got.Counter != id.Counter || !got.PublicKey.Equal(&key.PublicKey) {
		t.Fatalf("ParseIdentity = %+v, %v", got, err)
	}

	bad := func(f func([]byte) []byte) []byte { return f(bytes.Clone(resp)) }
	for _, tt := range []struct {
		name string
		resp []byte
		err  error
	}{
		{"not selected", unhex(t, "6985"), card.ErrStatus},
		{"empty", unhex(t, "9000"), card.ErrResponse},
		{"short", bad(func(b []byte) []byte { return append(b[:len(b)-3], 0x90, 0x00) }), card.ErrResponse},
		{"long", bad(func(b []byte) []byte { return append(b[:len(b)-2], 0, 0x90, 0x00) }), card.ErrResponse},
		{"lower-case card number", bad(func(b []byte) []byte { b[1] = 'f'; return b }), card.ErrResponse},
		{"point not on the curve", bad(func(b []byte) []byte { b[1+6+10] ^= 1; return b }), card.ErrResponse},
		{"compressed point tag", bad(func(b []byte) []byte { b[1+6] = 0x02; return b }), card.ErrResponse},
	} {
		if _, err := card.ParseIdentity(tt.resp); !errors.Is(err, tt.err) {
			t.Errorf("%s: ParseIdentity: %v, want %v", tt.name, err, tt.err)
		}
	}
	if _, err := card.IdentityResponse(card.Identity{CardNo: "fk", PublicKey: &key.PublicKey}); err == nil {
		t.Error("IdentityResponse took a bad card number")
	}
}

func TestSignAndVerify(t *testing.T) {
	key := testKey(t)
	sig, err := card.SignSaleWith(key, "FK0001", challenge, 42)
	if err != nil {
		t.Fatal(err)
	}
	// Through the card's answer and the entry's bytes.
	resp := append(sig.Marshal(), 0x90, 0x00)
	if !bytes.Equal(resp[:4], []byte{0, 0, 0, 42}) {
		t.Fatalf("answer starts % X, want the counter", resp[:4])
	}
	got, err := card.ParseSignSale(resp)
	if err != nil {
		t.Fatal(err)
	}
	if err := card.VerifySale(&key.PublicKey, "FK0001", challenge, got); err != nil {
		t.Fatal(err)
	}
	other := testKeyFrom(t, 2)
	for _, tt := range []struct {
		name   string
		pub    *ecdsa.PublicKey
		cardNo string
		ch     card.Challenge
		sig    card.SaleSignature
	}{
		{"another card's key", &other.PublicKey, "FK0001", challenge, got},
		{"another card number", &key.PublicKey, "FK0002", challenge, got},
		{"another register", &key.PublicKey, "FK0001", card.Challenge{Terminal: 8, Seq: challenge.Seq, Amount: challenge.Amount, Time: challenge.Time}, got},
		{"another seq", &key.PublicKey, "FK0001", card.Challenge{Terminal: 7, Seq: challenge.Seq + 1, Amount: challenge.Amount, Time: challenge.Time}, got},
		{"another amount", &key.PublicKey, "FK0001", card.Challenge{Terminal: 7, Seq: challenge.Seq, Amount: 1251, Time: challenge.Time}, got},
		{"another time", &key.PublicKey, "FK0001", card.Challenge{Terminal: 7, Seq: challenge.Seq, Amount: challenge.Amount, Time: challenge.Time + 1}, got},
		{"another counter", &key.PublicKey, "FK0001", challenge, card.SaleSignature{Counter: 43, DER: got.DER}},
		{"no key", nil, "FK0001", challenge, got},
	} {
		if err := card.VerifySale(tt.pub, tt.cardNo, tt.ch, tt.sig); !errors.Is(err, card.ErrSignature) {
			t.Errorf("%s: VerifySale = %v", tt.name, err)
		}
	}
	for _, b := range [][]byte{nil, {0, 0, 0, 1}, make([]byte, 4+card.MaxSignatureSize+1)} {
		if _, err := card.ParseSaleSignature(b); !errors.Is(err, card.ErrResponse) {
			t.Errorf("ParseSaleSignature(% X) = %v", b, err)
		}
	}
	if _, err := card.ParseSignSale(unhex(t, "6581")); !errors.Is(err, card.ErrStatus) {
		t.Errorf("counter exhausted: %v", err)
	}
}

func FuzzParseIdentity(f *testing.F) {
	key := testKey(f)
	resp, _ := card.IdentityResponse(card.Identity{CardNo: "FK0001", PublicKey: &key.PublicKey, Counter: 3})
	f.Add(resp)
	f.Add([]byte{0x69, 0x85})
	f.Fuzz(func(t *testing.T, resp []byte) {
		id, err := card.ParseIdentity(resp)
		if err != nil {
			return
		}
		again, err := card.IdentityResponse(id)
		if err != nil || !bytes.Equal(again, resp) {
			t.Fatalf("identity % X reads as %+v, written back % X (%v)", resp, id, again, err)
		}
	})
}

func FuzzParseSignSale(f *testing.F) {
	sig, _ := card.SignSaleWith(testKey(f), "FK0001", challenge, 1)
	f.Add(append(sig.Marshal(), 0x90, 0x00))
	f.Add([]byte{0x6A, 0x80})
	f.Fuzz(func(t *testing.T, resp []byte) {
		s, err := card.ParseSignSale(resp)
		if err != nil {
			return
		}
		if !bytes.Equal(append(s.Marshal(), 0x90, 0x00), resp) {
			t.Fatalf("% X does not round-trip", resp)
		}
	})
}
