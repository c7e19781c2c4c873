package virtual_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/fanka/fanka/shared/card"
	"github.com/fanka/fanka/terminal/virtual"
)

// fakeVPCD is the reader side of the vpcd protocol, played by the test.
type fakeVPCD struct {
	t    *testing.T
	conn net.Conn
}

// listenVPCD starts a fake vpcd on a free loopback port. accept waits for
// the card to connect.
func listenVPCD(t *testing.T) (addr string, accept func() *fakeVPCD) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String(), func() *fakeVPCD {
		t.Helper()
		ln.(*net.TCPListener).SetDeadline(time.Now().Add(5 * time.Second))
		c, err := ln.Accept()
		if err != nil {
			t.Fatalf("accept card: %v", err)
		}
		t.Cleanup(func() { c.Close() })
		return &fakeVPCD{t: t, conn: c}
	}
}

// insert puts c into the fake vpcd's slot.
func insert(t *testing.T, c virtual.Card) (*virtual.Inserted, *fakeVPCD) {
	t.Helper()
	addr, accept := listenVPCD(t)
	in, err := virtual.Insert(context.Background(), addr, c)
	if err != nil {
		t.Fatalf("Insert: %v", err)
	}
	t.Cleanup(func() { in.Remove() })
	return in, accept()
}

// send writes one frame holding payload.
func (f *fakeVPCD) send(payload ...byte) {
	f.t.Helper()
	frame := binary.BigEndian.AppendUint16(nil, uint16(len(payload)))
	if _, err := f.conn.Write(append(frame, payload...)); err != nil {
		f.t.Fatalf("vpcd send: %v", err)
	}
}

// recv reads one frame.
func (f *fakeVPCD) recv() []byte {
	f.t.Helper()
	f.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	var hdr [2]byte
	if _, err := io.ReadFull(f.conn, hdr[:]); err != nil {
		f.t.Fatalf("vpcd recv: %v", err)
	}
	b := make([]byte, binary.BigEndian.Uint16(hdr[:]))
	if _, err := io.ReadFull(f.conn, b); err != nil {
		f.t.Fatalf("vpcd recv: %v", err)
	}
	return b
}

// ask sends payload and returns the card's answer.
func (f *fakeVPCD) ask(payload ...byte) []byte {
	f.t.Helper()
	f.send(payload...)
	return f.recv()
}

// quiet checks that the card sends nothing for a while.
func (f *fakeVPCD) quiet() {
	f.t.Helper()
	f.conn.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	var b [1]byte
	if n, err := f.conn.Read(b[:]); n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		f.t.Fatalf("card sent %d bytes (%v) where vpcd expects no answer", n, err)
	}
}

var uid7 = []byte{0x04, 0xA1, 0xB2, 0xC3, 0xD4, 0xE5, 0xF6}

func TestCardAnswersVPCD(t *testing.T) {
	in, vpcd := insert(t, virtual.Card{UID: uid7})

	if got := vpcd.ask(4); !bytes.Equal(got, virtual.DefaultATR) {
		t.Fatalf("ATR = % X, want % X", got, virtual.DefaultATR)
	}
	vpcd.send(1) // power on: no answer
	vpcd.quiet()
	if !in.Powered() {
		t.Error("card not powered after power on")
	}

	tests := []struct {
		name string
		apdu []byte
		want []byte
	}{
		{"get UID", card.GetUID, card.UIDResponse(uid7)},
		{"get UID, Le = UID length", []byte{0xFF, 0xCA, 0x00, 0x00, 0x07}, card.UIDResponse(uid7)},
		{"get UID, Le too short", []byte{0xFF, 0xCA, 0x00, 0x00, 0x04}, []byte{0x6C, 0x07}},
		{"get historical bytes", []byte{0xFF, 0xCA, 0x01, 0x00, 0x00}, []byte{0x6A, 0x81}},
		{"select an application it lacks", []byte{0x00, 0xA4, 0x04, 0x00, 0x02, 0xA0, 0x00}, []byte{0x6A, 0x82}},
		{"two bytes", []byte{0x00, 0xB0}, []byte{0x6D, 0x00}},
	}
	for _, tt := range tests {
		if got := vpcd.ask(tt.apdu...); !bytes.Equal(got, tt.want) {
			t.Errorf("%s: % X → % X, want % X", tt.name, tt.apdu, got, tt.want)
		}
	}

	vpcd.send(2) // reset: no answer
	vpcd.quiet()
	if got := vpcd.ask(4); !bytes.Equal(got, virtual.DefaultATR) {
		t.Fatalf("ATR after reset = % X", got)
	}
	vpcd.send(0) // power off: no answer
	vpcd.quiet()
	if in.Powered() {
		t.Error("card powered after power off")
	}

	got := in.APDUs()
	if len(got) != len(tests) {
		t.Fatalf("card recorded %d APDUs, want %d", len(got), len(tests))
	}
	for i, tt := range tests {
		if !bytes.Equal(got[i], tt.apdu) {
			t.Errorf("APDU %d = % X, want % X", i, got[i], tt.apdu)
		}
	}
}

