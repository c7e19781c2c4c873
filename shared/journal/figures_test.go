package journal_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/fanka/fanka/shared/journal"
)

func TestFigures(t *testing.T) {
	for _, cardNo := range []string{"1", "04A1B2C3D4E5F6", strings.Repeat("Z", journal.MaxCardNo)} {
		e := sale(1, journal.Hash{})
		e.CardNo, e.CardSig, e.Cashier = cardNo, []byte{1, 2, 3}, strings.Repeat("C", len(cardNo)%(journal.MaxCashier+1))
		if err := e.Sign(testKey); err != nil {
			t.Fatal(err)
		}
		b, err := e.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		for _, prefix := range [][]byte{b, b[:min(len(b), journal.FiguresSize)]} {
			kind, tm, amount, err := journal.Figures(prefix)
			if err != nil || kind != journal.KindSale || tm != e.Time || amount != e.Amount {
				t.Errorf("figures of an entry on card %q (%d of %d bytes): %v, %d, %d, %v; want sale, %d, %d", cardNo, len(prefix), len(b), kind, tm, amount, err, e.Time, e.Amount)
			}
			f, err := journal.ReadFigures(prefix)
			want := journal.EntryFigures{Kind: journal.KindSale, Seq: e.Seq, Time: e.Time, Amount: e.Amount, Cashier: e.Cashier}
			if err != nil || f != want {
				t.Errorf("ReadFigures of an entry on card %q (%d of %d bytes): %+v, %v; want %+v", cardNo, len(prefix), len(b), f, err, want)
			}
		}
		for _, cut := range []int{0, 10, 24, 24 + len(cardNo) + 7} {
			if _, _, _, err := journal.Figures(b[:cut]); !errors.Is(err, journal.ErrMalformed) {
				t.Errorf("figures of the first %d bytes: %v; want ErrMalformed", cut, err)
			}
		}
		// Cut inside the cashier: the amount is there, the cashier is not.
		if _, err := journal.ReadFigures(b[:24+len(cardNo)+8+8+1+len(e.Cashier)-1]); len(e.Cashier) > 0 && !errors.Is(err, journal.ErrMalformed) {
			t.Errorf("ReadFigures cut in the cashier: %v; want ErrMalformed", err)
		}
		bad := append([]byte{9}, b[1:]...)
		if _, _, _, err := journal.Figures(bad); !errors.Is(err, journal.ErrVersion) {
			t.Errorf("figures of version 9: %v; want ErrVersion", err)
		}
	}
}
