package admin

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/fanka/fanka/server"
)

// Defaults of the live sale feed.
const (
	// DefaultLivePoll is how often the feed looks for new sales.
	DefaultLivePoll = 200 * time.Millisecond
	// DefaultLiveBuffer bounds the messages waiting for one client.
	DefaultLiveBuffer = 4096
)

const (
	// liveMinGap is the least time between two polls woken by this
	// server's commits, which come every few milliseconds under load.
	liveMinGap = 25 * time.Millisecond
	// liveHoleGrace is how long an id skipped in the ledger may still turn
	// out to be a sale committed late (see server.SaleStore): far longer
	// than any settlement transaction takes to commit.
	liveHoleGrace = 10 * time.Second
	// liveMaxHoles bounds the skipped ids the feed watches.
	liveMaxHoles = 10_000
	// liveWriteWait bounds the write of one message to a client.
	liveWriteWait = 10 * time.Second
	// livePing is how often an idle client is pinged.
	livePing = 30 * time.Second
)

// liveFeed is the live sale feed: one poller, while anyone watches, that
// reads the sales settled since it last looked, by any server on the
// database, and gives each to every client's bounded buffer. A client
// whose buffer is full is dropped, so a slow one never holds back the
// others, nor settlement, which never waits for the feed at all.
type liveFeed struct {
	s *Server

	mu      sync.Mutex
	clients map[*liveClient]struct{}
	running bool
}

// liveClient is one watcher's queue of encoded sales.
type liveClient struct {
	ch   chan []byte
	gone chan struct{} // closed when the feed dropped the client
}

func newLiveFeed(s *Server) *liveFeed {
	return &liveFeed{s: s, clients: map[*liveClient]struct{}{}}
}

// subscribe adds a client. Every sale committed after it returns reaches
// the client (unless the client is dropped). The first client starts the
// poller, at the ledger's last transaction.
func (f *liveFeed) subscribe(ctx context.Context) (*liveClient, error) {
	size := f.s.LiveBuffer
	if size <= 0 {
		size = DefaultLiveBuffer
	}
	c := &liveClient{ch: make(chan []byte, size), gone: make(chan struct{})}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.running {
		hi, err := f.s.store.LastTransactionID(ctx)
		if err != nil {
			return nil, err
		}
		f.running = true
		go f.run(hi)
	}
	f.clients[c] = struct{}{}
	return c, nil
}

// unsubscribe removes a client; the poller stops at its next turn if it
// was the last.
func (f *liveFeed) unsubscribe(c *liveClient) {
	f.mu.Lock()
	delete(f.clients, c)
	f.mu.Unlock()
}

