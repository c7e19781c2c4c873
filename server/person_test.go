package server_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fanka/fanka/server"
)

func TestPersonCipher(t *testing.T) {
	path := filepath.Join(t.TempDir(), server.PersonKeyFile)
	c, err := server.LoadPersonCipher(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file %v, %v: want mode 0600", fi, err)
	}
	again, err := server.LoadPersonCipher(path)
	if err != nil {
		t.Fatal(err)
	}
	// The key is the file's: the same key, the same hash, and what one
	// sealed the other opens.
	if c.Key("person", "11010119900101123x") != again.Key("person", "110101 19900101 123X") {
		t.Error("the key of one id typed two ways differs")
	}
	if c.Key("person", "13800138000") == c.Key("phone", "13800138000") {
		t.Error("a person key and a phone key of the same digits are equal")
	}
	sealed := c.Seal("person", "11010119900101123x")
	if bytes.Contains(sealed, []byte("1101")) {
		t.Error("the sealed id holds the id in the clear")
	}
	if s := c.Seal("person", "11010119900101123X"); bytes.Equal(s, sealed) {
		t.Error("sealing twice gave the same bytes: sealing must be randomized")
	}
	if got, err := again.Open("person", sealed); err != nil || got != "11010119900101123X" {
		t.Errorf("open: %q, %v", got, err)
	}
	// Tampered, truncated, or passed off as another field: refused.
	bad := bytes.Clone(sealed)
	bad[len(bad)-1] ^= 1
	for name, b := range map[string][]byte{"flipped": bad, "short": sealed[:10], "empty": nil} {
		if _, err := c.Open("person", b); err == nil {
			t.Errorf("%s sealed bytes opened", name)
		}
	}
	if _, err := c.Open("phone", sealed); err == nil {
		t.Error("a sealed person id opened as a phone")
	}
	// Another server's key opens nothing.
	other, _ := server.LoadPersonCipher(filepath.Join(t.TempDir(), "k"))
	if _, err := other.Open("person", sealed); err == nil {
		t.Error("another key opened the sealed id")
	}
}

func TestPersonKeyFileRefused(t *testing.T) {
	dir := t.TempDir()
	open := filepath.Join(dir, "open.key")
	os.WriteFile(open, make([]byte, 64), 0o644)
	if _, err := server.LoadPersonCipher(open); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("a key file others may read: %v, want refused", err)
	}
	short := filepath.Join(dir, "short.key")
	os.WriteFile(short, make([]byte, 63), 0o600)
	if _, err := server.LoadPersonCipher(short); err == nil {
		t.Error("a 63-byte key file was taken")
	}
	if _, err := server.LoadPersonCipher(filepath.Join(dir, "no", "such", "dir", "k")); err == nil {
		t.Error("a key file that cannot be created was taken")
	}
}

func TestMask(t *testing.T) {
	for in, want := range map[string]string{
		"11010119900101123X": "110101********123X",
		"13800138000":        "138****8000",
		"E12345678":          "E1*****78",
		"12345":              "1***5",
	} {
		if got := server.Mask(in); got != want {
			t.Errorf("Mask(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestValidPersonID(t *testing.T) {
	for _, ok := range []string{"11010119900101123X", "110101 19900101 123x", "13800138000", "E12345678"} {
		if err := server.ValidPersonID(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "1234", "张三", "<script>", "1381234567'--", strings.Repeat("1", 33)} {
		if err := server.ValidPersonID(bad); server.ErrorCode(err) != server.EINVALID {
			t.Errorf("%q: %v, want EINVALID", bad, err)
		}
	}
}
