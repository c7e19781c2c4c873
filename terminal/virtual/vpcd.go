package virtual

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/fanka/fanka/shared/card"
)

// DefaultATR is the answer to reset a PC/SC reader reports for a contactless
// ISO 14443-A storage card (PC/SC part 3 pseudo-ATR: RID A0 00 00 03 06,
// standard 03 = ISO 14443 A part 3, card name 00 01 = MIFARE Classic 1K). A
// Card without an ATR of its own answers with it.
var DefaultATR = []byte{
	0x3B, 0x8F, 0x80, 0x01, 0x80, 0x4F, 0x0C, 0xA0, 0x00, 0x00,
	0x03, 0x06, 0x03, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x6A,
}

// maxATR is the longest ATR ISO 7816-3 allows (and pcscd accepts).
const maxATR = 33

// vpcd control codes: a frame with a 1-byte payload. Only vpcdGetATR is
// answered.
const (
	vpcdPowerOff = 0
	vpcdPowerOn  = 1
	vpcdReset    = 2
	vpcdGetATR   = 4
)

// Card is a virtual contactless card: what it answers when a reader talks
// to it. The zero value is a card without a UID, which answers GetUID with
// just 90 00 (and so cannot be read).
type Card struct {
	// UID is the card's ISO 14443 UID (4, 7 or 10 bytes), returned for the
	// PC/SC GET DATA pseudo-APDU card.GetUID.
	UID []byte
	// ATR is the answer to reset; nil means DefaultATR.
	ATR []byte
	// Fanka, when set, is the fanka card application on the card: it
	// answers SELECT and the fanka class's commands (shared/card).
	Fanka *FankaApp
	// Respond, when set, answers every C-APDU instead of the card's own
	// logic, for tests of cards that answer with errors or garbage. It runs
	// on the card's own goroutine. An empty answer is sent as it is, and
	// vpcd (vsmartcard 3.3) then waits for more: the reader's Transmit hangs
	// until the card is removed, so use one only to play a card that never
	// answers.
	Respond func(apdu []byte) []byte
}

// Answer returns the R-APDU (data, SW1, SW2) the card gives to the C-APDU
// apdu: the UID for GET DATA (FF CA 00 00 Le), 6C xx when Le is too short
// for the UID, 6A 81 for other GET DATA requests; SELECT and the fanka
// class go to the fanka application if the card has one (a card without
// answers SELECT with 6A 82); 6D 00 for anything else. Respond, if set,
// answers instead.
func (c Card) Answer(apdu []byte) []byte {
	if c.Respond != nil {
		return c.Respond(apdu)
	}
	if c.Fanka != nil && c.Fanka.owns(apdu) {
		return c.Fanka.answer(apdu)
	}
	if len(apdu) >= 4 && apdu[0] == card.ClaISO && apdu[1] == card.InsSelect {
		return sw(card.SWAppNotFound)
	}
	if len(apdu) == 5 && bytes.Equal(apdu[:2], card.GetUID[:2]) {
		if apdu[2] != 0 || apdu[3] != 0 {
			return sw(card.SWFuncUnsupported)
		}
		if le := int(apdu[4]); le != 0 && le < len(c.UID) {
			return []byte{0x6C, byte(len(c.UID))}
		}
		return card.UIDResponse(c.UID)
	}
	return sw(card.SWInsNotSupported)
}

// sw encodes a status word as a data-less R-APDU.
func sw(w uint16) []byte { return []byte{byte(w >> 8), byte(w)} }

// Inserted is a Card sitting in a vpcd reader slot: a connection from the
// card to vpcd, served on its own goroutine until Remove is called or vpcd
// hangs up.
type Inserted struct {
	conn net.Conn
	card Card
	atr  []byte
	done chan struct{}

	mu      sync.Mutex
	err     error    // why serving ended; nil after Remove
	removed bool     // Remove was called
	powered bool     // vpcd powered the card on and not off since
	apdus   [][]byte // every C-APDU received, in order
}

// Insert puts c into the vpcd reader slot whose card side listens on addr
// (see Slot.Addr): it connects to vpcd and answers its requests until Remove.
// ctx bounds only the connection attempt. pcscd notices the card on its
// next poll of the slot, a few hundred milliseconds later.
//
// vpcd serves one card per slot: a card inserted while another is in the
// slot waits, connected, until the first one is removed.
func Insert(ctx context.Context, addr string, c Card) (*Inserted, error) {
	atr := c.ATR
	if atr == nil {
		atr = DefaultATR
	}
	if len(atr) == 0 || len(atr) > maxATR {
		return nil, fmt.Errorf("insert card: ATR of %d bytes", len(atr))
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("insert card into vpcd %s: %w", addr, err)
	}
	c.UID = append([]byte(nil), c.UID...)
	in := &Inserted{
		conn: conn,
		card: c,
		atr:  append([]byte(nil), atr...),
		done: make(chan struct{}),
	}
	go in.serve()
	return in, nil
}

