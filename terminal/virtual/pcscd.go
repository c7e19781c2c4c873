package virtual

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Slot is one reader slot of Debian's vpcd driver as pcscd loads it: the
// PC/SC name of the reader, and the TCP address a virtual card connects to
// in order to be in that reader.
//
// PC/SC tests share one pcscd per machine, so each test package that puts
// cards into readers owns a slot: Slot0 for the end-to-end tests, Slot1 for
// terminal/pcsc's own tests. That way they can run in parallel.
type Slot struct {
	Reader string
	Addr   string
}

// The two slots of the vpcd reader.
var (
	Slot0 = Slot{Reader: "Virtual PCD 00 00", Addr: "127.0.0.1:35963"}
	Slot1 = Slot{Reader: "Virtual PCD 00 01", Addr: "127.0.0.1:35964"}
)

// Insert puts c into the slot's reader; see Insert.
func (s Slot) Insert(ctx context.Context, c Card) (*Inserted, error) {
	return Insert(ctx, s.Addr, c)
}

// ReaderPrefix starts the PC/SC name of every vpcd reader.
const ReaderPrefix = "Virtual PCD"

// PCSCDDir is where EnsurePCSCD and scripts/pcscd-vpcd keep the pcscd they
// start: its reader config (reader.conf), pid (pcscd.pid) and log
// (pcscd.log). scripts/pcscd-vpcd stop stops that pcscd.
const PCSCDDir = "/tmp/fanka-vpcd"

// Where pcscd, the vpcd driver and pcscd's own files are on Debian, and the
// lock that keeps two test processes from starting pcscd at once (it is
// also taken by scripts/pcscd-vpcd).
const (
	vpcdDriver  = "/usr/lib/pcsc/drivers/serial/libifdvpcd.so"
	pcscdRunDir = "/run/pcscd"
	pcscdLock   = "/tmp/fanka-pcscd.lock"
)

// readerConf makes pcscd load the vpcd driver with its two slots, card
// ports 35963 (0x8C7B) and 35964.
const readerConf = `FRIENDLYNAME "Virtual PCD"
DEVICENAME   /dev/null:0x8C7B
LIBPATH      ` + vpcdDriver + `
CHANNELID    0x8C7B
`

// pcscdStartTimeout bounds how long EnsurePCSCD waits for a pcscd to serve
// the vpcd readers.
const pcscdStartTimeout = 5 * time.Second

// ErrNoPCSCD is returned by EnsurePCSCD when pcscd or the vpcd driver is
// not installed.
var ErrNoPCSCD = errors.New("pcscd with the vpcd driver is not installed: " +
	"run ./scripts/test, or apt-get install pcscd vsmartcard-vpcd")

// MustPCSCD makes sure a pcscd serving the vpcd readers (Slot0, Slot1) is
// running, starting one if needed, or fails tb. A pcscd it starts keeps
// running after the test, for the next test packages; scripts/pcscd-vpcd
// stop stops it.
func MustPCSCD(tb testing.TB) {
	tb.Helper()
	if err := EnsurePCSCD(tb.Logf); err != nil {
		tb.Fatal(err)
	}
}

