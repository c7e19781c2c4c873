package terminal_test

import (
	"bufio"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fanka/fanka/shared/journal"
	"github.com/fanka/fanka/shared/money"
	"github.com/fanka/fanka/shared/wire"
	"github.com/fanka/fanka/terminal"
	tj "github.com/fanka/fanka/terminal/journal"
	"github.com/fanka/fanka/terminal/virtual"
)

// TestMain lets the test binary play a register that sells in a loop
// (saleHelper), for TestSIGKILLDuringCommits.
func TestMain(m *testing.M) {
	if path := os.Getenv("FANKA_SALE_HELPER_JOURNAL"); path != "" {
		if err := saleHelper(path, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "sale helper:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// mustTmpfs mounts a tmpfs of size bytes in a new directory, unmounted when
// the test ends. It skips the test when not run as root.
func mustTmpfs(t *testing.T, size int) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	dir := filepath.Join(t.TempDir(), "tmpfs")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d", size), "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// fill writes a file in dir until the file system is full, and returns it.
func fill(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("fill %s: %v", dir, err)
			}
			return path
		}
	}
}

// TestJournalDiskFull: when the journal's disk is full the sale is refused
// with a message, nothing half-written is left, and once there is room
// again the register goes on where it stopped, with an unbroken chain.
func TestJournalDiskFull(t *testing.T) {
	dir := mustTmpfs(t, 512<<10)
	path := filepath.Join(dir, "journal.db")
	j, err := tj.Open(path, 1, registerKey)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { j.Close() }()
	err = j.ApplyCards(&wire.Cards{Cursor: 1, Cards: []wire.Card{{Version: 1, CardNo: "A1", Name: "张三", Status: wire.CardActive, Balance: 1 << 40}}})
	if err != nil {
		t.Fatal(err)
	}
	display := &screens{t: t}
	rules := terminal.DefaultRules()
	rules.DailyCount = 0
	newRegister := func() *terminal.Register {
		reg, err := terminal.NewRegister(terminal.Config{Rules: &rules, Logger: quiet}, j, display, &link{online: true})
		if err != nil {
			t.Fatal(err)
		}
		return reg
	}
	reg := newRegister()
	sell := func(amount int) string {
		reg.HandleCard(terminal.CardEvent{Present: true, CardNo: "A1"})
		keys, _ := virtual.Keys(money.Fen(amount).String() + "\r")
		for _, k := range keys {
			reg.HandleKey(k)
		}
		shown := strings.Join(display.last().Lines, " | ")
		reg.HandleCard(terminal.CardEvent{})
		return shown
	}
	filler := fill(t, dir)
	sold := 0
	for {
		shown := sell(sold + 1)
		if strings.HasPrefix(shown, "成功") {
			sold++
			if sold > 100_000 {
				t.Fatal("the disk never filled up")
			}
			continue
		}
		if shown != "存储空间已满 | 请联系管理员" {
			t.Fatalf("after %d sales: display %q", sold, shown)
		}
		break
	}
	t.Logf("%d sales fitted, then the disk was full", sold)
	// Still full: refused again, still nothing recorded.
	if shown := sell(sold + 1); shown != "存储空间已满 | 请联系管理员" {
		t.Fatalf("second try on a full disk: %q", shown)
	}
	if j.Last() != uint64(sold) {
		t.Fatalf("journal at seq %d after %d sales", j.Last(), sold)
	}
	checkSales := func(want int) {
		t.Helper()
		if n, err := j.Verify(registerKey.Public().(ed25519.PublicKey)); err != nil || n != uint64(want) {
			t.Fatalf("chain: %d entries, %v; want %d", n, err, want)
		}
		es, err := j.Entries(0, want+1)
		if err != nil {
			t.Fatal(err)
		}
		for i, b := range es {
			e, _ := journal.Unmarshal(b)
			if e.Amount != money.Fen(i+1) {
				t.Fatalf("entry %d: amount %d, want %d", e.Seq, e.Amount, i+1)
			}
		}
	}
	checkSales(sold)

	// Room again: the same open journal records on.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if shown := sell(sold + 1); !strings.HasPrefix(shown, "成功") {
		t.Fatalf("with room again: %q", shown)
	}
	sold++
	checkSales(sold)

	// And the file, reopened, holds exactly those sales.
	fill(t, dir)
	sell(sold + 1) // refused again
	j.Close()
	if j, err = tj.Open(path, 1, registerKey); err != nil {
		t.Fatalf("reopen after a full disk: %v", err)
	}
	checkSales(sold)
}