// send gives a sale to every client, dropping those whose buffer is full.
func (f *liveFeed) send(sale server.Sale) {
	sale.Time = sale.Time.UTC()
	msg, err := json.Marshal(sale)
	if err != nil {
		f.s.Logger.Error("live feed: encode sale", "id", sale.ID, "err", err)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for c := range f.clients {
		select {
		case c.ch <- msg:
		default:
			delete(f.clients, c)
			close(c.gone)
		}
	}
}

// livePosition is how far the poller has read: every id up to hi, except
// the holes, ids skipped (not yet committed, or not a sale) since when.
type livePosition struct {
	hi    int64
	holes map[int64]time.Time
}

// run polls the store until no client is left.
func (f *liveFeed) run(hi int64) {
	ctx := context.Background()
	wake, stop := f.s.store.SubscribeCards()
	defer stop()
	every := f.s.LivePoll
	if every <= 0 {
		every = DefaultLivePoll
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	pos := livePosition{hi: hi, holes: map[int64]time.Time{}}
	var last time.Time
	for {
		select {
		case <-tick.C:
		case <-wake:
			if time.Since(last) < liveMinGap {
				continue // the tick comes soon enough
			}
		}
		f.mu.Lock()
		if len(f.clients) == 0 {
			f.running = false
			f.mu.Unlock()
			return
		}
		f.mu.Unlock()
		last = time.Now()
		f.poll(ctx, &pos)
	}
}

// poll sends the sales committed since the last poll: those above hi, and
// those among the holes that have been committed since.
func (f *liveFeed) poll(ctx context.Context, pos *livePosition) {
	now := time.Now()
	for {
		sales, err := f.s.store.Sales(ctx, pos.hi, server.MaxSalesPage)
		if err != nil {
			f.s.Logger.Error("live feed: read sales", "since", pos.hi, "err", err)
			return
		}
		for _, sale := range sales {
			for id := pos.hi + 1; id < sale.ID && len(pos.holes) < liveMaxHoles; id++ {
				pos.holes[id] = now
			}
			f.send(sale)
			pos.hi = sale.ID
		}
		if len(sales) < server.MaxSalesPage {
			break
		}
	}
	ids := slices.Sorted(maps.Keys(pos.holes))
	for len(ids) > 0 {
		n := min(len(ids), server.MaxSalesIn)
		found, err := f.s.store.SalesIn(ctx, ids[:n])
		if err != nil {
			f.s.Logger.Error("live feed: read skipped sales", "err", err)
			return
		}
		for _, sale := range found {
			delete(pos.holes, sale.ID)
			if sale.Kind == server.TxSale || sale.Kind == server.TxVoid {
				f.send(sale)
			}
		}
		ids = ids[n:]
	}
	for id, since := range pos.holes {
		if now.Sub(since) > liveHoleGrace {
			delete(pos.holes, id) // rolled back: it will never commit
		}
	}
}

// liveUpgrader accepts the office page's WebSocket. Its default origin
// check refuses pages of other sites.
var liveUpgrader = websocket.Upgrader{ReadBufferSize: 512, WriteBufferSize: 4096}

// handleLive serves GET /api/v1/sales/live: a WebSocket on which every
// sale or void settled from then on arrives as one text message, the JSON
// of a sale as GET /api/v1/sales shows it, usually in id order (on a
// shared MySQL database a sale committed late may follow one with a
// higher id). A client that reads too slowly to keep up is closed with
// status 1013 (try again later); it may fill the gap with GET
// /api/v1/sales?since_id=.
func (s *Server) handleLive(w http.ResponseWriter, r *http.Request, u server.User) {
	if !websocket.IsWebSocketUpgrade(r) {
		s.error(w, r, server.Errorf(server.EINVALID, "GET /api/v1/sales/live is a WebSocket: ask for an upgrade"))
		return
	}
	c, err := s.live.subscribe(r.Context())
	if err != nil {
		s.error(w, r, err)
		return
	}
	defer s.live.unsubscribe(c)
	conn, err := liveUpgrader.Upgrade(w, r, nil)
	if err != nil {
		return // Upgrade answered the client
	}
	defer conn.Close()
	s.Logger.Info("api: live feed watched", "user", u.Name, "remote", r.RemoteAddr)

	// The client sends nothing but control frames; reading handles them
	// and sees the connection end.
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		conn.SetReadLimit(512)
		for {
			if _, _, err := conn.NextReader(); err != nil {
				return
			}
		}
	}()
	ping := time.NewTicker(livePing)
	defer ping.Stop()
	for {
		select {
		case msg := <-c.ch:
			conn.SetWriteDeadline(time.Now().Add(liveWriteWait))
			if err := conn.WriteMessage(websocket.TextMessage, msg); err != nil {
				return
			}
		case <-c.gone:
			s.Logger.Warn("api: live feed client too slow: dropped", "user", u.Name, "remote", r.RemoteAddr)
			conn.WriteControl(websocket.CloseMessage,
				websocket.FormatCloseMessage(websocket.CloseTryAgainLater, "too slow: sales were dropped; catch up with GET /api/v1/sales"),
				time.Now().Add(time.Second))
			return
		case <-ping.C:
			if err := conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(liveWriteWait)); err != nil {
				return
			}
		case <-closed:
			return
		}
	}
}
