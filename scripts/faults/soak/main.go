// Command soak runs randomized fault runs of whole Fanka systems and checks
// that every sale a register recorded is settled exactly once.
//
// Each run starts a real fanka-server (SQLite in a temp dir) and several real
// registers (fanka-terminal sim processes, keyed through their stdin), each
// talking to the server through its own faults.Proxy that refuses, delays,
// stalls and cuts connections mid-frame. Mid-run the server is SIGKILLed and
// restarted, and registers are SIGKILLed and restarted. Then the faults stop,
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
//	go run ./scripts/faults/soak -runs 5 [-seed S] [-registers 3] [-sales 20] [-bin DIR]
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
	flag.Parse()

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

	var lost, doubled, failed int
	for i := 0; i < *runs; i++ {
		s := *seed + uint64(i)
		r := &run{
			id: i + 1, seed: s, rng: rand.New(rand.NewPCG(s, s^0x5eed)),
			dir: filepath.Join(work, fmt.Sprintf("run%d", i+1)), bin: *binDir,
			registers: *registers, sales: *sales,
		}
		res := r.do(ctx)
		lost += res.lost
		doubled += res.doubled
		status := "ok"
		if res.err != nil {
			failed++
			status = "FAIL: " + res.err.Error()
		}
		fmt.Printf("run %d seed %d: recorded=%d settled=%d lost=%d doubled=%d server_kills=%d register_kills=%d connections=%v %s\n",
			r.id, s, res.recorded, res.settled, res.lost, res.doubled, res.serverKills, res.registerKills, res.faults, status)
	}
	fmt.Printf("SOAK runs=%d lost=%d doubled=%d failed=%d\n", *runs, lost, doubled, failed)
	if lost+doubled+failed > 0 {
		os.Exit(1)
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "soak:", err)
	os.Exit(2)
}