// saleHelper plays a register that sells in a loop on the journal at path,
// until it is killed: each sale's amount is the sale's number (1, 2, 3 …
// fen, going on from the journal's last entry), and once the display says
// 成功 it writes "OK n" to out.
func saleHelper(path string, out io.Writer) error {
	j, err := tj.Open(path, 1, registerKey)
	if err != nil {
		return err
	}
	err = j.ApplyCards(&wire.Cards{Cursor: 1, Cards: []wire.Card{{Version: 1, CardNo: "A1", Name: "张三", Status: wire.CardActive, Balance: 1 << 50}}})
	if err != nil {
		return err
	}
	rules := terminal.DefaultRules()
	rules.DailyCount = 0
	d := &okDisplay{out: out}
	reg, err := terminal.NewRegister(terminal.Config{Rules: &rules, Logger: slog.New(slog.DiscardHandler)}, j, d, &link{online: true})
	if err != nil {
		return err
	}
	last, _, err := j.LastEntry()
	if err != nil {
		return err
	}
	for n := last.Amount + 1; ; n++ {
		d.n = n
		reg.HandleCard(terminal.CardEvent{Present: true, CardNo: "A1"})
		keys, _ := virtual.Keys(n.String() + "\r")
		for _, k := range keys {
			reg.HandleKey(k)
		}
		if !d.ok {
			return fmt.Errorf("sale %d not made", n)
		}
		d.ok = false
		reg.HandleCard(terminal.CardEvent{})
	}
}

// okDisplay writes "OK n" when the register shows 成功 for sale n.
type okDisplay struct {
	out io.Writer
	n   money.Fen
	ok  bool
}

func (d *okDisplay) Show(s terminal.Screen) error {
	if len(s.Lines) > 0 && strings.HasPrefix(s.Lines[0], "成功") {
		d.ok = true
		_, err := fmt.Fprintf(d.out, "OK %d\n", d.n)
		return err
	}
	return nil
}

// TestSIGKILLDuringCommits kills a selling register with SIGKILL, again and
// again, at random moments (nearly all of its time is spent committing):
// after each kill the journal opens, its chain is unbroken, it holds every
// sale whose 成功 was shown, and no sale twice.
func TestSIGKILLDuringCommits(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "journal.db")
	rounds := 25
	if testing.Short() {
		rounds = 5
	}
	shownMax := money.Fen(0) // the highest sale shown as 成功 so far
	for round := 0; round < rounds; round++ {
		cmd := exec.Command(exe, "-test.run=^$")
		cmd.Env = append(os.Environ(), "FANKA_SALE_HELPER_JOURNAL="+path)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string, 1024)
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		// Kill it a random while after its first sale of this round.
		select {
		case l, ok := <-lines:
			if !ok {
				cmd.Wait()
				t.Fatalf("round %d: helper made no sale: %s", round, stderr.String())
			}
			shownMax = max(shownMax, parseOK(t, l))
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			t.Fatalf("round %d: no sale within 30 s", round)
		}
		time.Sleep(time.Duration(rand.IntN(40_000)) * time.Microsecond)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		for l := range lines {
			shownMax = max(shownMax, parseOK(t, l))
		}
		if err := cmd.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
			t.Fatalf("round %d: helper ended with %v, not SIGKILL: %s", round, err, stderr.String())
		}

		j, err := tj.Open(path, 1, registerKey)
		if err != nil {
			t.Fatalf("round %d: open after SIGKILL: %v", round, err)
		}
		n, err := j.Verify(registerKey.Public().(ed25519.PublicKey))
		if err != nil {
			t.Fatalf("round %d: chain after SIGKILL: %v", round, err)
		}
		es, err := j.Entries(0, int(n))
		if err != nil {
			t.Fatal(err)
		}
		for i, b := range es {
			e, _ := journal.Unmarshal(b)
			if e.Amount != money.Fen(i+1) {
				t.Fatalf("round %d: entry %d is sale %d: a sale lost or recorded twice", round, e.Seq, e.Amount)
			}
		}
		if money.Fen(n) < shownMax {
			t.Fatalf("round %d: 成功 shown for sale %d, the journal holds %d", round, shownMax, n)
		}
		j.Close()
		t.Logf("round %d: %d sales, the last shown %d", round, n, shownMax)
	}
}

func parseOK(t *testing.T, line string) money.Fen {
	t.Helper()
	s, ok := strings.CutPrefix(line, "OK ")
	n, err := strconv.ParseInt(s, 10, 64)
	if !ok || err != nil {
		t.Fatalf("helper said %q", line)
	}
	return money.Fen(n)
}
