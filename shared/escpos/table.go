package escpos

import (
	"bytes"
	"strconv"

	"github.com/fanka/fanka/shared/money"
)

// Tally is a number of ledger transactions and the sum they moved, as the
// ledger counts them: a report prints it as it is given, without sums of
// its own.
type Tally struct {
	Count  int64
	Amount money.Fen
}

// Line is one row of a report's table: what is counted (a register, a meal
// period) and its tally.
type Line struct {
	Name string
	Tally
}

// The columns of a report's table on 32-column paper: the name, two
// spaces, the count right-aligned, a space, the amount right-aligned.
const (
	nameCols   = 12
	countCols  = 5
	amountCols = 12
	tableGap   = Columns - nameCols - countCols - amountCols - 1 // between name and count
)

// tableHead writes the table's column titles, name the title of its first
// column ("窗口", "餐次").
func (p *page) tableHead(name string) {
	p.cells(name, "笔数", "金额")
}

// row writes a table row of name and t. A name wider than its column goes
// on a line of its own, cut to the paper, and the numbers on the next; so
// do numbers too wide for theirs. Numbers are never cut.
func (p *page) row(name string, t Tally) {
	if p.err != nil {
		return
	}
	count, amount := strconv.FormatInt(t.Count, 10), yuan(t.Amount)
	if fits(p, name, nameCols) && fits(p, count, countCols) && fits(p, amount, amountCols) {
		p.cells(name, count, amount)
		return
	}
	p.line(name)
	both := count + "  " + amount
	if fits(p, both, Columns) {
		p.right(both)
		return
	}
	p.right(count)
	p.right(amount)
}

// cells writes a table row of three cells that fit their columns.
func (p *page) cells(name, count, amount string) {
	if p.err != nil {
		return
	}
	n := fitGBK(p.gbk, name, nameCols)
	p.b.Write(n)
	p.b.Write(bytes.Repeat([]byte{' '}, nameCols-len(n)+tableGap))
	p.b.Write(padLeft(fitGBK(p.gbk, count, countCols), countCols))
	p.b.WriteByte(' ')
	p.b.Write(padLeft(fitGBK(p.gbk, amount, amountCols), amountCols))
	p.b.WriteByte('\n')
}

// right writes s right-aligned on a line of its own, cut to the paper.
func (p *page) right(s string) {
	if p.err != nil {
		return
	}
	cols := Columns / p.width
	p.b.Write(padLeft(fitGBK(p.gbk, s, cols), cols))
	p.b.WriteByte('\n')
}

// fits reports whether s, as the printer shows it, is at most cols wide.
func fits(p *page, s string, cols int) bool {
	// No character prints wider than two columns, nor takes less than one
	// byte of s: at 2*len(s) columns, s is never cut.
	return len(fitGBK(p.gbk, s, 2*len(s))) <= cols
}

// padLeft right-aligns text of one byte per column in cols columns.
func padLeft(text []byte, cols int) []byte {
	if len(text) >= cols {
		return text
	}
	return append(bytes.Repeat([]byte{' '}, cols-len(text)), text...)
}