// EnsurePCSCD makes sure a pcscd serving the vpcd readers is running. If
// one is (the vpcd card ports are listening), it returns at once. Otherwise,
// holding an exclusive lock on /tmp/fanka-pcscd.lock, it stops systemd's
// pcscd socket unit where there is one, cleans up the files a dead pcscd
// left in /run/pcscd, and starts pcscd in a session of its own with the
// vpcd reader config in PCSCDDir. It waits until the readers are there
// (about 5 seconds at most) and leaves pcscd running. logf, if not nil,
// says what it did.
//
// It fails with ErrNoPCSCD when pcscd or the vpcd driver is not installed.
// It also fails when a pcscd that does not serve the vpcd readers is
// running: it never stops a running pcscd process.
func EnsurePCSCD(logf func(format string, args ...any)) error {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	if _, ok := vpcdServed(); ok {
		return nil
	}
	pcscd, err := findPCSCD()
	if err != nil {
		return err
	}
	unlock, err := lockFile(pcscdLock)
	if err != nil {
		return fmt.Errorf("start pcscd: %w", err)
	}
	defer unlock()
	// Someone may have started it while we waited for the lock.
	if _, ok := vpcdServed(); ok {
		return nil
	}
	if pid, alive := runningPCSCD(); alive {
		// Maybe it is just starting: give it the time a start takes.
		if waitServed(pcscdStartTimeout) {
			return nil
		}
		return fmt.Errorf("pcscd (pid %d) is running without the vpcd readers; "+
			"stop it (scripts/pcscd-vpcd stop, systemctl stop pcscd.socket pcscd, or kill %d)", pid, pid)
	}
	stopSystemdPCSCD(logf)
	if err := cleanStalePCSCD(logf); err != nil {
		return err
	}
	pid, err := startPCSCD(pcscd)
	if err != nil {
		return err
	}
	logPath := filepath.Join(PCSCDDir, "pcscd.log")
	deadline := time.Now().Add(pcscdStartTimeout)
	for {
		if _, ok := vpcdServed(); ok {
			logf("started pcscd (pid %d) with the vpcd readers; it keeps running "+
				"for other tests, log %s; scripts/pcscd-vpcd stop stops it", pid, logPath)
			return nil
		}
		if !processAlive(pid) {
			return fmt.Errorf("pcscd (pid %d) exited at start:\n%s", pid, tail(logPath))
		}
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGTERM)
			return fmt.Errorf("pcscd (pid %d) did not serve the vpcd readers within %v:\n%s",
				pid, pcscdStartTimeout, tail(logPath))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// findPCSCD returns the path of pcscd, or ErrNoPCSCD.
func findPCSCD() (string, error) {
	if _, err := os.Stat(vpcdDriver); err != nil {
		return "", fmt.Errorf("%w (%v)", ErrNoPCSCD, err)
	}
	if p, err := exec.LookPath("pcscd"); err == nil {
		return p, nil
	}
	for _, p := range []string{"/usr/sbin/pcscd", "/sbin/pcscd"} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%w (no pcscd in $PATH or /usr/sbin)", ErrNoPCSCD)
}

// lockFile takes an exclusive flock on path, waiting for it.
func lockFile(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return nil, err
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// vpcdServed reports whether a live pcscd serves the vpcd readers: its
// socket and pid file are in /run/pcscd, and the vpcd driver loaded into it
// listens on both card ports.
func vpcdServed() (pid int, ok bool) {
	pid, alive := runningPCSCD()
	if !alive {
		return 0, false
	}
	if _, err := os.Stat(filepath.Join(pcscdRunDir, "pcscd.comm")); err != nil {
		return 0, false
	}
	return pid, listening(35963) && listening(35964)
}

// waitServed waits up to d for the vpcd readers to be served.
func waitServed(d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if _, ok := vpcdServed(); ok {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// runningPCSCD returns the pid in pcscd's pid file and whether that process
// is a live pcscd.
func runningPCSCD() (pid int, alive bool) {
	pid, err := readPid(filepath.Join(pcscdRunDir, "pcscd.pid"))
	if err != nil {
		return 0, false
	}
	return pid, processAlive(pid) && processName(pid) == "pcscd"
}

// readPid reads a pid file. pcscd's holds the pid, a newline and a NUL.
func readPid(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	s := strings.TrimSpace(strings.Trim(string(b), "\x00\n\r\t "))
	pid, err := strconv.Atoi(s)
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("pid file %s holds %q", path, b)
	}
	return pid, nil
}

// processAlive reports whether pid is a running process (not a zombie).
func processAlive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	return processState(pid) != 'Z'
}

// processState returns the state letter of pid from /proc (R, S, Z, …), or 0.
func processState(pid int) byte {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// pid (comm) state …: comm may hold spaces and parentheses.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return 0
	}
	return b[i+2]
}

// processName returns the command name of pid, or "".
func processName(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// listening reports whether some socket listens on TCP port on IPv4, which
// is how vpcd waits for its cards (on 0.0.0.0).
func listening(port int) bool {
	f, err := os.Open("/proc/net/tcp")
	if err != nil {
		return false
	}
	defer f.Close()
	want := fmt.Sprintf(":%04X", port)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// sl local_address rem_address st …; st 0A is LISTEN.
		fields := strings.Fields(sc.Text())
		if len(fields) > 3 && strings.HasSuffix(fields[1], want) && fields[3] == "0A" {
			return true
		}
	}
	return false
}

// stopSystemdPCSCD stops systemd's socket-activated pcscd, which would
// otherwise own /run/pcscd/pcscd.comm. Errors are ignored: most test
// machines have no systemd.
func stopSystemdPCSCD(logf func(string, ...any)) {
	if _, err := os.Stat("/run/systemd/system"); err != nil {
		return
	}
	out, err := exec.Command("systemctl", "is-active", "pcscd.socket").Output()
	if err != nil || strings.TrimSpace(string(out)) != "active" {
		return
	}
	logf("stopping systemd's pcscd.socket and pcscd.service")
	_ = exec.Command("systemctl", "stop", "pcscd.socket", "pcscd.service").Run()
}

// cleanStalePCSCD removes the socket and pid file of a pcscd that is no
// longer running; pcscd refuses to start while they are there.
func cleanStalePCSCD(logf func(string, ...any)) error {
	pidFile := filepath.Join(pcscdRunDir, "pcscd.pid")
	if pid, err := readPid(pidFile); err == nil {
		// A killed pcscd stays a zombie until its parent reaps it (init
		// may take a second), and pcscd will not start while it exists.
		zombie := func() bool { return processState(pid) == 'Z' && processName(pid) == "pcscd" }
		for deadline := time.Now().Add(pcscdStartTimeout); zombie() && time.Now().Before(deadline); {
			time.Sleep(20 * time.Millisecond)
		}
		if zombie() {
			return fmt.Errorf("the old pcscd (pid %d) is still a zombie after %v; pcscd will not "+
				"start until its parent (see /proc/%d/status) reaps it", pid, pcscdStartTimeout, pid)
		}
	}
	for _, name := range []string{"pcscd.comm", "pcscd.pid"} {
		p := filepath.Join(pcscdRunDir, name)
		if err := os.Remove(p); err == nil {
			logf("removed %s left by a pcscd that is gone", p)
		} else if !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove stale %s: %w", p, err)
		}
	}
	return nil
}

