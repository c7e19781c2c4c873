// Package backup is the file format of a Fanka database backup: every row
// of every table, read in one consistent snapshot, in a form that does not
// depend on the database it came from, so that a backup of the embedded
// SQLite store restores into MariaDB and the reverse (a site that outgrows
// one machine moves by backup and restore).
//
// A backup is a gzip stream of JSON lines:
//
//	{"format":"fanka-backup","version":1,"engine":"sqlite","schema_version":3,"taken":"…","tables":["accounts",…]}
//	{"table":"accounts","columns":["id","kind",…]}
//	[1,"revenue",null,"canteen revenue",0,0]
//	…                                        one array per row, then the next table
//	{"end":true,"rows":{"accounts":4,…},"sha256":"…"}
//
// The header names the schema version the rows fit; the last line counts
// the rows of each table and holds the SHA-256 of every byte before it, so
// that a damaged or edited backup is refused before anything is restored.
// Values are null, integers, strings, and byte strings as {"b64":"…"}.
package backup

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"math"
	"slices"
	"strconv"
	"time"
)

// Format and Version identify the file format in the header.
const (
	Format  = "fanka-backup"
	Version = 1
)

// MaxLine bounds one line of a backup: a row of a print job holds a
// document of up to a mebibyte, base64-encoded.
const MaxLine = 16 << 20

// ErrDamaged is returned by Reader for a backup whose content does not
// match its checksum, or that is cut short or cannot be decoded.
var ErrDamaged = errors.New("backup damaged")

// Header is the first line of a backup.
type Header struct {
	Format  string `json:"format"`
	Version int    `json:"version"`
	// Engine is the kind of database the backup was taken from: sqlite or
	// mysql.
	Engine string `json:"engine"`
	// Schema is the database's schema version: the number of migrations
	// its tables had seen.
	Schema int       `json:"schema_version"`
	Taken  time.Time `json:"taken"`
	// Tables are the tables in the backup, in the order they follow.
	Tables []string `json:"tables"`
}

// tableLine starts a table's rows.
type tableLine struct {
	Table   string   `json:"table"`
	Columns []string `json:"columns"`
}

// endLine is the last line.
type endLine struct {
	End    bool             `json:"end"`
	Rows   map[string]int64 `json:"rows"`
	SHA256 string           `json:"sha256"`
}

// Writer writes a backup. Create it with NewWriter, then for each table in
// the header's order call Table and then Row for each of its rows, and end
// with Close.
type Writer struct {
	gz     *gzip.Writer
	out    io.Writer // gz and the hash
	sum    hash.Hash
	tables []string
	rows   map[string]int64
	table  string
	ncol   int
	line   []byte
	err    error
}

// NewWriter writes the header h (Format and Version are set for it) to w
// and returns a Writer for the tables' rows.
func NewWriter(w io.Writer, h Header) (*Writer, error) {
	h.Format, h.Version = Format, Version
	gz, err := gzip.NewWriterLevel(w, gzip.BestSpeed)
	if err != nil {
		return nil, err
	}
	sum := sha256.New()
	bw := &Writer{gz: gz, out: io.MultiWriter(gz, sum), sum: sum, tables: h.Tables, rows: map[string]int64{}}
	if err := bw.writeJSON(h); err != nil {
		return nil, err
	}
	return bw, nil
}

func (w *Writer) writeJSON(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return w.writeLine(b)
}

func (w *Writer) writeLine(b []byte) error {
	if w.err != nil {
		return w.err
	}
	if _, err := w.out.Write(append(b, '\n')); err != nil {
		w.err = fmt.Errorf("write backup: %w", err)
	}
	return w.err
}

// Table starts the rows of table name, whose columns are columns. Tables
// come in the header's order.
func (w *Writer) Table(name string, columns []string) error {
	if len(w.rows) >= len(w.tables) || w.tables[len(w.rows)] != name {
		return fmt.Errorf("write backup: table %q is not the next one the header names", name)
	}
	w.table, w.ncol = name, len(columns)
	w.rows[name] = 0
	return w.writeJSON(tableLine{Table: name, Columns: columns})
}

// Row writes one row of the current table. Each value is nil, an integer
// (int64, uint64, int, bool as 0 or 1), a float64, a string or a []byte.
func (w *Writer) Row(values []any) error {
	if w.table == "" {
		return errors.New("write backup: a row before any table")
	}
	if len(values) != w.ncol {
		return fmt.Errorf("write backup: table %s: a row of %d values, want %d", w.table, len(values), w.ncol)
	}
	b := append(w.line[:0], '[')
	for i, v := range values {
		if i > 0 {
			b = append(b, ',')
		}
		var err error
		if b, err = appendValue(b, v); err != nil {
			return fmt.Errorf("write backup: table %s column %d: %w", w.table, i, err)
		}
	}
	b = append(b, ']')
	w.line = b
	w.rows[w.table]++
	return w.writeLine(b)
}

