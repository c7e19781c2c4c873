package card

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/fanka/fanka/shared/journal"
	"github.com/fanka/fanka/shared/money"
)

// Profile "fanka" is a card application (a Java Card applet, or the Go
// virtual card in terminal/virtual) selected by AID. It holds the card
// number and an ECDSA P-256 key pair made at issuance, whose public key the
// office registers when it opens the card. For each sale the register asks
// the card to sign a challenge (register id, seq, amount, time); the card
// counts its signatures and signs the count too. The signature goes into
// the journal entry (Entry.CardSig): no sale can be made up without the
// card present, and a cloned key shows as two cards with one counter.
//
// The APDUs, all short (ISO 7816-4 case 2 or 4):
//
//	SELECT        00 A4 04 00 07 F0 46 41 4E 4B 41 01 00
//	              → 01 90 00                    (the application version)
//	READ IDENTITY 80 10 00 00 00
//	              → n ‖ card no (n bytes, [0-9A-Z]) ‖ 04 ‖ X ‖ Y (65 bytes) ‖ counter (u32) ‖ 90 00
//	SIGN SALE     80 20 00 00 1C ‖ terminal (u32) ‖ seq (u64) ‖ amount (i64 fen) ‖ time (i64 Unix ms) ‖ 00
//	              → counter (u32) ‖ ECDSA signature (ASN.1 DER) ‖ 90 00
//
// Integers are big-endian. SIGN SALE first adds one to the card's counter,
// then signs SaleMessage with it. READ IDENTITY and SIGN SALE answer 69 85
// unless the application was selected since the card was powered; a card
// without the application answers SELECT with 6A 82.
//
// The card also keeps a purse record that registers read and rewrite
// (READ PURSE 80 30, WRITE PURSE 80 32): see Purse.
const ProfileFanka Profile = "fanka"

// AID is the fanka application's identifier: F0 (a proprietary,
// unregistered identifier, ISO/IEC 7816-5), "FANKA", application version 1.
var AID = []byte{0xF0, 'F', 'A', 'N', 'K', 'A', 0x01}

// AppVersion is the application version SELECT answers with.
const AppVersion = 1

// Class and instruction bytes of the fanka application.
const (
	ClaISO          = 0x00
	ClaFanka        = 0x80 // proprietary class
	InsSelect       = 0xA4
	InsReadIdentity = 0x10
	InsSignSale     = 0x20
	// InsReadPurse and InsWritePurse are in purse.go.
)

// More status words the fanka application answers with.
const (
	SWAppNotFound    = 0x6A82 // SELECT: no such application
	SWWrongData      = 0x6A80
	SWConditions     = 0x6985 // not selected
	SWCounterExhaust = 0x6581 // the counter reached its maximum: the card signs no more
)

// ChallengeSize is the length of SIGN SALE's data.
const ChallengeSize = 4 + 8 + 8 + 8

// Lengths in READ IDENTITY's answer.
const (
	PublicKeySize = 65 // an uncompressed P-256 point
	// MaxSignatureSize bounds a DER ECDSA P-256 signature.
	MaxSignatureSize = 72
)

// Select is the SELECT command for the fanka application.
var Select = append(append([]byte{ClaISO, InsSelect, 0x04, 0x00, byte(len(AID))}, AID...), 0x00)

// ReadIdentity is the READ IDENTITY command.
var ReadIdentity = []byte{ClaFanka, InsReadIdentity, 0x00, 0x00, 0x00}

// Challenge is what a register asks a card to sign for a sale: the entry
// the sale will be.
type Challenge struct {
	Terminal uint32    // the register's id
	Seq      uint64    // the seq the sale's entry will have
	Amount   money.Fen // the sale's amount
	Time     int64     // the entry's time, Unix milliseconds
}

// Identity is what READ IDENTITY returns.
type Identity struct {
	CardNo    string
	PublicKey *ecdsa.PublicKey
	Counter   uint32 // signatures made so far
}

// SaleSignature is a card's signature of a sale, as Entry.CardSig carries
// it: Marshal's bytes are the counter (u32) and the DER signature.
type SaleSignature struct {
	Counter uint32
	DER     []byte
}

// Errors of the fanka profile (besides ErrStatus and ErrResponse).
var (
	// ErrSignature: a card signature does not verify.
	ErrSignature = errors.New("card: bad sale signature")
)

// SignSale returns the SIGN SALE command for ch.
func SignSale(ch Challenge) []byte {
	b := []byte{ClaFanka, InsSignSale, 0x00, 0x00, ChallengeSize}
	b = ch.append(b)
	return append(b, 0x00)
}

func (ch Challenge) append(b []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, ch.Terminal)
	b = binary.BigEndian.AppendUint64(b, ch.Seq)
	b = binary.BigEndian.AppendUint64(b, uint64(ch.Amount))
	return binary.BigEndian.AppendUint64(b, uint64(ch.Time))
}

// ParseChallenge reads SIGN SALE's data.
func ParseChallenge(data []byte) (Challenge, error) {
	if len(data) != ChallengeSize {
		return Challenge{}, fmt.Errorf("%w: challenge of %d bytes", ErrResponse, len(data))
	}
	return Challenge{
		Terminal: binary.BigEndian.Uint32(data),
		Seq:      binary.BigEndian.Uint64(data[4:]),
		Amount:   money.Fen(binary.BigEndian.Uint64(data[12:])),
		Time:     int64(binary.BigEndian.Uint64(data[20:])),
	}, nil
}

