package virtual

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"math"
	"sync"

	"github.com/fanka/fanka/shared/card"
	"github.com/fanka/fanka/shared/journal"
)

// FankaApp is the fanka card application (shared/card, ProfileFanka) as a
// virtual card runs it: the card number, the key pair made at issuance and
// the signature counter and the purse record, which last from one
// insertion to the next like a real card's. Put it in Card.Fanka. Its methods are safe for
// concurrent use.
type FankaApp struct {
	cardNo string
	key    *ecdsa.PrivateKey

	mu       sync.Mutex
	counter  uint32
	purse    []byte // the purse record, nil until one is written
	selected bool   // SELECT answered since the card was powered
}

// NewFankaApp issues a fanka card numbered cardNo with a new P-256 key.
func NewFankaApp(cardNo string) (*FankaApp, error) {
	if !journal.ValidCardNo(cardNo) {
		return nil, fmt.Errorf("fanka card: card number %q", cardNo)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("fanka card: %w", err)
	}
	return &FankaApp{cardNo: cardNo, key: key}, nil
}

// CardNo returns the card number.
func (a *FankaApp) CardNo() string { return a.cardNo }

// PublicKey returns the card's public key, as the office registers it.
func (a *FankaApp) PublicKey() *ecdsa.PublicKey { return &a.key.PublicKey }

// Counter returns how many sales the card has signed.
func (a *FankaApp) Counter() uint32 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.counter
}

// SetCounter sets the signature counter, e.g. to play a card whose counter
// is exhausted.
func (a *FankaApp) SetCounter(n uint32) {
	a.mu.Lock()
	a.counter = n
	a.mu.Unlock()
}

// Purse returns the card's purse record as written, and false when none
// has been written yet.
func (a *FankaApp) Purse() (card.Purse, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.purse == nil {
		return card.Purse{}, false
	}
	p, err := card.ParsePurse(a.purse)
	return p, err == nil
}

// powered notes that the card was powered on, off or reset: the
// application must be selected again.
func (a *FankaApp) powered() {
	a.mu.Lock()
	a.selected = false
	a.mu.Unlock()
}

// owns reports whether apdu is for the application: SELECT, or its class.
func (a *FankaApp) owns(apdu []byte) bool {
	return len(apdu) >= 4 && (apdu[0] == card.ClaFanka || (apdu[0] == card.ClaISO && apdu[1] == card.InsSelect))
}

// answer answers a C-APDU the application owns.
func (a *FankaApp) answer(apdu []byte) []byte {
	a.mu.Lock()
	defer a.mu.Unlock()
	if apdu[0] == card.ClaISO { // SELECT
		a.selected = false
		if apdu[2] != 0x04 || apdu[3] != 0x00 {
			return sw(card.SWWrongP1P2)
		}
		data, ok := commandData(apdu)
		if !ok {
			return sw(card.SWWrongLength)
		}
		if !bytes.Equal(data, card.AID) {
			return sw(card.SWAppNotFound)
		}
		a.selected = true
		return []byte{card.AppVersion, 0x90, 0x00}
	}
	switch apdu[1] {
	case card.InsReadIdentity, card.InsSignSale, card.InsReadPurse, card.InsWritePurse:
	default:
		return sw(card.SWInsNotSupported)
	}
	if apdu[2] != 0 || apdu[3] != 0 {
		return sw(card.SWWrongP1P2)
	}
	if !a.selected {
		return sw(card.SWConditions)
	}
	switch apdu[1] {
	case card.InsReadIdentity:
		if len(apdu) != 5 {
			return sw(card.SWWrongLength)
		}
		resp, err := card.IdentityResponse(card.Identity{CardNo: a.cardNo, PublicKey: &a.key.PublicKey, Counter: a.counter})
		if err != nil {
			return sw(card.SWWrongData)
		}
		return resp
	case card.InsReadPurse:
		if len(apdu) != 5 {
			return sw(card.SWWrongLength)
		}
		if a.purse == nil {
			return sw(card.SWNoPurse)
		}
		return append(bytes.Clone(a.purse), 0x90, 0x00)
	case card.InsWritePurse:
		return a.writePurse(apdu)
	}
	data, ok := commandData(apdu)
	if !ok || len(data) != card.ChallengeSize {
		return sw(card.SWWrongLength)
	}
	ch, err := card.ParseChallenge(data)
	if err != nil {
		return sw(card.SWWrongData)
	}
	if a.counter == math.MaxUint32 {
		return sw(card.SWCounterExhaust)
	}
	a.counter++
	sig, err := card.SignSaleWith(a.key, a.cardNo, ch, a.counter)
	if err != nil {
		return sw(card.SWWrongData)
	}
	return append(sig.Marshal(), 0x90, 0x00)
}

// writePurse answers WRITE PURSE: the record must be well formed, name
// this card, and have a sequence above the stored record's. The card does
// not check the signature: it does not know the writers' keys.
func (a *FankaApp) writePurse(apdu []byte) []byte {
	data, ok := commandData(apdu)
	if !ok || len(data) != card.PurseSize {
		return sw(card.SWWrongLength)
	}
	p, err := card.ParsePurse(data)
	if err != nil || p.CardNo != a.cardNo {
		return sw(card.SWWrongData)
	}
	if a.purse != nil {
		if old, err := card.ParsePurse(a.purse); err == nil && p.Seq <= old.Seq {
			return sw(card.SWPurseStale)
		}
	}
	a.purse = bytes.Clone(data)
	return sw(card.SWOK)
}

// commandData returns the data of a short case 3 or 4 C-APDU (CLA INS P1
// P2 Lc data [Le]).
func commandData(apdu []byte) ([]byte, bool) {
	if len(apdu) < 6 {
		return nil, false
	}
	lc := int(apdu[4])
	if lc == 0 || (len(apdu) != 5+lc && len(apdu) != 5+lc+1) {
		return nil, false
	}
	return apdu[5 : 5+lc], true
}
