// Package mariadbd runs MariaDB servers on one machine, for tests and
// soaks: mariadbd processes on free loopback ports, each with its own data
// directory, run as the mysql user when the caller is root, and waited for
// until they answer. A Server stands alone or replicates another
// (asynchronous GTID replication, as a report replica runs); package galera
// builds its cluster's nodes from the same Process.
package mariadbd

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	_ "github.com/go-sql-driver/mysql" // registers "mysql" with database/sql
)

// Available reports why mariadbd cannot run here, or nil.
func Available() error {
	for _, bin := range []string{"mariadbd", "mariadb-install-db"} {
		if _, err := exec.LookPath(bin); err != nil {
			return fmt.Errorf("mariadbd: %s not found (apt-get install mariadb-server): %w", bin, err)
		}
	}
	if os.Geteuid() == 0 {
		if _, err := user.Lookup("mysql"); err != nil {
			return errors.New("mariadbd: running as root needs the mysql user (mariadb-server makes it)")
		}
	}
	return nil
}

// RunAs returns the user mariadbd must run as: mysql when the caller is
// root (mariadbd refuses root), "" (the caller) otherwise.
func RunAs() string {
	if os.Geteuid() == 0 {
		return "mysql"
	}
	return ""
}

// Process is one mariadbd, configured by the file Cnf, with its files in
// Dir: its output goes to Dir/mariadbd.out.
type Process struct {
	Name     string // for errors
	Dir, Cnf string
	Port     int

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// Install creates the system tables in the data directory the process's
// configuration names.
func (p *Process) Install(ctx context.Context) error {
	out, err := exec.CommandContext(ctx, "mariadb-install-db", "--defaults-file="+p.Cnf,
		"--auth-root-authentication-method=normal", "--skip-test-db").CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: mariadb-install-db: %v: %s", p.Name, err, LastLines(out, 20))
	}
	return nil
}

// Ready tells whether a starting server is ready, and if not, what state
// it is in (for the error when it never is).
type Ready func(ctx context.Context, db *sql.DB) (ok bool, state string)

// Answers is ready when the server answers a query.
func Answers(ctx context.Context, db *sql.DB) (bool, string) {
	err := db.PingContext(ctx)
	if err != nil {
		return false, err.Error()
	}
	return true, ""
}

// Start runs mariadbd with args besides the configuration, and waits at
// most timeout until ready says it is ready.
func (p *Process) Start(ctx context.Context, ready Ready, timeout time.Duration, args ...string) error {
	out, err := os.OpenFile(filepath.Join(p.Dir, "mariadbd.out"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer out.Close()
	cmd := exec.Command("mariadbd", append([]string{"--defaults-file=" + p.Cnf}, args...)...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%s: %w", p.Name, err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	p.mu.Lock()
	p.cmd, p.done = cmd, done
	p.mu.Unlock()
	return p.wait(ctx, done, ready, timeout)
}

func (p *Process) wait(ctx context.Context, done chan struct{}, ready Ready, timeout time.Duration) error {
	db, err := sql.Open("mysql", fmt.Sprintf("root@tcp(127.0.0.1:%d)/?timeout=1s", p.Port))
	if err != nil {
		return err
	}
	defer db.Close()
	errorLog := filepath.Join(p.Dir, "error.log")
	deadline := time.Now().Add(timeout)
	for {
		ok, state := ready(ctx, db)
		if ok {
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("%s exited while starting; see %s", p.Name, errorLog)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %v (%s); see %s", p.Name, timeout, state, errorLog)
		}
	}
}

// Kill SIGKILLs the server, as a machine's death would stop it.
func (p *Process) Kill() { p.signal(syscall.SIGKILL) }

// Stop shuts the server down cleanly.
func (p *Process) Stop() { p.signal(syscall.SIGTERM) }

func (p *Process) signal(sig syscall.Signal) {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		<-done
	}
}

// Alive reports whether the server's process runs.
func (p *Process) Alive() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// BaseConfig returns the start of a my.cnf for p: a small server (32 MB
// buffer pool) on loopback, with its files in Dir, flushed at every
// commit, running as runAs (see RunAs) if not empty.
func (p *Process) BaseConfig(runAs string) string {
	var b strings.Builder
	b.WriteString("[mariadbd]\n")
	if runAs != "" {
		fmt.Fprintf(&b, "user=%s\n", runAs)
	}
	fmt.Fprintf(&b, "datadir=%s\nsocket=%s\nport=%d\nbind-address=127.0.0.1\npid-file=%s\nlog-error=%s\n",
		filepath.Join(p.Dir, "data"), filepath.Join(p.Dir, "mysqld.sock"), p.Port, filepath.Join(p.Dir, "mysqld.pid"), filepath.Join(p.Dir, "error.log"))
	b.WriteString(`skip-name-resolve
default_storage_engine=InnoDB
innodb_buffer_pool_size=32M
innodb_log_file_size=16M
innodb_flush_log_at_trx_commit=1
performance_schema=OFF
max_connections=300
`)
	return b.String()
}

// FreePorts returns n loopback ports that were free a moment ago.
func FreePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// ChownTree gives dir and everything under it to the user, and lets it
// reach dir through the directories above it that the caller created.
func ChownTree(dir, name string) error {
	u, err := user.Lookup(name)
	if err != nil {
		return err
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}
	return filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
}

// LastLines returns the last n lines of b, for an error message.
func LastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
