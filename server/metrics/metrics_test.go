package metrics_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fanka/fanka/server"
	"github.com/fanka/fanka/server/metrics"
	"github.com/fanka/fanka/server/servertest"
	"github.com/fanka/fanka/server/sqlite"
	"github.com/fanka/fanka/shared/journal"
	"github.com/fanka/fanka/shared/wire"
)

func scrape(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	return rec.Body.String()
}

// TestBatch feeds the gateway's observer batches as the gateway would: a
// sale and a void, a replay of them, a refused batch and one the database
// failed; only new entries are counted as settled, and only the database's
// failure as a database error.
func TestBatch(t *testing.T) {
	m := metrics.New()
	r := servertest.NewRegister(t)
	r.ID = 7
	sale := r.Sale(t, "04A1", 500)
	void := r.Void(t, "04A1", 500, 1)
	batch := [][]byte{sale, void}
	acks := []wire.Ack{{Seq: 1, Outcome: wire.Settled}, {Seq: 2, Outcome: wire.Flagged}}

	m.Session(7, true)
	done := m.Batch(7, batch)
	if body := scrape(t, m); !strings.Contains(body, "\nfanka_register_unacked_entries{terminal=\"7\"} 2\n") {
		t.Errorf("while settling, the backlog is not 2:\n%s", body)
	}
	done(acks, nil)
	m.Batch(7, batch)(acks, nil) // a replay
	m.Batch(7, [][]byte{r.Sale(t, "04A1", 1)})(nil, fmt.Errorf("settle 7/3: %w", journal.ErrChain))
	m.Batch(7, [][]byte{r.Sale(t, "04A1", 1)})(nil, server.Errorf(server.EFORBIDDEN, "register 7 is disabled"))
	m.Batch(7, [][]byte{r.Sale(t, "04A1", 1)})(nil, errors.New("driver: bad connection"))
	m.Refused("chain")

	body := scrape(t, m)
	for _, want := range []string{
		`fanka_settled_entries_total{kind="sale",outcome="settled"} 1`,
		`fanka_settled_entries_total{kind="void",outcome="flagged"} 1`,
		`fanka_replayed_entries_total 2`,
		`fanka_settle_batch_seconds_count 5`,
		`fanka_register_settled_seq{terminal="7"} 2`,
		`fanka_register_unacked_entries{terminal="7"} 0`,
		`fanka_registers_connected 1`,
		`fanka_refused_total{reason="chain"} 1`,
		`fanka_db_errors_total{op="settle"} 1`,
	} {
		if !strings.Contains(body, "\n"+want+"\n") {
			t.Errorf("metrics lack %q", want)
		}
	}
	m.Session(7, false)
	body = scrape(t, m)
	if !strings.Contains(body, "\nfanka_registers_connected 0\n") || strings.Contains(body, `fanka_register_unacked_entries{terminal="7"}`) {
		t.Errorf("after the session ended:\n%s", body)
	}
}

// TestPrintAttempts counts attempts by result, and store errors unless the
// queue was closing.
func TestPrintAttempts(t *testing.T) {
	m := metrics.New()
	m.PrintAttempt("office", nil)
	m.PrintAttempt("office", errors.New("paper out"))
	m.PrintAttempt("office", errors.New("paper out"))
	m.DBError("claim", errors.New("database is locked"))
	body := scrape(t, m)
	for _, want := range []string{
		`fanka_print_attempts_total{printer="office",result="printed"} 1`,
		`fanka_print_attempts_total{printer="office",result="failed"} 2`,
		`fanka_db_errors_total{op="claim"} 1`,
	} {
		if !strings.Contains(body, "\n"+want+"\n") {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// TestRegisterStatuses reads the registers' last reported statuses from a
// real store at each scrape: a register that sold offline shows its
// backlog and exposure and its devices up or down; one that never
// reported a status shows nothing.
func TestRegisterStatuses(t *testing.T) {
	ctx := context.Background()
	store := sqlite.New(filepath.Join(t.TempDir(), "fanka.db"))
	if err := store.Open(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	reporting, silent := servertest.NewRegister(t), servertest.NewRegister(t)
	servertest.Enroll(t, store, reporting)
	servertest.Enroll(t, store, silent)
	if err := store.TerminalConnected(ctx, silent.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	st := wire.Status{Clock: time.Now().UnixMilli(), Unsynced: 3, UnsyncedAmount: 3550, OldestUnsynced: time.Now().Add(-time.Hour).UnixMilli(),
		OfflineSales: 2, OfflineAmount: 2350,
		Reader: wire.Device{State: wire.DeviceAbsent}, Keypad: wire.Device{State: wire.DeviceOK},
		Display: wire.Device{State: wire.DeviceOK}, Printer: wire.Device{State: wire.DeviceNotConfigured}}
	if err := store.SetTerminalStatus(ctx, reporting.ID, st, time.Now().Add(-5*time.Second)); err != nil {
		t.Fatal(err)
	}
	m := metrics.New()
	m.WatchRegisters(store)
	body := scrape(t, m)
	id := fmt.Sprint(reporting.ID)
	for _, want := range []string{
		`fanka_register_unsynced_entries{terminal="` + id + `"} 3`,
		`fanka_register_unsynced_fen{terminal="` + id + `"} 3550`,
		`fanka_register_offline_sales{terminal="` + id + `"} 2`,
		`fanka_register_offline_exposure_fen{terminal="` + id + `"} 2350`,
		`fanka_register_device_up{device="reader",terminal="` + id + `"} 0`,
		`fanka_register_device_up{device="keypad",terminal="` + id + `"} 1`,
		`fanka_register_device_up{device="display",terminal="` + id + `"} 1`,
	} {
		if !strings.Contains(body, "\n"+want+"\n") {
			t.Errorf("metrics lack %q", want)
		}
	}
	for _, unwanted := range []string{`device="printer"`, `terminal="` + fmt.Sprint(silent.ID) + `"`} {
		if strings.Contains(body, unwanted) {
			t.Errorf("metrics hold %s:\n%s", unwanted, body)
		}
	}
	if !strings.Contains(body, `fanka_register_status_age_seconds{terminal="`+id+`"} `) {
		t.Errorf("metrics lack the status's age:\n%s", body)
	}
}
