package gateway

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/fanka/fanka/server"
	"github.com/fanka/fanka/shared/wire"
)

// DefaultStatusWriteInterval is Gateway.StatusWriteInterval's default:
// with registers reporting every 15 s, a register's stored status is at
// most about 45 s old while it is connected.
const DefaultStatusWriteInterval = 30 * time.Second

// statusTimeout bounds one write of a status or of a session's end.
const statusTimeout = 10 * time.Second

// sentStatus is what a session last handed to the status writer.
type sentStatus struct {
	st wire.Status
	at time.Time // zero: nothing yet
}

// reportStatus hands a register's status to the writer, unless the last
// one handed is recent and the office would see nothing new in it: a
// device's state, the backlog emptying or offline sales appearing go out
// at once, the rest at most every StatusWriteInterval.
func (c *conn) reportStatus(st *wire.Status) {
	now := c.g.Now()
	last := c.status
	c.statusAlarms(last, st)
	if !last.at.IsZero() && !wire.StatusChanged(last.st, *st) && now.Sub(last.at) < c.g.StatusWriteInterval {
		return
	}
	c.status = sentStatus{st: *st, at: now}
	c.g.statuses.put(c.terminal, c.status)
}

// ExposureAlarmShare is the share of a register's offline limit
// (wire.Status.LimitUnsynced) at which its offline exposure raises an
// alarm: the register will soon refuse offline sales.
const ExposureAlarmShare = 0.8

// statusAlarms raises the alarms a register's status calls for, once per
// change (last is the status the session had before; for its first, the
// one stored, from this session's server or another): a device that went
// absent or failed ("device"), and offline exposure that reached
// ExposureAlarmShare of the register's limit ("exposure"). The alarms go
// to the dashboard with the others.
func (c *conn) statusAlarms(last sentStatus, st *wire.Status) {
	if last.at.IsZero() {
		ctx, cancel := context.WithTimeout(context.Background(), statusTimeout)
		all, err := c.g.store.TerminalStatuses(ctx)
		cancel()
		if err != nil {
			c.log.Error("terminal: read the register's last status", "err", err)
		}
		if stored, ok := all[c.terminal]; ok && !stored.ReportedAt.IsZero() {
			last = sentStatus{st: stored.Status, at: stored.ReportedAt}
		}
	}
	var alarms []server.Alarm
	before := last.st.Devices()
	for _, name := range []string{"reader", "keypad", "display", "printer"} {
		d := st.Devices()[name]
		if d.State != wire.DeviceAbsent && d.State != wire.DeviceError {
			continue
		}
		if !last.at.IsZero() && before[name].State == d.State {
			continue
		}
		msg := name + " " + d.State.String()
		if d.Detail != "" {
			msg += ": " + d.Detail
		}
		alarms = append(alarms, server.Alarm{Terminal: c.terminal, Code: "device", Message: msg})
	}
	near := func(s *wire.Status) bool {
		return s.LimitUnsynced > 0 && float64(s.OfflineAmount) >= ExposureAlarmShare*float64(s.LimitUnsynced)
	}
	if near(st) && (last.at.IsZero() || !near(&last.st)) {
		alarms = append(alarms, server.Alarm{Terminal: c.terminal, Code: "exposure",
			Message: fmt.Sprintf("offline exposure %s of %d sales, limit %s", st.OfflineAmount, st.OfflineSales, st.LimitUnsynced)})
	}
	for _, a := range alarms {
		ctx, cancel := context.WithTimeout(context.Background(), statusTimeout)
		_, err := c.g.store.RaiseAlarm(ctx, a)
		cancel()
		if err != nil {
			c.log.Error("terminal: raise an alarm", "code", a.Code, "err", err)
		}
	}
}

// disconnected records the end of a session that began (its start
// recorded), unless the register began another since (on this server or
// another).
func (g *Gateway) disconnected(c *conn) {
	ctx, cancel := context.WithTimeout(context.Background(), statusTimeout)
	defer cancel()
	if err := g.store.TerminalDisconnected(ctx, c.terminal, c.since, g.Now()); err != nil {
		g.Logger.Error("terminal: record the session's end", "terminal", c.terminal, "err", err)
	}
}

// statusWriter writes registers' statuses to the store on a goroutine of
// its own, one at a time and only the latest of each register: a session
// never waits for the database to read its next frame, and statuses never
// hold more than one of the store's connections (SQLite has one writer).
type statusWriter struct {
	g       *Gateway
	mu      sync.Mutex
	pending map[uint32]sentStatus
	wake    chan struct{}
}

// start runs the writer until the gateway closes.
func (w *statusWriter) start(g *Gateway) {
	w.g, w.pending, w.wake = g, map[uint32]sentStatus{}, make(chan struct{}, 1)
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		w.run(g.ctx)
	}()
}

// put queues a register's status, replacing one it queued before.
func (w *statusWriter) put(terminal uint32, s sentStatus) {
	w.mu.Lock()
	w.pending[terminal] = s
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *statusWriter) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.wake:
		}
		w.mu.Lock()
		batch := w.pending
		w.pending = map[uint32]sentStatus{}
		w.mu.Unlock()
		for terminal, s := range batch {
			wctx, cancel := context.WithTimeout(ctx, statusTimeout)
			err := w.g.store.SetTerminalStatus(wctx, terminal, s.st, s.at)
			cancel()
			if err != nil && ctx.Err() == nil {
				w.g.Logger.Error("terminal: store the register's status", "terminal", terminal, "err", err)
			}
		}
	}
}
