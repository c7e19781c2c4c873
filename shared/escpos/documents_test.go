package escpos_test

import (
	"encoding/hex"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/fanka/fanka/shared/escpos"
	"github.com/fanka/fanka/shared/money"
	"github.com/fanka/fanka/shared/printer/printertest"
)

func recharge() escpos.Slip {
	return escpos.Slip{
		Kind:     escpos.Recharge,
		Canteen:  "第一食堂",
		Office:   "管理中心",
		Operator: "李明",
		Time:     time.Date(2025, 3, 14, 9, 30, 0, 0, cst),
		CardNo:   "04A1B2C3D4E5F6",
		Name:     "张三丰",
		Amount:   100 * money.Yuan,
		Balance:  18750,
		TxID:     5012,
	}
}

func daily() escpos.DailyReport {
	return escpos.DailyReport{
		Canteen: "第一食堂",
		Date:    time.Date(2025, 3, 14, 0, 0, 0, 0, cst),
		Printed: time.Date(2025, 3, 14, 21, 0, 5, 0, cst),
		Registers: []escpos.Line{
			{Name: "一号窗口", Tally: escpos.Tally{Count: 412, Amount: 515000}},
			{Name: "二号窗口", Tally: escpos.Tally{Count: 388, Amount: 477250}},
			{Name: "清真窗口", Tally: escpos.Tally{Count: 96, Amount: 134400}},
		},
		MealPeriods: []escpos.Line{
			{Name: "早餐", Tally: escpos.Tally{Count: 210, Amount: 105000}},
			{Name: "午餐", Tally: escpos.Tally{Count: 452, Amount: 723200}},
			{Name: "晚餐", Tally: escpos.Tally{Count: 234, Amount: 298450}},
		},
		Sales:     escpos.Tally{Count: 896, Amount: 1126650},
		Voids:     escpos.Tally{Count: 3, Amount: 3750},
		Flagged:   escpos.Tally{Count: 1, Amount: 1500},
		Recharges: escpos.Tally{Count: 57, Amount: 570000},
		Refunds:   escpos.Tally{Count: 2, Amount: 2500},
		Closes:    escpos.Tally{Count: 1, Amount: 8820},
	}
}

func zReport() escpos.ZReport {
	return escpos.ZReport{
		Canteen:    "第一食堂",
		MealPeriod: "午餐",
		No:         123,
		From:       time.Date(2025, 3, 14, 10, 30, 0, 0, cst),
		To:         time.Date(2025, 3, 14, 14, 0, 0, 0, cst),
		Printed:    time.Date(2025, 3, 14, 14, 0, 3, 0, cst),
		Registers: []escpos.Line{
			{Name: "一号窗口", Tally: escpos.Tally{Count: 201, Amount: 321600}},
			{Name: "二号窗口", Tally: escpos.Tally{Count: 251, Amount: 401600}},
		},
		Sales:   escpos.Tally{Count: 452, Amount: 723200},
		Voids:   escpos.Tally{Count: 1, Amount: 1250},
		Flagged: escpos.Tally{},
	}
}

func shift() escpos.ShiftReport {
	return escpos.ShiftReport{
		Canteen:    "第一食堂",
		Register:   "二号窗口",
		RegisterID: 7,
		Cashier:    "王芳",
		Start:      time.Date(2025, 3, 14, 6, 30, 0, 0, cst),
		End:        time.Date(2025, 3, 14, 14, 0, 0, 0, cst),
		FirstSeq:   1001,
		LastSeq:    1389,
		Printed:    time.Date(2025, 3, 14, 14, 0, 20, 0, cst),
		MealPeriods: []escpos.Line{
			{Name: "早餐", Tally: escpos.Tally{Count: 137, Amount: 68500}},
			{Name: "午餐", Tally: escpos.Tally{Count: 251, Amount: 401600}},
		},
		Sales:   escpos.Tally{Count: 388, Amount: 470100},
		Voids:   escpos.Tally{Count: 1, Amount: 1250},
		Flagged: escpos.Tally{Count: 1, Amount: 1500},
	}
}

// hostile is text that must never reach the printer as it is: commands,
// control and format characters, characters GBK lacks, invalid UTF-8, and
// far more than a line holds.
var hostile = "A\x1bd\x09\x1dVA0\x00\nB\x7f\u0085\u202e\u200dC\xff\xfeD😀¥€\ue000" + strings.Repeat("第一食堂Window", 40)

// docCase is a golden case of a document: testdata/<name>.golden holds
// the transcript, testdata/<name>.hex.golden a hex dump of the bytes.
type docCase struct {
	name   string
	render func() ([]byte, error)
	// want are pieces the transcript must hold, beyond matching the golden file.
	want []string
}

