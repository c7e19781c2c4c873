// Package metrics tells the people who run a canteen's server how it is
// doing: Prometheus metrics of settlement, the registers, the print queue
// and the database, and the liveness and readiness probes that a load
// balancer or systemd asks. It observes the server's parts through the
// hooks they offer (gateway.Observer, the print queue's OnAttempt and
// OnStoreError) and never changes what they do.
package metrics

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/fanka/fanka/server"
	"github.com/fanka/fanka/server/gateway"
	"github.com/fanka/fanka/server/printer"
	"github.com/fanka/fanka/shared/journal"
	"github.com/fanka/fanka/shared/wire"
)

// scrapeTimeout bounds the database queries made while answering a scrape.
const scrapeTimeout = 2 * time.Second

// Metrics holds the server's metrics, in a registry of their own (with the
// Go runtime's and the process's). Create it with New; it is safe for
// concurrent use.
type Metrics struct {
	reg *prometheus.Registry

	settled       *prometheus.CounterVec // kind, outcome
	replayed      prometheus.Counter
	settleSeconds prometheus.Histogram
	batchEntries  prometheus.Histogram
	unacked       *prometheus.GaugeVec // terminal
	settledSeq    *prometheus.GaugeVec // terminal
	refused       *prometheus.CounterVec
	connected     prometheus.Gauge
	printAttempts *prometheus.CounterVec // printer, result
	dbErrors      *prometheus.CounterVec // op

	mu      sync.Mutex
	lastSeq map[uint32]uint64 // each register's highest seq acked by this process
}

var _ gateway.Observer = (*Metrics)(nil)

// New returns the server's metrics, all at zero.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		settled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fanka_settled_entries_total",
			Help: "Register journal entries settled by this server, by kind (sale, void) and outcome (settled, settled-overdraft, flagged); replays are not counted.",
		}, []string{"kind", "outcome"}),
		replayed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fanka_replayed_entries_total",
			Help: "Entries a register sent again after this server had acked them (acked again, posted once).",
		}),
		settleSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "fanka_settle_batch_seconds",
			Help:    "Time to settle one batch of a register's entries, from its arrival to its commit or refusal.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14), // 0.5 ms … 4 s
		}),
		batchEntries: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "fanka_settle_batch_entries",
			Help:    "Entries in each batch a register sent.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 7), // 1 … 4096
		}),
		unacked: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "fanka_register_unacked_entries",
			Help: "Entries of a connected register that this server has received and not yet acked (its backlog as the server sees it).",
		}, []string{"terminal"}),
		settledSeq: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "fanka_register_settled_seq",
			Help: "The highest seq of each register that this server has acked since it started.",
		}, []string{"terminal"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fanka_refused_total",
			Help: "Register connections refused, by reason (unknown_terminal, bad_signature, chain, malformed, oversized, disabled, internal, peer).",
		}, []string{"reason"}),
		connected: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "fanka_registers_connected",
			Help: "Registers with a welcomed session on this server.",
		}),
		printAttempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fanka_print_attempts_total",
			Help: "Attempts at printing a job, by printer and result (printed, failed).",
		}, []string{"printer", "result"}),
		dbErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fanka_db_errors_total",
			Help: "Errors of the database seen by the server, by operation.",
		}, []string{"op"}),
		lastSeq: map[uint32]uint64{},
	}
	m.reg.MustRegister(m.settled, m.replayed, m.settleSeconds, m.batchEntries, m.unacked, m.settledSeq,
		m.refused, m.connected, m.printAttempts, m.dbErrors,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// Outcomes and reasons that have not happened yet show as zero, so
	// that rate() and alerts have a series from the start.
	for _, kind := range []string{journal.KindSale.String(), journal.KindVoid.String()} {
		for _, o := range []wire.Outcome{wire.Settled, wire.SettledOverdraft, wire.Flagged} {
			m.settled.WithLabelValues(kind, o.String())
		}
	}
	for _, r := range []string{"unknown_terminal", "bad_signature", "chain", "malformed", "oversized", "disabled", "internal", "peer"} {
		m.refused.WithLabelValues(r)
	}
	return m
}