func appendValue(b []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case int64:
		return strconv.AppendInt(b, v, 10), nil
	case int:
		return strconv.AppendInt(b, int64(v), 10), nil
	case uint64:
		return strconv.AppendUint(b, v, 10), nil
	case bool:
		if v {
			return append(b, '1'), nil
		}
		return append(b, '0'), nil
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("float %v has no JSON form", v)
		}
		// Always with a point or exponent, so that it reads back as a float.
		s := strconv.FormatFloat(v, 'g', -1, 64)
		if !bytes.ContainsAny([]byte(s), ".eE") {
			s += ".0"
		}
		return append(b, s...), nil
	case string:
		j, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		return append(b, j...), nil
	case []byte:
		b = append(b, `{"b64":"`...)
		b = base64.StdEncoding.AppendEncode(b, v)
		return append(b, `"}`...), nil
	}
	return nil, fmt.Errorf("value of type %T", v)
}

// Close writes the last line, with the row counts and the checksum, and
// ends the gzip stream. It does not close the underlying writer.
func (w *Writer) Close() error {
	if w.err != nil {
		return w.err
	}
	if len(w.rows) != len(w.tables) {
		return fmt.Errorf("write backup: %d of %d tables written", len(w.rows), len(w.tables))
	}
	end := endLine{End: true, Rows: w.rows, SHA256: hex.EncodeToString(w.sum.Sum(nil))}
	b, err := json.Marshal(end)
	if err != nil {
		return err
	}
	if _, err := w.gz.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("write backup: %w", err)
	}
	if err := w.gz.Close(); err != nil {
		return fmt.Errorf("write backup: %w", err)
	}
	return nil
}

// Rows returns the rows written so far, by table.
func (w *Writer) Rows() map[string]int64 { return w.rows }

// Reader reads a backup. It checks the row counts and the checksum when it
// reaches the end: until Next returns io.EOF, nothing read may be trusted,
// so a restore reads a backup through once with Check before it restores.
type Reader struct {
	gz     *gzip.Reader
	br     *bufio.Reader
	sum    hash.Hash
	header Header
	table  string
	ncol   int
	rows   map[string]int64
	done   bool
}

// Item is one line of a backup after the header: the start of a table
// (Table and Columns) or a row of the current table (Table and Row).
type Item struct {
	Table   string
	Columns []string // set at the start of a table
	Row     []any    // nil, int64, uint64, float64, string or []byte values
}

// NewReader reads the header of the backup in r.
func NewReader(r io.Reader) (*Reader, error) {
	gz, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("%w: not a gzip stream: %v", ErrDamaged, err)
	}
	br := &Reader{gz: gz, br: bufio.NewReaderSize(gz, 1<<16), sum: sha256.New(), rows: map[string]int64{}}
	line, err := br.line()
	if err != nil {
		return nil, err
	}
	br.sum.Write(line)
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&br.header); err != nil || br.header.Format != Format {
		return nil, fmt.Errorf("%w: the first line is not a Fanka backup header", ErrDamaged)
	}
	if br.header.Version != Version {
		return nil, fmt.Errorf("backup format version %d: this server reads version %d", br.header.Version, Version)
	}
	return br, nil
}

// Header returns the backup's header.
func (r *Reader) Header() Header { return r.header }

// line reads one line, with its newline.
func (r *Reader) line() ([]byte, error) {
	var b []byte
	for {
		chunk, err := r.br.ReadSlice('\n')
		b = append(b, chunk...)
		if len(b) > MaxLine {
			return nil, fmt.Errorf("%w: a line longer than %d bytes", ErrDamaged, MaxLine)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err == io.EOF {
			return nil, fmt.Errorf("%w: cut short (no end line)", ErrDamaged)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrDamaged, err)
		}
		return b, nil
	}
}

