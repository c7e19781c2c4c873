package journal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/fanka/fanka/shared/wire"
)

// The hotlist (wire.Hotlist) is kept beside the card cache: the cards the
// register refuses online and offline whatever the cache says, each under
// its card number as
//
//	u8       Status (frozen, lost, closed)
//	uvarint  Version
//
// and the hotlist version it holds under keyHotlistCursor. A snapshot's
// parts are collected in bucketHotlistNext and replace the hotlist, with
// the cursor, in the transaction that stores the last part: a register
// whose snapshot was cut short keeps its whole previous list and cursor.
var (
	bucketHotlist     = []byte("hotlist")
	bucketHotlistNext = []byte("hotlist_next")
	keyHotlistCursor  = []byte("hotlist_cursor")
)

// ErrHotlistPart is returned by ApplyHotlist for a snapshot part that
// does not follow the first part of its snapshot.
var ErrHotlistPart = errors.New("journal: hotlist snapshot part without its first part")

// hotEntry is a stored hotlist entry.
type hotEntry struct {
	status  wire.CardStatus
	version uint64
}

func encodeHot(e wire.HotlistEntry) []byte {
	return binary.AppendUvarint([]byte{byte(e.Status)}, e.Version)
}

func decodeHot(cardNo string, b []byte) (hotEntry, error) {
	if len(b) < 2 {
		return hotEntry{}, fmt.Errorf("%w: hotlist card %q: % X", errCard, cardNo, b)
	}
	v, n := binary.Uvarint(b[1:])
	e := hotEntry{status: wire.CardStatus(b[0]), version: v}
	if n <= 0 || 1+n != len(b) || e.status <= wire.CardActive || e.status > wire.CardClosed {
		return hotEntry{}, fmt.Errorf("%w: hotlist card %q: % X", errCard, cardNo, b)
	}
	return e, nil
}

// ApplyHotlist stores a Hotlist message: changes are applied (keeping for
// each card the entry with the higher version) with the new cursor in one
// transaction; a snapshot's parts are collected, and the last one replaces
// the hotlist and the cursor. A part that does not follow a first part
// is refused with ErrHotlistPart, and nothing is changed.
func (j *Journal) ApplyHotlist(m *wire.Hotlist) error {
	err := j.db.Update(func(tx *bolt.Tx) error {
		if m.Flags&wire.HotlistSnapshot == 0 {
			hot := tx.Bucket(bucketHotlist)
			for _, e := range m.Entries {
				if v := hot.Get([]byte(e.CardNo)); v != nil {
					old, err := decodeHot(e.CardNo, v)
					if err != nil {
						return err
					}
					if old.version >= e.Version {
						continue
					}
				}
				var err error
				if e.Listed() {
					err = hot.Put([]byte(e.CardNo), encodeHot(e))
				} else {
					err = hot.Delete([]byte(e.CardNo))
				}
				if err != nil {
					return err
				}
			}
			return j.setHotlistCursor(tx, m.Cursor)
		}
		if m.Flags&wire.HotlistFirst != 0 {
			if tx.Bucket(bucketHotlistNext) != nil {
				if err := tx.DeleteBucket(bucketHotlistNext); err != nil {
					return err
				}
			}
			if _, err := tx.CreateBucket(bucketHotlistNext); err != nil {
				return err
			}
		}
		next := tx.Bucket(bucketHotlistNext)
		if next == nil {
			return ErrHotlistPart
		}
		for _, e := range m.Entries {
			if err := next.Put([]byte(e.CardNo), encodeHot(e)); err != nil {
				return err
			}
		}
		if m.Flags&wire.HotlistLast == 0 {
			return nil
		}
		// Replace the hotlist with the snapshot.
		if err := tx.DeleteBucket(bucketHotlist); err != nil {
			return err
		}
		hot, err := tx.CreateBucket(bucketHotlist)
		if err != nil {
			return err
		}
		hot.FillPercent = 1 // written in key order
		if err := next.ForEach(func(k, v []byte) error { return hot.Put(bytes.Clone(k), bytes.Clone(v)) }); err != nil {
			return err
		}
		if err := tx.DeleteBucket(bucketHotlistNext); err != nil {
			return err
		}
		return j.setHotlistCursor(tx, m.Cursor)
	})
	if err != nil {
		return fmt.Errorf("journal: apply hotlist: %w", err)
	}
	return nil
}

func (j *Journal) setHotlistCursor(tx *bolt.Tx, cursor uint64) error {
	return tx.Bucket(bucketMeta).Put(keyHotlistCursor, seqKey(cursor))
}

// HotlistCursor returns the hotlist version held, 0 for none.
func (j *Journal) HotlistCursor() (uint64, error) {
	var v uint64
	err := j.db.View(func(tx *bolt.Tx) error {
		v = u64(tx.Bucket(bucketMeta).Get(keyHotlistCursor))
		return nil
	})
	return v, err
}

// Hotlisted returns the status the hotlist gives cardNo, and false if it
// is not listed.
func (j *Journal) Hotlisted(cardNo string) (wire.CardStatus, bool, error) {
	var e hotEntry
	var found bool
	err := j.db.View(func(tx *bolt.Tx) error {
		var err error
		e, found, err = hotlisted(tx, cardNo)
		return err
	})
	return e.status, found, err
}

func hotlisted(tx *bolt.Tx, cardNo string) (hotEntry, bool, error) {
	v := tx.Bucket(bucketHotlist).Get([]byte(cardNo))
	if v == nil {
		return hotEntry{}, false, nil
	}
	e, err := decodeHot(cardNo, v)
	return e, err == nil, err
}
