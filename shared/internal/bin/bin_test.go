package bin_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/fanka/fanka/shared/internal/bin"
)

func TestRoundTrip(t *testing.T) {
	var w bin.Writer
	w.U8(7)
	w.U16(0x1234)
	w.U32(0xdeadbeef)
	w.U64(1 << 60)
	w.I64(-5)
	w.Bytes8([]byte("abc"))
	w.Bytes16(bytes.Repeat([]byte{9}, 300))
	r := bin.Reader{B: w.B}
	if r.U8() != 7 || r.U16() != 0x1234 || r.U32() != 0xdeadbeef || r.U64() != 1<<60 || r.I64() != -5 {
		t.Fatal("fixed fields differ")
	}
	if string(r.Bytes8(3)) != "abc" || len(r.Bytes16(300)) != 300 || r.Len() != 0 || r.Err() != nil {
		t.Fatalf("strings differ: err=%v", r.Err())
	}
}

func TestErrors(t *testing.T) {
	r := bin.Reader{B: []byte{0, 1}}
	r.U32()
	if !errors.Is(r.Err(), bin.ErrShort) {
		t.Fatalf("short read: %v", r.Err())
	}
	if r.U8() != 0 {
		t.Fatal("read after error returned data")
	}
	r = bin.Reader{B: []byte{5, 'a', 'b', 'c', 'd', 'e'}}
	if r.Bytes8(4) != nil || !errors.Is(r.Err(), bin.ErrTooLong) {
		t.Fatalf("over-long string: %v", r.Err())
	}
}
