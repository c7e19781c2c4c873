package backup_test

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/fanka/fanka/server/backup"
)

// sample writes a backup of two tables with every kind of value.
func sample(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := backup.NewWriter(&buf, backup.Header{Engine: "sqlite", Schema: 3, Taken: time.Unix(1700000000, 0).UTC(), Tables: []string{"accounts", "entries"}})
	if err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(w.Table("accounts", []string{"id", "name", "person_id", "balance"}))
	must(w.Row([]any{int64(1), "canteen revenue", nil, int64(-9223372036854775808)}))
	must(w.Row([]any{int64(5), "张三 \"quoted\"\n", "P1", int64(8750)}))
	must(w.Table("entries", []string{"seq", "raw", "version", "ratio"}))
	must(w.Row([]any{uint64(18446744073709551615), []byte{0, 1, 2, 0xff}, uint64(7), 0.5}))
	must(w.Row([]any{int64(2), []byte{}, true, float64(3)}))
	must(w.Close())
	return buf.Bytes()
}

func TestRoundTrip(t *testing.T) {
	r, err := backup.NewReader(bytes.NewReader(sample(t)))
	if err != nil {
		t.Fatal(err)
	}
	if h := r.Header(); h.Format != backup.Format || h.Version != backup.Version || h.Schema != 3 || h.Engine != "sqlite" {
		t.Errorf("header %+v", h)
	}
	var got []backup.Item
	for {
		it, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, it)
	}
	want := []backup.Item{
		{Table: "accounts", Columns: []string{"id", "name", "person_id", "balance"}},
		{Table: "accounts", Row: []any{int64(1), "canteen revenue", nil, int64(-9223372036854775808)}},
		{Table: "accounts", Row: []any{int64(5), "张三 \"quoted\"\n", "P1", int64(8750)}},
		{Table: "entries", Columns: []string{"seq", "raw", "version", "ratio"}},
		{Table: "entries", Row: []any{uint64(18446744073709551615), []byte{0, 1, 2, 0xff}, int64(7), 0.5}},
		{Table: "entries", Row: []any{int64(2), []byte{}, int64(1), float64(3)}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("read back (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]int64{"accounts": 2, "entries": 2}, r.Rows()); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
}

// regzip returns the backup b with its content edited by edit.
func regzip(t *testing.T, b []byte, edit func(string) string) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	zw.Write([]byte(edit(string(plain))))
	zw.Close()
	return out.Bytes()
}

// TestDamaged edits backups in ways gzip alone would not notice (the
// content is compressed again) and in ways it would: each is refused with
// ErrDamaged.
func TestDamaged(t *testing.T) {
	good := sample(t)
	for _, tt := range []struct {
		name string
		b    []byte
		want string
	}{
		{"balance changed", regzip(t, good, func(s string) string { return strings.Replace(s, "8750", "9750", 1) }), "does not match its SHA-256"},
		{"row dropped", regzip(t, good, func(s string) string {
			return strings.Replace(s, "[1,\"canteen revenue\",null,-9223372036854775808]\n", "", 1)
		}), "does not match its SHA-256"},
		{"cut short", regzip(t, good, func(s string) string { return s[:len(s)/2] }), "cut short"},
		{"data after the end", regzip(t, good, func(s string) string { return s + "[1]\n" }), "data after the end"},
		{"compressed byte changed", func() []byte { b := bytes.Clone(good); b[len(b)/2] ^= 1; return b }(), "backup damaged"},
		{"CRC changed", func() []byte { b := bytes.Clone(good); b[len(b)-6] ^= 1; return b }(), "backup damaged"},
		{"not gzip", []byte("hello"), "not a gzip stream"},
	} {
		_, _, err := backup.Check(bytes.NewReader(tt.b))
		if !errors.Is(err, backup.ErrDamaged) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v; want ErrDamaged, %q", tt.name, err, tt.want)
		}
	}
	if _, _, err := backup.Check(bytes.NewReader(good)); err != nil {
		t.Errorf("the good backup: %v", err)
	}
}

func TestWriterRefuses(t *testing.T) {
	w, err := backup.NewWriter(io.Discard, backup.Header{Tables: []string{"a"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Table("b", []string{"x"}); err == nil {
		t.Error("a table the header does not name: no error")
	}
	if err := w.Row([]any{int64(1)}); err == nil {
		t.Error("a row before a table: no error")
	}
	w.Table("a", []string{"x"})
	if err := w.Row([]any{int64(1), int64(2)}); err == nil {
		t.Error("a row of 2 values in a table of 1 column: no error")
	}
	if err := w.Row([]any{struct{}{}}); err == nil {
		t.Error("a value of an unknown type: no error")
	}
}