// Remove takes the card out of the slot by closing its connection, and
// waits until the card has stopped serving. Calling it again does nothing.
func (in *Inserted) Remove() error {
	in.mu.Lock()
	first := !in.removed
	in.removed = true
	in.mu.Unlock()
	var err error
	if first {
		if cerr := in.conn.Close(); cerr != nil && !errors.Is(cerr, net.ErrClosed) {
			err = fmt.Errorf("remove card: %w", cerr)
		}
	}
	<-in.done
	return err
}

// Done is closed when the card has stopped serving: after Remove, or when
// vpcd closed the connection (pcscd stopped or was killed).
func (in *Inserted) Done() <-chan struct{} { return in.done }

// Err says why the card stopped serving once Done is closed: nil after
// Remove, otherwise the connection or protocol error.
func (in *Inserted) Err() error {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.err
}

// Powered reports whether vpcd has powered the card on (and not off since).
func (in *Inserted) Powered() bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.powered
}

// APDUs returns a copy of every C-APDU the card has received so far, in order.
func (in *Inserted) APDUs() [][]byte {
	in.mu.Lock()
	defer in.mu.Unlock()
	out := make([][]byte, len(in.apdus))
	for i, a := range in.apdus {
		out[i] = append([]byte(nil), a...)
	}
	return out
}

// serve answers vpcd's frames until the connection ends.
func (in *Inserted) serve() {
	defer close(in.done)
	err := in.answerFrames()
	in.mu.Lock()
	if !in.removed {
		in.err = err
	}
	in.powered = false
	in.mu.Unlock()
	in.conn.Close()
}

// answerFrames is the vpcd protocol, card side: every frame is a 2-byte
// big-endian length and a payload; a 1-byte payload is a control code,
// anything longer a C-APDU to answer with an R-APDU.
func (in *Inserted) answerFrames() error {
	r := bufio.NewReader(in.conn)
	var buf []byte
	for {
		in.quickAck()
		payload, err := readFrame(r, buf)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return fmt.Errorf("vpcd closed the connection: %w", err)
			}
			return err
		}
		buf = payload[:0]
		switch len(payload) {
		case 0:
			continue // vpcd sends none; nothing to answer
		case 1:
			if err := in.control(payload[0]); err != nil {
				return err
			}
			continue
		}
		apdu := append([]byte(nil), payload...)
		in.mu.Lock()
		in.apdus = append(in.apdus, apdu)
		in.mu.Unlock()
		if err := writeFrame(in.conn, in.card.Answer(apdu)); err != nil {
			return err
		}
	}
}

// quickAck makes the card's side acknowledge what vpcd sends at once.
// vpcd writes each frame's length and its payload with two send calls, on
// a socket with Nagle's algorithm on: the payload waits until the length
// is acknowledged, and Linux delays that acknowledgement by up to 40 ms.
// Every APDU would take 40 ms more than any reader takes (measured: 44 ms
// a GET DATA). TCP_QUICKACK is not sticky, so it is set before each read.
func (in *Inserted) quickAck() {
	tc, ok := in.conn.(*net.TCPConn)
	if !ok {
		return
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return
	}
	raw.Control(func(fd uintptr) {
		_ = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_QUICKACK, 1)
	})
}

// control handles a vpcd control code. Unknown codes are ignored, which
// keeps the stream in step: vpcd expects no answer to them.
func (in *Inserted) control(code byte) error {
	if in.card.Fanka != nil && code != vpcdGetATR {
		in.card.Fanka.powered()
	}
	switch code {
	case vpcdPowerOff:
		in.setPowered(false)
	case vpcdPowerOn, vpcdReset:
		in.setPowered(true)
	case vpcdGetATR:
		return writeFrame(in.conn, in.atr)
	}
	return nil
}

func (in *Inserted) setPowered(on bool) {
	in.mu.Lock()
	in.powered = on
	in.mu.Unlock()
}

// readFrame reads one vpcd frame, reusing buf's storage where it can.
func readFrame(r io.Reader, buf []byte) ([]byte, error) {
	var hdr [2]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, fmt.Errorf("read vpcd frame: %w", err)
	}
	n := int(binary.BigEndian.Uint16(hdr[:]))
	if cap(buf) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, fmt.Errorf("read vpcd frame of %d bytes: %w", n, err)
	}
	return buf, nil
}

// writeFrame writes payload as one vpcd frame.
func writeFrame(w io.Writer, payload []byte) error {
	if len(payload) > 0xFFFF {
		return fmt.Errorf("write vpcd frame: %d bytes is too long", len(payload))
	}
	frame := make([]byte, 2+len(payload))
	binary.BigEndian.PutUint16(frame, uint16(len(payload)))
	copy(frame[2:], payload)
	if _, err := w.Write(frame); err != nil {
		return fmt.Errorf("write vpcd frame: %w", err)
	}
	return nil
}
