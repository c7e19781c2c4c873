package sqlite

// migrations are the schema changes in order: migrations[i] brings the
// schema from version i to i+1. A migration is never edited once released;
// changes are new migrations.
//
// Money is INTEGER fen. Times are INTEGER Unix milliseconds. Nothing is
// updated in place except the cache columns named as such (account
// balances; card status, version and daily count; register cursors and
// enrolment; counters); postings, transactions, entries, requests and
// alarms are insert-only.
var migrations = []string{
	// 1: the initial schema.
	`
CREATE TABLE counters (
	name  TEXT PRIMARY KEY,
	value INTEGER NOT NULL
) STRICT;
-- card_version: the server-wide card change counter (cards.version);
-- card_no: the last number allocated to a card opened without one.
INSERT INTO counters (name, value) VALUES ('card_version', 0), ('card_no', 0);

CREATE TABLE accounts (
	id        INTEGER PRIMARY KEY,
	kind      TEXT NOT NULL CHECK (kind IN ('diner', 'revenue', 'cash', 'subsidy', 'suspense')),
	person_id TEXT UNIQUE,                 -- diner accounts: the person's unique key
	name      TEXT NOT NULL DEFAULT '',
	balance   INTEGER NOT NULL DEFAULT 0,  -- cache: the sum of the account's postings
	created   INTEGER NOT NULL,
	CHECK ((kind = 'diner') = (person_id IS NOT NULL))
) STRICT;
INSERT INTO accounts (id, kind, name, created) VALUES
	(1, 'revenue', 'canteen revenue', 0),
	(2, 'cash', 'cash drawer', 0),
	(3, 'subsidy', 'subsidy fund', 0),
	(4, 'suspense', 'unmatched sales', 0);

CREATE TABLE cards (
	card_no     TEXT PRIMARY KEY,
	account_id  INTEGER NOT NULL REFERENCES accounts (id),
	status      TEXT NOT NULL CHECK (status IN ('active', 'frozen', 'lost', 'closed')),
	version     INTEGER NOT NULL UNIQUE,  -- cache: counters.card_version at the card's last change
	day         INTEGER NOT NULL DEFAULT 0,
	today_count INTEGER NOT NULL DEFAULT 0,  -- cache: sales net of voids on day
	created     INTEGER NOT NULL
) STRICT;
CREATE INDEX cards_account ON cards (account_id);

CREATE TABLE terminals (
	id              INTEGER PRIMARY KEY,
	name            TEXT NOT NULL,
	public_key      BLOB,           -- Ed25519, pinned at enrolment
	enrol_code_hash BLOB NOT NULL UNIQUE,
	enrol_expires   INTEGER NOT NULL,
	enrolled        INTEGER,        -- when the code was used; NULL while unused
	last_seq        INTEGER NOT NULL DEFAULT 0,  -- cursor: the last settled entry
	last_hash       BLOB NOT NULL DEFAULT (zeroblob(32)),
	last_seen       INTEGER,
	disabled        INTEGER NOT NULL DEFAULT 0,
	created         INTEGER NOT NULL
) STRICT;

CREATE TABLE transactions (
	id          INTEGER PRIMARY KEY,
	kind        TEXT NOT NULL CHECK (kind IN ('sale', 'void', 'open', 'recharge', 'refund', 'close', 'subsidy')),
	origin      TEXT NOT NULL UNIQUE,  -- T<terminal>/<seq> or R<request id>
	created     INTEGER NOT NULL,
	terminal_id INTEGER REFERENCES terminals (id),
	seq         INTEGER,
	card_no     TEXT,
	day         INTEGER,                -- sales: the day the sale counts on
	void_of     INTEGER UNIQUE REFERENCES transactions (id),
	operator    TEXT
) STRICT;

CREATE TABLE postings (
	id         INTEGER PRIMARY KEY,
	tx_id      INTEGER NOT NULL REFERENCES transactions (id),
	account_id INTEGER NOT NULL REFERENCES accounts (id),
	amount     INTEGER NOT NULL
) STRICT;
CREATE INDEX postings_tx ON postings (tx_id);
CREATE INDEX postings_account ON postings (account_id);

CREATE TABLE entries (
	terminal_id INTEGER NOT NULL REFERENCES terminals (id),
	seq         INTEGER NOT NULL,
	hash        BLOB NOT NULL,     -- SHA-256 of raw
	raw         BLOB NOT NULL,     -- the canonical signed entry, kept forever
	tx_id       INTEGER REFERENCES transactions (id),  -- NULL: nothing was posted
	outcome     TEXT NOT NULL CHECK (outcome IN ('settled', 'settled-overdraft', 'flagged')),
	note        TEXT NOT NULL DEFAULT '',  -- why it was flagged
	-- the ack as first sent, returned again on a replay
	balance     INTEGER NOT NULL,
	version     INTEGER NOT NULL,
	day         INTEGER NOT NULL,
	today_count INTEGER NOT NULL,
	settled_at  INTEGER NOT NULL,
	PRIMARY KEY (terminal_id, seq)
) STRICT, WITHOUT ROWID;

CREATE TABLE alarms (
	id          INTEGER PRIMARY KEY,
	created     INTEGER NOT NULL,
	terminal_id INTEGER,
	code        TEXT NOT NULL,
	message     TEXT NOT NULL
) STRICT;

CREATE TABLE users (
	name          TEXT PRIMARY KEY,
	password_hash TEXT NOT NULL,   -- argon2id, PHC string format
	role          TEXT NOT NULL CHECK (role IN ('admin', 'operator', 'auditor')),
	created       INTEGER NOT NULL
) STRICT;

CREATE TABLE tokens (
	hash      BLOB PRIMARY KEY,    -- SHA-256 of the bearer token
	user_name TEXT NOT NULL REFERENCES users (name),
	expires   INTEGER NOT NULL,
	created   INTEGER NOT NULL
) STRICT;

CREATE TABLE requests (
	request_id  TEXT PRIMARY KEY,
	op          TEXT NOT NULL,
	fingerprint BLOB NOT NULL,     -- what was asked: a reuse must match it
	response    TEXT NOT NULL,     -- JSON of the first result
	operator    TEXT,
	created     INTEGER NOT NULL
) STRICT;
`,
	// 2: the print queue. A work queue, not a ledger: a job's attempts,
	// next try, last error and printed time are updated in place.
	`
CREATE TABLE print_jobs (
	id         INTEGER PRIMARY KEY,
	printer    TEXT NOT NULL,                -- the printer's configured name
	title      TEXT NOT NULL,
	doc        BLOB NOT NULL,                -- the rendered ESC/POS bytes
	created    INTEGER NOT NULL,
	attempts   INTEGER NOT NULL DEFAULT 0,   -- attempts begun
	clean      INTEGER NOT NULL DEFAULT 0,   -- attempts that ended having sent nothing
	next_try   INTEGER NOT NULL,             -- the end of a backoff, or of an attempt's lease
	last_error TEXT NOT NULL DEFAULT '',
	printed    INTEGER                       -- NULL while queued
) STRICT;
CREATE INDEX print_jobs_queued ON print_jobs (printer, id) WHERE printed IS NULL;
`,
	// 3: fanka cards' public keys (uncompressed P-256 points), registered
	// when the card is opened; NULL for a uid card. Settlement checks sale
	// signatures against it.
	`
ALTER TABLE cards ADD COLUMN public_key BLOB;
`,
	// 4: the office's operations and personal data. Accounts gain their
	// held total (cache of the open fund holds), user class, sealed person
	// id and phone, and a closed time; a person key is unique among the
	// accounts not closed, so a person whose card was closed may open
	// another. Cards keep why they are frozen. Transactions may be fund
	// hold captures and subsidy expiries. Holds are kept; seals chain the
	// ledger (see Seal). SQLite cannot change a CHECK or drop a UNIQUE
	// constraint, so accounts and transactions are rebuilt (the procedure
	// of sqlite.org/lang_altertable.html, foreign keys off and checked).
	`
CREATE TABLE accounts_new (
	id            INTEGER PRIMARY KEY,
	kind          TEXT NOT NULL CHECK (kind IN ('diner', 'revenue', 'cash', 'subsidy', 'suspense')),
	person_id     TEXT,                          -- diner accounts: the person's key (HMAC of the id)
	name          TEXT NOT NULL DEFAULT '',
	balance       INTEGER NOT NULL DEFAULT 0,    -- cache: the sum of the account's postings
	created       INTEGER NOT NULL,
	held          INTEGER NOT NULL DEFAULT 0,    -- cache: the sum of the account's open holds
	user_class    TEXT NOT NULL DEFAULT '',
	person_sealed BLOB,                          -- AES-GCM of the person id
	phone_sealed  BLOB,                          -- AES-GCM of the phone
	closed        INTEGER,                       -- when the account was closed; NULL while open
	CHECK ((kind = 'diner') = (person_id IS NOT NULL))
) STRICT;
INSERT INTO accounts_new (id, kind, person_id, name, balance, created)
	SELECT id, kind, person_id, name, balance, created FROM accounts;
DROP TABLE accounts;
ALTER TABLE accounts_new RENAME TO accounts;
CREATE UNIQUE INDEX accounts_person_open ON accounts (person_id) WHERE closed IS NULL;
CREATE INDEX accounts_person ON accounts (person_id);
CREATE INDEX accounts_name ON accounts (name) WHERE kind = 'diner';

CREATE TABLE transactions_new (
	id          INTEGER PRIMARY KEY,
	kind        TEXT NOT NULL CHECK (kind IN ('sale', 'void', 'open', 'recharge', 'refund', 'close', 'subsidy', 'capture', 'expire')),
	origin      TEXT NOT NULL UNIQUE,
	created     INTEGER NOT NULL,
	terminal_id INTEGER REFERENCES terminals (id),
	seq         INTEGER,
	card_no     TEXT,
	day         INTEGER,
	void_of     INTEGER UNIQUE REFERENCES transactions (id),
	operator    TEXT
) STRICT;
INSERT INTO transactions_new SELECT id, kind, origin, created, terminal_id, seq, card_no, day, void_of, operator FROM transactions;
DROP TABLE transactions;
ALTER TABLE transactions_new RENAME TO transactions;

ALTER TABLE cards ADD COLUMN reason TEXT NOT NULL DEFAULT '';  -- why a frozen card is frozen

CREATE TABLE holds (
	id          INTEGER PRIMARY KEY,
	account_id  INTEGER NOT NULL REFERENCES accounts (id),
	card_no     TEXT NOT NULL,
	amount      INTEGER NOT NULL CHECK (amount > 0),
	reason      TEXT NOT NULL DEFAULT '',
	state       TEXT NOT NULL CHECK (state IN ('held', 'released', 'captured')),
	created     INTEGER NOT NULL,
	request_id  TEXT NOT NULL,
	ended       INTEGER,           -- set once, when it is released or captured
	end_request TEXT
) STRICT;
CREATE INDEX holds_account ON holds (account_id);

CREATE TABLE seals (
	seq      INTEGER PRIMARY KEY,   -- 1, 2, …: the chain
	first_tx INTEGER NOT NULL,      -- the transactions it seals: ids above the previous seal's last_tx, up to last_tx
	last_tx  INTEGER NOT NULL,
	count    INTEGER NOT NULL,
	digests  BLOB NOT NULL,         -- server.SealedTx.Digest of each, in id order
	hash     BLOB NOT NULL,         -- server.SealHash(previous hash, the digests)
	created  INTEGER NOT NULL
) STRICT;
`,
	// 5: the rules settlement checks sales against, and what it needs of
	// each card for them: its sales' amount on its day, its last sale's
	// time, and its sales in the meal period of the last one. Settings
	// are versioned rows, one per name, replaced whole.
	`
ALTER TABLE cards ADD COLUMN day_amount INTEGER NOT NULL DEFAULT 0;
ALTER TABLE cards ADD COLUMN last_sale INTEGER NOT NULL DEFAULT 0;
ALTER TABLE cards ADD COLUMN period INTEGER NOT NULL DEFAULT 0;
ALTER TABLE cards ADD COLUMN period_count INTEGER NOT NULL DEFAULT 0;
CREATE TABLE settings (
	name     TEXT PRIMARY KEY,
	value    TEXT NOT NULL,     -- JSON
	version  INTEGER NOT NULL,
	updated  INTEGER NOT NULL,
	operator TEXT NOT NULL DEFAULT ''
) STRICT;
`,
	// 6: subsidies. A diner's subsidies are kept in an account of their
	// own (kind subsidy, like the fund), named by the diner's account;
	// schedules say what each user class gets a month; a job's row is
	// written with its last batch, so each runs once.
	`
ALTER TABLE accounts ADD COLUMN subsidy_account INTEGER REFERENCES accounts (id);
CREATE TABLE subsidy_schedules (
	id         INTEGER PRIMARY KEY,
	user_class TEXT NOT NULL,
	amount     INTEGER NOT NULL CHECK (amount > 0),
	day        INTEGER NOT NULL CHECK (day BETWEEN 1 AND 28),
	expires    INTEGER NOT NULL,
	created    INTEGER NOT NULL,
	operator   TEXT NOT NULL
) STRICT;
CREATE TABLE subsidy_jobs (
	job      TEXT PRIMARY KEY,   -- credit/<schedule>/<month>, expire/<month>
	accounts INTEGER NOT NULL,
	amount   INTEGER NOT NULL,
	finished INTEGER NOT NULL
) STRICT;
CREATE INDEX accounts_class ON accounts (user_class) WHERE kind = 'diner';
`,
	// 7: the office's reads and the audit log (schema_reports.go).
	reportsMigration,
	// 8: canteens. Each has its own revenue account; each register sells
	// for one. The first is the canteen of every register and of the
	// revenue account there was before.
	`
CREATE TABLE canteens (
	id              INTEGER PRIMARY KEY,
	name            TEXT NOT NULL UNIQUE,
	revenue_account INTEGER NOT NULL UNIQUE REFERENCES accounts (id),
	created         INTEGER NOT NULL
) STRICT;
INSERT INTO canteens (id, name, revenue_account, created) VALUES (1, '食堂', 1, 0);
ALTER TABLE terminals ADD COLUMN canteen_id INTEGER NOT NULL DEFAULT 1 REFERENCES canteens (id);
`,
	// 9: the hotlist registers refuse cards by (sqlops/hotlist.go): one
	// row per card ever listed, with the card version of the change that
	// last listed it or took it off; every card not active is listed.
	`
CREATE TABLE hotlist (
	card_no TEXT PRIMARY KEY,
	status  TEXT NOT NULL,               -- frozen, lost, closed: listed; active: taken off
	version INTEGER NOT NULL UNIQUE      -- the card version of the change
) STRICT;
INSERT INTO hotlist (card_no, status, version) SELECT card_no, status, version FROM cards WHERE status <> 'active';
`,
	// 10: each register's link and the status it last reported
	// (sqlops/status.go), one row per register that connected since:
	// written by the gateway, throttled, never with settlement. Times are
	// Unix ms, 0 for none; devices is JSON, {"reader": {"state": "ok",
	// "detail": "…"}, …}.
	`
CREATE TABLE terminal_status (
	terminal_id      INTEGER PRIMARY KEY REFERENCES terminals (id),
	reported_at      INTEGER NOT NULL DEFAULT 0,   -- the server's clock when the status came
	clock            INTEGER NOT NULL DEFAULT 0,   -- the register's, when it sent it
	unsynced         INTEGER NOT NULL DEFAULT 0,
	unsynced_amount  INTEGER NOT NULL DEFAULT 0,
	oldest_unsynced  INTEGER NOT NULL DEFAULT 0,
	offline_sales    INTEGER NOT NULL DEFAULT 0,
	offline_amount   INTEGER NOT NULL DEFAULT 0,
	limit_unsynced   INTEGER NOT NULL DEFAULT 0,
	limit_hard_count INTEGER NOT NULL DEFAULT 0,
	devices          TEXT NOT NULL DEFAULT '{}',
	journal_bytes    INTEGER NOT NULL DEFAULT 0,
	free_bytes       INTEGER NOT NULL DEFAULT 0,
	software         TEXT NOT NULL DEFAULT '',
	connected        INTEGER NOT NULL DEFAULT 0,   -- when its last session began
	disconnected     INTEGER NOT NULL DEFAULT 0    -- when that session ended; 0 while it lasts
) STRICT;
`,
}

// LatestSchema is the schema version this code migrates a database to.
func LatestSchema() int { return len(migrations) }