// Handler serves the metrics in Prometheus's exposition formats.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Registry returns the registry the metrics are in, to add more.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Session implements gateway.Observer.
func (m *Metrics) Session(terminal uint32, connected bool) {
	if connected {
		m.connected.Inc()
		return
	}
	m.connected.Dec()
	m.unacked.DeleteLabelValues(label(terminal))
}

// Batch implements gateway.Observer: it times the batch and, once it is
// settled, counts its entries by kind and outcome.
func (m *Metrics) Batch(terminal uint32, entries [][]byte) func([]wire.Ack, error) {
	start := time.Now()
	t := label(terminal)
	m.unacked.WithLabelValues(t).Set(float64(len(entries)))
	m.batchEntries.Observe(float64(len(entries)))
	return func(acks []wire.Ack, err error) {
		m.settleSeconds.Observe(time.Since(start).Seconds())
		m.unacked.WithLabelValues(t).Set(0)
		if err != nil {
			if isDatabaseError(err) {
				m.dbErrors.WithLabelValues("settle").Inc()
			}
			return
		}
		m.mu.Lock()
		last := m.lastSeq[terminal]
		for _, a := range acks {
			last = max(last, a.Seq)
		}
		prev := m.lastSeq[terminal]
		m.lastSeq[terminal] = last
		m.mu.Unlock()
		m.settledSeq.WithLabelValues(t).Set(float64(last))
		for i, a := range acks {
			if a.Seq <= prev {
				m.replayed.Inc()
				continue
			}
			kind := "unknown"
			if i < len(entries) {
				if e, err := journal.Unmarshal(entries[i]); err == nil {
					kind = e.Kind.String()
				}
			}
			m.settled.WithLabelValues(kind, a.Outcome.String()).Inc()
		}
	}
}

// Refused implements gateway.Observer.
func (m *Metrics) Refused(reason string) {
	m.refused.WithLabelValues(reason).Inc()
}

// PrintAttempt counts an attempt at a print job on printer that ended in
// err (nil: printed); it is the print queue's OnAttempt.
func (m *Metrics) PrintAttempt(printer string, err error) {
	result := "printed"
	if err != nil {
		result = "failed"
	}
	m.printAttempts.WithLabelValues(printer, result).Inc()
}

// DBError counts an error of the database during op; it is the print
// queue's OnStoreError. Errors that are the caller's (a context cancelled
// at shutdown) are not counted.
func (m *Metrics) DBError(op string, err error) {
	if errors.Is(err, context.Canceled) {
		return
	}
	m.dbErrors.WithLabelValues(op).Inc()
}

// isDatabaseError reports whether a Settle error is the database's fault
// rather than the batch's (a refusal) or the session's end.
func isDatabaseError(err error) bool {
	switch {
	case errors.Is(err, context.Canceled),
		errors.Is(err, journal.ErrChain), errors.Is(err, journal.ErrSignature),
		errors.Is(err, journal.ErrMalformed), errors.Is(err, journal.ErrVersion), errors.Is(err, journal.ErrInvalid):
		return false
	}
	return server.ErrorCode(err) == server.EINTERNAL
}

// Printers is what the metrics read of the print queue at each scrape: a
// *printer.Queue.
type Printers interface {
	// Printers returns the state of every printer, with its queued jobs.
	Printers(ctx context.Context) ([]printer.State, error)
}

// WatchPrinters adds the print queue's depth per printer, read from p at
// each scrape, as fanka_print_queue_jobs.
func (m *Metrics) WatchPrinters(p Printers) {
	m.reg.MustRegister(&printQueue{p: p, m: m, desc: prometheus.NewDesc("fanka_print_queue_jobs",
		"Print jobs waiting, by printer.", []string{"printer"}, nil)})
}

