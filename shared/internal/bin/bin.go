// Package bin is the small big-endian codec behind Fanka's canonical
// encodings. A Reader never panics and never allocates more than its input
// allows: every length is checked against what is left before it is used.
package bin

import (
	"encoding/binary"
	"errors"
)

// ErrShort is returned when the input ends before a field does.
var ErrShort = errors.New("truncated")

// ErrTooLong is returned when a length prefix exceeds its field's limit.
var ErrTooLong = errors.New("field too long")

// Writer appends fields to a byte slice.
type Writer struct{ B []byte }

func (w *Writer) U8(v uint8)   { w.B = append(w.B, v) }
func (w *Writer) U16(v uint16) { w.B = binary.BigEndian.AppendUint16(w.B, v) }
func (w *Writer) U32(v uint32) { w.B = binary.BigEndian.AppendUint32(w.B, v) }
func (w *Writer) U64(v uint64) { w.B = binary.BigEndian.AppendUint64(w.B, v) }
func (w *Writer) I64(v int64)  { w.U64(uint64(v)) }
func (w *Writer) Raw(b []byte) { w.B = append(w.B, b...) }

// Bytes8 writes a byte string with a one-byte length; callers check len ≤ 255.
func (w *Writer) Bytes8(b []byte) { w.U8(uint8(len(b))); w.Raw(b) }

// Bytes16 writes a byte string with a two-byte length; callers check len ≤ 65535.
func (w *Writer) Bytes16(b []byte) { w.U16(uint16(len(b))); w.Raw(b) }

// Reader consumes fields from a byte slice. After the first error every
// further read returns zero values; Err reports that first error.
type Reader struct {
	B   []byte
	err error
}

func (r *Reader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n > len(r.B) {
		r.err = ErrShort
		r.B = nil
		return nil
	}
	b := r.B[:n:n]
	r.B = r.B[n:]
	return b
}

// Err returns the first error met, if any.
func (r *Reader) Err() error { return r.err }

// Fail records err unless an earlier error is already recorded.
func (r *Reader) Fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

// Len returns the number of unread bytes.
func (r *Reader) Len() int { return len(r.B) }

func (r *Reader) U8() uint8 {
	if b := r.take(1); b != nil {
		return b[0]
	}
	return 0
}
func (r *Reader) U16() uint16 {
	if b := r.take(2); b != nil {
		return binary.BigEndian.Uint16(b)
	}
	return 0
}
func (r *Reader) U32() uint32 {
	if b := r.take(4); b != nil {
		return binary.BigEndian.Uint32(b)
	}
	return 0
}
func (r *Reader) U64() uint64 {
	if b := r.take(8); b != nil {
		return binary.BigEndian.Uint64(b)
	}
	return 0
}
func (r *Reader) I64() int64 { return int64(r.U64()) }

// Raw returns the next n bytes (aliasing the input).
func (r *Reader) Raw(n int) []byte { return r.take(n) }

// Fixed copies len(dst) bytes into dst.
func (r *Reader) Fixed(dst []byte) { copy(dst, r.take(len(dst))) }

// Bytes8 reads a byte string with a one-byte length of at most max.
func (r *Reader) Bytes8(max int) []byte {
	n := int(r.U8())
	if r.err == nil && n > max {
		r.err = ErrTooLong
		return nil
	}
	return r.take(n)
}

// Bytes16 reads a byte string with a two-byte length of at most max.
func (r *Reader) Bytes16(max int) []byte {
	n := int(r.U16())
	if r.err == nil && n > max {
		r.err = ErrTooLong
		return nil
	}
	return r.take(n)
}
