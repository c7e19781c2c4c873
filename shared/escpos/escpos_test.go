package escpos_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"log"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fanka/fanka/shared/escpos"
	"github.com/fanka/fanka/shared/money"
	"github.com/fanka/fanka/shared/printer/printertest"
	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

var cst = time.FixedZone("CST", 8*3600)

// sale is the receipt of an ordinary sale.
func sale() escpos.Receipt {
	return escpos.Receipt{
		Canteen:    "第一食堂",
		Register:   "二号窗口",
		Cashier:    "王芳",
		Time:       time.Date(2025, 3, 14, 12, 5, 9, 0, cst),
		CardNo:     "04A1B2C3D4E5F6",
		Amount:     1250,
		Balance:    8750,
		Seq:        1024,
		RegisterID: 7,
		EntryHash:  [32]byte{0x3F, 0x2A, 0x9C, 0x01, 0xDE, 0xAD, 0xBE, 0xEF, 31: 0xFF},
	}
}

// receipts are the golden cases: testdata/<name>.golden holds the
// transcript, testdata/<name>.hex.golden a hex dump of the bytes.
var receipts = []struct {
	name string
	edit func(*escpos.Receipt)
	// want are pieces the transcript must hold, beyond matching the golden file.
	want []string
}{
	{"receipt", func(*escpos.Receipt) {}, []string{
		"[INIT][CHINESE][ALIGN c][SIZE 2x2]第一食堂\n[SIZE 1x1][ALIGN l]",
		"卡号 04A1******E5F6\n", "消费 ￥12.50\n", "余额 ￥87.50\n", "单号 7-1024\n", "校验 3F2A9C01\n",
	}},
	{"long_names", func(r *escpos.Receipt) {
		r.Canteen = strings.Repeat("第一食堂", 50)
		r.Register = strings.Repeat("Window ", 28) + "1234"
		r.Cashier = strings.Repeat("王a", 100)
		r.CardNo = strings.Repeat("0123456789ABCDEF", 13)
	}, []string{
		"[SIZE 2x2]第一食堂第一食…\n", "窗口 Window Window Window Wind…\n",
		"收银 王a王a王a王a王a王a王a王a…\n", "卡号 0123*******************CDEF\n",
	}},
	{"odd_text", func(r *escpos.Receipt) {
		r.Canteen = "食堂😀¥€"
		r.Register = "A\x1bd\x09\x1dVA0\x00\nB\x7f\u0085\u202e\u200dC\xff\xfeD"
		r.Cashier = "\ue000王\u3000芳\u2028\ufffd"
		r.CardNo = "04a1-é\x00"
	}, []string{"食堂???\n", "窗口 A?d??VA0??B????C??D\n", "收银 ?王\u3000芳??\n", "卡号 ***1???\n"}},
	{"overdraft", func(r *escpos.Receipt) {
		r.Amount, r.Balance = 1250, -150
		r.Cashier = ""
	}, []string{"消费 ￥12.50\n", "余额 -￥1.50\n"}},
	{"zero", func(r *escpos.Receipt) {
		r.Amount, r.Balance = 0, 0
		r.CardNo = "E5F6"
	}, []string{"卡号 E5F6\n", "消费 ￥0.00\n", "余额 ￥0.00\n"}},
	{"extremes", func(r *escpos.Receipt) {
		r.Amount, r.Balance = math.MaxInt64, math.MinInt64
		r.Seq, r.RegisterID = math.MaxUint64, math.MaxUint32
		r.CardNo = ""
		r.Time = time.Date(2025, 12, 31, 23, 59, 59, 999999999, time.UTC)
	}, []string{
		"消费 ￥92233720368547758.07\n", "余额 -￥92233720368547758.08\n",
		"单号\n4294967295-18446744073709551615\n", "时间 2025-12-31 23:59:59\n",
	}},
}

func TestRenderReceiptGolden(t *testing.T) {
	for _, tc := range receipts {
		t.Run(tc.name, func(t *testing.T) {
			r := sale()
			tc.edit(&r)
			b, err := escpos.RenderReceipt(r)
			if err != nil {
				t.Fatalf("RenderReceipt: %v", err)
			}
			got, err := printertest.Transcript(b)
			if err != nil {
				t.Fatalf("transcript: %v\n%s", err, got)
			}
			golden(t, tc.name+".golden", got)
			golden(t, tc.name+".hex.golden", hex.Dump(b))
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("transcript lacks %q:\n%s", w, got)
				}
			}
			if !strings.HasSuffix(got, "[FEED 2][CUT feed 48]") {
				t.Errorf("transcript does not end in a feed and a cut:\n%s", got)
			}
		})
	}
}

