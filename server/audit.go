package server

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"
	"unicode/utf8"
)

// The audit log: every office action, one row each, hash-chained so that a
// row edited, inserted or deleted by hand in the database shows.

// Bounds on audit records.
const (
	// MaxAuditAction bounds an action's name, in bytes.
	MaxAuditAction = 64
	// MaxAuditDetail bounds a record's detail, as JSON, in bytes.
	MaxAuditDetail = 16 << 10
	// MaxAuditPage bounds the records one call of Audit returns.
	MaxAuditPage = 1000
)

// AuditRecord is one office action as the audit log keeps it.
type AuditRecord struct {
	ID     int64           `json:"id"` // 1, 2, 3, … with no gaps
	Time   time.Time       `json:"time"`
	User   string          `json:"user"`
	Action string          `json:"action"` // e.g. "card.open", "terminal.disable"
	Detail json.RawMessage `json:"detail"` // what was acted on, as JSON
	Prev   [32]byte        `json:"-"`      // the previous record's Hash; zero for the first
	Hash   [32]byte        `json:"-"`      // AuditHash of the record
}

// auditContext separates audit hashes from every other use of SHA-256.
const auditContext = "fanka/audit/v1\x00"

// AuditHash returns the hash that chains record r: SHA-256 over a
// canonical encoding of its id, time (Unix milliseconds), user, action,
// detail (its bytes as stored) and the previous record's hash. Each field
// of variable length is preceded by its length, so that no two records
// encode alike.
func AuditHash(r AuditRecord) [32]byte {
	h := sha256.New()
	h.Write([]byte(auditContext))
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(r.ID))
	h.Write(n[:])
	binary.BigEndian.PutUint64(n[:], uint64(r.Time.UnixMilli()))
	h.Write(n[:])
	for _, s := range [][]byte{[]byte(r.User), []byte(r.Action), r.Detail} {
		binary.BigEndian.PutUint32(n[:4], uint32(len(s)))
		h.Write(n[:4])
		h.Write(s)
	}
	h.Write(r.Prev[:])
	var sum [32]byte
	h.Sum(sum[:0])
	return sum
}

// NewAuditDetail encodes an action's detail as the log keeps it: JSON of
// detail (nil: {}). EINVALID if it cannot be encoded or is larger than
// MaxAuditDetail, or for a user or an action that is empty or too long.
func NewAuditDetail(user, action string, detail any) (json.RawMessage, error) {
	switch {
	case user == "" || len(user) > 64 || !utf8.ValidString(user):
		return nil, Errorf(EINVALID, "audit: user %q: want 1 to 64 bytes of UTF-8", user)
	case action == "" || len(action) > MaxAuditAction || !utf8.ValidString(action):
		return nil, Errorf(EINVALID, "audit: action %q: want 1 to %d bytes of UTF-8", action, MaxAuditAction)
	}
	if detail == nil {
		return json.RawMessage("{}"), nil
	}
	b, err := json.Marshal(detail)
	if err != nil {
		return nil, Errorf(EINVALID, "audit %s: detail: %v", action, err)
	}
	if len(b) > MaxAuditDetail {
		return nil, Errorf(EINVALID, "audit %s: detail of %d bytes, more than %d", action, len(b), MaxAuditDetail)
	}
	return b, nil
}

// AuditStore keeps the audit log. Appends are serialized across every
// server on the database, so the chain has one head.
type AuditStore interface {
	// AppendAudit adds a record of user's action, with detail encoded by
	// NewAuditDetail (whose errors it returns), chained to the last
	// record, and returns it.
	AppendAudit(ctx context.Context, user, action string, detail any) (AuditRecord, error)
	// Audit returns the most recent records, newest first, at most limit
	// (1 to MaxAuditPage; EINVALID otherwise).
	Audit(ctx context.Context, limit int) ([]AuditRecord, error)
	// VerifyAudit checks the whole chain in id order: ids 1, 2, 3, …, each
	// record's Prev the previous record's Hash, each Hash AuditHash of its
	// record, and the last record the chain's head as appends left it. It
	// returns how many records it checked and, if the chain is broken, the
	// id of the first bad record (for records deleted at the end: the id
	// the head names) and a *Violation saying what is wrong; 0 and nil if
	// it holds.
	VerifyAudit(ctx context.Context) (checked int, firstBad int64, err error)
}

// AuditChecker checks an audit chain record by record, as stores read it.
type AuditChecker struct {
	checked int
	prev    [32]byte
	next    int64
}

// NewAuditChecker returns a checker expecting record 1.
func NewAuditChecker() *AuditChecker { return &AuditChecker{next: 1} }

// Check checks the next record: nil, or a *Violation naming it.
func (c *AuditChecker) Check(r AuditRecord) error {
	bad := func(format string, args ...any) error {
		return &Violation{Table: "audit", Row: fmt.Sprint(r.ID), Problem: fmt.Sprintf(format, args...)}
	}
	switch {
	case r.ID != c.next:
		return bad("id %d where %d was expected: a record is missing", r.ID, c.next)
	case r.Prev != c.prev:
		return bad("prev_hash is not the hash of record %d", r.ID-1)
	case AuditHash(r) != r.Hash:
		return bad("hash does not match the record: it was changed")
	}
	c.checked++
	c.prev = r.Hash
	c.next++
	return nil
}

// End checks that the last record checked is the head, the id of the last
// record appended.
func (c *AuditChecker) End(head int64) (int, int64, error) {
	last := c.next - 1
	switch {
	case head > last:
		return c.checked, head, &Violation{Table: "audit", Row: fmt.Sprint(head),
			Problem: fmt.Sprintf("the chain's head is record %d but the log ends at %d: records were deleted", head, last)}
	case head < last:
		return c.checked, head + 1, &Violation{Table: "audit", Row: fmt.Sprint(head + 1),
			Problem: fmt.Sprintf("the chain's head is record %d but the log goes on to %d: records were added behind the log's back", head, last)}
	}
	return c.checked, 0, nil
}

// Checked returns how many records held.
func (c *AuditChecker) Checked() int { return c.checked }
