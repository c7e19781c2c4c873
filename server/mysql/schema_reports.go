package mysql

// reportsMigration is appended to migrations in schema.go. It is written
// to run after any other migration, in any order with those of the same
// release, and again after it was cut off: every statement may run on a
// schema that has it already.
//
// The office's reads: an index of the transactions by the day they count
// on, covering what a day's report reads of them (their entries are then
// read in (terminal_id, seq) order, their primary key), so that a report
// touches its day's rows alone however long the ledger grows; one by kind
// and time, for the office transactions of a day (refunds); and the audit
// log, hash-chained, with its head in counters, locked by every append.
var reportsMigration = []string{
	`CREATE INDEX IF NOT EXISTS transactions_day ON transactions (day, terminal_id, seq, kind, created)`,
	`CREATE INDEX IF NOT EXISTS transactions_kind_created ON transactions (kind, created)`,
	`CREATE TABLE IF NOT EXISTS audit (
		id        BIGINT NOT NULL PRIMARY KEY,  -- 1, 2, 3, … with no gaps
		time      BIGINT NOT NULL,
		user      VARCHAR(64) NOT NULL,
		action    VARCHAR(64) NOT NULL,
		detail    MEDIUMTEXT NOT NULL,          -- JSON, hashed as stored
		prev_hash VARBINARY(32) NOT NULL,       -- the previous record's hash; zeros for the first
		hash      VARBINARY(32) NOT NULL        -- server.AuditHash of the record
	) ` + tableOptions,
	// audit_head: the id of the last audit record appended.
	`INSERT IGNORE INTO counters (name, value) VALUES ('audit_head', 0)`,
}