// documents are the golden cases of every document but the sale receipt:
// testdata/<name>.golden holds the transcript, testdata/<name>.hex.golden
// a hex dump of the bytes.
var documents = []docCase{
	{"slip_recharge", func() ([]byte, error) { return escpos.RenderSlip(recharge()) }, []string{
		"[SIZE 1x1][BOLD 1]充值凭证\n[BOLD 0][ALIGN l]", "地点 管理中心\n", "经办 李明\n",
		"卡号 04A1******E5F6\n", "姓名 张**\n", "充值 ￥100.00\n", "余额 ￥187.50\n", "单号 5012\n",
	}},
	{"slip_refund", func() ([]byte, error) {
		s := recharge()
		s.Kind, s.Amount, s.Balance, s.Office = escpos.Refund, 1250, 10000, ""
		return escpos.RenderSlip(s)
	}, []string{"退款凭证\n", "退款 ￥12.50\n", "签字 ___", "[SIZE 1x1][BOLD 1]退款凭证\n[BOLD 0][ALIGN l]经办 李明\n"}},
	{"slip_close", func() ([]byte, error) {
		s := recharge()
		s.Kind, s.Amount, s.Balance, s.Operator, s.Name = escpos.CloseCard, 8820, 0, "", ""
		return escpos.RenderSlip(s)
	}, []string{"消卡凭证\n", "退还 ￥88.20\n", "余额 ￥0.00\n", "签字 ___"}},
	{"slip_hostile", func() ([]byte, error) {
		s := recharge()
		s.Canteen, s.Office, s.Operator, s.Name, s.CardNo = hostile, hostile, hostile, hostile, hostile
		s.Amount, s.Balance, s.TxID = math.MaxInt64, math.MinInt64, math.MaxInt64
		return escpos.RenderSlip(s)
	}, []string{"地点 A?d??VA0??B????C??D???", "姓名 A**", "充值 ￥92233720368547758.07\n", "单号 9223372036854775807\n"}},
	{"daily", func() ([]byte, error) { return escpos.RenderDailyReport(daily()) }, []string{
		"[BOLD 1]营业日报\n", "日期 2025-03-14\n", "打印 2025-03-14 21:00:05\n",
		"窗口           笔数         金额\n", "一号窗口        412    ￥5150.00\n",
		"餐次           笔数         金额\n", "午餐            452    ￥7232.00\n",
		"消费合计        896   ￥11266.50\n", "消卡退还          1      ￥88.20\n",
	}},
	{"daily_empty", func() ([]byte, error) {
		r := daily()
		r.Registers, r.MealPeriods, r.Printed = nil, nil, time.Time{}
		r.Sales, r.Voids, r.Flagged, r.Recharges, r.Refunds, r.Closes = escpos.Tally{}, escpos.Tally{}, escpos.Tally{}, escpos.Tally{}, escpos.Tally{}, escpos.Tally{}
		return escpos.RenderDailyReport(r)
	}, []string{"窗口           笔数         金额\n无\n", "餐次           笔数         金额\n无\n", "消费合计          0       ￥0.00\n"}},
	{"daily_wide", func() ([]byte, error) {
		r := daily()
		r.Registers = []escpos.Line{
			{Name: "第一食堂二楼清真窗口", Tally: escpos.Tally{Count: 12, Amount: 1500}},
			{Name: "大额", Tally: escpos.Tally{Count: 123456, Amount: 12345678901}},
			{Name: "极端", Tally: escpos.Tally{Count: math.MinInt64, Amount: math.MinInt64}},
			{Name: hostile, Tally: escpos.Tally{Count: -1, Amount: -1}},
		}
		return escpos.RenderDailyReport(r)
	}, []string{
		"第一食堂二楼清真窗口\n                     12  ￥15.00\n",
		"大额\n          123456  ￥123456789.01\n",
		"极端\n            -9223372036854775808\n         -￥92233720368547758.08\n",
		"                     -1  -￥0.01\n",
	}},
	{"z_report", func() ([]byte, error) { return escpos.RenderZReport(zReport()) }, []string{
		"[BOLD 1]Z报表 午餐\n", "编号 Z123\n", "开始 2025-03-14 10:30:00\n", "结束 2025-03-14 14:00:00\n",
		"二号窗口        251    ￥4016.00\n", "待复核            0       ￥0.00\n",
	}},
	{"z_report_hostile", func() ([]byte, error) {
		r := zReport()
		r.Canteen, r.MealPeriod, r.No = hostile, hostile, math.MaxUint64
		r.Registers = []escpos.Line{{Name: hostile}, {Name: ""}}
		return escpos.RenderZReport(r)
	}, []string{"编号 Z18446744073709551615\n", "Z报表 A?d??VA0??B????C??D???", "\n                  0       ￥0.00\n"}},
	{"shift", func() ([]byte, error) { return escpos.RenderShiftReport(shift()) }, []string{
		"[BOLD 1]交班报表\n", "窗口 二号窗口\n", "收银 王芳\n", "流水 7-1001 至 7-1389\n",
		"早餐            137     ￥685.00\n", "收银 ___", "主管 ___",
	}},
	{"shift_empty", func() ([]byte, error) {
		r := shift()
		r.FirstSeq, r.LastSeq, r.MealPeriods, r.Cashier = 0, 0, nil, ""
		r.Sales, r.Voids, r.Flagged = escpos.Tally{}, escpos.Tally{}, escpos.Tally{}
		return escpos.RenderShiftReport(r)
	}, []string{"[ALIGN l]窗口 二号窗口\n开始 ", "流水 无\n", "餐次           笔数         金额\n无\n"}},
	{"shift_extremes", func() ([]byte, error) {
		r := shift()
		r.RegisterID, r.FirstSeq, r.LastSeq = math.MaxUint32, math.MaxUint64-1, math.MaxUint64
		r.Register, r.Cashier = hostile, hostile
		return escpos.RenderShiftReport(r)
	}, []string{"\n流水\n4294967295-18446744073709551614\n至\n4294967295-18446744073709551615\n"}},
	{"test_page", func() ([]byte, error) {
		return escpos.RenderTestPage(escpos.TestPage{Canteen: "第一食堂", Printer: "tcp://10.0.0.9:9100", Time: time.Date(2025, 3, 14, 8, 0, 0, 0, cst)})
	}, []string{"[SIZE 2x2]打印测试\n", "打印机 tcp://10.0.0.9:9100\n", "食堂", "￥12.50 -￥1.50", "12345678901234567890123456789012\n", "看到此行 打印机中文正常\n"}},
	{"reprint", func() ([]byte, error) {
		b, err := escpos.RenderReceipt(sale())
		return escpos.Reprint(b, 2), err
	}, []string{"[NUL][NUL][NUL][INIT][CHINESE][ALIGN c][SIZE 2x2]*重印*\n[SIZE 1x1]第2次打印 可能与前单重复\n[ALIGN l][INIT][CHINESE][ALIGN c][SIZE 2x2]第一食堂\n"}},
}

