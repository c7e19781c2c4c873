package pcsc_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/fanka/fanka/shared/card"
	"github.com/fanka/fanka/terminal/pcsc"
	"github.com/fanka/fanka/terminal/virtual"
)

var fankaFirst = []card.Profile{card.ProfileFanka, card.ProfileUID}

func mustApp(t *testing.T, cardNo string) *virtual.FankaApp {
	t.Helper()
	app, err := virtual.NewFankaApp(cardNo)
	if err != nil {
		t.Fatal(err)
	}
	return app
}

// TestFankaCardSignsThroughPCSC: a fanka card is read by its application
// (card number from READ IDENTITY) and signs sales through pcscd; once it
// has left, it signs nothing.
func TestFankaCardSignsThroughPCSC(t *testing.T) {
	virtual.MustPCSCD(t)
	waitSlot(t, false)
	r := mustOpen(t, pcsc.Config{Profiles: fankaFirst})
	app := mustApp(t, "FK0001")
	in := mustInsert(t, virtual.Card{UID: []byte{1, 2, 3, 4}, Fanka: app})
	ev := nextEvent(t, r)
	if !ev.Present || ev.CardNo != "FK0001" || ev.Err != nil || ev.Signer == nil {
		t.Fatalf("event %+v, want the fanka card with a signer", ev)
	}
	if got := in.APDUs(); len(got) != 2 || !bytes.Equal(got[0], card.Select) || !bytes.Equal(got[1], card.ReadIdentity) {
		t.Fatalf("card received % X, want SELECT and READ IDENTITY", got)
	}
	ch := card.Challenge{Terminal: 4, Seq: 17, Amount: 1250, Time: time.Now().UnixMilli()}
	ctx, cancel := context.WithTimeout(context.Background(), eventWait)
	defer cancel()
	b, err := ev.Signer.SignSale(ctx, ch)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := card.ParseSaleSignature(b)
	if err != nil || sig.Counter != 1 || app.Counter() != 1 {
		t.Fatalf("signature %+v %v, card counter %d", sig, err, app.Counter())
	}
	if err := card.VerifySale(app.PublicKey(), "FK0001", ch, sig); err != nil {
		t.Fatal(err)
	}

	mustRemove(t, in)
	if ev := nextEvent(t, r); ev.Present {
		t.Fatalf("after remove: %+v", ev)
	}
	if _, err := ev.Signer.SignSale(ctx, ch); err == nil {
		t.Fatal("a card that left signed")
	}
	if app.Counter() != 1 {
		t.Fatalf("counter %d after the card left", app.Counter())
	}
}

// TestFankaSwappedCard: another fanka card put in after the first was read
// signs, but not as the card read: the signer refuses its signature.
func TestFankaSwappedCard(t *testing.T) {
	virtual.MustPCSCD(t)
	waitSlot(t, false)
	r := mustOpen(t, pcsc.Config{Profiles: fankaFirst})
	in := mustInsert(t, virtual.Card{Fanka: mustApp(t, "FK0001")})
	ev := nextEvent(t, r)
	mustRemove(t, in)
	nextEvent(t, r)
	in2 := mustInsert(t, virtual.Card{Fanka: mustApp(t, "FK0001")}) // a clone's number, another key
	if ev2 := nextEvent(t, r); !ev2.Present {
		t.Fatalf("second card: %+v", ev2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), eventWait)
	defer cancel()
	if _, err := ev.Signer.SignSale(ctx, card.Challenge{Terminal: 1, Seq: 1, Amount: 1}); !errors.Is(err, card.ErrSignature) {
		t.Fatalf("swapped card: %v", err)
	}
	mustRemove(t, in2)
	nextEvent(t, r)
}

// TestFankaProfileFallsBack: with fanka first, a card without the
// application is read by its UID and signs nothing; with uid only, a fanka
// card is read by its UID too.
func TestFankaProfileFallsBack(t *testing.T) {
	virtual.MustPCSCD(t)
	for _, tt := range []struct {
		name     string
		profiles []card.Profile
		card     virtual.Card
	}{
		{"uid card, fanka first", fankaFirst, virtual.Card{UID: []byte{0xDE, 0xAD, 0xBE, 0xEF}}},
		{"fanka card, uid only", nil, virtual.Card{UID: []byte{0xDE, 0xAD, 0xBE, 0xEF}, Fanka: mustApp(t, "FK0002")}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			waitSlot(t, false)
			r := mustOpen(t, pcsc.Config{Profiles: tt.profiles})
			in := mustInsert(t, tt.card)
			ev := nextEvent(t, r)
			if !ev.Present || ev.CardNo != "DEADBEEF" || ev.Err != nil || ev.Signer != nil {
				t.Fatalf("event %+v, want the UID and no signer", ev)
			}
			mustRemove(t, in)
			nextEvent(t, r)
		})
	}
}

// TestFankaBadAnswers: a card that takes the SELECT but answers garbage or
// an error afterwards is unreadable, not taken for a uid card.
func TestFankaBadAnswers(t *testing.T) {
	virtual.MustPCSCD(t)
	for _, tt := range []struct {
		name     string
		identity []byte
		wantErr  error
	}{
		{"error status word", []byte{0x6F, 0x00}, card.ErrStatus},
		{"garbage", []byte{0x42, 0x42, 0x90, 0x00}, card.ErrResponse},
	} {
		t.Run(tt.name, func(t *testing.T) {
			waitSlot(t, false)
			r := mustOpen(t, pcsc.Config{Profiles: fankaFirst})
			in := mustInsert(t, virtual.Card{UID: []byte{1, 2, 3, 4}, Respond: func(apdu []byte) []byte {
				switch {
				case bytes.Equal(apdu, card.Select):
					return []byte{card.AppVersion, 0x90, 0x00}
				case bytes.Equal(apdu, card.GetUID):
					return card.UIDResponse([]byte{1, 2, 3, 4})
				}
				return tt.identity
			}})
			ev := nextEvent(t, r)
			if !ev.Present || ev.CardNo != "" || !errors.Is(ev.Err, tt.wantErr) {
				t.Fatalf("event %+v, want Present with an error wrapping %v", ev, tt.wantErr)
			}
			mustRemove(t, in)
			nextEvent(t, r)
		})
	}
}

func TestOpenRejectsUnknownProfile(t *testing.T) {
	if _, err := pcsc.Open(pcsc.Config{Profiles: []card.Profile{"mifare"}}); err == nil {
		t.Fatal("unknown profile taken")
	}
}
