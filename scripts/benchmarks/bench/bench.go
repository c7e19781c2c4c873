// Package bench is what the benchmark suites under scripts/benchmarks share:
// the result lines that scripts/bench reads, and their settings from the
// environment.
//
// A suite is a main package in its own folder. It prints one line per
// measurement and one per bar on standard output,
//
//	BENCH <name> <value> <unit>
//	BENCH-BAR <name> <value> <bar> pass|FAIL
//
// and anything else (progress, notes) on standard error. It exits non-zero
// only when a benchmark could not run or its result was wrong; a missed bar
// is reported, not an exit status: scripts/bench decides what it means.
package bench

import (
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"time"
)

// Result prints a measurement: BENCH name value unit.
func Result(name string, value float64, unit string) {
	fmt.Printf("BENCH %s %s %s\n", name, Format(value), unit)
}

// AtLeast prints whether value meets a lower bound, as
// BENCH-BAR name value bar pass|FAIL, and returns true if it does.
func AtLeast(name string, value, bar float64) bool { return barLine(name, value, bar, value >= bar) }

// AtMost prints whether value meets an upper bound (a latency, a size), as
// BENCH-BAR name value bar pass|FAIL, and returns true if it does.
func AtMost(name string, value, bar float64) bool { return barLine(name, value, bar, value <= bar) }

func barLine(name string, value, bar float64, ok bool) bool {
	verdict := "FAIL"
	if ok {
		verdict = "pass"
	}
	fmt.Printf("BENCH-BAR %s %s %s %s\n", name, Format(value), Format(bar), verdict)
	return ok
}

// Format writes a value as the result lines carry it: whole numbers for
// large values, three decimals for small ones.
func Format(v float64) string {
	if math.Abs(v) >= 100 || v == math.Trunc(v) {
		return strconv.FormatFloat(math.Round(v), 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'f', 3, 64)
}

// Int reads a positive integer setting from the environment variable name,
// or def if it is unset or empty.
func Int(name string, def int) (int, error) {
	s := os.Getenv(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%s=%q: want a positive integer", name, s)
	}
	return n, nil
}

// Duration reads a positive duration setting ("2s", "90s", "3m") from the
// environment variable name, or def if it is unset or empty.
func Duration(name string, def time.Duration) (time.Duration, error) {
	s := os.Getenv(name)
	if s == "" {
		return def, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s=%q: want a positive duration such as 2s", name, s)
	}
	return d, nil
}

// CPU is the machine's CPU time so far, from /proc/stat, in clock ticks.
type CPU struct{ Busy, Total uint64 }

// ReadCPU reads the machine's CPU time (every core): Busy is all but idle
// and iowait.
func ReadCPU() (CPU, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return CPU{}, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	fields := strings.Fields(line)
	if len(fields) < 6 || fields[0] != "cpu" {
		return CPU{}, fmt.Errorf("/proc/stat: unexpected first line %q", line)
	}
	var c CPU
	// user nice system idle iowait irq softirq steal; guest time is in
	// user's already.
	for i, f := range fields[1:min(len(fields), 9)] {
		n, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			return CPU{}, fmt.Errorf("/proc/stat: %q: %w", line, err)
		}
		c.Total += n
		if i != 3 && i != 4 { // idle, iowait
			c.Busy += n
		}
	}
	return c, nil
}

// BusyFraction is the share of the machine's CPU time from a to b that was
// busy: 1 means every core was busy all the time.
func BusyFraction(a, b CPU) float64 {
	if b.Total <= a.Total {
		return 0
	}
	return float64(b.Busy-a.Busy) / float64(b.Total-a.Total)
}

// ProcessCPU returns the CPU time a process has used so far, user and
// system, from /proc/PID/stat (pid 0: this process).
func ProcessCPU(pid int) (time.Duration, error) {
	name := "/proc/self/stat"
	if pid != 0 {
		name = fmt.Sprintf("/proc/%d/stat", pid)
	}
	b, err := os.ReadFile(name)
	if err != nil {
		return 0, err
	}
	// The command name, in parentheses, may hold spaces: the fields that
	// count start after its last ')'. utime and stime are the 14th and
	// 15th fields, the 12th and 13th after the name.
	i := strings.LastIndexByte(string(b), ')')
	fields := strings.Fields(string(b[i+1:]))
	if i < 0 || len(fields) < 13 {
		return 0, fmt.Errorf("%s: unexpected %q", name, b)
	}
	var ticks uint64
	for _, f := range fields[11:13] {
		n, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", name, err)
		}
		ticks += n
	}
	// Linux counts in USER_HZ, 100 a second on every architecture Go runs on.
	return time.Duration(ticks) * (time.Second / 100), nil
}