// startPCSCD writes the reader config into PCSCDDir and starts pcscd on it
// in a session of its own, through a shell that exits at once, so that
// pcscd outlives the test process and no one has to reap it. It returns
// pcscd's pid, also written to PCSCDDir/pcscd.pid.
func startPCSCD(pcscd string) (int, error) {
	if err := os.MkdirAll(PCSCDDir, 0o755); err != nil {
		return 0, fmt.Errorf("start pcscd: %w", err)
	}
	conf := filepath.Join(PCSCDDir, "reader.conf")
	if err := os.WriteFile(conf, []byte(readerConf), 0o644); err != nil {
		return 0, fmt.Errorf("start pcscd: %w", err)
	}
	logPath := filepath.Join(PCSCDDir, "pcscd.log")
	cmd := exec.Command("/bin/sh", "-c",
		`"$0" --foreground --info -c "$1" >"$2" 2>&1 </dev/null & echo $!`,
		pcscd, conf, logPath)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	out, err := cmd.Output()
	if err != nil {
		return 0, fmt.Errorf("start pcscd: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		return 0, fmt.Errorf("start pcscd: shell said %q", out)
	}
	if err := os.WriteFile(filepath.Join(PCSCDDir, "pcscd.pid"), []byte(strconv.Itoa(pid)+"\n"), 0o644); err != nil {
		return 0, fmt.Errorf("start pcscd: %w", err)
	}
	return pid, nil
}

// tail returns the last lines of the file at path, for error messages.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	return strings.Join(lines, "\n")
}