// golden compares got with testdata/name, or writes it there under -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s differs (-want +got, go test -update rewrites it):\n%s", path, diff)
	}
}

func TestRenderReceiptInvalid(t *testing.T) {
	for name, edit := range map[string]func(*escpos.Receipt){
		"no time":        func(r *escpos.Receipt) { r.Time = time.Time{} },
		"no register id": func(r *escpos.Receipt) { r.RegisterID = 0 },
		"no seq":         func(r *escpos.Receipt) { r.Seq = 0 },
	} {
		r := sale()
		edit(&r)
		if b, err := escpos.RenderReceipt(r); !errors.Is(err, escpos.ErrInvalid) || b != nil {
			t.Errorf("%s: got %d bytes, %v; want ErrInvalid", name, len(b), err)
		}
	}
}

// TestRenderReceiptConcurrent renders receipts from many goroutines at once
// (run it with -race): each must come out the same as rendered alone.
func TestRenderReceiptConcurrent(t *testing.T) {
	var rs []escpos.Receipt
	var want [][]byte
	for _, tc := range receipts {
		r := sale()
		tc.edit(&r)
		b, err := escpos.RenderReceipt(r)
		if err != nil {
			t.Fatal(err)
		}
		rs, want = append(rs, r), append(want, b)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for k := range 50 {
				i := (g + k) % len(rs)
				b, err := escpos.RenderReceipt(rs[i])
				if err != nil || !bytes.Equal(b, want[i]) {
					t.Errorf("goroutine %d, %s: got %v, %d bytes differing from alone", g, receipts[i].name, err, len(b))
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestRenderReceiptLeavesLoggerAlone checks that rendering neither writes to
// the standard logger (the library logs every write) nor redirects it, so a
// line another goroutine logs meanwhile is never lost.
func TestRenderReceiptLeavesLoggerAlone(t *testing.T) {
	var logged syncBuffer
	prev, flags := log.Writer(), log.Flags()
	t.Cleanup(func() { log.SetOutput(prev); log.SetFlags(flags) })
	log.SetOutput(&logged)
	log.SetFlags(0)

	const lines = 200
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range lines {
			log.Printf("line %d", i)
		}
	})
	for range 4 {
		wg.Go(func() {
			for range 50 {
				if _, err := escpos.RenderReceipt(sale()); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()

	if log.Writer() != &logged {
		t.Errorf("the standard logger's output was changed to %T", log.Writer())
	}
	var want strings.Builder
	for i := range lines {
		fmt.Fprintf(&want, "line %d\n", i)
	}
	if diff := cmp.Diff(want.String(), logged.String()); diff != "" {
		t.Errorf("standard logger (-want +got):\n%s", diff)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// FuzzRenderReceipt renders receipts of arbitrary text and amounts: it must
// never panic or exit (the library's log.Fatalf), and the bytes must decode
// to known commands and text that fits the paper.
func FuzzRenderReceipt(f *testing.F) {
	for _, tc := range receipts {
		r := sale()
		tc.edit(&r)
		f.Add(r.Canteen, r.Register, r.Cashier, r.CardNo, int64(r.Amount), int64(r.Balance), r.Seq, r.RegisterID, r.Time.Unix())
	}
	f.Fuzz(func(t *testing.T, canteen, register, cashier, cardNo string, amount, balance int64, seq uint64, registerID uint32, unix int64) {
		r := escpos.Receipt{
			Canteen: canteen, Register: register, Cashier: cashier, CardNo: cardNo,
			Amount: money.Fen(amount), Balance: money.Fen(balance),
			Seq: seq, RegisterID: registerID, Time: time.Unix(unix, 0).In(cst),
		}
		b, err := escpos.RenderReceipt(r)
		if seq == 0 || registerID == 0 || r.Time.IsZero() {
			if !errors.Is(err, escpos.ErrInvalid) {
				t.Fatalf("got %v, want ErrInvalid", err)
			}
			return
		}
		if err != nil {
			t.Fatalf("RenderReceipt: %v", err)
		}
		got, err := printertest.Transcript(b)
		if err != nil {
			t.Fatalf("transcript: %v\n%s", err, got)
		}
		if !strings.HasPrefix(got, "[INIT][CHINESE]") || !strings.HasSuffix(got, "[CUT feed 48]") {
			t.Fatalf("not a whole receipt:\n%s", got)
		}
	})
}