func TestCardReadsFramesInPieces(t *testing.T) {
	_, vpcd := insert(t, virtual.Card{UID: []byte{1, 2, 3, 4}})
	frame := append([]byte{0, 5}, card.GetUID...)
	for _, b := range frame {
		if _, err := vpcd.conn.Write([]byte{b}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
	}
	if got, want := vpcd.recv(), card.UIDResponse([]byte{1, 2, 3, 4}); !bytes.Equal(got, want) {
		t.Fatalf("answer = % X, want % X", got, want)
	}
	// Two frames in one write.
	two := append(append([]byte{0, 1, 4}, 0, 5), card.GetUID...)
	if _, err := vpcd.conn.Write(two); err != nil {
		t.Fatal(err)
	}
	if got := vpcd.recv(); !bytes.Equal(got, virtual.DefaultATR) {
		t.Fatalf("first answer = % X, want the ATR", got)
	}
	if got := vpcd.recv(); !bytes.Equal(got, []byte{1, 2, 3, 4, 0x90, 0x00}) {
		t.Fatalf("second answer = % X, want the UID", got)
	}
}

func TestCardWithOwnATRAndAnswers(t *testing.T) {
	atr := []byte{0x3B, 0x02, 0x14, 0x50}
	seen := make(chan []byte, 10)
	_, vpcd := insert(t, virtual.Card{
		ATR: atr,
		Respond: func(apdu []byte) []byte {
			seen <- apdu
			return []byte{0x42}
		},
	})
	if got := vpcd.ask(4); !bytes.Equal(got, atr) {
		t.Fatalf("ATR = % X, want % X", got, atr)
	}
	if got := vpcd.ask(card.GetUID...); !bytes.Equal(got, []byte{0x42}) {
		t.Fatalf("answer = % X, want 42", got)
	}
	if got := <-seen; !bytes.Equal(got, card.GetUID) || len(seen) != 0 {
		t.Fatalf("Respond saw % X (and %d more), want GetUID", got, len(seen))
	}
}

func TestRemoveClosesTheConnection(t *testing.T) {
	in, vpcd := insert(t, virtual.Card{UID: uid7})
	vpcd.ask(4)
	if err := in.Remove(); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	vpcd.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := vpcd.conn.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("vpcd read after Remove: %d, %v; want EOF", n, err)
	}
	select {
	case <-in.Done():
	default:
		t.Fatal("Done not closed after Remove")
	}
	if err := in.Err(); err != nil {
		t.Errorf("Err after Remove = %v, want nil", err)
	}
	if err := in.Remove(); err != nil {
		t.Errorf("second Remove: %v", err)
	}
}

func TestVPCDHangingUpEndsTheCard(t *testing.T) {
	in, vpcd := insert(t, virtual.Card{UID: uid7})
	vpcd.ask(4)
	vpcd.send(1)
	vpcd.conn.Close()
	select {
	case <-in.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("card still serving after vpcd hung up")
	}
	if err := in.Err(); !errors.Is(err, io.EOF) {
		t.Errorf("Err = %v, want EOF", err)
	}
	if in.Powered() {
		t.Error("card still powered after vpcd hung up")
	}
	if err := in.Remove(); err != nil {
		t.Errorf("Remove after hang-up: %v", err)
	}
}

func TestVPCDCutMidFrame(t *testing.T) {
	in, vpcd := insert(t, virtual.Card{UID: uid7})
	vpcd.conn.Write([]byte{0, 5, 0xFF, 0xCA}) // 2 of 5 bytes
	vpcd.conn.Close()
	select {
	case <-in.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("card still serving after a cut frame")
	}
	if err := in.Err(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("Err = %v, want unexpected EOF", err)
	}
}

