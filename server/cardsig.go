package server

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/base64"
	"sync"

	"github.com/fanka/fanka/shared/card"
	"github.com/fanka/fanka/shared/journal"
)

// A fanka card signs each sale (shared/card); the server checks the
// signature against the public key registered when the card was opened.
// An entry whose card signature is missing or does not verify is still
// settled: its register signed it and its chain is intact, so refusing it
// would stop the register's stream for good, and the meal was eaten. It is
// flagged instead (wire.Flagged, with the note CardSigNote returns) so that
// a person reviews it. A card opened without a key (profile uid) is not
// checked.

// ParseCardPublicKey reads a card's P-256 public key, uncompressed (65
// bytes, 04 ‖ X ‖ Y, as READ IDENTITY returns it) or compressed (33 bytes),
// and returns it uncompressed, as stores keep it. EINVALID if it is not a
// point on the curve.
func ParseCardPublicKey(b []byte) ([]byte, error) {
	if len(b) == 1+32 { // compressed: 02 or 03 ‖ X
		x, y := elliptic.UnmarshalCompressed(elliptic.P256(), b)
		if x == nil {
			return nil, Errorf(EINVALID, "card_public_key is not a compressed P-256 point")
		}
		b = make([]byte, 1+2*32)
		b[0] = 4
		x.FillBytes(b[1:33])
		y.FillBytes(b[33:])
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), b)
	if err != nil {
		return nil, Errorf(EINVALID, "card_public_key is not a P-256 point: %v", err)
	}
	out, err := pub.Bytes()
	if err != nil {
		return nil, Errorf(EINVALID, "card_public_key: %v", err)
	}
	return out, nil
}

// DecodeCardPublicKey decodes a card_public_key as the JSON API carries
// it: standard base64 of ParseCardPublicKey's input.
func DecodeCardPublicKey(s string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, Errorf(EINVALID, "card_public_key is not base64")
	}
	return ParseCardPublicKey(b)
}

// CardSigNote checks the card signature of entry e, a sale on a card whose
// stored public key is pub (uncompressed), and returns why the sale is to
// be flagged, or "" if the signature verifies. A void, or a card without a
// key (len(pub) == 0), is not checked.
func CardSigNote(e *journal.Entry, pub []byte) string {
	if e.Kind != journal.KindSale || len(pub) == 0 {
		return ""
	}
	if len(e.CardSig) == 0 {
		return "card signature missing"
	}
	key, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), pub)
	if err != nil {
		return "card signature invalid: the card's stored key is not a P-256 point"
	}
	sig, err := card.ParseSaleSignature(e.CardSig)
	if err != nil {
		return "card signature invalid"
	}
	ch := card.Challenge{Terminal: e.Terminal, Seq: e.Seq, Amount: e.Amount, Time: e.Time}
	if card.VerifySale(key, e.CardNo, ch, sig) != nil {
		return "card signature invalid"
	}
	return ""
}

// CardSigNotes checks the card signatures of a batch's sales, with keys
// the public keys of the batch's cards that have one (by card number), and
// returns one note per entry (see CardSigNote), or nil if none is to be
// flagged. Stores call it outside their single writer: it costs an ECDSA
// verification per sale on a card with a key.
func CardSigNotes(entries []journal.Entry, keys map[string][]byte) []string {
	if len(keys) == 0 {
		return nil
	}
	var notes []string
	for i := range entries {
		if n := CardSigNote(&entries[i], keys[entries[i].CardNo]); n != "" {
			if notes == nil {
				notes = make([]string, len(entries))
			}
			notes[i] = n
		}
	}
	return notes
}

// SaleCardNos returns the distinct card numbers of a batch's sales: those
// whose keys CardSigNotes needs.
func SaleCardNos(entries []journal.Entry) []string {
	seen := make(map[string]bool, len(entries))
	var out []string
	for i := range entries {
		if no := entries[i].CardNo; entries[i].Kind == journal.KindSale && !seen[no] {
			seen[no] = true
			out = append(out, no)
		}
	}
	return out
}

// CardKeys remembers cards' public keys between batches. What it keeps
// never changes: a card's key (or its having none) is set when the card is
// opened, and cards are never deleted. Only cards that do not exist yet
// are asked for again. The zero value is ready to use; it is safe for
// concurrent use.
type CardKeys struct {
	mu   sync.Mutex
	keys map[string][]byte // existing cards: their key, nil for none
}

// maxCardKeys bounds a CardKeys: past it, it starts afresh.
const maxCardKeys = 500_000

// Get returns the keys of those of cards that have one, by card number.
// read returns, for the cards it is given that exist, their stored key
// (nil for none); Get calls it only for the cards it does not know.
func (c *CardKeys) Get(cards []string, read func(cards []string) (map[string][]byte, error)) (map[string][]byte, error) {
	var out map[string][]byte
	var unknown []string
	c.mu.Lock()
	for _, no := range cards {
		key, ok := c.keys[no]
		switch {
		case !ok:
			unknown = append(unknown, no)
		case key != nil:
			if out == nil {
				out = map[string][]byte{}
			}
			out[no] = key
		}
	}
	c.mu.Unlock()
	if len(unknown) == 0 {
		return out, nil
	}
	found, err := read(unknown)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.keys == nil || len(c.keys)+len(found) > maxCardKeys {
		c.keys = make(map[string][]byte, len(found))
	}
	for no, key := range found {
		c.keys[no] = key
		if key != nil {
			if out == nil {
				out = map[string][]byte{}
			}
			out[no] = key
		}
	}
	c.mu.Unlock()
	return out, nil
}
