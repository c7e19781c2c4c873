package settleload

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fanka/fanka/shared/journal"
)

// VerifyCount is a number of signatures verified in a time.
type VerifyCount struct {
	n       int64
	elapsed time.Duration
}

// Add returns the two counts together.
func (c VerifyCount) Add(o VerifyCount) VerifyCount {
	return VerifyCount{n: c.n + o.n, elapsed: c.elapsed + o.elapsed}
}

// Rate returns the verifications per second.
func (c VerifyCount) Rate() float64 { return float64(c.n) / c.elapsed.Seconds() }

// MeasureVerify verifies journal entries on GOMAXPROCS goroutines for d and
// counts them: the machine's Ed25519 verification rate on the messages the
// server verifies.
func MeasureVerify(ctx context.Context, d time.Duration) (VerifyCount, error) {
	type signed struct {
		e   journal.Entry
		pub ed25519.PublicKey
	}
	// A few keys and entries, as the server sees them from several registers.
	entries := make([]signed, 64)
	for i := range entries {
		pub, key, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return VerifyCount{}, err
		}
		e := journal.Entry{Kind: journal.KindSale, Terminal: uint32(i + 1), Seq: uint64(i + 2), Time: time.Now().UnixMilli(),
			CardNo: fmt.Sprintf("04%012X", i), Amount: 1250, Balance: 100_000, Cashier: "C01"}
		e.Prev[0] = byte(i)
		if err := e.Sign(key); err != nil {
			return VerifyCount{}, err
		}
		entries[i] = signed{e, pub}
	}

	var stop atomic.Bool
	var total atomic.Int64
	var bad atomic.Int64
	var wg sync.WaitGroup
	procs := runtime.GOMAXPROCS(0)
	start := time.Now()
	for g := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var n int64
			for i := g; ; i++ {
				s := &entries[i%len(entries)]
				if s.e.Verify(s.pub) != nil {
					bad.Add(1)
				}
				n++
				if n%32 == 0 && stop.Load() {
					break
				}
			}
			total.Add(n)
		}()
	}
	select {
	case <-time.After(d):
	case <-ctx.Done():
	}
	stop.Store(true)
	wg.Wait()
	elapsed := time.Since(start)
	if err := ctx.Err(); err != nil {
		return VerifyCount{}, err
	}
	if bad.Load() != 0 {
		return VerifyCount{}, fmt.Errorf("ed25519: %d good signatures did not verify", bad.Load())
	}
	return VerifyCount{n: total.Load(), elapsed: elapsed}, nil
}
