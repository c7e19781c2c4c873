package escpos_test

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/fanka/fanka/shared/escpos"
	"github.com/fanka/fanka/shared/money"
)

// voidSlip is the slip of a supervisor voiding sale 7-1024 (see sale).
func voidSlip() escpos.VoidSlip {
	return escpos.VoidSlip{
		Canteen:    "第一食堂",
		Register:   "二号窗口",
		Cashier:    "王芳",
		Supervisor: "李主管",
		Time:       time.Date(2025, 3, 14, 12, 6, 30, 0, cst),
		CardNo:     "04A1B2C3D4E5F6",
		Amount:     1250,
		Balance:    10000,
		RegisterID: 7,
		Seq:        1025,
		EntryHash:  [32]byte{0x01, 0x02, 0xAB, 0xCD, 31: 0x11},
		SaleSeq:    1024,
		SaleHash:   sale().EntryHash,
	}
}

// The void slips join the golden documents (documents_test.go).
func init() {
	documents = append(documents,
		docCase{"void", func() ([]byte, error) { return escpos.RenderVoidSlip(voidSlip()) }, []string{
			"[SIZE 1x1][BOLD 1]作废 VOID\n[BOLD 0][ALIGN l]窗口 二号窗口\n", "收银 王芳\n", "主管 李主管\n",
			"时间 2025-03-14 12:06:30\n", "卡号 04A1******E5F6\n", "退还 ￥12.50\n", "余额 ￥100.00\n",
			// the voided sale's number and code, as its receipt prints them (receipt.golden)
			"原单 7-1024\n原单校验 3F2A9C01\n", "单号 7-1025\n校验 0102ABCD\n",
		}},
		docCase{"void_no_staff", func() ([]byte, error) {
			s := voidSlip()
			s.Cashier, s.Supervisor = "", ""
			return escpos.RenderVoidSlip(s)
		}, []string{"[BOLD 0][ALIGN l]窗口 二号窗口\n时间 "}},
		docCase{"void_hostile", func() ([]byte, error) {
			s := voidSlip()
			s.Canteen, s.Register, s.Cashier, s.Supervisor, s.CardNo = hostile, hostile, hostile, hostile, hostile
			s.Amount, s.Balance = math.MaxInt64, math.MinInt64
			s.RegisterID, s.Seq, s.SaleSeq = math.MaxUint32, math.MaxUint64, math.MaxUint64-1
			return escpos.RenderVoidSlip(s)
		}, []string{
			"窗口 A?d??VA0??B????C??D???", "收银 A?d??VA0??B????C??D???", "主管 A?d??VA0??B????C??D???",
			"退还 ￥92233720368547758.07\n", "余额 -￥92233720368547758.08\n",
			"原单\n4294967295-18446744073709551614\n", "单号\n4294967295-18446744073709551615\n",
		}},
	)
}

func TestRenderVoidSlipInvalid(t *testing.T) {
	for name, edit := range map[string]func(*escpos.VoidSlip){
		"without a time":        func(s *escpos.VoidSlip) { s.Time = time.Time{} },
		"without a register":    func(s *escpos.VoidSlip) { s.RegisterID = 0 },
		"without its own seq":   func(s *escpos.VoidSlip) { s.Seq = 0 },
		"without the sale":      func(s *escpos.VoidSlip) { s.SaleSeq = 0 },
		"of itself":             func(s *escpos.VoidSlip) { s.SaleSeq = s.Seq },
		"of a later sale":       func(s *escpos.VoidSlip) { s.SaleSeq = s.Seq + 1 },
		"and nothing else good": func(s *escpos.VoidSlip) { *s = escpos.VoidSlip{Amount: money.Fen(-1)} },
	} {
		s := voidSlip()
		edit(&s)
		if b, err := escpos.RenderVoidSlip(s); !errors.Is(err, escpos.ErrInvalid) || b != nil {
			t.Errorf("void slip %s: got %d bytes, %v; want ErrInvalid", name, len(b), err)
		}
	}
}
