package mysql

// tableOptions ends every CREATE TABLE: InnoDB (transactions, row locks),
// utf8mb4 with binary comparison (exact, case-sensitive keys, as SQLite
// compares). The /*T! … */ comment is read by TiDB alone: ids from
// AUTO_INCREMENT then rise in the order rows are inserted across all TiDB
// servers, as they do on MySQL and MariaDB, which ignore it.
const tableOptions = `ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin /*T![auto_id_cache] AUTO_ID_CACHE=1 */`

// migrations are the schema changes in order: migrations[i] brings the
// schema from version i to i+1, one statement at a time. A migration is
// never edited once released; changes are new migrations. Each statement
// may run again after a migration was cut off (see DB.migrate).
//
// The schema is server/sqlite's, in MySQL's types. Money is BIGINT fen.
// Times are BIGINT Unix milliseconds. Hashes and keys are BINARY, entries
// BLOB. Nothing is updated in place except the cache columns named as such
// (account balances; card status, version and daily count; register
// cursors and enrolment; counters); postings, transactions, entries,
// requests and alarms are insert-only.
var migrations = [][]string{
	// 1: the initial schema.
	{
		`CREATE TABLE IF NOT EXISTS counters (
			name  VARCHAR(32) NOT NULL PRIMARY KEY,
			value BIGINT UNSIGNED NOT NULL
		) ` + tableOptions,
		// card_version: the server-wide card change counter (cards.version);
		// card_no: the last number allocated to a card opened without one.
		`INSERT IGNORE INTO counters (name, value) VALUES ('card_version', 0), ('card_no', 0)`,

		`CREATE TABLE IF NOT EXISTS accounts (
			id        BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
			kind      VARCHAR(16) NOT NULL,
			person_id VARCHAR(64) NULL,              -- diner accounts: the person's unique key
			name      VARCHAR(64) NOT NULL DEFAULT '',
			balance   BIGINT NOT NULL DEFAULT 0,      -- cache: the sum of the account's postings
			created   BIGINT NOT NULL,
			UNIQUE KEY accounts_person (person_id),
			CONSTRAINT accounts_kind CHECK (kind IN ('diner', 'revenue', 'cash', 'subsidy', 'suspense')),
			CONSTRAINT accounts_diner CHECK ((kind = 'diner') = (person_id IS NOT NULL))
		) ` + tableOptions,
		`INSERT IGNORE INTO accounts (id, kind, name, created) VALUES
			(1, 'revenue', 'canteen revenue', 0),
			(2, 'cash', 'cash drawer', 0),
			(3, 'subsidy', 'subsidy fund', 0),
			(4, 'suspense', 'unmatched sales', 0)`,

		`CREATE TABLE IF NOT EXISTS cards (
			card_no     VARCHAR(32) NOT NULL PRIMARY KEY,
			account_id  BIGINT NOT NULL,
			status      VARCHAR(8) NOT NULL,
			version     BIGINT UNSIGNED NOT NULL,   -- cache: counters.card_version at the card's last change
			day         INT NOT NULL DEFAULT 0,
			today_count INT NOT NULL DEFAULT 0,     -- cache: sales net of voids on day
			created     BIGINT NOT NULL,
			UNIQUE KEY cards_version (version),
			KEY cards_account (account_id),
			CONSTRAINT cards_account FOREIGN KEY (account_id) REFERENCES accounts (id),
			CONSTRAINT cards_status CHECK (status IN ('active', 'frozen', 'lost', 'closed'))
		) ` + tableOptions,

		`CREATE TABLE IF NOT EXISTS terminals (
			id              INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
			name            VARCHAR(64) NOT NULL,
			public_key      VARBINARY(32) NULL,     -- Ed25519, pinned at enrolment
			enrol_code_hash BINARY(32) NOT NULL,
			enrol_expires   BIGINT NOT NULL,
			enrolled        BIGINT NULL,            -- when the code was used; NULL while unused
			last_seq        BIGINT UNSIGNED NOT NULL DEFAULT 0,  -- cursor: the last settled entry
			last_hash       BINARY(32) NOT NULL,
			last_seen       BIGINT NULL,
			disabled        BOOLEAN NOT NULL DEFAULT FALSE,
			created         BIGINT NOT NULL,
			UNIQUE KEY terminals_code (enrol_code_hash)
		) ` + tableOptions,

		`CREATE TABLE IF NOT EXISTS transactions (
			id          BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
			kind        VARCHAR(16) NOT NULL,
			origin      VARCHAR(160) NOT NULL,   -- T<terminal>/<seq> or R<request id>
			created     BIGINT NOT NULL,
			terminal_id INT UNSIGNED NULL,
			seq         BIGINT UNSIGNED NULL,
			card_no     VARCHAR(32) NULL,
			day         INT NULL,                -- sales: the day the sale counts on
			void_of     BIGINT NULL,
			operator    VARCHAR(64) NULL,
			UNIQUE KEY transactions_origin (origin),
			UNIQUE KEY transactions_void_of (void_of),
			KEY transactions_terminal (terminal_id),
			CONSTRAINT transactions_terminal FOREIGN KEY (terminal_id) REFERENCES terminals (id),
			CONSTRAINT transactions_void_of FOREIGN KEY (void_of) REFERENCES transactions (id),
			CONSTRAINT transactions_kind CHECK (kind IN ('sale', 'void', 'open', 'recharge', 'refund', 'close', 'subsidy'))
		) ` + tableOptions,

		`CREATE TABLE IF NOT EXISTS postings (
			id         BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
			tx_id      BIGINT NOT NULL,
			account_id BIGINT NOT NULL,
			amount     BIGINT NOT NULL,
			KEY postings_tx (tx_id),
			KEY postings_account (account_id),
			CONSTRAINT postings_tx FOREIGN KEY (tx_id) REFERENCES transactions (id),
			CONSTRAINT postings_account FOREIGN KEY (account_id) REFERENCES accounts (id)
		) ` + tableOptions,

		`CREATE TABLE IF NOT EXISTS entries (
			terminal_id INT UNSIGNED NOT NULL,
			seq         BIGINT UNSIGNED NOT NULL,
			hash        BINARY(32) NOT NULL,     -- SHA-256 of raw
			raw         BLOB NOT NULL,           -- the canonical signed entry, kept forever
			tx_id       BIGINT NULL,             -- NULL: nothing was posted
			outcome     VARCHAR(20) NOT NULL,
			note        TEXT NOT NULL,           -- why it was flagged
			-- the ack as first sent, returned again on a replay
			balance     BIGINT NOT NULL,
			version     BIGINT UNSIGNED NOT NULL,
			day         INT NOT NULL,
			today_count INT NOT NULL,
			settled_at  BIGINT NOT NULL,
			PRIMARY KEY (terminal_id, seq),
			KEY entries_tx (tx_id),
			CONSTRAINT entries_terminal FOREIGN KEY (terminal_id) REFERENCES terminals (id),
			CONSTRAINT entries_tx FOREIGN KEY (tx_id) REFERENCES transactions (id),
			CONSTRAINT entries_outcome CHECK (outcome IN ('settled', 'settled-overdraft', 'flagged'))
		) ` + tableOptions,

		`CREATE TABLE IF NOT EXISTS alarms (
			id          BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
			created     BIGINT NOT NULL,
			terminal_id INT UNSIGNED NULL,
			code        VARCHAR(64) NOT NULL,
			message     TEXT NOT NULL
		) ` + tableOptions,

		`CREATE TABLE IF NOT EXISTS users (
			name          VARCHAR(64) NOT NULL PRIMARY KEY,
			password_hash VARCHAR(255) NOT NULL,  -- argon2id, PHC string format
			role          VARCHAR(16) NOT NULL,
			created       BIGINT NOT NULL,
			CONSTRAINT users_role CHECK (role IN ('admin', 'operator', 'auditor'))
		) ` + tableOptions,

		`CREATE TABLE IF NOT EXISTS tokens (
			hash      BINARY(32) NOT NULL PRIMARY KEY,  -- SHA-256 of the bearer token
			user_name VARCHAR(64) NOT NULL,
			expires   BIGINT NOT NULL,
			created   BIGINT NOT NULL,
			KEY tokens_user (user_name),
			KEY tokens_expires (expires),
			CONSTRAINT tokens_user FOREIGN KEY (user_name) REFERENCES users (name)
		) ` + tableOptions,

		`CREATE TABLE IF NOT EXISTS requests (
			request_id  VARCHAR(128) NOT NULL PRIMARY KEY,
			op          VARCHAR(32) NOT NULL,
			fingerprint BINARY(32) NOT NULL,     -- what was asked: a reuse must match it
			response    TEXT NOT NULL,           -- JSON of the first result
			operator    VARCHAR(64) NULL,
			created     BIGINT NOT NULL
		) ` + tableOptions,
	},
	// 2: the print queue. A work queue, not a ledger: a job's attempts,
	// next try, last error and printed time are updated in place.
	{
		`CREATE TABLE IF NOT EXISTS print_jobs (
			id         BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
			printer    VARCHAR(64) NOT NULL,     -- the printer's configured name
			title      VARCHAR(200) NOT NULL,
			doc        MEDIUMBLOB NOT NULL,      -- the rendered ESC/POS bytes
			created    BIGINT NOT NULL,
			attempts   INT NOT NULL DEFAULT 0,   -- attempts begun
			clean      INT NOT NULL DEFAULT 0,   -- attempts that ended having sent nothing
			next_try   BIGINT NOT NULL,          -- the end of a backoff, or of an attempt's lease
			last_error TEXT NOT NULL,
			printed    BIGINT NULL,              -- NULL while queued
			KEY print_jobs_queued (printer, printed, id)
		) ` + tableOptions,
	},
	// 3: fanka cards' public keys, registered when the card is opened;
	// NULL for a uid card. Settlement checks sale signatures against it.
	{
		`ALTER TABLE cards ADD COLUMN IF NOT EXISTS public_key VARBINARY(65) NULL`,
	},
	// 4: the office's operations and personal data (see the SQLite
	// store's migration 4). A person key is unique among the accounts not
	// closed: a virtual column that is the key while the account is open
	// and NULL after, with a unique index (MariaDB and TiDB both index
	// virtual columns; a UNIQUE index admits many NULLs).
	{
		`ALTER TABLE accounts
			ADD COLUMN IF NOT EXISTS held BIGINT NOT NULL DEFAULT 0,
			ADD COLUMN IF NOT EXISTS user_class VARCHAR(32) NOT NULL DEFAULT '',
			ADD COLUMN IF NOT EXISTS person_sealed VARBINARY(160) NULL,
			ADD COLUMN IF NOT EXISTS phone_sealed VARBINARY(96) NULL,
			ADD COLUMN IF NOT EXISTS closed BIGINT NULL`,
		`ALTER TABLE accounts ADD COLUMN IF NOT EXISTS person_open VARCHAR(64) AS (IF(closed IS NULL, person_id, NULL)) VIRTUAL`,
		`ALTER TABLE accounts ADD UNIQUE KEY IF NOT EXISTS accounts_person_open (person_open)`,
		`ALTER TABLE accounts DROP INDEX IF EXISTS accounts_person`,
		`ALTER TABLE accounts ADD KEY IF NOT EXISTS accounts_person_key (person_id)`,
		`ALTER TABLE accounts ADD KEY IF NOT EXISTS accounts_name (name)`,
		`ALTER TABLE cards ADD COLUMN IF NOT EXISTS reason VARCHAR(16) NOT NULL DEFAULT ''`,
		`ALTER TABLE transactions DROP CONSTRAINT IF EXISTS transactions_kind`,
		`ALTER TABLE transactions ADD CONSTRAINT transactions_kind
			CHECK (kind IN ('sale', 'void', 'open', 'recharge', 'refund', 'close', 'subsidy', 'capture', 'expire'))`,
		`CREATE TABLE IF NOT EXISTS holds (
			id          BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
			account_id  BIGINT NOT NULL,
			card_no     VARCHAR(32) NOT NULL,
			amount      BIGINT NOT NULL,
			reason      VARCHAR(200) NOT NULL DEFAULT '',
			state       VARCHAR(10) NOT NULL,
			created     BIGINT NOT NULL,
			request_id  VARCHAR(128) NOT NULL,
			ended       BIGINT NULL,             -- set once, when it is released or captured
			end_request VARCHAR(128) NULL,
			KEY holds_account (account_id),
			CONSTRAINT holds_account FOREIGN KEY (account_id) REFERENCES accounts (id),
			CONSTRAINT holds_amount CHECK (amount > 0),
			CONSTRAINT holds_state CHECK (state IN ('held', 'released', 'captured'))
		) ` + tableOptions,
		`CREATE TABLE IF NOT EXISTS seals (
			seq      BIGINT NOT NULL PRIMARY KEY,   -- 1, 2, …: the chain
			first_tx BIGINT NOT NULL,
			last_tx  BIGINT NOT NULL,
			count    BIGINT NOT NULL,
			digests  MEDIUMBLOB NOT NULL,
			hash     BINARY(32) NOT NULL,
			created  BIGINT NOT NULL
		) ` + tableOptions,
	},
	// 5: the rules settlement checks sales against, and what it needs of
	// each card for them (see the SQLite store's migration 5).
	{
		`ALTER TABLE cards
			ADD COLUMN IF NOT EXISTS day_amount BIGINT NOT NULL DEFAULT 0,
			ADD COLUMN IF NOT EXISTS last_sale BIGINT NOT NULL DEFAULT 0,
			ADD COLUMN IF NOT EXISTS period INT NOT NULL DEFAULT 0,
			ADD COLUMN IF NOT EXISTS period_count INT NOT NULL DEFAULT 0`,
		`CREATE TABLE IF NOT EXISTS settings (
			name     VARCHAR(32) NOT NULL PRIMARY KEY,
			value    TEXT NOT NULL,
			version  BIGINT NOT NULL,
			updated  BIGINT NOT NULL,
			operator VARCHAR(64) NOT NULL DEFAULT ''
		) ` + tableOptions,
	},
	// 6: subsidies (see the SQLite store's migration 6).
	{
		`ALTER TABLE accounts ADD COLUMN IF NOT EXISTS subsidy_account BIGINT NULL`,
		`ALTER TABLE accounts ADD KEY IF NOT EXISTS accounts_class (user_class)`,
		`CREATE TABLE IF NOT EXISTS subsidy_schedules (
			id         BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
			user_class VARCHAR(32) NOT NULL,
			amount     BIGINT NOT NULL,
			day        INT NOT NULL,
			expires    BOOLEAN NOT NULL,
			created    BIGINT NOT NULL,
			operator   VARCHAR(64) NOT NULL,
			CONSTRAINT subsidy_amount CHECK (amount > 0),
			CONSTRAINT subsidy_day CHECK (day BETWEEN 1 AND 28)
		) ` + tableOptions,
		`CREATE TABLE IF NOT EXISTS subsidy_jobs (
			job      VARCHAR(64) NOT NULL PRIMARY KEY,
			accounts BIGINT NOT NULL,
			amount   BIGINT NOT NULL,
			finished BIGINT NOT NULL
		) ` + tableOptions,
	},
	// 7: the office's reads and the audit log (schema_reports.go).
	reportsMigration,
	// 8: canteens (see the SQLite store's migration 8).
	{
		`CREATE TABLE IF NOT EXISTS canteens (
			id              BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
			name            VARCHAR(64) NOT NULL,
			revenue_account BIGINT NOT NULL,
			created         BIGINT NOT NULL,
			UNIQUE KEY canteens_name (name),
			UNIQUE KEY canteens_revenue (revenue_account),
			CONSTRAINT canteens_revenue FOREIGN KEY (revenue_account) REFERENCES accounts (id)
		) ` + tableOptions,
		`INSERT IGNORE INTO canteens (id, name, revenue_account, created) VALUES (1, '食堂', 1, 0)`,
		`ALTER TABLE terminals ADD COLUMN IF NOT EXISTS canteen_id BIGINT NOT NULL DEFAULT 1`,
		`ALTER TABLE terminals ADD KEY IF NOT EXISTS terminals_canteen (canteen_id)`,
	},
	// 9: the hotlist (see the SQLite store's migration 9).
	{
		`CREATE TABLE IF NOT EXISTS hotlist (
			card_no VARCHAR(32) NOT NULL PRIMARY KEY,
			status  VARCHAR(16) NOT NULL,
			version BIGINT UNSIGNED NOT NULL,
			UNIQUE KEY hotlist_version (version)
		) ` + tableOptions,
		`INSERT IGNORE INTO hotlist (card_no, status, version) SELECT card_no, status, version FROM cards WHERE status <> 'active'`,
	},
	// 10: each register's link and last status (see the SQLite store's
	// migration 10). devices has no default: TiDB allows none on TEXT.
	{
		`CREATE TABLE IF NOT EXISTS terminal_status (
			terminal_id      INT UNSIGNED NOT NULL PRIMARY KEY,
			reported_at      BIGINT NOT NULL DEFAULT 0,
			clock            BIGINT NOT NULL DEFAULT 0,
			unsynced         BIGINT NOT NULL DEFAULT 0,
			unsynced_amount  BIGINT NOT NULL DEFAULT 0,
			oldest_unsynced  BIGINT NOT NULL DEFAULT 0,
			offline_sales    BIGINT NOT NULL DEFAULT 0,
			offline_amount   BIGINT NOT NULL DEFAULT 0,
			limit_unsynced   BIGINT NOT NULL DEFAULT 0,
			limit_hard_count BIGINT NOT NULL DEFAULT 0,
			devices          TEXT NOT NULL,
			journal_bytes    BIGINT NOT NULL DEFAULT 0,
			free_bytes       BIGINT NOT NULL DEFAULT 0,
			software         VARCHAR(64) NOT NULL DEFAULT '',
			connected        BIGINT NOT NULL DEFAULT 0,
			disconnected     BIGINT NOT NULL DEFAULT 0,
			CONSTRAINT terminal_status_terminal FOREIGN KEY (terminal_id) REFERENCES terminals (id)
		) ` + tableOptions,
	},
}

// LatestSchema is the schema version this code migrates a database to.
func LatestSchema() int { return len(migrations) }
