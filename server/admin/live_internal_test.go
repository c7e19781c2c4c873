package admin

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/fanka/fanka/server"
	"github.com/fanka/fanka/server/servertest"
)

// lateStore is a store as a server sees it while another server on the
// same MySQL database has taken transaction ids it has not committed yet:
// the ids in hidden are not there yet.
type lateStore struct {
	Store
	mu     sync.Mutex
	hidden map[int64]bool
}

func (s *lateStore) hide(id int64, hidden bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hidden[id] = hidden
}

func (s *lateStore) visible(sales []server.Sale) []server.Sale {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.DeleteFunc(sales, func(sale server.Sale) bool { return s.hidden[sale.ID] })
}

func (s *lateStore) Sales(ctx context.Context, since int64, limit int) ([]server.Sale, error) {
	sales, err := s.Store.Sales(ctx, since, limit)
	return s.visible(sales), err
}

func (s *lateStore) SalesIn(ctx context.Context, ids []int64) ([]server.Sale, error) {
	sales, err := s.Store.SalesIn(ctx, ids)
	return s.visible(sales), err
}

func receive(t *testing.T, c *liveClient) server.Sale {
	t.Helper()
	select {
	case msg := <-c.ch:
		var s server.Sale
		if err := json.Unmarshal(msg, &s); err != nil {
			t.Fatalf("live message %s: %v", msg, err)
		}
		return s
	case <-time.After(2 * time.Second):
		t.Fatal("no sale on the live feed within 2 s")
	}
	return server.Sale{}
}

// TestLiveFeedLateCommit checks that a sale committed after one with a
// higher id still reaches the feed, once, and that a client whose buffer
// is full is dropped while another is not.
func TestLiveFeedLateCommit(t *testing.T) {
	ctx := context.Background()
	db := servertest.MustOpenSQLite(t, nil)
	store := &lateStore{Store: db, hidden: map[int64]bool{}}
	api := New(store, nil, nil)
	api.LivePoll = 20 * time.Millisecond
	c, err := api.live.subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer api.live.unsubscribe(c)

	servertest.OpenCard(t, db, "C1", 10000)
	r := servertest.NewRegister(t)
	servertest.Enroll(t, db, r)
	last, err := db.LastTransactionID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	store.hide(last+1, true) // the first sale's id, committed late
	if _, err := db.Settle(ctx, r.ID, [][]byte{r.Sale(t, "C1", 100)}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Settle(ctx, r.ID, [][]byte{r.Sale(t, "C1", 200)}); err != nil {
		t.Fatal(err)
	}
	if s := receive(t, c); s.ID != last+2 || s.Amount != 200 {
		t.Fatalf("first on the feed: %+v, want the second sale, id %d", s, last+2)
	}
	time.Sleep(100 * time.Millisecond) // polls that find the gap still open
	store.hide(last+1, false)
	if s := receive(t, c); s.ID != last+1 || s.Amount != 100 {
		t.Fatalf("then: %+v, want the sale committed late, id %d", s, last+1)
	}
	select {
	case msg := <-c.ch:
		t.Errorf("a sale sent twice: %s", msg)
	case <-time.After(200 * time.Millisecond):
	}

	// A client whose buffer is full is dropped; the others are not.
	api.LiveBuffer = 8
	full, err := api.live.subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer api.live.unsubscribe(full)
	for range cap(full.ch) + 1 {
		api.live.send(server.Sale{ID: 1})
		<-c.ch
	}
	select {
	case <-full.gone:
	default:
		t.Errorf("a client with %d sales waiting was not dropped", cap(full.ch)+1)
	}
	select {
	case <-c.gone:
		t.Errorf("a client that reads was dropped")
	default:
	}
}
