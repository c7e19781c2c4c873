package terminal_test

import (
	"bytes"
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/fanka/fanka/terminal"
	tj "github.com/fanka/fanka/terminal/journal"
	"github.com/fanka/fanka/terminal/serial"
	"github.com/fanka/fanka/terminal/virtual"

	firmwareconfig "github.com/fanka/fanka/firmware-config"
)

// both shows each screen on two displays: the rig's record and a real one.
type both struct{ a, b terminal.Display }

func (d both) Show(s terminal.Screen) error {
	if err := d.a.Show(s); err != nil {
		return err
	}
	return d.b.Show(s)
}

// TestBeepsOverSerial checks the register's beeps as bytes on serial
// ports (ptys): a display and a keypad with buzzers (the CD5220 and ASCII
// keypad profiles given beep sequences, as a clone with a buzzer would
// have) sound the success sequence for 成功 and 已撤销 and the distinct
// refusal sequence for a refused card or amount, and nothing for a screen
// without a beep.
func TestBeepsOverSerial(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dp, err := serial.LoadDisplayProfile(firmwareconfig.Devices, "display-cd5220")
	if err != nil {
		t.Fatal(err)
	}
	dp.Beep, dp.BeepRefusal = []byte{0x07}, []byte{0x1B, 0x07}
	kp, err := serial.LoadKeypadProfile(firmwareconfig.Devices, "keypad-ascii")
	if err != nil {
		t.Fatal(err)
	}
	kp.Beep, kp.BeepRefusal = []byte{0x1B, 0x42, 0x01}, []byte{0x1B, 0x42, 0x03}

	dpty, kpty := virtual.MustPTY(t), virtual.MustPTY(t)
	peer := virtual.MustDisplayPeer(t, dpty, dp)
	display, err := serial.OpenDisplay(dpty.SlavePath, dp, quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { display.Close() })
	keypad, err := serial.OpenKeypad(kpty.SlavePath, kp, quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { keypad.Close() })

	var cfg terminal.Config
	r := newRigAt(t, filepath.Join(t.TempDir(), "journal.db"), nil, func(c *terminal.Config, _ *tj.Journal) {
		c.Beeper = keypad
		cfg = *c
	})
	r.reg, err = terminal.NewRegister(cfg, r.journal, both{r.display, display}, r.link)
	if err != nil {
		t.Fatal(err)
	}
	// Each beeping screen is waited for on the display's side before the
	// next, so that two frames do not reach the peer in one read.
	for _, step := range []struct {
		steps []string
		shown string
	}{
		{[]string{"in A1", "= 余额 100.00 | 张* 请输入金额", "k 200\r", "=! 余额不足 | 余额 100.00"}, "余额不足"},
		{[]string{"k 12.50\r", "=+ 成功 消费 12.50 | 余额 87.50"}, "成功"},
		{[]string{"out", "k 9999\r", "k \r", "=+ 已撤销 12.50 | 余额 100.00"}, "已撤销"},
		{[]string{"in F1", "=! 卡已冻结 | 请到管理中心"}, "卡已冻结"},
	} {
		r.do(step.steps...)
		if _, err := peer.WaitFor(ctx, step.shown); err != nil {
			t.Fatal(err)
		}
	}
	var beeps []terminal.Beep
	for _, f := range peer.Frames() {
		if f.Beep != terminal.BeepNone {
			beeps = append(beeps, f.Beep)
		}
	}
	want := []terminal.Beep{terminal.BeepRefusal, terminal.BeepSuccess, terminal.BeepSuccess, terminal.BeepRefusal}
	if !slices.Equal(beeps, want) || peer.Beeps() != len(want) {
		t.Errorf("the display sounded %v (%d), want %v", beeps, peer.Beeps(), want)
	}
	if errs := peer.Errors(); len(errs) > 0 {
		t.Errorf("the display could not decode: %q", errs)
	}
	keyBytes := bytes.Join([][]byte{kp.BeepRefusal, kp.Beep, kp.Beep, kp.BeepRefusal}, nil)
	if got := readPTY(t, kpty, len(keyBytes)); !bytes.Equal(got, keyBytes) {
		t.Errorf("the keypad was sent % X, want % X", got, keyBytes)
	}
}

// readPTY reads what the code under test wrote to the pty's port: n bytes,
// then whatever else comes within 100 ms (there should be nothing).
func readPTY(t *testing.T, p *virtual.PTY, n int) []byte {
	t.Helper()
	var got []byte
	buf := make([]byte, 256)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if len(got) >= n {
			deadline = time.Now().Add(100 * time.Millisecond)
		}
		if err := p.Master.SetReadDeadline(deadline); err != nil {
			t.Fatal(err)
		}
		k, err := p.Master.Read(buf)
		got = append(got, buf[:k]...)
		if err != nil {
			return got
		}
	}
}
