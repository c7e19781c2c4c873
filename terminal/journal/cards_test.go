package journal

import (
	"bytes"
	"errors"
	"testing"

	"github.com/fanka/fanka/shared/wire"
)

var cardRecords = []wire.Card{
	{Version: 1, CardNo: "04A1B2C3D4E5F6", Name: "张三", Status: wire.CardActive, Balance: 10000, Day: 20417, TodayCount: 2},
	{Version: 1 << 40, CardNo: "FK1", Name: "", Status: wire.CardLost, Balance: -250, Day: -1, TodayCount: 65535},
	{Version: 0, CardNo: "X", Name: "欧阳明明明明明明明明明明明明明明明明明明明", Status: wire.CardClosed},
}

func TestCardRecord(t *testing.T) {
	for _, c := range cardRecords {
		b := encodeCard(&c)
		if b[0] != cardFormat {
			t.Fatalf("record starts % X", b[:1])
		}
		var got wire.Card
		if err := decodeCard(c.CardNo, b, &got); err != nil || got != c {
			t.Fatalf("card %+v: decoded %+v, %v", c, got, err)
		}
		// Every cut is refused, and so is a trailing byte.
		for n := 0; n < len(b); n++ {
			if err := decodeCard(c.CardNo, b[:n], &got); !errors.Is(err, errCard) {
				t.Fatalf("card %q cut to %d bytes: %v", c.CardNo, n, err)
			}
		}
		if err := decodeCard(c.CardNo, append(bytes.Clone(b), 0), &got); !errors.Is(err, errCard) {
			t.Fatalf("trailing byte: %v", err)
		}
	}
	// The record is small: what a million cards take on disk depends on it.
	if b := encodeCard(&cardRecords[0]); len(b) > 20 {
		t.Fatalf("record of %d bytes", len(b))
	}
}

// TestCardRecordFirstFormat: cards stored by the first version of the
// journal (one-card wire.Cards frames) are still read.
func TestCardRecordFirstFormat(t *testing.T) {
	c := cardRecords[0]
	b, err := wire.Encode(&wire.Cards{Cards: []wire.Card{c}})
	if err != nil {
		t.Fatal(err)
	}
	var got wire.Card
	if err := decodeCard(c.CardNo, b, &got); err != nil || got != c {
		t.Fatalf("first format: %+v, %v", got, err)
	}
	if err := decodeCard("OTHER", b, &got); !errors.Is(err, errCard) {
		t.Fatalf("a record under another card's number: %v", err)
	}
}

func FuzzDecodeCard(f *testing.F) {
	for _, c := range cardRecords {
		f.Add(c.CardNo, encodeCard(&c))
	}
	f.Add("A", []byte{0xC2, 0x80})
	f.Fuzz(func(t *testing.T, cardNo string, b []byte) {
		var c, again wire.Card
		if err := decodeCard(cardNo, b, &c); err != nil {
			return
		}
		if err := decodeCard(cardNo, encodeCard(&c), &again); err != nil || again != c {
			t.Fatalf("% X decodes to %+v, which reads back as %+v (%v)", b, c, again, err)
		}
		if c.Status < wire.CardActive || c.Status > wire.CardClosed {
			t.Fatalf("% X decodes to status %d", b, c.Status)
		}
	})
}