// saleContext separates card sale signatures from any other use of a key.
const saleContext = "fanka/card/sale/v1\x00"

// SaleMessage is what the card signs (with ECDSA P-256 over its SHA-256):
// the context string, the card number (one length byte, then the
// characters), the challenge and the counter.
func SaleMessage(cardNo string, ch Challenge, counter uint32) []byte {
	b := make([]byte, 0, len(saleContext)+1+len(cardNo)+ChallengeSize+4)
	b = append(b, saleContext...)
	b = append(b, byte(len(cardNo)))
	b = append(b, cardNo...)
	b = ch.append(b)
	return binary.BigEndian.AppendUint32(b, counter)
}

// SignSaleWith makes the card's signature: what a card does for SIGN SALE
// once its counter is counter.
func SignSaleWith(key *ecdsa.PrivateKey, cardNo string, ch Challenge, counter uint32) (SaleSignature, error) {
	sum := sha256.Sum256(SaleMessage(cardNo, ch, counter))
	der, err := ecdsa.SignASN1(rand.Reader, key, sum[:])
	if err != nil {
		return SaleSignature{}, fmt.Errorf("card: sign sale: %w", err)
	}
	return SaleSignature{Counter: counter, DER: der}, nil
}

// VerifySale checks that the card with public key pub signed ch for card
// cardNo with this signature.
func VerifySale(pub *ecdsa.PublicKey, cardNo string, ch Challenge, sig SaleSignature) error {
	sum := sha256.Sum256(SaleMessage(cardNo, ch, sig.Counter))
	if pub == nil || pub.Curve != elliptic.P256() || !ecdsa.VerifyASN1(pub, sum[:], sig.DER) {
		return fmt.Errorf("%w: card %s, counter %d", ErrSignature, cardNo, sig.Counter)
	}
	return nil
}

// Marshal returns the signature as Entry.CardSig carries it.
func (s SaleSignature) Marshal() []byte {
	return append(binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(s.DER)), s.Counter), s.DER...)
}

// ParseSaleSignature reads Entry.CardSig, or SIGN SALE's answer data.
func ParseSaleSignature(b []byte) (SaleSignature, error) {
	if len(b) < 4+8 || len(b) > 4+MaxSignatureSize {
		return SaleSignature{}, fmt.Errorf("%w: sale signature of %d bytes", ErrResponse, len(b))
	}
	return SaleSignature{Counter: binary.BigEndian.Uint32(b), DER: append([]byte(nil), b[4:]...)}, nil
}

// ParseSelect reads the answer to Select and returns the application
// version. A card without the application gives a *StatusError (6A 82).
func ParseSelect(resp []byte) (int, error) {
	data, err := okData(resp)
	if err != nil {
		return 0, err
	}
	if len(data) != 1 {
		return 0, fmt.Errorf("%w: SELECT answered %d bytes", ErrResponse, len(data))
	}
	return int(data[0]), nil
}

// ParseIdentity reads the answer to ReadIdentity.
func ParseIdentity(resp []byte) (Identity, error) {
	data, err := okData(resp)
	if err != nil {
		return Identity{}, err
	}
	if len(data) < 1 {
		return Identity{}, fmt.Errorf("%w: empty identity", ErrResponse)
	}
	n := int(data[0])
	if len(data) != 1+n+PublicKeySize+4 {
		return Identity{}, fmt.Errorf("%w: identity of %d bytes for a card number of %d", ErrResponse, len(data), n)
	}
	no := string(data[1 : 1+n])
	if !journal.ValidCardNo(no) {
		return Identity{}, fmt.Errorf("%w: card number %q", ErrResponse, no)
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), data[1+n:1+n+PublicKeySize])
	if err != nil {
		return Identity{}, fmt.Errorf("%w: public key: %v", ErrResponse, err)
	}
	return Identity{CardNo: no, PublicKey: pub, Counter: binary.BigEndian.Uint32(data[1+n+PublicKeySize:])}, nil
}

// IdentityResponse is a card's answer to ReadIdentity.
func IdentityResponse(id Identity) ([]byte, error) {
	if !journal.ValidCardNo(id.CardNo) {
		return nil, fmt.Errorf("card: card number %q", id.CardNo)
	}
	pub, err := id.PublicKey.Bytes()
	if err != nil {
		return nil, fmt.Errorf("card: public key: %w", err)
	}
	b := append([]byte{byte(len(id.CardNo))}, id.CardNo...)
	b = append(b, pub...)
	b = binary.BigEndian.AppendUint32(b, id.Counter)
	return append(b, 0x90, 0x00), nil
}

// ParseSignSale reads the answer to SignSale.
func ParseSignSale(resp []byte) (SaleSignature, error) {
	data, err := okData(resp)
	if err != nil {
		return SaleSignature{}, err
	}
	return ParseSaleSignature(data)
}

// okData returns an R-APDU's data when its status word is 90 00.
func okData(resp []byte) ([]byte, error) {
	data, sw, err := SplitResponse(resp)
	if err != nil {
		return nil, err
	}
	if sw != SWOK {
		return nil, &StatusError{SW: sw}
	}
	return data, nil
}
