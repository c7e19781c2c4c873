// Package galera runs a MariaDB Galera cluster on one machine, for tests
// and soaks: n mariadbd processes on loopback ports, each with its own data
// directory and the Debian galera-4 provider, bootstrapped from the first
// node. Nodes can be SIGKILLed and restarted: a restarted node recovers its
// position (mariadbd --wsrep-recover) and catches up from a peer's gcache
// (IST), as the distribution's service scripts do.
package galera

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
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	_ "github.com/go-sql-driver/mysql" // registers "mysql" with database/sql
)

// Provider is the Galera library Debian's galera-4 installs.
const Provider = "/usr/lib/galera/libgalera_smm.so"

// Available reports why a cluster cannot run here, or nil.
func Available() error {
	if _, err := os.Stat(Provider); err != nil {
		return fmt.Errorf("galera: no provider (apt-get install galera-4): %w", err)
	}
	for _, bin := range []string{"mariadbd", "mariadb-install-db", "rsync"} {
		if _, err := exec.LookPath(bin); err != nil {
			return fmt.Errorf("galera: %s not found (apt-get install mariadb-server rsync): %w", bin, err)
		}
	}
	if os.Geteuid() == 0 {
		if _, err := user.Lookup("mysql"); err != nil {
			return errors.New("galera: running as root needs the mysql user (mariadb-server makes it)")
		}
	}
	return nil
}

// Cluster is a running cluster.
type Cluster struct {
	Dir   string
	Nodes []*Node
}

// Node is one mariadbd of the cluster.
type Node struct {
	Name                              string
	Port, GroupPort, SSTPort, ISTPort int
	dir, cnf                          string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// Start creates and starts an n-node cluster under dir (which must exist),
// and waits until every node is synced.
func Start(ctx context.Context, dir string, n int) (*Cluster, error) {
	if err := Available(); err != nil {
		return nil, err
	}
	ports, err := freePorts(4 * n)
	if err != nil {
		return nil, err
	}
	c := &Cluster{Dir: dir}
	var group []string
	for i := 0; i < n; i++ {
		nd := &Node{Name: fmt.Sprintf("node%d", i+1), Port: ports[4*i], GroupPort: ports[4*i+1], SSTPort: ports[4*i+2], ISTPort: ports[4*i+3]}
		nd.dir = filepath.Join(dir, nd.Name)
		nd.cnf = filepath.Join(dir, nd.Name+".cnf")
		group = append(group, fmt.Sprintf("127.0.0.1:%d", nd.GroupPort))
		c.Nodes = append(c.Nodes, nd)
	}
	runAs := ""
	if os.Geteuid() == 0 {
		runAs = "mysql" // mariadbd refuses root, and rsync's SST daemon would drop to nobody
	}
	for _, nd := range c.Nodes {
		if err := os.MkdirAll(filepath.Join(nd.dir, "data"), 0o700); err != nil {
			return nil, err
		}
		if err := os.WriteFile(nd.cnf, []byte(nd.config(strings.Join(group, ","), runAs)), 0o644); err != nil {
			return nil, err
		}
	}
	if runAs != "" {
		if err := chownTree(dir, runAs); err != nil {
			return nil, err
		}
	}
	// Only the first node gets system tables; the others receive them from
	// it by state transfer (SST) when they join.
	first := c.Nodes[0]
	if out, err := exec.CommandContext(ctx, "mariadb-install-db", "--defaults-file="+first.cnf,
		"--auth-root-authentication-method=normal", "--skip-test-db").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("galera: mariadb-install-db: %v: %s", err, lastLines(out, 20))
	}
	for i, nd := range c.Nodes {
		args := []string{}
		if i == 0 {
			args = append(args, "--wsrep-new-cluster")
		}
		if err := nd.start(ctx, args...); err != nil {
			c.Stop()
			return nil, err
		}
	}
	return c, nil
}

// config is the node's my.cnf: a small server (32 MB buffer pool and
// gcache), InnoDB and row binlog as Galera needs, flushed at every commit.
func (nd *Node) config(group, runAs string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "[mariadbd]\n")
	if runAs != "" {
		fmt.Fprintf(&b, "user=%s\n", runAs)
	}
	fmt.Fprintf(&b, "datadir=%s\nsocket=%s\nport=%d\nbind-address=127.0.0.1\npid-file=%s\nlog-error=%s\n",
		filepath.Join(nd.dir, "data"), filepath.Join(nd.dir, "mysqld.sock"), nd.Port, filepath.Join(nd.dir, "mysqld.pid"), filepath.Join(nd.dir, "error.log"))
	b.WriteString(`skip-name-resolve
binlog_format=ROW
default_storage_engine=InnoDB
innodb_autoinc_lock_mode=2
innodb_buffer_pool_size=32M
innodb_log_file_size=16M
innodb_flush_log_at_trx_commit=1
performance_schema=OFF
max_connections=300
wsrep_on=ON
wsrep_cluster_name=fanka
wsrep_sst_method=rsync
`)
	fmt.Fprintf(&b, "wsrep_provider=%s\nwsrep_cluster_address=gcomm://%s\nwsrep_node_name=%s\nwsrep_node_address=127.0.0.1:%d\nwsrep_sst_receive_address=127.0.0.1:%d\n",
		Provider, group, nd.Name, nd.GroupPort, nd.SSTPort)
	fmt.Fprintf(&b, "wsrep_provider_options=\"gcache.size=32M;gmcast.listen_addr=tcp://127.0.0.1:%d;ist.recv_addr=127.0.0.1:%d\"\n", nd.GroupPort, nd.ISTPort)
	return b.String()
}

