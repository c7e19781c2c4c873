package wire

import (
	"fmt"

	"github.com/fanka/fanka/shared/internal/bin"
	"github.com/fanka/fanka/shared/journal"
)

// MaxHotlist is the most entries in one Hotlist frame: at most
// 10,000 × 42 bytes, well within MaxFrame.
const MaxHotlist = 10_000

// Flags of a Hotlist message.
const (
	// HotlistSnapshot: the entries are a part of the whole hotlist, in
	// card number order, rather than changes after the register's cursor.
	HotlistSnapshot uint8 = 1 << iota
	// HotlistFirst: the first part of a snapshot; the register starts
	// collecting a new one, forgetting any part it holds of an earlier one.
	HotlistFirst
	// HotlistLast: the last part of a snapshot; the register replaces its
	// hotlist with the parts collected, and takes Cursor.
	HotlistLast
)

// Hotlist carries the server's hotlist, the cards every register refuses
// online and offline (frozen, lost, closed), whatever its card cache says.
// The server versions it with the card change counter: an entry's Version
// is the Card.Version of the change that listed the card or took it off.
//
// Without HotlistSnapshot it carries changes after the cursor the register
// sent in its Hello, in Version order, each at most Cursor: a Status of
// CardActive takes the card off the list, any other puts it on. The
// register applies them and holds Cursor.
//
// With HotlistSnapshot it carries a part of the whole list (every entry
// listed, in strictly ascending card number order within the part), for a
// register with no cursor, or with one the server cannot continue from.
// Parts go from one with HotlistFirst to one with HotlistLast (a single
// part has both); every part carries the same Cursor, the hotlist version
// the snapshot holds at least. The register keeps using its old list until
// the last part arrives, and takes Cursor only then, so a snapshot cut
// short is started over on the next connection.
//
//	Hotlist = Flags:u8 Cursor:u64 n:u16 n×(Version:u64 CardNo:bytes8 Status:u8)
type Hotlist struct {
	Flags   uint8
	Cursor  uint64
	Entries []HotlistEntry
}

// HotlistEntry is one card on the hotlist, or taken off it (Status
// CardActive, in changes only).
type HotlistEntry struct {
	Version uint64
	CardNo  string
	Status  CardStatus
}

// Listed reports whether the entry puts its card on the list.
func (e HotlistEntry) Listed() bool { return e.Status != CardActive }

// Type implements Message.
func (m *Hotlist) Type() Type { return TypeHotlist }

func (m *Hotlist) encode(w *bin.Writer) error {
	if err := m.check(); err != nil {
		return err
	}
	w.U8(m.Flags)
	w.U64(m.Cursor)
	w.U16(uint16(len(m.Entries)))
	for _, e := range m.Entries {
		w.U64(e.Version)
		w.Bytes8([]byte(e.CardNo))
		w.U8(uint8(e.Status))
	}
	return nil
}

// check enforces the canonical form the doc comment gives.
func (m *Hotlist) check() error {
	if len(m.Entries) > MaxHotlist {
		return fmt.Errorf("%w: %d hotlist entries", ErrTooLarge, len(m.Entries))
	}
	snapshot := m.Flags&HotlistSnapshot != 0
	switch {
	case m.Flags&^(HotlistSnapshot|HotlistFirst|HotlistLast) != 0:
		return fmt.Errorf("%w: hotlist flags %#x", ErrMalformed, m.Flags)
	case !snapshot && m.Flags != 0:
		return fmt.Errorf("%w: hotlist flags %#x without a snapshot", ErrMalformed, m.Flags)
	}
	for i, e := range m.Entries {
		switch {
		case len(e.CardNo) == 0 || len(e.CardNo) > journal.MaxCardNo:
			return fmt.Errorf("%w: hotlist card number %q", ErrMalformed, e.CardNo)
		case e.Status < CardActive || e.Status > CardClosed:
			return fmt.Errorf("%w: hotlist card %s: status %d", ErrMalformed, e.CardNo, e.Status)
		case snapshot && !e.Listed():
			return fmt.Errorf("%w: hotlist snapshot holds card %s as active", ErrMalformed, e.CardNo)
		case snapshot && i > 0 && e.CardNo <= m.Entries[i-1].CardNo:
			return fmt.Errorf("%w: hotlist snapshot: card %s after %s", ErrMalformed, e.CardNo, m.Entries[i-1].CardNo)
		case !snapshot && (e.Version == 0 || e.Version > m.Cursor):
			return fmt.Errorf("%w: hotlist card %s: version %d with cursor %d", ErrMalformed, e.CardNo, e.Version, m.Cursor)
		case !snapshot && i > 0 && e.Version <= m.Entries[i-1].Version:
			return fmt.Errorf("%w: hotlist card %s: version %d after %d", ErrMalformed, e.CardNo, e.Version, m.Entries[i-1].Version)
		}
	}
	return nil
}

func decodeHotlist(r *bin.Reader) (*Hotlist, error) {
	m := &Hotlist{Flags: r.U8(), Cursor: r.U64()}
	n := int(r.U16())
	if n > MaxHotlist {
		return nil, fmt.Errorf("%w: %d hotlist entries", ErrTooLarge, n)
	}
	for i := 0; i < n && r.Err() == nil; i++ {
		e := HotlistEntry{Version: r.U64(), CardNo: string(r.Bytes8(journal.MaxCardNo)), Status: CardStatus(r.U8())}
		m.Entries = append(m.Entries, e)
	}
	if r.Err() != nil {
		return m, nil // Decode reports the reader's error
	}
	return m, m.check()
}
