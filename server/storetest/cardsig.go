package storetest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/fanka/fanka/server"
	"github.com/fanka/fanka/server/servertest"
	fankacard "github.com/fanka/fanka/shared/card"
	"github.com/fanka/fanka/shared/journal"
	"github.com/fanka/fanka/shared/money"
	"github.com/fanka/fanka/shared/wire"
)

// fankaCard is a test fanka card: its number, key pair and counter.
type fankaCard struct {
	no      string
	key     *ecdsa.PrivateKey
	counter uint32
}

func newFankaCard(t *testing.T, no string) *fankaCard {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &fankaCard{no: no, key: key}
}

// publicKey is the card's public key as READ IDENTITY returns it.
func (c *fankaCard) publicKey(t *testing.T) []byte {
	t.Helper()
	b, err := c.key.PublicKey.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// open opens the card in s with its public key.
func (c *fankaCard) open(t *testing.T, s server.CardStore, key []byte, deposit money.Fen) error {
	t.Helper()
	_, err := s.OpenCard(context.Background(), server.OpenCard{
		RequestID: "test-fanka-" + c.no, PersonID: "P" + c.no, Name: "李四", Deposit: deposit, CardNo: c.no,
		CardPublicKey: key,
	})
	return err
}

// sale records the register's next entry, a sale on the card, with the
// card's signature made by key over the challenge with signedAmount (the
// sale's own amount for an honest card); a nil key records no signature.
func (c *fankaCard) sale(t *testing.T, r *servertest.Register, clock *servertest.Clock, key *ecdsa.PrivateKey, amount, signedAmount money.Fen) []byte {
	t.Helper()
	e := journal.Entry{Kind: journal.KindSale, CardNo: c.no, Amount: amount, Time: clock.Now().UnixMilli()}
	if key != nil {
		c.counter++
		sig, err := fankacard.SignSaleWith(key, c.no, fankacard.Challenge{Terminal: r.ID, Seq: r.Seq + 1, Amount: signedAmount, Time: e.Time}, c.counter)
		if err != nil {
			t.Fatal(err)
		}
		e.CardSig = sig.Marshal()
	}
	return r.Record(t, e)
}

// testCardSignatures: a sale on a fanka card opened with a public key
// settles plainly when the card's signature verifies, and settles flagged
// (for review; the register's stream goes on) when it is missing, made by
// another key or over another amount. A uid card, opened without a key, is
// not checked. Verify counts the flagged ones without failing.
func testCardSignatures(t *testing.T, open Open) {
	s, r, clock := setup(t, open)
	fc := newFankaCard(t, "FA0001")
	if err := fc.open(t, s, fc.publicKey(t), 100*money.Yuan); err != nil {
		t.Fatalf("open fanka card: %v", err)
	}
	servertest.OpenCard(t, s, "04A1B2C3", 100*money.Yuan)
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}

	acks := settle(t, s, r, fc.sale(t, r, clock, fc.key, 500, 500))
	if acks[0].Outcome != wire.Settled || acks[0].Balance != 9500 {
		t.Fatalf("signed sale: ack %+v, want settled at 9500", acks[0])
	}

	// One batch, each sale checked on its own.
	batch := [][]byte{
		fc.sale(t, r, clock, nil, 100, 100),    // no signature
		fc.sale(t, r, clock, other, 100, 100),  // another card's key
		fc.sale(t, r, clock, fc.key, 100, 1),   // signed for 1 fen, recorded as 100
		fc.sale(t, r, clock, fc.key, 200, 200), // good
		r.Sale(t, "04A1B2C3", 300),             // a uid card: nothing to check
	}
	acks = settle(t, s, r, batch...)
	want := []wire.Outcome{wire.Flagged, wire.Flagged, wire.Flagged, wire.Settled, wire.Settled}
	for i, ack := range acks {
		if ack.Outcome != want[i] {
			t.Errorf("entry %d: outcome %v, want %v", ack.Seq, ack.Outcome, want[i])
		}
	}
	// Flagged sales are settled all the same: the meal was eaten.
	if c := card(t, s, fc.no); c.Balance != 100*money.Yuan-500-100-100-100-200 {
		t.Errorf("fanka card balance %d, want %d", c.Balance, 100*money.Yuan-1000)
	}
	if c := card(t, s, "04A1B2C3"); c.Balance != 100*money.Yuan-300 {
		t.Errorf("uid card balance %d, want %d", c.Balance, 100*money.Yuan-300)
	}

	// A replay is answered as first settled.
	if again := settle(t, s, r, batch...); !cmp.Equal(again, acks) {
		t.Errorf("replay (-first +again):\n%s", cmp.Diff(acks, again))
	}
	rep := verify(t, s)
	if rep.Entries != 6 || rep.CardSigFlagged != 3 {
		t.Errorf("verify counted %+v, want 6 entries, 3 card signatures flagged", rep)
	}
}

// testOpenCardPublicKey: a card's public key is taken uncompressed or
// compressed, and refused (EINVALID) unless it is a P-256 point.
func testOpenCardPublicKey(t *testing.T, open Open) {
	s, r, clock := setup(t, open)
	fc := newFankaCard(t, "FA0002")
	pub := fc.publicKey(t)
	bad := append([]byte(nil), pub...)
	bad[64] ^= 1 // off the curve
	for _, key := range [][]byte{bad, pub[:33], {4}, make([]byte, 65)} {
		wantCode(t, fc.open(t, s, key, 1000), server.EINVALID)
	}
	compressed := append([]byte{2 | pub[64]&1}, pub[1:33]...)
	if err := fc.open(t, s, compressed, 1000); err != nil {
		t.Fatalf("open with a compressed key: %v", err)
	}
	if ack := settle(t, s, r, fc.sale(t, r, clock, fc.key, 100, 100))[0]; ack.Outcome != wire.Settled {
		t.Errorf("signed sale on a card opened with a compressed key: %v", ack.Outcome)
	}
}
