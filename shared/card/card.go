// Package card specifies how a register talks to a diner's card: the APDUs
// (ISO 7816-4 command and response units) of each card profile and how their
// answers become a card number.
//
// Profile "uid" works with any ISO 14443 card: the register asks the reader
// for the card's UID with the PC/SC pseudo-APDU GET DATA (FF CA 00 00 00) and
// the card number is that UID in upper-case hex.
package card

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Profile names a way of reading cards.
type Profile string

// Card profiles.
const (
	ProfileUID Profile = "uid"
)

// GetUID is the PC/SC pseudo-APDU GET DATA for the card's UID (Le = 0: all bytes).
var GetUID = []byte{0xFF, 0xCA, 0x00, 0x00, 0x00}

// Status words.
const (
	SWOK              = 0x9000
	SWWrongLength     = 0x6700
	SWFuncUnsupported = 0x6A81
	SWInsNotSupported = 0x6D00
	SWClaNotSupported = 0x6E00
	SWWrongP1P2       = 0x6B00
)

// Errors from ParseUID.
var (
	ErrStatus   = errors.New("card: error status word")
	ErrResponse = errors.New("card: malformed response")
)

// StatusError carries a status word other than 90 00.
type StatusError struct{ SW uint16 }

func (e *StatusError) Error() string { return fmt.Sprintf("card: status %04X", e.SW) }

// Is makes errors.Is(err, ErrStatus) true for every StatusError.
func (e *StatusError) Is(target error) bool { return target == ErrStatus }

// SplitResponse separates an R-APDU into data and status word.
func SplitResponse(resp []byte) ([]byte, uint16, error) {
	if len(resp) < 2 {
		return nil, 0, fmt.Errorf("%w: %d bytes", ErrResponse, len(resp))
	}
	n := len(resp) - 2
	return resp[:n], uint16(resp[n])<<8 | uint16(resp[n+1]), nil
}

// ParseUID turns the answer to GetUID into a card number. UIDs are 4, 7 or
// 10 bytes (ISO 14443-3 single, double, triple size); 8 bytes also occur
// (ISO 15693, FeliCa IDm).
func ParseUID(resp []byte) (string, error) {
	data, sw, err := SplitResponse(resp)
	if err != nil {
		return "", err
	}
	if sw != SWOK {
		return "", &StatusError{SW: sw}
	}
	switch len(data) {
	case 4, 7, 8, 10:
	default:
		return "", fmt.Errorf("%w: UID of %d bytes", ErrResponse, len(data))
	}
	return strings.ToUpper(hex.EncodeToString(data)), nil
}

// UIDResponse is the answer a card (or reader) gives to GetUID for uid.
func UIDResponse(uid []byte) []byte {
	return append(append([]byte{}, uid...), 0x90, 0x00)
}
