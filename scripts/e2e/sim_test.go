package e2e_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fanka/fanka/terminal/virtual"
)

// TestSim drives fanka-terminal sim as a newcomer does in ./scripts/demo:
// in its own terminal (a pty), enrolling with a code, i to insert the card,
// 12.50 Enter, r to remove it, q to quit.
func TestSim(t *testing.T) {
	srv := startServer(t, filepath.Join(t.TempDir(), "server"), freePort(t))
	openCard(t, srv)
	var reg struct {
		EnrolCode string `json:"enrol_code"`
	}
	srv.call("POST", "/terminals", map[string]any{"name": "模拟"}, &reg)

	pty := virtual.MustPTY(t)
	tty, err := os.OpenFile(pty.SlavePath, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer tty.Close()
	var mu sync.Mutex
	var screen strings.Builder
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := pty.Master.Read(buf)
			mu.Lock()
			screen.Write(buf[:n])
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	seen := func(s string) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			mu.Lock()
			ok := strings.Contains(screen.String(), s)
			mu.Unlock()
			if ok {
				return
			}
			if time.Now().After(deadline) {
				mu.Lock()
				t.Fatalf("the sim never showed %q; screen:\n%s", s, screen.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	press := func(s string) {
		t.Helper()
		if _, err := pty.Master.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}

	data := filepath.Join(t.TempDir(), "register")
	cmd := exec.Command(bin.client, "sim", "--server", srv.url(), "--code", reg.EnrolCode,
		"--data", data, "--card", cardUID, "--note", "office: "+srv.url())
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })

	seen("请刷卡")
	seen("office: " + srv.url())
	seen("在线 online")
	// The card list arrives just after the link is up.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if b, _ := os.ReadFile(filepath.Join(data, "sim.log")); strings.Contains(string(b), "cards received") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the sim never received the card list")
		}
	}
	press("i")
	seen("余额 100.00")
	press("12.50\r")
	seen("成功 消费 12.50")
	seen("余额 87.50")
	press("r")
	press("q")
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("sim exited with %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("sim did not quit on q")
	}
	srv.waitBalance(cardUID, 8750)
}
