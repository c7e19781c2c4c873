package terminal

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fanka/fanka/shared/card"
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
	// Signer, for a card that signs its sales (the fanka card profile),
	// asks it to; nil for a card that does not (the uid profile).
	Signer CardSigner
	// Purse is the purse record the card held when it was read (fanka
	// cards, shared/card.Purse), as read: the register verifies it. Nil
	// when the card keeps none or has none yet.
	Purse *card.Purse
	// PurseWriter rewrites the card's purse record; nil for a card that
	// keeps none (the uid profile).
	PurseWriter PurseWriter
}

// PurseWriter is a card in the reader that keeps a purse record.
type PurseWriter interface {
	// WritePurse writes p to the card. It fails when the card has left,
	// when it holds a record with a sequence as high (a *card.StatusError
	// with SW card.SWPurseStale) or refuses p otherwise (card.ErrStatus).
	// ctx bounds the wait.
	WritePurse(ctx context.Context, p card.Purse) error
}

// CardSigner is a card in the reader that signs each sale (shared/card,
// ProfileFanka).
type CardSigner interface {
	// SignSale asks the card to sign the sale ch and returns the
	// signature as Entry.CardSig carries it (card.SaleSignature.Marshal),
	// verified against the public key the card gave when it was read. It
	// fails when the card has left, when another card is in the reader
	// (the signature does not verify: card.ErrSignature), or when the card
	// refuses (card.ErrStatus). ctx bounds the wait.
	SignSale(ctx context.Context, ch card.Challenge) ([]byte, error)
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

// Beep is the sound that goes with a screen, where the display or the
// keypad has a buzzer: the cashier hears a sale go through, or be refused,
// without looking.
type Beep uint8

// Beeps. Each device profile says which bytes sound each (firmware-config/devices).
const (
	BeepNone    Beep = iota
	BeepSuccess      // a sale or a void recorded: 成功, 已撤销
	BeepRefusal      // a card, an amount or a code refused; a device error
)

// String names the beep for logs: none, success, refusal.
func (b Beep) String() string {
	switch b {
	case BeepNone:
		return "none"
	case BeepSuccess:
		return "success"
	case BeepRefusal:
		return "refusal"
	}
	return fmt.Sprintf("beep(%d)", uint8(b))
}

// Screen is what the customer display should show.
type Screen struct {
	// Lines of text, top first; the display pads or cuts each to its width
	// (a Chinese character takes two columns).
	Lines []string
	// Beep is the sound that goes with it, if any.
	Beep Beep
}

// Beeper is a device other than the display that sounds the register's
// beeps: a keypad with a buzzer.
type Beeper interface {
	// Beep sounds b once; BeepNone sounds nothing. A device without a
	// buzzer returns nil. It returns an error wrapping ErrDeviceGone
	// while the device is gone.
	Beep(b Beep) error
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
	// UnsettledToday is the sum of this register's sales of the card today
	// that the server has not settled yet (less their voids): what the
	// card spent offline today, for OfflineLimits.MaxCardDay.
	UnsettledToday money.Fen
	// OwnToday is the sum of this register's sales of the card today,
	// settled or not, less their voids, and OwnLastSale the time of its
	// last sale of the card (zero if none): what the register knows for
	// the server's per-day amount and double-tap rules (see
	// Register.SetServerRules). Other registers' sales are not in them.
	OwnToday    money.Fen
	OwnLastSale time.Time
}

// Backlog is what a register's journal holds that the server has not
// settled yet.
type Backlog struct {
	// Entries is the number of entries (sales and voids) waiting.
	Entries int
	// Amount is their sum: sales less voids.
	Amount money.Fen
	// OfflineSales is the number of waiting sales the register decided
	// offline: the consecutive offline sales of OfflineLimits.SoftCount
	// and HardCount, which drop as the server settles them.
	OfflineSales int
	// OfflineAmount is those sales' sum: the register's offline
	// exposure.
	OfflineAmount money.Fen
	// Oldest is the time (the register's clock) of the oldest entry
	// waiting; zero when none waits.
	Oldest time.Time
}

// ErrJournalFull is returned (wrapped) by a journal that could not record
// an entry because its storage is full. Nothing was recorded.
var ErrJournalFull = errors.New("terminal: journal storage full")

// MemoryLimit is the soft memory limit fanka-terminal gives the Go runtime
// (runtime/debug.SetMemoryLimit) unless GOMEMLIMIT sets one: the register's
// live heap is a few MiB even with a million cached cards, and the limit
// keeps the garbage of a card sync from growing its resident memory past
// the 64 MiB of DESIGN §10.
const MemoryLimit = 32 << 20
