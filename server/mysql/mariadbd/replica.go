package mariadbd

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Server is a standalone mariadbd.
type Server struct {
	Process
}

// Start creates and starts a server in dir/name (dir must exist; when the
// caller is root, mariadbd's user must reach it, so not under a 0700
// directory of root's such as t.TempDir's), with extra lines appended to
// its my.cnf (see PrimaryConfig, ReplicaConfig), and waits until it
// answers. Stop it when done.
func Start(ctx context.Context, dir, name, extra string) (*Server, error) {
	if err := Available(); err != nil {
		return nil, err
	}
	ports, err := FreePorts(1)
	if err != nil {
		return nil, err
	}
	s := &Server{Process{Name: name, Dir: filepath.Join(dir, name), Cnf: filepath.Join(dir, name+".cnf"), Port: ports[0]}}
	if err := os.MkdirAll(filepath.Join(s.Dir, "data"), 0o700); err != nil {
		return nil, err
	}
	runAs := RunAs()
	if err := os.WriteFile(s.Cnf, []byte(s.BaseConfig(runAs)+extra), 0o644); err != nil {
		return nil, err
	}
	if runAs != "" {
		if err := ChownTree(dir, runAs); err != nil {
			return nil, err
		}
	}
	if err := s.Install(ctx); err != nil {
		return nil, err
	}
	if err := s.Process.Start(ctx, Answers, 60*time.Second); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// PrimaryConfig is the my.cnf of a server that others replicate: server
// id, and a row binary log that gives each transaction a GTID.
func PrimaryConfig(id int) string {
	return fmt.Sprintf("server-id=%d\nlog-bin=mariadb-bin\nbinlog_format=ROW\n", id)
}

// ReplicaConfig is the my.cnf of a replica: server id, read-only to its
// clients (but those with privileges above a report reader's), and its
// own relay log.
func ReplicaConfig(id int) string {
	return fmt.Sprintf("server-id=%d\nread_only=ON\nrelay-log=relay-bin\n", id)
}

// DSN returns the Fanka database URL of database name on the server.
func (s *Server) DSN(name string) string {
	return fmt.Sprintf("mysql://root@127.0.0.1:%d/%s", s.Port, name)
}

// open returns a connection pool to the server, as root.
func (s *Server) open() (*sql.DB, error) {
	return sql.Open("mysql", fmt.Sprintf("root@tcp(127.0.0.1:%d)/?timeout=5s", s.Port))
}

// binlogPos returns the GTID position of the last transaction the server
// wrote to its binary log.
func (s *Server) binlogPos(ctx context.Context) (string, error) {
	db, err := s.open()
	if err != nil {
		return "", err
	}
	defer db.Close()
	var pos string
	if err := db.QueryRowContext(ctx, `SELECT @@GLOBAL.gtid_binlog_pos`).Scan(&pos); err != nil {
		return "", fmt.Errorf("%s: GTID position: %w", s.Name, err)
	}
	return pos, nil
}

// Replicate makes s an asynchronous replica of primary: from primary's
// present GTID position (what primary committed before is not copied, as
// each server has its own system tables), with CHANGE MASTER TO …
// MASTER_USE_GTID=slave_pos and START SLAVE; and waits until both of its
// threads run.
func (s *Server) Replicate(ctx context.Context, primary *Server) error {
	pos, err := primary.binlogPos(ctx)
	if err != nil {
		return err
	}
	r, err := s.open()
	if err != nil {
		return err
	}
	defer r.Close()
	for _, stmt := range []string{
		fmt.Sprintf(`SET GLOBAL gtid_slave_pos = '%s'`, pos),
		fmt.Sprintf(`CHANGE MASTER TO MASTER_HOST = '127.0.0.1', MASTER_PORT = %d, MASTER_USER = 'root', MASTER_PASSWORD = '', MASTER_CONNECT_RETRY = 1, MASTER_USE_GTID = slave_pos`, primary.Port),
		`START SLAVE`,
	} {
		if _, err := r.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("%s: %s: %w", s.Name, stmt, err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		io, sqlThread, lastErr, err := s.SlaveThreads(ctx)
		if err != nil {
			return err
		}
		if io == "Yes" && sqlThread == "Yes" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: replication does not run (IO %s, SQL %s): %s", s.Name, io, sqlThread, lastErr)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// SlaveThreads returns whether the replica's IO and SQL threads run
// (SHOW SLAVE STATUS's Slave_IO_Running, Slave_SQL_Running) and the last
// error either reported.
func (s *Server) SlaveThreads(ctx context.Context) (io, sqlThread, lastErr string, err error) {
	r, err := s.open()
	if err != nil {
		return "", "", "", err
	}
	defer r.Close()
	rows, err := r.QueryContext(ctx, `SHOW SLAVE STATUS`)
	if err != nil {
		return "", "", "", fmt.Errorf("%s: SHOW SLAVE STATUS: %w", s.Name, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return "", "", "", err
	}
	if !rows.Next() {
		return "", "", "", fmt.Errorf("%s: not a replica", s.Name)
	}
	vals := make([]sql.NullString, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return "", "", "", err
	}
	status := map[string]string{}
	for i, c := range cols {
		status[c] = vals[i].String
	}
	return status["Slave_IO_Running"], status["Slave_SQL_Running"], status["Last_IO_Error"] + status["Last_SQL_Error"], rows.Err()
}

// CatchUp waits at most timeout until the replica s has applied every
// transaction that primary committed before CatchUp was called (its GTID
// position, MASTER_GTID_WAIT).
func (s *Server) CatchUp(ctx context.Context, primary *Server, timeout time.Duration) error {
	pos, err := primary.binlogPos(ctx)
	if err != nil {
		return err
	}
	r, err := s.open()
	if err != nil {
		return err
	}
	defer r.Close()
	var got int
	if err := r.QueryRowContext(ctx, `SELECT MASTER_GTID_WAIT(?, ?)`, pos, timeout.Seconds()).Scan(&got); err != nil {
		return fmt.Errorf("%s: wait for GTID %s: %w", s.Name, pos, err)
	}
	if got != 0 {
		return fmt.Errorf("%s: has not applied GTID %s after %v", s.Name, pos, timeout)
	}
	return nil
}

// Exec runs statements on the server as root, e.g. STOP SLAVE SQL_THREAD.
func (s *Server) Exec(ctx context.Context, stmts ...string) error {
	db, err := s.open()
	if err != nil {
		return err
	}
	defer db.Close()
	for _, stmt := range stmts {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("%s: %s: %w", s.Name, stmt, err)
		}
	}
	return nil
}
