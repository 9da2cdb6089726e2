//! The alert state's tables, and the migration of a file written before the outbox.

use rusqlite::{Connection, params};

use crate::alert::{DAY_MS, NEW_CLAIM_DAYS};

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS alert_claims (
    key          TEXT PRIMARY KEY,
    claimed_at   INTEGER NOT NULL,
    site         TEXT,
    state        TEXT NOT NULL DEFAULT 'sent',
    alert        TEXT,
    attempts     INTEGER NOT NULL DEFAULT 0,
    budgeted     INTEGER NOT NULL DEFAULT 1,
    delivered    TEXT,
    next_attempt INTEGER,
    expires_at   INTEGER
);
CREATE TABLE IF NOT EXISTS alert_budget (
    site       TEXT NOT NULL,
    hour       INTEGER NOT NULL,
    used       INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (site, hour)
);
CREATE TABLE IF NOT EXISTS alert_hour_batches (
    mark       TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS alert_hour_batches_expiry ON alert_hour_batches (expires_at);
CREATE TABLE IF NOT EXISTS script_contents (
    site       TEXT NOT NULL,
    url        TEXT NOT NULL,
    hash       TEXT NOT NULL,
    first_seen INTEGER NOT NULL,
    last_seen  INTEGER NOT NULL,
    visitors   BLOB NOT NULL,
    PRIMARY KEY (site, url, hash)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS script_contents_expiry ON script_contents (last_seen);
CREATE TABLE IF NOT EXISTS script_sites (
    site  TEXT PRIMARY KEY,
    since INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS script_authorizations (
    site   TEXT NOT NULL,
    url    TEXT NOT NULL,
    hash   TEXT,
    reason TEXT NOT NULL,
    by     TEXT NOT NULL,
    at     INTEGER NOT NULL,
    PRIMARY KEY (site, url)
);
CREATE TABLE IF NOT EXISTS mutes (
    site   TEXT NOT NULL,
    target TEXT NOT NULL,
    until  INTEGER,
    PRIMARY KEY (site, target)
);
";

/// Indexes, made once the columns they name exist (after [`migrate`]).
const INDEXES: &str = "
CREATE INDEX IF NOT EXISTS alert_claims_due ON alert_claims (state, next_attempt);
CREATE INDEX IF NOT EXISTS alert_claims_expiry ON alert_claims (expires_at);
CREATE INDEX IF NOT EXISTS alert_budget_expiry ON alert_budget (expires_at);
";

/// Columns `alert_claims` gained with the outbox, and their declarations.
const OUTBOX_COLUMNS: [(&str, &str); 8] = [
    ("site", "TEXT"),
    ("state", "TEXT NOT NULL DEFAULT 'sent'"),
    ("alert", "TEXT"),
    ("attempts", "INTEGER NOT NULL DEFAULT 0"),
    ("budgeted", "INTEGER NOT NULL DEFAULT 1"),
    ("delivered", "TEXT"),
    ("next_attempt", "INTEGER"),
    ("expires_at", "INTEGER"),
];

/// Brings a file written before the outbox up to date: the new columns (its claims are
/// settled, and expire 90 days after they were made), then the indexes.
pub(super) fn migrate(c: &Connection) -> rusqlite::Result<()> {
    let columns: Vec<String> = {
        let mut stmt = c.prepare("PRAGMA table_info(alert_claims)")?;
        let names = stmt.query_map([], |r| r.get::<_, String>(1))?;
        names.collect::<rusqlite::Result<Vec<String>>>()?
    };
    for (name, declaration) in OUTBOX_COLUMNS {
        if !columns.iter().any(|column| column == name) {
            c.execute_batch(&format!(
                "ALTER TABLE alert_claims ADD COLUMN {name} {declaration};"
            ))?;
        }
    }
    if !columns.iter().any(|column| column == "expires_at") {
        c.execute(
            "UPDATE alert_claims SET expires_at = claimed_at + ?1 WHERE expires_at IS NULL",
            params![NEW_CLAIM_DAYS * DAY_MS],
        )?;
    }
    c.execute_batch(INDEXES)
}