// printQueue is a collector of the print queue's depth.
type printQueue struct {
	p    Printers
	m    *Metrics
	desc *prometheus.Desc
}

func (q *printQueue) Describe(ch chan<- *prometheus.Desc) { ch <- q.desc }

func (q *printQueue) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	states, err := q.p.Printers(ctx)
	if err != nil {
		q.m.DBError("queued_print_jobs", err)
		ch <- prometheus.NewInvalidMetric(q.desc, err)
		return
	}
	for _, s := range states {
		ch <- prometheus.MustNewConstMetric(q.desc, prometheus.GaugeValue, float64(s.Queued), s.Name)
	}
}

// RegisterStatuses is what the metrics read of the registers' reported
// statuses at each scrape: the store (server.TerminalStatusStore), which
// holds the registers of every server instance on the database.
type RegisterStatuses interface {
	TerminalStatuses(ctx context.Context) (map[uint32]server.TerminalStatus, error)
}

// WatchRegisters adds what each register last reported, read from s at
// each scrape: its unsynced entries and their amount, its offline exposure
// (the sales it decided offline and the server has not settled), the age
// of the report, and each configured device as up (1) or not (0). A
// register that predates status reports has none of them.
func (m *Metrics) WatchRegisters(s RegisterStatuses) {
	desc := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, append([]string{"terminal"}, labels...), nil)
	}
	m.reg.MustRegister(&registerStatuses{s: s, m: m,
		unsynced:       desc("fanka_register_unsynced_entries", "Journal entries a register holds that the server has not settled, as it last reported (its backlog, whichever server it is connected to)."),
		unsyncedAmount: desc("fanka_register_unsynced_fen", "The amount of those entries in fen, sales less voids, as last reported."),
		offlineSales:   desc("fanka_register_offline_sales", "Sales a register decided offline that the server has not settled, as last reported."),
		offlineAmount:  desc("fanka_register_offline_exposure_fen", "Their amount in fen: the register's offline exposure, as last reported."),
		age:            desc("fanka_register_status_age_seconds", "Seconds since a register's last status report reached a server."),
		device:         desc("fanka_register_device_up", "1 if a register's device (reader, keypad, display, printer) was working at its last report, 0 if absent or failing; devices it has none of are left out.", "device"),
	})
}

// registerStatuses is a collector of the registers' reported statuses.
type registerStatuses struct {
	s                                                                  RegisterStatuses
	m                                                                  *Metrics
	unsynced, unsyncedAmount, offlineSales, offlineAmount, age, device *prometheus.Desc
}

func (r *registerStatuses) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{r.unsynced, r.unsyncedAmount, r.offlineSales, r.offlineAmount, r.age, r.device} {
		ch <- d
	}
}

func (r *registerStatuses) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	all, err := r.s.TerminalStatuses(ctx)
	if err != nil {
		r.m.DBError("register_statuses", err)
		ch <- prometheus.NewInvalidMetric(r.unsynced, err)
		return
	}
	now := time.Now()
	for id, ts := range all {
		if ts.ReportedAt.IsZero() {
			continue
		}
		t, st := label(id), ts.Status
		gauge := func(d *prometheus.Desc, v float64, labels ...string) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, append([]string{t}, labels...)...)
		}
		gauge(r.unsynced, float64(st.Unsynced))
		gauge(r.unsyncedAmount, float64(st.UnsyncedAmount))
		gauge(r.offlineSales, float64(st.OfflineSales))
		gauge(r.offlineAmount, float64(st.OfflineAmount))
		gauge(r.age, max(now.Sub(ts.ReportedAt).Seconds(), 0))
		for name, d := range st.Devices() {
			switch d.State {
			case wire.DeviceOK:
				gauge(r.device, 1, name)
			case wire.DeviceAbsent, wire.DeviceError:
				gauge(r.device, 0, name)
			}
		}
	}
}

func label(terminal uint32) string { return strconv.FormatUint(uint64(terminal), 10) }