func TestRenderDocumentsGolden(t *testing.T) {
	for _, tc := range documents {
		t.Run(tc.name, func(t *testing.T) {
			b, err := tc.render()
			if err != nil {
				t.Fatalf("render: %v", err)
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
			if !strings.HasPrefix(strings.TrimPrefix(got, "[NUL][NUL][NUL]"), "[INIT][CHINESE]") || !strings.HasSuffix(got, "[CUT feed 48]") {
				t.Errorf("not a whole document:\n%s", got)
			}
		})
	}
}

func TestRenderDocumentsInvalid(t *testing.T) {
	for name, render := range map[string]func() ([]byte, error){
		"slip of no kind":        func() ([]byte, error) { s := recharge(); s.Kind = 0; return escpos.RenderSlip(s) },
		"slip of an odd kind":    func() ([]byte, error) { s := recharge(); s.Kind = 99; return escpos.RenderSlip(s) },
		"slip without a time":    func() ([]byte, error) { s := recharge(); s.Time = time.Time{}; return escpos.RenderSlip(s) },
		"slip without a tx":      func() ([]byte, error) { s := recharge(); s.TxID = 0; return escpos.RenderSlip(s) },
		"slip of a negative tx":  func() ([]byte, error) { s := recharge(); s.TxID = -1; return escpos.RenderSlip(s) },
		"daily without a date":   func() ([]byte, error) { r := daily(); r.Date = time.Time{}; return escpos.RenderDailyReport(r) },
		"Z without a number":     func() ([]byte, error) { r := zReport(); r.No = 0; return escpos.RenderZReport(r) },
		"Z without a start":      func() ([]byte, error) { r := zReport(); r.From = time.Time{}; return escpos.RenderZReport(r) },
		"Z ending before":        func() ([]byte, error) { r := zReport(); r.From, r.To = r.To, r.From; return escpos.RenderZReport(r) },
		"shift without register": func() ([]byte, error) { r := shift(); r.RegisterID = 0; return escpos.RenderShiftReport(r) },
		"shift without an end":   func() ([]byte, error) { r := shift(); r.End = time.Time{}; return escpos.RenderShiftReport(r) },
		"shift ending before": func() ([]byte, error) {
			r := shift()
			r.Start, r.End = r.End, r.Start
			return escpos.RenderShiftReport(r)
		},
		"shift of half a range": func() ([]byte, error) { r := shift(); r.FirstSeq = 0; return escpos.RenderShiftReport(r) },
		"shift of a range back": func() ([]byte, error) { r := shift(); r.FirstSeq = 2000; return escpos.RenderShiftReport(r) },
	} {
		if b, err := render(); !errors.Is(err, escpos.ErrInvalid) || b != nil {
			t.Errorf("%s: got %d bytes, %v; want ErrInvalid", name, len(b), err)
		}
	}
}

func TestStatusRequest(t *testing.T) {
	for n := -1; n <= 5; n++ {
		got := escpos.StatusRequest(n)
		var want []byte
		if n >= 1 && n <= 4 {
			want = []byte{0x10, 0x04, byte(n)}
		}
		if string(got) != string(want) {
			t.Errorf("StatusRequest(%d) = % x, want % x", n, got, want)
		}
	}
}

// FuzzRenderDocuments renders every document of arbitrary text and
// numbers: none may panic or exit, and each must decode to known commands
// and text that fits the paper, or be refused with ErrInvalid.
func FuzzRenderDocuments(f *testing.F) {
	f.Add("第一食堂", "午餐", "王芳", "04A1B2C3D4E5F6", int64(1250), int64(412), uint64(1001), uint64(1389), uint32(7), int64(1741924800), int64(3600))
	f.Add(hostile, hostile, hostile, hostile, int64(math.MinInt64), int64(math.MaxInt64), uint64(math.MaxUint64), uint64(0), uint32(0), int64(0), int64(-1))
	f.Fuzz(func(t *testing.T, name, period, person, cardNo string, amount, count int64, first, last uint64, register uint32, unix, length int64) {
		start := time.Unix(unix, 0).In(cst)
		end := start.Add(time.Duration(length) * time.Second)
		tally := escpos.Tally{Count: count, Amount: money.Fen(amount)}
		lines := []escpos.Line{{Name: name, Tally: tally}, {Name: period, Tally: tally}}
		renders := map[string]func() ([]byte, error){
			"slip": func() ([]byte, error) {
				return escpos.RenderSlip(escpos.Slip{Kind: escpos.SlipKind(register%4 + 1), Canteen: name, Office: period, Operator: person,
					Time: start, CardNo: cardNo, Name: person, Amount: money.Fen(amount), Balance: money.Fen(count), TxID: int64(first)})
			},
			"daily": func() ([]byte, error) {
				return escpos.RenderDailyReport(escpos.DailyReport{Canteen: name, Date: start, Printed: end, Registers: lines, MealPeriods: lines,
					Sales: tally, Voids: tally, Flagged: tally, Recharges: tally, Refunds: tally, Closes: tally})
			},
			"z": func() ([]byte, error) {
				return escpos.RenderZReport(escpos.ZReport{Canteen: name, MealPeriod: period, No: first, From: start, To: end, Printed: end,
					Registers: lines, Sales: tally, Voids: tally, Flagged: tally})
			},
			"shift": func() ([]byte, error) {
				return escpos.RenderShiftReport(escpos.ShiftReport{Canteen: name, Register: period, RegisterID: register, Cashier: person,
					Start: start, End: end, FirstSeq: first, LastSeq: last, Printed: end, MealPeriods: lines, Sales: tally, Voids: tally, Flagged: tally})
			},
			"void": func() ([]byte, error) {
				return escpos.RenderVoidSlip(escpos.VoidSlip{Canteen: name, Register: period, Cashier: person, Supervisor: person,
					Time: start, CardNo: cardNo, Amount: money.Fen(amount), Balance: money.Fen(count), RegisterID: register, Seq: last, SaleSeq: first})
			},
			"test page": func() ([]byte, error) {
				return escpos.RenderTestPage(escpos.TestPage{Canteen: name, Printer: period, Time: start})
			},
		}
		for doc, render := range renders {
			b, err := render()
			if errors.Is(err, escpos.ErrInvalid) {
				continue
			}
			if err != nil {
				t.Fatalf("%s: %v", doc, err)
			}
			got, err := printertest.Transcript(escpos.Reprint(b, int(count)))
			if err != nil {
				t.Fatalf("%s: transcript: %v\n%s", doc, err, got)
			}
			if !strings.HasPrefix(got, "[NUL][NUL][NUL][INIT][CHINESE]") || !strings.HasSuffix(got, "[CUT feed 48]") {
				t.Fatalf("%s: not a whole reprinted document:\n%s", doc, got)
			}
		}
	})
}
