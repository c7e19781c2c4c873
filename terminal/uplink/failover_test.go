package uplink_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	stdlog "log"
	"log/slog"
	"math/big"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	sj "github.com/fanka/fanka/shared/journal"
	"github.com/fanka/fanka/terminal/uplink"
)

// instance is a fake server with a certificate of its own, on a ledger it
// may share with other instances.
type instance struct {
	fake *fakeServer
	http *httptest.Server
	pin  []byte
}

func startInstance(t *testing.T, db *ledger) *instance {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "fanka test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	in := &instance{fake: &fakeServer{t: t, db: db}}
	in.http = httptest.NewUnstartedServer(in.fake)
	in.http.Config.ErrorLog = stdlog.New(io.Discard, "", 0) // the refused handshakes of TestFailoverPins
	in.http.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
	in.http.StartTLS()
	sum := sha256.Sum256(der)
	in.pin = sum[:]
	t.Cleanup(in.kill)
	return in
}

func (in *instance) url() string { return "wss://" + in.http.Listener.Addr().String() + "/" }

// kill stops the instance the way a dead machine does: its listener closes
// and its connections drop.
func (in *instance) kill() {
	in.http.Close()
	in.fake.hangUp()
}

// TestFailover: a register given two servers on one database streams to
// the first; when the first dies it goes on with the second, each pinned to
// its own certificate, and the database holds every entry once, none lost.
func TestFailover(t *testing.T) {
	db := &ledger{}
	a, b := startInstance(t, db), startInstance(t, db)
	r := newRig(t)
	var log logBuffer
	u := uplink.New(uplink.Config{
		Servers:  []uplink.Server{{URL: a.url(), Fingerprint: a.pin}, {URL: b.url(), Fingerprint: b.pin}},
		Terminal: 1, Key: key, Journal: r.journal, Logger: slog.New(slog.NewTextHandler(&log, nil)),
		MaxBackoff: time.Second,
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { u.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	record := func(n int) {
		for i := 0; i < n; i++ {
			if _, err := r.journal.Record(sj.Entry{Kind: sj.KindSale, Time: time.Now().UnixMilli(), CardNo: "A1", Amount: 100}); err != nil {
				t.Fatal(err)
			}
			u.Wake()
		}
	}
	waitFor(t, "link up", u.Online)
	record(50)
	waitFor(t, "the first 50 acked by the first server", func() bool { return r.journal.Acked() == 50 })
	if !strings.Contains(log.String(), "server="+a.url()) {
		t.Fatalf("the link did not start on the first server:\n%s", log.String())
	}

	// The first server dies while sales go on being recorded, some of them
	// sent to it and never acked.
	record(20)
	a.kill()
	record(30)
	waitFor(t, "every entry acked by the second server", func() bool { return r.journal.Acked() == 100 })
	if !strings.Contains(log.String(), `msg="link up" part=uplink server=`+b.url()) {
		t.Fatalf("no link to the second server:\n%s", log.String())
	}

	last, _ := db.last()
	if last != 100 || len(db.hashes) != 100 {
		t.Fatalf("the database holds %d entries up to seq %d, want 100", len(db.hashes), last)
	}
	raw, err := r.journal.Entries(0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range raw {
		if db.hashes[uint64(i+1)] != sj.HashBytes(e) {
			t.Fatalf("entry %d: the database holds another entry than the journal", i+1)
		}
	}
	t.Logf("entries sent again after the failover and answered as replays: %d", db.replays)
}

// TestFailoverPins: each server is checked against its own pin; a server
// whose certificate is not the pinned one is never streamed to, even when
// it is the only one left.
func TestFailoverPins(t *testing.T) {
	db := &ledger{}
	a, b := startInstance(t, db), startInstance(t, db)
	a.kill()
	r := newRig(t)
	var log logBuffer
	u := uplink.New(uplink.Config{
		Servers:  []uplink.Server{{URL: a.url(), Fingerprint: a.pin}, {URL: b.url(), Fingerprint: a.pin}}, // b pinned to a's certificate
		Terminal: 1, Key: key, Journal: r.journal, Logger: slog.New(slog.NewTextHandler(&log, nil)),
		MaxBackoff: 200 * time.Millisecond,
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { u.Run(ctx); close(done) }()
	if _, err := r.journal.Record(sj.Entry{Kind: sj.KindSale, Time: time.Now().UnixMilli(), CardNo: "A1", Amount: 100}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a refused certificate", func() bool { return strings.Contains(log.String(), "is not the pinned one") })
	time.Sleep(300 * time.Millisecond) // a few more rounds over both servers
	online := u.Online()
	cancel()
	<-done
	if online || r.journal.Acked() != 0 || len(db.hashes) != 0 {
		t.Fatalf("streamed to a server with another certificate: online %v, acked %d, held %d", online, r.journal.Acked(), len(db.hashes))
	}
}
