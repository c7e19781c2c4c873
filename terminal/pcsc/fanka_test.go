package pcsc_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
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
	if got := in.APDUs(); len(got) != 3 || !bytes.Equal(got[0], card.Select) || !bytes.Equal(got[1], card.ReadIdentity) ||
		!bytes.Equal(got[2], card.ReadPurse) {
		t.Fatalf("card received % X, want SELECT, READ IDENTITY and READ PURSE", got)
	}
	if ev.Purse != nil || ev.PurseWriter == nil {
		t.Fatalf("a new card: purse record %+v, writer %v; want none and a writer", ev.Purse, ev.PurseWriter)
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
			if !ev.Present || ev.CardNo != "DEADBEEF" || ev.Err != nil || ev.Signer != nil || ev.Purse != nil || ev.PurseWriter != nil {
				t.Fatalf("event %+v, want the UID and no signer, no purse", ev)
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

// TestFankaPurseThroughPCSC: a purse record written through pcscd is read
// back with the card the next time it comes; the card refuses a record
// whose sequence is not above its own, and another card's record, and
// keeps what it had; a card that left takes no record.
func TestFankaPurseThroughPCSC(t *testing.T) {
	virtual.MustPCSCD(t)
	waitSlot(t, false)
	r := mustOpen(t, pcsc.Config{Profiles: fankaFirst})
	app := mustApp(t, "FK0001")
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{5}, 32))
	sign := func(p card.Purse) card.Purse {
		t.Helper()
		p, err := card.SignPurse(p, key)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	ctx, cancel := context.WithTimeout(context.Background(), eventWait)
	defer cancel()

	in := mustInsert(t, virtual.Card{Fanka: app})
	ev := nextEvent(t, r)
	first := sign(card.Purse{CardNo: "FK0001", Balance: 8750, Day: 20_000, TodayCount: 1, LastSale: 1_700_000_000_000, Seq: 1, Writer: 4})
	if err := ev.PurseWriter.WritePurse(ctx, first); err != nil {
		t.Fatal(err)
	}
	var se *card.StatusError
	for _, tt := range []struct {
		name string
		p    card.Purse
		sw   uint16
	}{
		{"same sequence", sign(card.Purse{CardNo: "FK0001", Balance: 99999, Seq: 1, Writer: 4}), card.SWPurseStale},
		{"lower sequence", sign(card.Purse{CardNo: "FK0001", Balance: 99999, Seq: 0, Writer: 4}), card.SWPurseStale},
		{"another card's record", sign(card.Purse{CardNo: "FK0002", Balance: 99999, Seq: 9, Writer: 4}), card.SWWrongData},
	} {
		if err := ev.PurseWriter.WritePurse(ctx, tt.p); !errors.As(err, &se) || se.SW != tt.sw {
			t.Errorf("%s: WritePurse = %v, want status %04X", tt.name, err, tt.sw)
		}
	}
	if got, ok := app.Purse(); !ok || got != first {
		t.Fatalf("card holds %+v (%v), want the first record", got, ok)
	}
	mustRemove(t, in)
	nextEvent(t, r)
	late := sign(card.Purse{CardNo: "FK0001", Balance: 1, Seq: 2, Writer: 4})
	if err := ev.PurseWriter.WritePurse(ctx, late); err == nil {
		t.Fatal("a card that left took a record")
	}

	in = mustInsert(t, virtual.Card{Fanka: app})
	ev = nextEvent(t, r)
	if ev.Purse == nil || *ev.Purse != first {
		t.Fatalf("read back %+v, want %+v", ev.Purse, first)
	}
	if _, err := card.OpenPurse(ev.Purse.Marshal(), ev.CardNo, card.PurseKeys{4: key.Public().(ed25519.PublicKey)}); err != nil {
		t.Fatal(err)
	}
	mustRemove(t, in)
	nextEvent(t, r)
}

// TestFankaPurseUnreadable: a card whose READ PURSE answers an error is
// still read (its identity is good): it comes without a record.
func TestFankaPurseUnreadable(t *testing.T) {
	virtual.MustPCSCD(t)
	waitSlot(t, false)
	r := mustOpen(t, pcsc.Config{Profiles: fankaFirst})
	app := mustApp(t, "FK0003")
	c := virtual.Card{Fanka: app}
	c.Respond = func(apdu []byte) []byte {
		if bytes.Equal(apdu, card.ReadPurse) {
			return []byte{0x6F, 0x00}
		}
		return virtual.Card{Fanka: app}.Answer(apdu)
	}
	in := mustInsert(t, c)
	ev := nextEvent(t, r)
	if !ev.Present || ev.CardNo != "FK0003" || ev.Err != nil || ev.Purse != nil || ev.PurseWriter == nil {
		t.Fatalf("event %+v, want the card without a record", ev)
	}
	mustRemove(t, in)
	nextEvent(t, r)
}
