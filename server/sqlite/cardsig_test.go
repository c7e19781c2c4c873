package sqlite_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"testing"

	"github.com/fanka/fanka/server"
	"github.com/fanka/fanka/server/servertest"
	"github.com/fanka/fanka/shared/money"
	"github.com/fanka/fanka/shared/wire"
)

// TestCardSigNote: a sale without the card's signature, on a card opened
// with a public key, is kept with the note that says why it was flagged.
func TestCardSigNote(t *testing.T) {
	ctx := context.Background()
	db := servertest.MustOpenSQLite(t, nil)
	r := servertest.NewRegister(t)
	servertest.Enroll(t, db, r)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := key.PublicKey.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.OpenCard(ctx, server.OpenCard{RequestID: "open", PersonID: "p", Name: "张三",
		Deposit: 10 * money.Yuan, CardNo: "FA01", CardPublicKey: pub}); err != nil {
		t.Fatal(err)
	}
	acks, err := db.Settle(ctx, r.ID, [][]byte{r.Sale(t, "FA01", 100)})
	if err != nil || acks[0].Outcome != wire.Flagged {
		t.Fatalf("settle: %v, %v; want flagged", acks, err)
	}
	var note string
	if err := mustRawDB(t, db.Path).QueryRow(`SELECT note FROM entries WHERE terminal_id = ? AND seq = 1`, r.ID).Scan(&note); err != nil {
		t.Fatal(err)
	}
	if note != "card signature missing" {
		t.Errorf("note %q, want %q", note, "card signature missing")
	}
}
