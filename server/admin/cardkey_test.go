package admin_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"testing"

	"github.com/fanka/fanka/server"
)

// TestOpenCardPublicKey: POST /api/v1/cards takes a fanka card's public
// key as base64 of the uncompressed or compressed P-256 point, and refuses
// anything else with 400 EINVALID.
func TestOpenCardPublicKey(t *testing.T) {
	e := newEnv(t)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := key.PublicKey.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	offCurve := append([]byte(nil), pub...)
	offCurve[64] ^= 1
	compressed := append([]byte{2 | pub[64]&1}, pub[1:33]...)
	b64 := base64.StdEncoding.EncodeToString

	body := func(n int, key string) map[string]any {
		return map[string]any{"person_id": "13900000002" + string(rune('0'+n)), "name": "张三", "deposit": 100,
			"request_id": "key-" + string(rune('0'+n)), "card_no": "FA" + string(rune('0'+n)), "card_public_key": key}
	}
	for i, tt := range []struct {
		name string
		key  string
	}{
		{"not base64", "!!!"},
		{"off the curve", b64(offCurve)},
		{"too short", b64(pub[:64])},
		{"compressed prefix, uncompressed length", b64(append([]byte{2}, pub[1:]...))},
		{"zero point", b64(make([]byte, 65))},
		{"an Ed25519 key", b64(make([]byte, 32))},
	} {
		status, out := e.do(t, "POST", "/api/v1/cards", e.token, body(i, tt.key))
		wantError(t, tt.name, status, out, 400, server.EINVALID)
	}
	for i, key := range []string{b64(pub), b64(compressed)} {
		if status, out := e.do(t, "POST", "/api/v1/cards", e.token, body(8+i, key)); status != 201 {
			t.Errorf("key %d: status %d: %v", i, status, out)
		}
	}
}
