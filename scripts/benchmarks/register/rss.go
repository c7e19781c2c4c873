package main

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/fanka/fanka/shared/money"
	"github.com/fanka/fanka/shared/wire"
	"github.com/fanka/fanka/terminal"
	"github.com/fanka/fanka/terminal/journal"
)

// childEnv names the child's job when the suite runs itself as a child.
const childEnv = "BENCH_REGISTER_CHILD"

// rssReport is what a child prints on its standard output, as JSON.
type rssReport struct {
	Cards     int     `json:"cards"`
	LoadS     float64 `json:"load_s"`
	RSSMiB    float64 `json:"rss_mib"`    // VmRSS at the end
	HWMMiB    float64 `json:"hwm_mib"`    // VmHWM: the peak
	AnonMiB   float64 `json:"anon_mib"`   // RssAnon at the end: the Go heap and stacks
	FileMiB   float64 `json:"file_mib"`   // RssFile at the end: pages of the bbolt file mapped in
	FileBytes int64   `json:"file_bytes"` // the journal file's size
	Lookups   int     `json:"lookups"`    // random card lookups made after loading
	LookupP99 float64 `json:"lookup_p99_us"`
}

// cardNo returns card i's number: a 7-byte ISO 14443 UID in hex, spread
// over the key space as real UIDs are.
func cardNo(i int) string {
	x := uint64(i+1) * 0x9E3779B97F4A7C15
	return fmt.Sprintf("04%012X", x>>16)
}

var names = []string{"张伟", "王芳", "李娜", "刘洋", "陈静", "杨磊", "赵敏", "黄丽", "周杰", "吴刚", "欧阳明"}

// childLoad is the child: a register process that receives the server's
// full card list (wire.Cards frames of wire.MaxCards, in version order, as
// the uplink applies them) into its bbolt cache, then looks cards up as
// sales would, and reports its memory.
func childLoad(dir string, cards, lookups int) error {
	debug.SetMemoryLimit(terminal.MemoryLimit) // as fanka-terminal's main does
	key := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	j, err := journal.Open(filepath.Join(dir, "journal.db"), 1, key)
	if err != nil {
		return err
	}
	defer j.Close()
	day := journal.Day(time.Now())
	start := time.Now()
	batch := make([]wire.Card, 0, wire.MaxCards)
	for i := 0; i < cards; i++ {
		batch = append(batch, wire.Card{
			Version: uint64(i + 1), CardNo: cardNo(i), Name: names[i%len(names)], Status: wire.CardActive,
			Balance: money.Fen(10000 + i%5000), Day: day, TodayCount: uint16(i % 3),
		})
		if len(batch) == wire.MaxCards || i == cards-1 {
			// Through the codec, as a frame from the server arrives.
			b, err := wire.Encode(&wire.Cards{Cursor: uint64(i + 1), Cards: batch})
			if err != nil {
				return err
			}
			m, err := wire.Decode(b)
			if err != nil {
				return err
			}
			if err := j.ApplyCards(m.(*wire.Cards)); err != nil {
				return err
			}
			batch = batch[:0]
		}
	}
	load := time.Since(start)
	lat := make([]time.Duration, 0, lookups)
	now := time.Now()
	for k := 0; k < lookups; k++ {
		no := cardNo(rand.IntN(cards))
		t0 := time.Now()
		v, ok, err := j.Card(no, now)
		lat = append(lat, time.Since(t0))
		if err != nil || !ok || v.CardNo != no {
			return fmt.Errorf("card %s: %v %v", no, ok, err)
		}
	}
	st, err := os.Stat(filepath.Join(dir, "journal.db"))
	if err != nil {
		return err
	}
	mem, err := procStatus()
	if err != nil {
		return err
	}
	r := rssReport{Cards: cards, LoadS: load.Seconds(), RSSMiB: mem["VmRSS"], HWMMiB: mem["VmHWM"],
		AnonMiB: mem["RssAnon"], FileMiB: mem["RssFile"], FileBytes: st.Size(), Lookups: lookups,
		LookupP99: float64(percentile(lat, 0.99).Microseconds())}
	return json.NewEncoder(os.Stdout).Encode(r)
}

// procStatus reads the memory lines of /proc/self/status, in MiB.
func procStatus() (map[string]float64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		f := strings.Fields(v)
		if !ok || len(f) != 2 || f[1] != "kB" {
			continue
		}
		kb, err := strconv.ParseFloat(f[0], 64)
		if err == nil {
			out[k] = kb / 1024
		}
	}
	return out, nil
}

// measureRSS runs the child in a fresh directory under dir and returns its
// report.
func measureRSS(dir string, cards, lookups int) (rssReport, error) {
	var r rssReport
	work, err := os.MkdirTemp(dir, "fanka-bench-register-rss-")
	if err != nil {
		return r, err
	}
	defer os.RemoveAll(work)
	exe, err := os.Executable()
	if err != nil {
		return r, err
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), childEnv+"=rss", "BENCH_REGISTER_CHILD_DIR="+work,
		"BENCH_REGISTER_CHILD_CARDS="+strconv.Itoa(cards), "BENCH_REGISTER_CHILD_LOOKUPS="+strconv.Itoa(lookups))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return r, fmt.Errorf("rss child: %w", err)
	}
	if err := json.Unmarshal(out, &r); err != nil {
		return r, fmt.Errorf("rss child said %q: %w", out, err)
	}
	return r, nil
}
