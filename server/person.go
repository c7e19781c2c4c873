package server

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"unicode/utf8"
)

// PersonKeyFile is the name of the key file in the server's data
// directory.
const PersonKeyFile = "person.key"

// personKeyLen is the key file's size: an AES-256 key, then an HMAC-SHA256
// key.
const personKeyLen = 64

// PersonCipher protects personal data at rest: person ids (ID card numbers
// or phones) and phone numbers are stored sealed with AES-256-GCM, and
// found by a keyed hash (HMAC-SHA256), so that a copy of the database
// without the key file tells neither who holds a card nor, by trying the
// few billion ID card numbers there are, which card a known person holds.
type PersonCipher struct {
	aead cipher.AEAD
	mac  []byte
}

// NewPersonCipher returns the cipher of a 64-byte key: AES-256 key, then
// HMAC key.
func NewPersonCipher(key []byte) (*PersonCipher, error) {
	if len(key) != personKeyLen {
		return nil, fmt.Errorf("person key: %d bytes, want %d", len(key), personKeyLen)
	}
	block, err := aes.NewCipher(key[:32])
	if err != nil {
		return nil, fmt.Errorf("person key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("person key: %w", err)
	}
	return &PersonCipher{aead: aead, mac: append([]byte(nil), key[32:]...)}, nil
}

// LoadPersonCipher reads the key file at path, creating it with a fresh
// random key and mode 0600 if it does not exist. A key file that others
// than its owner may read, or of the wrong size, is refused: the key must
// be kept as carefully as the database, and apart from its backups.
func LoadPersonCipher(path string) (*PersonCipher, error) {
	key, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		key = make([]byte, personKeyLen)
		rand.Read(key)
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, fmt.Errorf("create person key: %w", err)
		}
		_, err = f.Write(key)
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(path)
			return nil, fmt.Errorf("create person key %s: %w", path, err)
		}
		return NewPersonCipher(key)
	}
	if err != nil {
		return nil, fmt.Errorf("read person key: %w", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("person key: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("person key %s: mode %v lets others read it; chmod 600 it", path, fi.Mode().Perm())
	}
	c, err := NewPersonCipher(key)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// NormalizePersonID returns the form of an ID card number or phone that
// keys and seals: spaces and dashes removed, letters upper-cased (the X of
// an ID card number is one character however it was typed).
func NormalizePersonID(s string) string {
	return strings.ToUpper(strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' || r == '\t' {
			return -1
		}
		return r
	}, s))
}

// Key returns the keyed hash of a person id or phone, normalized, in hex:
// the unique key stores keep and search by.
func (c *PersonCipher) Key(kind, s string) string {
	m := hmac.New(sha256.New, c.mac)
	m.Write([]byte("fanka/" + kind + "/v1\x00"))
	m.Write([]byte(NormalizePersonID(s)))
	return hex.EncodeToString(m.Sum(nil))
}

// Seal encrypts s (normalized) for storage; kind ("person", "phone") is
// bound into it, so that one sealed field cannot be passed off as another.
func (c *PersonCipher) Seal(kind, s string) []byte {
	nonce := make([]byte, c.aead.NonceSize(), c.aead.NonceSize()+len(s)+c.aead.Overhead())
	rand.Read(nonce)
	return c.aead.Seal(nonce, nonce, []byte(NormalizePersonID(s)), []byte("fanka/"+kind+"/v1"))
}

// Open decrypts what Seal sealed with the same kind.
func (c *PersonCipher) Open(kind string, sealed []byte) (string, error) {
	n := c.aead.NonceSize()
	if len(sealed) < n+c.aead.Overhead() {
		return "", fmt.Errorf("open sealed %s: %d bytes is too short", kind, len(sealed))
	}
	b, err := c.aead.Open(nil, sealed[:n], sealed[n:], []byte("fanka/"+kind+"/v1"))
	if err != nil {
		return "", fmt.Errorf("open sealed %s: %w", kind, err)
	}
	return string(b), nil
}

// Mask shows enough of a person id or phone for staff to tell people
// apart, and no more: the first 3 and last 4 characters of an 11-character
// phone (138****5678), the first 6 and last 4 of an ID card number
// (110101********1234), and for anything shorter a quarter at each end.
func Mask(s string) string {
	r := []rune(s)
	n := len(r)
	var head, tail int
	switch {
	case n >= 15:
		head, tail = 6, 4
	case n >= 11:
		head, tail = 3, 4
	default:
		head, tail = n/4, n/4
	}
	out := make([]rune, 0, n)
	out = append(out, r[:head]...)
	for range n - head - tail {
		out = append(out, '*')
	}
	out = append(out, r[n-tail:]...)
	if !utf8.ValidString(string(out)) {
		return strings.Repeat("*", n)
	}
	return string(out)
}

// ValidPersonID checks a person id as the office types it: an ID card
// number, a phone number or a passport number, 5 to 32 letters and digits
// once spaces and dashes are taken out. EINVALID otherwise.
func ValidPersonID(s string) error {
	n := NormalizePersonID(s)
	if len(n) < 5 || len(n) > 32 {
		return Errorf(EINVALID, "person_id must be an ID card, phone or passport number: 5 to 32 letters and digits")
	}
	for i := 0; i < len(n); i++ {
		if c := n[i]; !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z') {
			return Errorf(EINVALID, "person_id must be an ID card, phone or passport number: letters and digits only")
		}
	}
	return nil
}

// ValidPhone checks a phone number: 5 to 20 digits, with an optional
// leading +, once spaces and dashes are taken out. EINVALID otherwise.
func ValidPhone(s string) error {
	n := strings.TrimPrefix(NormalizePersonID(s), "+")
	if len(n) < 5 || len(n) > 20 {
		return Errorf(EINVALID, "phone must be 5 to 20 digits")
	}
	for i := 0; i < len(n); i++ {
		if n[i] < '0' || n[i] > '9' {
			return Errorf(EINVALID, "phone must be digits only")
		}
	}
	return nil
}
