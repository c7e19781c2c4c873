package card_test

import (
	"errors"
	"testing"

	"github.com/fanka/fanka/shared/card"
)

func TestGetUIDBytes(t *testing.T) {
	if string(card.GetUID) != "\xff\xca\x00\x00\x00" {
		t.Fatalf("GET DATA UID = % X", card.GetUID)
	}
}

func TestParseUID(t *testing.T) {
	tests := []struct {
		name string
		resp []byte
		want string
		err  error
	}{
		{"7-byte", []byte{0x04, 0xA1, 0xB2, 0xC3, 0xD4, 0xE5, 0xF6, 0x90, 0x00}, "04A1B2C3D4E5F6", nil},
		{"4-byte", []byte{0xDE, 0xAD, 0xBE, 0xEF, 0x90, 0x00}, "DEADBEEF", nil},
		{"10-byte", []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 0x90, 0x00}, "0102030405060708090A", nil},
		{"not supported", []byte{0x6A, 0x81}, "", card.ErrStatus},
		{"error with data", []byte{1, 2, 3, 4, 0x63, 0x00}, "", card.ErrStatus},
		{"empty", nil, "", card.ErrResponse},
		{"one byte", []byte{0x90}, "", card.ErrResponse},
		{"no uid", []byte{0x90, 0x00}, "", card.ErrResponse},
		{"5-byte uid", []byte{1, 2, 3, 4, 5, 0x90, 0x00}, "", card.ErrResponse},
	}
	for _, tt := range tests {
		got, err := card.ParseUID(tt.resp)
		if got != tt.want || !errors.Is(err, tt.err) {
			t.Errorf("%s: ParseUID(% X) = %q, %v; want %q, %v", tt.name, tt.resp, got, err, tt.want, tt.err)
		}
	}
	var se *card.StatusError
	if _, err := card.ParseUID([]byte{0x6A, 0x81}); !errors.As(err, &se) || se.SW != 0x6A81 {
		t.Fatalf("status word not carried: %v", err)
	}
}

func FuzzParseUID(f *testing.F) {
	f.Add(card.UIDResponse([]byte{4, 0xA1, 0xB2, 0xC3, 0xD4, 0xE5, 0xF6}))
	f.Add([]byte{0x6A, 0x81})
	f.Fuzz(func(t *testing.T, resp []byte) {
		no, err := card.ParseUID(resp)
		if err != nil {
			return
		}
		if len(no) < 8 || len(no) > 20 {
			t.Fatalf("card number %q from % X", no, resp)
		}
	})
}
