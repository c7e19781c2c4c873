package journal_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/fanka/fanka/shared/journal"
)

// testKey is a fixed key so that the golden encoding below is stable.
var testKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))

func sale(seq uint64, prev journal.Hash) journal.Entry {
	return journal.Entry{
		Kind: journal.KindSale, Terminal: 3, Seq: seq, Time: 1764000000000,
		CardNo: "04A1B2C3D4E5F6", Amount: 1250, Balance: 10000, Cashier: "C01", Prev: prev,
	}
}

func TestGoldenEncoding(t *testing.T) {
	e := sale(1, journal.Hash{})
	if err := e.Sign(testKey); err != nil {
		t.Fatal(err)
	}
	b, err := e.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	// version 1, kind 1, flags 0, terminal 3, seq 1, time, card, amount 1250,
	// balance 10000, cashier "C01", void 0, no card sig, zero prev, then sig.
	wantBody := "01" + "01" + "00" + "00000003" + "0000000000000001" + "0000019ab697e800" +
		"0e" + hex.EncodeToString([]byte("04A1B2C3D4E5F6")) + "00000000000004e2" + "0000000000002710" +
		"03" + hex.EncodeToString([]byte("C01")) + "0000000000000000" + "00" + string(bytes.Repeat([]byte("00"), 32))
	if got := hex.EncodeToString(b[:len(b)-64]); got != wantBody {
		t.Fatalf("body\n got %s\nwant %s", got, wantBody)
	}
	if len(b) != len(wantBody)/2+64 {
		t.Fatalf("length %d", len(b))
	}
}

func TestRoundTripAndChain(t *testing.T) {
	pub := testKey.Public().(ed25519.PublicKey)
	var prev journal.Hash
	for seq := uint64(1); seq <= 3; seq++ {
		e := sale(seq, prev)
		if seq == 3 {
			e.Kind, e.VoidSeq, e.Flags = journal.KindVoid, 2, journal.FlagOffline
			e.CardSig = []byte{1, 2, 3}
		}
		if err := e.Sign(testKey); err != nil {
			t.Fatal(err)
		}
		b, err := e.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		got, err := journal.Unmarshal(b)
		if err != nil {
			t.Fatalf("seq %d: %v", seq, err)
		}
		if diff := cmp.Diff(e, got); diff != "" {
			t.Fatalf("round trip (-want +got):\n%s", diff)
		}
		if err := got.Verify(pub); err != nil {
			t.Fatal(err)
		}
		if err := got.Follows(seq-1, prev); err != nil {
			t.Fatal(err)
		}
		prev = journal.HashBytes(b)
		if h, _ := got.Hash(); h != prev {
			t.Fatal("Hash and HashBytes differ")
		}
	}
}

func TestTamperAndChainBreaks(t *testing.T) {
	pub := testKey.Public().(ed25519.PublicKey)
	e := sale(1, journal.Hash{})
	e.Sign(testKey)
	for name, mutate := range map[string]func(*journal.Entry){
		"amount":   func(e *journal.Entry) { e.Amount++ },
		"card":     func(e *journal.Entry) { e.CardNo = "04A1B2C3D4E5F7" },
		"seq":      func(e *journal.Entry) { e.Seq = 2 },
		"time":     func(e *journal.Entry) { e.Time++ },
		"terminal": func(e *journal.Entry) { e.Terminal = 4 },
	} {
		f := e
		mutate(&f)
		if err := f.Verify(pub); !errors.Is(err, journal.ErrSignature) {
			t.Errorf("%s changed: Verify = %v", name, err)
		}
	}
	other := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{8}, 32)).Public().(ed25519.PublicKey)
	if err := e.Verify(other); !errors.Is(err, journal.ErrSignature) {
		t.Errorf("other key: %v", err)
	}
	next := sale(2, journal.Hash{1})
	if err := next.Follows(1, journal.Hash{2}); !errors.Is(err, journal.ErrChain) {
		t.Errorf("wrong prev: %v", err)
	}
	if err := next.Follows(2, journal.Hash{1}); !errors.Is(err, journal.ErrChain) {
		t.Errorf("gap: %v", err)
	}
}

func TestInvalid(t *testing.T) {
	for name, mutate := range map[string]func(*journal.Entry){
		"zero amount":     func(e *journal.Entry) { e.Amount = 0 },
		"negative amount": func(e *journal.Entry) { e.Amount = -5 },
		"lower-case card": func(e *journal.Entry) { e.CardNo = "04a1" },
		"empty card":      func(e *journal.Entry) { e.CardNo = "" },
		"seq 0":           func(e *journal.Entry) { e.Seq = 0 },
		"terminal 0":      func(e *journal.Entry) { e.Terminal = 0 },
		"kind 9":          func(e *journal.Entry) { e.Kind = 9 },
		"flags":           func(e *journal.Entry) { e.Flags = 0x80 },
		"void forward":    func(e *journal.Entry) { e.Kind, e.VoidSeq = journal.KindVoid, 5 },
		"long cashier":    func(e *journal.Entry) { e.Cashier = "12345678901234567" },
	} {
		e := sale(2, journal.Hash{})
		mutate(&e)
		if _, err := e.Marshal(); !errors.Is(err, journal.ErrInvalid) {
			t.Errorf("%s: Marshal = %v", name, err)
		}
	}
}

func TestUnmarshalRefuses(t *testing.T) {
	e := sale(1, journal.Hash{})
	e.Sign(testKey)
	good, _ := e.Marshal()
	tests := map[string]struct {
		b   []byte
		err error
	}{
		"empty":     {nil, journal.ErrMalformed},
		"truncated": {good[:len(good)-1], journal.ErrMalformed},
		"trailing":  {append(append([]byte{}, good...), 0), journal.ErrMalformed},
		"version 2": {append([]byte{2}, good[1:]...), journal.ErrVersion},
		"huge":      {make([]byte, journal.MaxSize+1), journal.ErrMalformed},
	}
	for name, tt := range tests {
		if _, err := journal.Unmarshal(tt.b); !errors.Is(err, tt.err) {
			t.Errorf("%s: %v, want %v", name, err, tt.err)
		}
	}
}

func FuzzUnmarshal(f *testing.F) {
	e := sale(1, journal.Hash{})
	e.Sign(testKey)
	good, _ := e.Marshal()
	f.Add(good)
	f.Add(good[:40])
	f.Add([]byte{1, 2, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := journal.Unmarshal(b)
		if err != nil {
			return
		}
		again, err := e.Marshal()
		if err != nil {
			t.Fatalf("decoded entry does not encode: %v", err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("non-canonical encoding accepted:\n%x\n%x", b, again)
		}
	})
}
