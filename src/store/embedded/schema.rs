//! The embedded store's schema and its migrations from earlier versions.

use rusqlite::Connection;

use crate::report::WINDOW_MS;

/// The schema, version [`SCHEMA_VERSION`] (kept in `PRAGMA user_version`).
///
/// Rows are appended in arrival order (rowid table): a report's JSON is written once, into
/// the newest pages. The duplicate check is a unique index that starts with the report's
/// identity window (`occurred_at / 10000`, [`WINDOW_MS`]), so its inserts land near its end
/// too, instead of anywhere in a tree keyed by a random id (version 1's layout, which wrote a
/// page per report to the WAL). The same index finds a report's neighbour (see
/// `report::Identity`): a report whose neighbour is stored is not inserted.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS reports (
    seq         INTEGER PRIMARY KEY,
    id          TEXT NOT NULL,
    site        TEXT NOT NULL,
    type        TEXT NOT NULL,
    occurred_at INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    fingerprint TEXT NOT NULL,
    grp         TEXT NOT NULL,
    browser     TEXT,
    url         TEXT NOT NULL,
    disposition TEXT,
    report      TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS reports_by_window ON reports (occurred_at / 10000, id);
CREATE INDEX IF NOT EXISTS reports_by_site_type_time ON reports (site, type, occurred_at);
CREATE INDEX IF NOT EXISTS reports_by_site_time ON reports (site, occurred_at);
CREATE TABLE IF NOT EXISTS day_keys (
    day TEXT PRIMARY KEY,
    key BLOB NOT NULL
);
CREATE VIEW IF NOT EXISTS reports_readable AS
    SELECT site, type,
           strftime('%Y-%m-%dT%H:%M:%fZ', occurred_at / 1000.0, 'unixepoch') AS occurred,
           url, disposition, browser, grp AS problem, report
    FROM reports ORDER BY occurred_at DESC;
";

/// The schema version this build writes.
const SCHEMA_VERSION: i64 = 3;

const _: () = assert!(
    WINDOW_MS == 10_000,
    "the index's window is written out in SCHEMA"
);

/// Version 2 checked duplicates by the occurrence second.
const MIGRATE_FROM_V2: &str = "DROP INDEX IF EXISTS reports_once;";

/// Version 1 (no `user_version`, `id` the primary key of a `WITHOUT ROWID` table) is copied
/// into the current layout once, in one transaction.
const MIGRATE_FROM_V1: &str = "
ALTER TABLE reports RENAME TO reports_v1;
DROP VIEW IF EXISTS reports_readable;
DROP INDEX IF EXISTS reports_by_site_type_time;
DROP INDEX IF EXISTS reports_by_site_time;
";
const COPY_FROM_V1: &str = "
INSERT OR IGNORE INTO reports (id, site, type, occurred_at, received_at, fingerprint, grp,
        browser, url, disposition, report)
    SELECT id, site, type, occurred_at, received_at, fingerprint, grp, browser, url,
           disposition, report
    FROM reports_v1 ORDER BY received_at;
DROP TABLE reports_v1;
";

/// Creates the schema, or brings an older one to the current version.
pub(super) fn prepare_schema(conn: &mut Connection) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let has_reports: bool = tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'reports')",
        [],
        |r| r.get(0),
    )?;
    if version < 2 && has_reports {
        tx.execute_batch(MIGRATE_FROM_V1)?;
        tx.execute_batch(SCHEMA)?;
        tx.execute_batch(COPY_FROM_V1)?;
    } else if version == 2 {
        tx.execute_batch(MIGRATE_FROM_V2)?;
        tx.execute_batch(SCHEMA)?;
    } else {
        tx.execute_batch(SCHEMA)?;
    }
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    tx.commit()
}
