package printer_test

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/fanka/fanka/server/printer"
	"github.com/fanka/fanka/server/printer/printertest"
)

// TestHooks checks that the queue tells OnAttempt of each attempt, printed
// or failed, and OnStoreError of the store's errors.
func TestHooks(t *testing.T) {
	v := printertest.MustPrinter(t)
	store := &printertest.JobStore{}
	var mu sync.Mutex
	var attempts, storeErrors []string
	q := printer.NewQueue(store, nil)
	q.MinBackoff, q.MaxBackoff = 20*time.Millisecond, 50*time.Millisecond
	q.StatusInterval = 50 * time.Millisecond
	q.OnAttempt = func(name string, err error) {
		mu.Lock()
		defer mu.Unlock()
		attempts = append(attempts, fmt.Sprintf("%s %v", name, err == nil))
	}
	q.OnStoreError = func(op string, err error) {
		mu.Lock()
		defer mu.Unlock()
		storeErrors = append(storeErrors, op+": "+err.Error())
	}
	if err := q.Add("window-2", network(v)); err != nil {
		t.Fatal(err)
	}
	if err := q.Add("gone", &printer.Network{Addr: "127.0.0.1:1", TwoWay: true, Timeouts: quick}); err != nil {
		t.Fatal(err)
	}
	if err := q.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })

	enqueue(t, q, "window-2", "receipt", receipt(t, 1))
	enqueue(t, q, "gone", "receipt", receipt(t, 2))
	waitFor(t, "an attempt on each printer", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return slices.Contains(attempts, "window-2 true") && slices.Contains(attempts, "gone false")
	})
	store.SetFail(errors.New("database is locked"))
	waitFor(t, "a store error", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return slices.Contains(storeErrors, "claim: database is locked")
	})
	store.SetFail(nil)
}
