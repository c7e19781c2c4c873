// Command soak runs randomized fault runs of whole Fanka systems and checks
// that every sale a register recorded is settled exactly once.
//
// Each run starts a real fanka-server (SQLite in a temp dir) and several real
// registers (fanka-terminal sim processes, keyed through their stdin), each
// talking to the server through its own faults.Proxy that refuses, delays,
// stalls and cuts connections mid-frame. Mid-run the server is SIGKILLed and
// restarted, and registers are SIGKILLed and restarted.
//
// With -servers N and -db mariadb, N servers share a fresh database on the
// MariaDB that FANKA_MYSQL_DSN names (default mysql://root@127.0.0.1:3306/test);
// with -db galera, on a 3-node Galera cluster the soak starts (three local
// mariadbd processes), the servers spread over its nodes, and one node is
// SIGKILLed mid-run and restarted. Each register lists every server, its
// own first, each through a proxy of its own and pinned to its own
// certificate; one server is SIGKILLed and stays down for 1.5–3 s, so its
// registers move to another. Then the faults stop,
// the registers drain, and the run compares every register's journal (the
// truth: what the display called 成功) with the server's ledger:
//
//	lost     entries in a journal that the server does not hold (or holds different)
//	doubled  the server holds entries no journal has, or a card was charged more than its sales
//	failed   runs that could not complete, or whose `fanka-server verify` failed
//
// The last line is `SOAK runs=N lost=L doubled=D failed=F`; the exit status
// is 0 only when all three are 0.
//
//	go run ./scripts/faults/soak -runs 5 [-servers 1] [-db sqlite|mariadb|galera] [-seed S] [-registers 3] [-sales 20] [-bin DIR]
package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

func main() {
	runs := flag.Int("runs", 3, "fault runs")
	seed := flag.Uint64("seed", uint64(time.Now().UnixNano()), "random seed of the first run")
	registers := flag.Int("registers", 3, "registers per run")
	sales := flag.Int("sales", 20, "sales keyed per register per run")
	binDir := flag.String("bin", "", "directory with fanka-server and fanka-terminal (default: build them)")
	keep := flag.Bool("keep", false, "keep each run's data directory")
	servers := flag.Int("servers", 1, "fanka-server processes sharing the database")
	dbKind := flag.String("db", "sqlite", "the servers' database: sqlite (one server), mariadb (FANKA_MYSQL_DSN's server) or galera (a 3-node cluster the soak starts)")
	flag.Parse()
	if *servers < 1 || (*dbKind == "sqlite" && *servers > 1) {
		fatal(fmt.Errorf("-servers %d on -db %s: SQLite serves one server; use -db mariadb or galera", *servers, *dbKind))
	}

	ctx := context.Background()
	work, err := os.MkdirTemp("", "fanka-soak-")
	if err != nil {
		fatal(err)
	}
	if !*keep {
		defer os.RemoveAll(work)
	}
	if *binDir == "" {
		*binDir = filepath.Join(work, "bin")
		fmt.Fprintln(os.Stderr, "soak: building binaries")
		cmd := exec.Command("go", "build", "-o", *binDir+"/", "github.com/fanka/fanka/server/cmd/fanka-server", "github.com/fanka/fanka/terminal/cmd/fanka-terminal")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fatal(fmt.Errorf("build: %w", err))
		}
	}

	// The database last: a Galera cluster's processes must not outlive a
	// failed build.
	be, err := openBackend(ctx, *dbKind, 3)
	if err != nil {
		fatal(err)
	}
	var lost, doubled, failed int
	for i := 0; i < *runs; i++ {
		s := *seed + uint64(i)
		r := &run{
			id: i + 1, seed: s, rng: rand.New(rand.NewPCG(s, s^0x5eed)),
			dir: filepath.Join(work, fmt.Sprintf("run%d", i+1)), bin: *binDir,
			registers: *registers, sales: *sales, backend: be, nservers: *servers,
		}
		res := r.do(ctx)
		lost += res.lost
		doubled += res.doubled
		status := "ok"
		if res.err != nil {
			failed++
			status = "FAIL: " + res.err.Error()
		}
		fmt.Printf("run %d seed %d: recorded=%d settled=%d lost=%d doubled=%d server_kills=%d register_kills=%d db_node_kills=%d server_moves=%d connections=%v %s\n",
			r.id, s, res.recorded, res.settled, res.lost, res.doubled, res.serverKills, res.registerKills, res.nodeKills, res.moves, res.faults, status)
	}
	be.close()
	fmt.Printf("SOAK runs=%d lost=%d doubled=%d failed=%d\n", *runs, lost, doubled, failed)
	if lost+doubled+failed > 0 {
		os.Exit(1)
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "soak:", err)
	os.Exit(2)
}
