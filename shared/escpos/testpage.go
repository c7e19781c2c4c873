package escpos

import (
	"bytes"
	"fmt"
	"strings"
	"time"

	"golang.org/x/text/encoding/simplifiedchinese"
)

// maxPending is the most bytes a command this package writes may still
// wait for, cut off after its first byte: GS V A n, after GS, three.
const maxPending = 3

// TestPage is the page printed to check a printer: `fanka-server
// print-test` prints it when a printer is installed.
type TestPage struct {
	Canteen string // may be empty: "食堂" is printed anyway
	Printer string // the printer's name as configured, e.g. tcp://10.0.0.9:9100
	// Time is printed as it is; zero leaves the line out.
	Time time.Time
}

// RenderTestPage renders t as ESC/POS bytes: a title, the printer and the
// time, Chinese text with the yuan sign, a ruler across the paper's 32
// columns, text at double width and height, and a closing line that only
// a printer showing GBK Chinese prints right; then it feeds and cuts.
// It never fails on its text (see RenderReceipt).
func RenderTestPage(t TestPage) ([]byte, error) {
	p := newPage()
	p.align(alignCenter)
	p.size(2, 2)
	p.line("打印测试")
	p.size(1, 1)
	if t.Canteen != "" {
		p.line(t.Canteen)
	}
	p.align(alignLeft)
	p.line("打印机 " + t.Printer)
	if !t.Time.IsZero() {
		p.line(labelTime + t.Time.Format(time.DateTime))
	}
	p.rule()
	p.line("中文 第一食堂 饭卡 消费 余额")
	p.line("金额 " + yuan(1250) + " " + yuan(-150))
	p.line("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
	p.line("ABCDEFGHIJKLMNOPQRSTUVWXYZ abcde")
	var ruler strings.Builder
	for i := 1; i <= Columns; i++ {
		fmt.Fprint(&ruler, i%10)
	}
	p.line(ruler.String())
	p.size(2, 1)
	p.line("倍宽 食堂")
	p.size(1, 2)
	p.line("倍高 食堂")
	p.size(1, 1)
	p.bold(true)
	p.line("加粗 食堂")
	p.bold(false)
	p.rule()
	p.align(alignCenter)
	p.line("看到此行 打印机中文正常")
	p.feed(2)
	p.cut()
	return p.bytes()
}

// Reprint marks doc, a rendered document, as a reprint: it returns doc with
// a header of its own before it, "*重印*" (reprint) large and centred and
// the number of the attempt, so that a diner or an auditor holding two
// copies sees that the second is not a second sale. attempt is the number
// of the printing that may duplicate earlier ones, from 2.
//
// The earlier attempt may have been cut off in the middle of a command:
// the header begins with NUL bytes, as many as a command this package
// writes may still wait for, so that the printer takes them, not the
// header's reset, as what is missing (a parameter of 0: no feed, size 1×1,
// left, bold off), and ignores them otherwise.
func Reprint(doc []byte, attempt int) []byte {
	p := &page{width: 1, gbk: simplifiedchinese.GBK.NewEncoder()}
	p.b.Write(make([]byte, maxPending))
	p.b.Write(cmd.init)
	p.b.Write(chineseMode)
	p.align(alignCenter)
	p.size(2, 2)
	p.line("*重印*")
	p.size(1, 1)
	p.line(fmt.Sprintf("第%d次打印 可能与前单重复", attempt))
	p.align(alignLeft)
	var b bytes.Buffer
	b.Write(p.b.Bytes())
	b.Write(doc)
	return b.Bytes()
}