// DSN returns the Fanka database URL of database name on node i, with
// causal reads (wsrep_sync_wait=1): a read waits until the node has applied
// what the cluster committed before it, so a card read through one node
// shows a sale just settled through another. Without it the read may be
// a moment behind (money stays right: a write on what a stale read saw
// fails certification and runs again).
func (c *Cluster) DSN(i int, name string) string {
	return fmt.Sprintf("mysql://root@127.0.0.1:%d/%s?wsrep_sync_wait=1", c.Nodes[i].Port, name)
}

// start runs mariadbd and waits until the node is synced with the group.
func (nd *Node) start(ctx context.Context, args ...string) error {
	out, err := os.OpenFile(filepath.Join(nd.dir, "mariadbd.out"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer out.Close()
	cmd := exec.Command("mariadbd", append([]string{"--defaults-file=" + nd.cnf}, args...)...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("galera: %s: %w", nd.Name, err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	nd.mu.Lock()
	nd.cmd, nd.done = cmd, done
	nd.mu.Unlock()
	return nd.waitSynced(ctx, done, 90*time.Second)
}

func (nd *Node) waitSynced(ctx context.Context, done chan struct{}, timeout time.Duration) error {
	db, err := sql.Open("mysql", fmt.Sprintf("root@tcp(127.0.0.1:%d)/?timeout=1s", nd.Port))
	if err != nil {
		return err
	}
	defer db.Close()
	deadline := time.Now().Add(timeout)
	for {
		var name, state string
		err := db.QueryRowContext(ctx, "SHOW STATUS LIKE 'wsrep_local_state_comment'").Scan(&name, &state)
		if err == nil && state == "Synced" {
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("galera: %s exited while starting; see %s", nd.Name, filepath.Join(nd.dir, "error.log"))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("galera: %s not synced after %v (state %q, %v); see %s", nd.Name, timeout, state, err, filepath.Join(nd.dir, "error.log"))
		}
	}
}

// Kill SIGKILLs the node, as a machine's death would stop it.
func (nd *Node) Kill() { nd.signal(syscall.SIGKILL) }

// Stop shuts the node down cleanly.
func (nd *Node) Stop() { nd.signal(syscall.SIGTERM) }

func (nd *Node) signal(sig syscall.Signal) {
	nd.mu.Lock()
	cmd, done := nd.cmd, nd.done
	nd.mu.Unlock()
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

// Alive reports whether the node's process runs.
func (nd *Node) Alive() bool {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	if nd.cmd == nil {
		return false
	}
	select {
	case <-nd.done:
		return false
	default:
		return true
	}
}

var recovered = regexp.MustCompile(`WSREP: Recovered position: ([0-9a-f-]+:-?[0-9]+)`)

// Restart starts a node that was killed or stopped: it recovers the
// position its InnoDB holds, then rejoins from there, receiving what it
// missed from a peer, and waits until it is synced.
func (nd *Node) Restart(ctx context.Context) error {
	if nd.Alive() {
		return fmt.Errorf("galera: %s is running", nd.Name)
	}
	pos, err := nd.recoverPosition(ctx)
	if err != nil {
		return err
	}
	return nd.start(ctx, "--wsrep-start-position="+pos)
}

// recoverPosition runs mariadbd --wsrep-recover and returns the position
// it logs. mariadbd 10.11 does not always exit after logging it (after a
// crash recovery through tc.log it was seen to spin for minutes): the
// position is read from the log as soon as it is there, and the process
// then killed, which costs nothing, for it changed nothing since.
func (nd *Node) recoverPosition(ctx context.Context) (string, error) {
	log := filepath.Join(nd.dir, "recover.log")
	os.Remove(log)
	cmd := exec.CommandContext(ctx, "mariadbd", "--defaults-file="+nd.cnf, "--wsrep-recover", "--log-error="+log)
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("galera: %s: --wsrep-recover: %w", nd.Name, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() {
		cmd.Process.Kill()
		<-done
	}()
	found := func() string {
		b, _ := os.ReadFile(log)
		if m := recovered.FindAllSubmatch(b, -1); m != nil {
			return string(m[len(m)-1][1])
		}
		return ""
	}
	for deadline := time.Now().Add(90 * time.Second); time.Now().Before(deadline); {
		if pos := found(); pos != "" {
			return pos, nil
		}
		select {
		case err := <-done:
			done <- err // for the deferred wait
			if pos := found(); pos != "" {
				return pos, nil
			}
			return "", fmt.Errorf("galera: %s: --wsrep-recover found no position (%v); see %s", nd.Name, err, log)
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return "", fmt.Errorf("galera: %s: --wsrep-recover logged no position in 90 s; see %s", nd.Name, log)
}

// Stop stops every node that runs, the first last.
func (c *Cluster) Stop() {
	for i := len(c.Nodes) - 1; i >= 0; i-- {
		c.Nodes[i].Stop()
	}
}

// freePorts returns n loopback ports that were free a moment ago.
func freePorts(n int) ([]int, error) {
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

// chownTree gives dir and everything under it to the user, and lets it
// reach dir through the directories above it that the caller created.
func chownTree(dir, name string) error {
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

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
