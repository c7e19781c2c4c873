// Package money holds amounts of money as whole fen (分, 1/100 yuan).
//
// Every amount in Fanka is an integer number of fen: no floating point value
// ever holds money, so 0.1 + 0.2 is exactly 0.30 and sums never drift.
package money

import (
	"errors"
	"fmt"
	"math"
	"strings"
)

// Fen is an amount of money in fen. It may be negative (a debit posting, an
// overdrawn balance); user input through Parse never is.
type Fen int64

// Yuan is one yuan in fen.
const Yuan Fen = 100

// Errors returned by Parse.
var (
	ErrEmpty     = errors.New("money: empty amount")
	ErrSyntax    = errors.New("money: not an amount (digits with at most one '.')")
	ErrNegative  = errors.New("money: negative amount")
	ErrPrecision = errors.New("money: more than two decimals")
	ErrOverflow  = errors.New("money: amount too large")
)

// Parse reads a non-negative amount in yuan as a cashier or operator writes it:
// "12", "12.5", "12.50", "0.01", ".5". It refuses signs, spaces, exponents,
// thousands separators and more than two decimals.
func Parse(s string) (Fen, error) {
	if s == "" {
		return 0, ErrEmpty
	}
	if s[0] == '-' {
		return 0, fmt.Errorf("%w: %q", ErrNegative, s)
	}
	whole, frac, hasDot := strings.Cut(s, ".")
	if whole == "" && frac == "" {
		return 0, fmt.Errorf("%w: %q", ErrSyntax, s)
	}
	if !digits(whole) || !digits(frac) || (hasDot && frac == "" && whole == "") {
		return 0, fmt.Errorf("%w: %q", ErrSyntax, s)
	}
	if len(frac) > 2 {
		return 0, fmt.Errorf("%w: %q", ErrPrecision, s)
	}
	const maxYuan = math.MaxInt64 / 100
	var y int64
	for _, c := range whole {
		if y > (maxYuan-int64(c-'0'))/10 {
			return 0, fmt.Errorf("%w: %q", ErrOverflow, s)
		}
		y = y*10 + int64(c-'0')
	}
	f := int64(0)
	for i := 0; i < 2; i++ {
		f *= 10
		if i < len(frac) {
			f += int64(frac[i] - '0')
		}
	}
	if y == maxYuan && f > math.MaxInt64%100 {
		return 0, fmt.Errorf("%w: %q", ErrOverflow, s)
	}
	return Fen(y*100 + f), nil
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// String formats the amount in yuan with exactly two decimals: "12.50",
// "-0.30", "0.00".
func (f Fen) String() string {
	sign := ""
	u := uint64(f)
	if f < 0 {
		sign = "-"
		u = uint64(-(f + 1)) + 1 // correct for math.MinInt64 too
	}
	return fmt.Sprintf("%s%d.%02d", sign, u/100, u%100)
}

// Add returns a+b, or false if the sum overflows.
func Add(a, b Fen) (Fen, bool) {
	s := a + b
	if (b > 0 && s < a) || (b < 0 && s > a) {
		return 0, false
	}
	return s, true
}