func TestInsertFails(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	addr, _ := listenVPCD(t)
	tests := []struct {
		name string
		addr string
		card virtual.Card
	}{
		{"nobody listening", closed, virtual.Card{UID: uid7}},
		{"empty ATR", addr, virtual.Card{ATR: []byte{}}},
		{"ATR too long", addr, virtual.Card{ATR: make([]byte, 34)}},
	}
	for _, tt := range tests {
		if in, err := virtual.Insert(context.Background(), tt.addr, tt.card); err == nil {
			in.Remove()
			t.Errorf("%s: Insert succeeded", tt.name)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if in, err := virtual.Insert(ctx, addr, virtual.Card{}); !errors.Is(err, context.Canceled) {
		if in != nil {
			in.Remove()
		}
		t.Errorf("Insert with a canceled ctx: %v, want context.Canceled", err)
	}
}

func TestDefaultATRChecksum(t *testing.T) {
	// TCK: the XOR of every byte after TS is zero.
	var x byte
	for _, b := range virtual.DefaultATR[1:] {
		x ^= b
	}
	if x != 0 {
		t.Fatalf("DefaultATR check byte is off by %02X", x)
	}
}

func FuzzCardAnswer(f *testing.F) {
	f.Add(card.GetUID)
	f.Add([]byte{0xFF, 0xCA, 0x00, 0x00, 0x04})
	f.Add([]byte{0xFF, 0xCA, 0x01, 0x00, 0x00})
	f.Add([]byte{0x00, 0xA4, 0x04, 0x00})
	f.Fuzz(func(t *testing.T, apdu []byte) {
		resp := virtual.Card{UID: uid7}.Answer(apdu)
		if len(resp) < 2 {
			t.Fatalf("Answer(% X) = % X: no status word", apdu, resp)
		}
		if _, err := card.ParseUID(resp); err == nil && !bytes.Equal(resp, card.UIDResponse(uid7)) {
			t.Fatalf("Answer(% X) = % X: a UID that is not the card's", apdu, resp)
		}
	})
}

// TestFankaApp talks to the virtual card's fanka application byte by byte.
func TestFankaApp(t *testing.T) {
	app, err := virtual.NewFankaApp("FK0001")
	if err != nil {
		t.Fatal(err)
	}
	c := virtual.Card{UID: []byte{1, 2, 3, 4}, Fanka: app}
	ch := card.Challenge{Terminal: 3, Seq: 9, Amount: 1250, Time: 1_795_000_000_000}
	sw := func(resp []byte) uint16 { return uint16(resp[len(resp)-2])<<8 | uint16(resp[len(resp)-1]) }

	// Before SELECT, the application's commands are refused.
	if got := sw(c.Answer(card.ReadIdentity)); got != card.SWConditions {
		t.Fatalf("READ IDENTITY before SELECT: %04X", got)
	}
	if got := sw(c.Answer(card.SignSale(ch))); got != card.SWConditions || app.Counter() != 0 {
		t.Fatalf("SIGN SALE before SELECT: %04X, counter %d", got, app.Counter())
	}
	// The UID is still there for the reader.
	if no, err := card.ParseUID(c.Answer(card.GetUID)); err != nil || no != "01020304" {
		t.Fatalf("UID: %q %v", no, err)
	}
	if v, err := card.ParseSelect(c.Answer(card.Select)); err != nil || v != card.AppVersion {
		t.Fatalf("SELECT: %d %v", v, err)
	}
	id, err := card.ParseIdentity(c.Answer(card.ReadIdentity))
	if err != nil || id.CardNo != "FK0001" || !id.PublicKey.Equal(app.PublicKey()) || id.Counter != 0 {
		t.Fatalf("identity %+v %v", id, err)
	}
	for want := uint32(1); want <= 2; want++ {
		sig, err := card.ParseSignSale(c.Answer(card.SignSale(ch)))
		if err != nil || sig.Counter != want {
			t.Fatalf("sign %d: %+v %v", want, sig, err)
		}
		if err := card.VerifySale(id.PublicKey, "FK0001", ch, sig); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range []struct {
		name string
		apdu []byte
		want uint16
	}{
		{"another AID", []byte{0x00, 0xA4, 0x04, 0x00, 0x03, 0xA0, 0x00, 0x01, 0x00}, card.SWAppNotFound},
		{"SELECT with bad P1", []byte{0x00, 0xA4, 0x00, 0x00, 0x02, 0x3F, 0x00}, card.SWWrongP1P2},
		{"short challenge", append(card.SignSale(ch)[:4], 0x02, 0x00, 0x00, 0x00), card.SWWrongLength},
		{"unknown instruction", []byte{0x80, 0x40, 0x00, 0x00, 0x00}, card.SWInsNotSupported},
		{"READ IDENTITY with P1", []byte{0x80, 0x10, 0x01, 0x00, 0x00}, card.SWWrongP1P2},
	} {
		c.Answer(card.Select)
		if got := sw(c.Answer(tt.apdu)); got != tt.want {
			t.Errorf("%s: %04X, want %04X", tt.name, got, tt.want)
		}
	}
	// SELECT of another application deselects this one.
	c.Answer([]byte{0x00, 0xA4, 0x04, 0x00, 0x03, 0xA0, 0x00, 0x01, 0x00})
	if got := sw(c.Answer(card.ReadIdentity)); got != card.SWConditions {
		t.Fatalf("READ IDENTITY after another SELECT: %04X", got)
	}
	// An exhausted counter signs no more.
	c.Answer(card.Select)
	app.SetCounter(^uint32(0))
	if got := sw(c.Answer(card.SignSale(ch))); got != card.SWCounterExhaust {
		t.Fatalf("exhausted counter: %04X", got)
	}
	// A card without the application.
	if got := sw(virtual.Card{UID: []byte{1, 2, 3, 4}}.Answer(card.Select)); got != card.SWAppNotFound {
		t.Fatalf("SELECT on a uid card: %04X", got)
	}
}

// TestFankaPurse talks to the virtual card's purse record byte by byte.
func TestFankaPurse(t *testing.T) {
	app, err := virtual.NewFankaApp("FK0001")
	if err != nil {
		t.Fatal(err)
	}
	c := virtual.Card{Fanka: app}
	sw := func(resp []byte) uint16 { return uint16(resp[len(resp)-2])<<8 | uint16(resp[len(resp)-1]) }
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{3}, 32))
	rec, err := card.SignPurse(card.Purse{CardNo: "FK0001", Balance: 500, Day: 20_000, TodayCount: 1, LastSale: 1, Seq: 5, Writer: 2}, key)
	if err != nil {
		t.Fatal(err)
	}
	write := card.WritePurse(rec)

	// Before SELECT: refused.
	if got := sw(c.Answer(card.ReadPurse)); got != card.SWConditions {
		t.Fatalf("READ PURSE before SELECT: %04X", got)
	}
	if got := sw(c.Answer(write)); got != card.SWConditions {
		t.Fatalf("WRITE PURSE before SELECT: %04X", got)
	}
	c.Answer(card.Select)
	if got := c.Answer(card.ReadPurse); !bytes.Equal(got, []byte{0x6A, 0x88}) {
		t.Fatalf("READ PURSE of a new card: % X", got)
	}
	if got := sw(c.Answer(write)); got != card.SWOK {
		t.Fatalf("WRITE PURSE: %04X", got)
	}
	if got := c.Answer(card.ReadPurse); !bytes.Equal(got, append(rec.Marshal(), 0x90, 0x00)) {
		t.Fatalf("READ PURSE: % X", got)
	}
	stale := rec
	stale.Balance = 99999
	otherCard := rec
	otherCard.CardNo, otherCard.Seq = "FK0002", 6
	badVersion := card.WritePurse(card.Purse{CardNo: "FK0001", Seq: 7})
	badVersion[5] = 2
	for _, tt := range []struct {
		name string
		apdu []byte
		want uint16
	}{
		{"same sequence", card.WritePurse(stale), card.SWPurseStale},
		{"lower sequence", card.WritePurse(card.Purse{CardNo: "FK0001", Seq: 4}), card.SWPurseStale},
		{"another card's record", card.WritePurse(otherCard), card.SWWrongData},
		{"wrong version", badVersion, card.SWWrongData},
		{"short record", append(write[:4:4], 0x83), card.SWWrongLength},
		{"record one byte short", append(append(write[:4:4], card.PurseSize-1), write[5:len(write)-1]...), card.SWWrongLength},
		{"READ PURSE with P2", []byte{0x80, card.InsReadPurse, 0x00, 0x01, 0x00}, card.SWWrongP1P2},
		{"READ PURSE with data", []byte{0x80, card.InsReadPurse, 0x00, 0x00, 0x01, 0x00}, card.SWWrongLength},
	} {
		if got := sw(c.Answer(tt.apdu)); got != tt.want {
			t.Errorf("%s: %04X, want %04X", tt.name, got, tt.want)
		}
	}
	if got, ok := app.Purse(); !ok || got != rec {
		t.Fatalf("after refused writes the card holds %+v, want %+v", got, rec)
	}
	next := rec
	next.Seq = 6
	if got := sw(c.Answer(card.WritePurse(next))); got != card.SWOK {
		t.Fatalf("next sequence: %04X", got)
	}
	// The record outlives the power: a new SELECT reads it.
	c.Answer(card.Select)
	if got, ok, err := card.ParseReadPurse(c.Answer(card.ReadPurse)); err != nil || !ok || got.Seq != 6 {
		t.Fatalf("read after the next write: %+v %v %v", got, ok, err)
	}
}
