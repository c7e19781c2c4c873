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
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/fanka/fanka/server/mysql/mariadbd"
)

// Provider is the Galera library Debian's galera-4 installs.
const Provider = "/usr/lib/galera/libgalera_smm.so"

// Available reports why a cluster cannot run here, or nil.
func Available() error {
	if _, err := os.Stat(Provider); err != nil {
		return fmt.Errorf("galera: no provider (apt-get install galera-4): %w", err)
	}
	if _, err := exec.LookPath("rsync"); err != nil {
		return fmt.Errorf("galera: rsync not found (apt-get install rsync): %w", err)
	}
	if err := mariadbd.Available(); err != nil {
		return fmt.Errorf("galera: %w", err)
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
	mariadbd.Process
	GroupPort, SSTPort, ISTPort int
}

// Start creates and starts an n-node cluster under dir (which must exist),
// and waits until every node is synced.
func Start(ctx context.Context, dir string, n int) (*Cluster, error) {
	if err := Available(); err != nil {
		return nil, err
	}
	ports, err := mariadbd.FreePorts(4 * n)
	if err != nil {
		return nil, err
	}
	c := &Cluster{Dir: dir}
	var group []string
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("node%d", i+1)
		nd := &Node{Process: mariadbd.Process{Name: name, Dir: filepath.Join(dir, name), Cnf: filepath.Join(dir, name+".cnf"), Port: ports[4*i]},
			GroupPort: ports[4*i+1], SSTPort: ports[4*i+2], ISTPort: ports[4*i+3]}
		group = append(group, fmt.Sprintf("127.0.0.1:%d", nd.GroupPort))
		c.Nodes = append(c.Nodes, nd)
	}
	runAs := mariadbd.RunAs() // mariadbd refuses root, and rsync's SST daemon would drop to nobody
	for _, nd := range c.Nodes {
		if err := os.MkdirAll(filepath.Join(nd.Dir, "data"), 0o700); err != nil {
			return nil, err
		}
		if err := os.WriteFile(nd.Cnf, []byte(nd.config(strings.Join(group, ","), runAs)), 0o644); err != nil {
			return nil, err
		}
	}
	if runAs != "" {
		if err := mariadbd.ChownTree(dir, runAs); err != nil {
			return nil, err
		}
	}
	// Only the first node gets system tables; the others receive them from
	// it by state transfer (SST) when they join.
	if err := c.Nodes[0].Install(ctx); err != nil {
		return nil, fmt.Errorf("galera: %w", err)
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
	b.WriteString(nd.BaseConfig(runAs))
	b.WriteString(`binlog_format=ROW
innodb_autoinc_lock_mode=2
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
	if err := nd.Process.Start(ctx, synced, 90*time.Second, args...); err != nil {
		return fmt.Errorf("galera: %w", err)
	}
	return nil
}

// synced is ready when the node is synced with the group.
func synced(ctx context.Context, db *sql.DB) (bool, string) {
	var name, state string
	err := db.QueryRowContext(ctx, "SHOW STATUS LIKE 'wsrep_local_state_comment'").Scan(&name, &state)
	if err != nil {
		return false, err.Error()
	}
	return state == "Synced", "state " + state
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
	log := filepath.Join(nd.Dir, "recover.log")
	os.Remove(log)
	cmd := exec.CommandContext(ctx, "mariadbd", "--defaults-file="+nd.Cnf, "--wsrep-recover", "--log-error="+log)
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
