package money_test

import (
	"errors"
	"math"
	"testing"

	"github.com/fanka/fanka/shared/money"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		want money.Fen
		err  error
	}{
		{"12.50", 1250, nil},
		{"12.5", 1250, nil},
		{"12", 1200, nil},
		{"12.", 1200, nil},
		{"0.01", 1, nil},
		{".5", 50, nil},
		{"0", 0, nil},
		{"007.10", 710, nil},
		{"92233720368547758.07", math.MaxInt64, nil},
		{"92233720368547758.08", 0, money.ErrOverflow},
		{"", 0, money.ErrEmpty},
		{".", 0, money.ErrSyntax},
		{"-1", 0, money.ErrNegative},
		{"+1", 0, money.ErrSyntax},
		{"1.234", 0, money.ErrPrecision},
		{"1.2.3", 0, money.ErrSyntax},
		{"1e3", 0, money.ErrSyntax},
		{" 1", 0, money.ErrSyntax},
		{"1,000", 0, money.ErrSyntax},
		{"１２", 0, money.ErrSyntax}, // full-width digits
		{"99999999999999999999", 0, money.ErrOverflow},
	}
	for _, tt := range tests {
		got, err := money.Parse(tt.in)
		if !errors.Is(err, tt.err) || got != tt.want {
			t.Errorf("Parse(%q) = %d, %v; want %d, %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestString(t *testing.T) {
	tests := []struct {
		in   money.Fen
		want string
	}{
		{0, "0.00"}, {1, "0.01"}, {1250, "12.50"}, {-30, "-0.30"}, {-1250, "-12.50"},
		{math.MinInt64, "-92233720368547758.08"}, {math.MaxInt64, "92233720368547758.07"},
	}
	for _, tt := range tests {
		if got := tt.in.String(); got != tt.want {
			t.Errorf("Fen(%d).String() = %q; want %q", int64(tt.in), got, tt.want)
		}
	}
}

func TestAdd(t *testing.T) {
	if s, ok := money.Add(1, 2); !ok || s != 3 {
		t.Fatalf("Add(1,2) = %d, %v", s, ok)
	}
	if _, ok := money.Add(math.MaxInt64, 1); ok {
		t.Fatal("Add overflow not detected")
	}
	if _, ok := money.Add(math.MinInt64, -1); ok {
		t.Fatal("Add underflow not detected")
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"12.50", "0.01", ".5", "1.234", "-1", "99999999999999999999", "1e3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := money.Parse(s)
		if err != nil {
			return
		}
		if v < 0 {
			t.Fatalf("Parse(%q) = %d < 0", s, v)
		}
		back, err := money.Parse(v.String())
		if err != nil || back != v {
			t.Fatalf("round trip %q -> %d -> %q -> %d, %v", s, v, v.String(), back, err)
		}
	})
}
