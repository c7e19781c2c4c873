package sqlite

// reportsMigration is appended to migrations in schema.go. It is written
// to run after any other migration, in any order with those of the same
// release: every statement may run on a schema that has it already.
//
// The office's reads: a partial index over the register transactions by
// the day they count on, covering what a day's report reads of them
// (their entries are then read in (terminal_id, seq) order, their primary
// key), so that a report touches its day's rows alone however long the
// ledger grows; one by kind and time of the office transactions alone
// (sales and voids are left out: settlement does not pay for it), for a
// day's refunds; and the audit log, hash-chained, with its head in
// counters.
const reportsMigration = `
CREATE INDEX IF NOT EXISTS transactions_day ON transactions (day, terminal_id, seq, kind, created) WHERE day IS NOT NULL;
CREATE INDEX IF NOT EXISTS transactions_office ON transactions (kind, created) WHERE kind NOT IN ('sale', 'void');

CREATE TABLE IF NOT EXISTS audit (
	id        INTEGER PRIMARY KEY,  -- 1, 2, 3, … with no gaps
	time      INTEGER NOT NULL,
	user      TEXT NOT NULL,
	action    TEXT NOT NULL,
	detail    TEXT NOT NULL,        -- JSON, hashed as stored
	prev_hash BLOB NOT NULL,        -- the previous record's hash; zeros for the first
	hash      BLOB NOT NULL         -- server.AuditHash of the record
) STRICT;
-- audit_head: the id of the last audit record appended.
INSERT OR IGNORE INTO counters (name, value) VALUES ('audit_head', 0);
`