// Next returns the next table start or row. After the last row it checks
// the end line (row counts, checksum, and that nothing follows) and
// returns io.EOF; any error wrapping ErrDamaged means the backup must not
// be used.
func (r *Reader) Next() (Item, error) {
	if r.done {
		return Item{}, io.EOF
	}
	line, err := r.line()
	if err != nil {
		return Item{}, err
	}
	if bytes.HasPrefix(line, []byte(`{"end"`)) {
		return Item{}, r.end(line, r.sum.Sum(nil))
	}
	r.sum.Write(line)
	line = line[:len(line)-1]
	switch {
	case len(line) > 0 && line[0] == '[':
		if r.table == "" {
			return Item{}, fmt.Errorf("%w: a row before any table", ErrDamaged)
		}
		row, err := decodeRow(line)
		if err != nil {
			return Item{}, fmt.Errorf("%w: table %s row %d: %v", ErrDamaged, r.table, r.rows[r.table]+1, err)
		}
		if len(row) != r.ncol {
			return Item{}, fmt.Errorf("%w: table %s row %d: %d values, want %d", ErrDamaged, r.table, r.rows[r.table]+1, len(row), r.ncol)
		}
		r.rows[r.table]++
		return Item{Table: r.table, Row: row}, nil
	case bytes.HasPrefix(line, []byte(`{"table"`)):
		var t tableLine
		if err := json.Unmarshal(line, &t); err != nil {
			return Item{}, fmt.Errorf("%w: table line: %v", ErrDamaged, err)
		}
		n := len(r.rows)
		if n >= len(r.header.Tables) || r.header.Tables[n] != t.Table || len(t.Columns) == 0 {
			return Item{}, fmt.Errorf("%w: table %q is not the next one the header names", ErrDamaged, t.Table)
		}
		r.table, r.ncol = t.Table, len(t.Columns)
		r.rows[t.Table] = 0
		return Item{Table: t.Table, Columns: t.Columns}, nil
	}
	return Item{}, fmt.Errorf("%w: a line that is neither a table, a row nor the end", ErrDamaged)
}

// end checks the end line against what was read, whose checksum is mark.
func (r *Reader) end(line, mark []byte) error {
	var e endLine
	if err := json.Unmarshal(line, &e); err != nil || !e.End {
		return fmt.Errorf("%w: end line: %v", ErrDamaged, err)
	}
	if want, err := hex.DecodeString(e.SHA256); err != nil || !bytes.Equal(want, mark) {
		return fmt.Errorf("%w: its content does not match its SHA-256", ErrDamaged)
	}
	if len(r.rows) != len(r.header.Tables) {
		return fmt.Errorf("%w: %d of the %d tables the header names", ErrDamaged, len(r.rows), len(r.header.Tables))
	}
	for _, t := range r.header.Tables {
		if e.Rows[t] != r.rows[t] {
			return fmt.Errorf("%w: table %s has %d rows, the end line says %d", ErrDamaged, t, r.rows[t], e.Rows[t])
		}
	}
	// Nothing may follow, and the gzip stream must end well (its CRC).
	if n, err := io.Copy(io.Discard, r.br); err != nil || n > 0 {
		return fmt.Errorf("%w: data after the end line (%d bytes, %v)", ErrDamaged, n, err)
	}
	r.done = true
	return io.EOF
}

// Rows returns the rows read so far, by table.
func (r *Reader) Rows() map[string]int64 { return r.rows }

// decodeRow parses a row's JSON array.
func decodeRow(line []byte) ([]any, error) {
	var raw []json.RawMessage
	if err := json.Unmarshal(line, &raw); err != nil {
		return nil, err
	}
	row := make([]any, len(raw))
	for i, v := range raw {
		switch {
		case len(v) == 0:
			return nil, errors.New("empty value")
		case string(v) == "null":
			row[i] = nil
		case v[0] == '"':
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				return nil, err
			}
			row[i] = s
		case v[0] == '{':
			var b struct {
				B64 []byte `json:"b64"`
			}
			if err := json.Unmarshal(v, &b); err != nil {
				return nil, err
			}
			if b.B64 == nil {
				b.B64 = []byte{}
			}
			row[i] = b.B64
		case slices.Contains(v, '.') || slices.Contains(v, 'e') || slices.Contains(v, 'E'):
			f, err := strconv.ParseFloat(string(v), 64)
			if err != nil {
				return nil, err
			}
			row[i] = f
		default:
			if n, err := strconv.ParseInt(string(v), 10, 64); err == nil {
				row[i] = n
				continue
			}
			n, err := strconv.ParseUint(string(v), 10, 64)
			if err != nil {
				return nil, fmt.Errorf("value %.20s", v)
			}
			row[i] = n
		}
	}
	return row, nil
}

// Check reads the whole backup in r and returns its header and row counts
// if it is intact: the checksum matches and every table the header names
// is there with the rows its end line counts.
func Check(r io.Reader) (Header, map[string]int64, error) {
	br, err := NewReader(r)
	if err != nil {
		return Header{}, nil, err
	}
	for {
		_, err := br.Next()
		if err == io.EOF {
			return br.Header(), br.Rows(), nil
		}
		if err != nil {
			return Header{}, nil, err
		}
	}
}
