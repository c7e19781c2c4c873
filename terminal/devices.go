package terminal

import (
	"context"
	"errors"
	"time"

	"github.com/fanka/fanka/shared/money"
	"github.com/fanka/fanka/shared/wire"
)

// CardEvent is a change at the card reader.
type CardEvent struct {
	// Present is true when a card was inserted (or tapped), false when it left.
	Present bool
	// CardNo is the card number read from a present card; empty when the card
	// could not be read, and then Err says why (the display shows 读卡失败).
	CardNo string
	Err    error
	// At is when the reader reported the change (the PC/SC event), the start
	// of the card-to-display latency.
	At time.Time
}

// CardReader reports cards arriving and leaving.
type CardReader interface {
	// NextCardEvent blocks until a card is inserted or removed. It returns
	// ctx.Err() when ctx ends, and ErrDeviceGone when the reader has gone
	// away and could not be found again; the register then retries later.
	NextCardEvent(ctx context.Context) (CardEvent, error)
}

// KeyKind says which kind of key was pressed.
type KeyKind uint8

// Key kinds.
const (
	KeyDigit     KeyKind = iota + 1 // Digit holds '0'…'9'
	KeyDot                          // decimal point
	KeyConfirm                      // 确认 (Enter)
	KeyCancel                       // 取消 (Esc)
	KeyBackspace                    // 退格
	KeyPreset                       // a preset meal key; Preset holds its index from 0
)

// Key is one key press on the cashier's keypad.
type Key struct {
	Kind   KeyKind
	Digit  byte // for KeyDigit: '0'…'9'
	Preset int  // for KeyPreset: 0 for A, 1 for B, …
}

// Keypad delivers the cashier's key presses.
type Keypad interface {
	// NextKey blocks until a key is pressed. Bytes that the device profile
	// does not map are dropped and logged by the keypad, never delivered.
	// It returns ctx.Err() when ctx ends and ErrDeviceGone when the device
	// has gone away.
	NextKey(ctx context.Context) (Key, error)
}

// Screen is what the customer display should show.
type Screen struct {
	// Lines of text, top first; the display pads or cuts each to its width
	// (a Chinese character takes two columns).
	Lines []string
	// Beep sounds the buzzer once (success or refusal), where the device has one.
	Beep bool
}

// Display is the customer-facing display.
type Display interface {
	// Show replaces what the display shows. It returns once the bytes are
	// written to the device, or an error (ErrDeviceGone when it has gone away).
	Show(Screen) error
}

// ErrDeviceGone is returned by a device that was unplugged or whose service
// (pcscd) went away.
var ErrDeviceGone = errors.New("terminal: device gone")

// CardView is what the register knows of a card when it is inserted: the
// server's last word on it, less this register's own sales the server has
// not reflected yet.
type CardView struct {
	CardNo     string
	Name       string
	Status     wire.CardStatus
	Balance    money.Fen // available: cached balance minus unsettled sales
	TodayCount int       // sales today, the server's count plus unsettled ones
}
