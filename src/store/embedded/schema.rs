//! The embedded store's schema and its migrations from earlier versions.

use rusqlite::{Connection, params};

use super::row::{Row, RowError};
use super::writer::Writer;
use crate::report::Report;

use crate::report::WINDOW_MS;

/// The schema, version [`SCHEMA_VERSION`] (kept in `PRAGMA user_version`).
///
/// - `reports`: one row per report, appended in arrival order (rowid table), so a report is
///   written once, into the newest pages. What is filtered and grouped on is in columns and
///   small tables (see `row.rs`): its problem (`problems`), its site and type (`site_types`),
///   its times; its policy and User-Agent are kept once in `texts`; the JSON holds the rest.
///   The duplicate check is a unique index that starts with the report's identity window
///   (`occurred_at / 10000`, [`WINDOW_MS`]), so its inserts land near its end too; the same
///   index finds a report's neighbour (see `report::Identity`). Two more indexes, each used by
///   a read: a site and type's reports newest first (`query`), and a problem's (its page).
/// - `problem_days`: per problem and UTC day of occurrence, what `top`, the dashboard and the
///   policy builder show (count, first and last seen, browsers, dispositions, the set of
///   visitors as a 256-bit map), written in the transaction that stores the reports it counts.
/// - `problem_hours`: per problem and clock hour of receipt, the count alerts decide spikes by.
///
/// Both aggregates are keyed time first, so a commit touches adjacent rows.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS site_types (
    id   INTEGER PRIMARY KEY,
    site TEXT NOT NULL,
    type TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS site_types_by_name ON site_types (site, type);
CREATE TABLE IF NOT EXISTS problems (
    id             INTEGER PRIMARY KEY,
    site           TEXT NOT NULL,
    type           TEXT NOT NULL,
    fingerprint    TEXT NOT NULL,
    grp            TEXT NOT NULL,
    classification TEXT,
    policy_version TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS problems_by_key ON problems (site, type, fingerprint);
CREATE TABLE IF NOT EXISTS texts (
    id   INTEGER PRIMARY KEY,
    text TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS texts_by_text ON texts (text);
CREATE TABLE IF NOT EXISTS reports (
    seq         INTEGER PRIMARY KEY,
    id          BLOB NOT NULL,
    site_type   INTEGER NOT NULL,
    problem     INTEGER NOT NULL,
    occurred_at INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    policy      INTEGER,
    agent       INTEGER,
    report      TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS reports_by_window ON reports (occurred_at / 10000, id);
CREATE INDEX IF NOT EXISTS reports_by_site_type ON reports (site_type, occurred_at);
CREATE INDEX IF NOT EXISTS reports_by_problem ON reports (problem, occurred_at);
CREATE TABLE IF NOT EXISTS problem_days (
    day          INTEGER NOT NULL,
    problem      INTEGER NOT NULL,
    count        INTEGER NOT NULL,
    first_seen   INTEGER NOT NULL,
    last_seen    INTEGER NOT NULL,
    browsers     TEXT NOT NULL,
    dispositions TEXT NOT NULL,
    visitors     BLOB NOT NULL,
    PRIMARY KEY (day, problem)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS problem_hours (
    hour    INTEGER NOT NULL,
    problem INTEGER NOT NULL,
    count   INTEGER NOT NULL,
    PRIMARY KEY (hour, problem)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS day_keys (
    day TEXT PRIMARY KEY,
    key BLOB NOT NULL
);
CREATE VIEW IF NOT EXISTS reports_readable AS
    SELECT p.site, p.type,
           strftime('%Y-%m-%dT%H:%M:%fZ', r.occurred_at / 1000.0, 'unixepoch') AS occurred,
           json_extract(r.report, '$.url') AS url,
           json_extract(r.report, '$.disposition') AS disposition,
           json_extract(r.report, '$.browser') AS browser, p.grp AS problem, r.report
    FROM reports r JOIN problems p ON p.id = r.problem ORDER BY r.occurred_at DESC;
";

/// The schema version this build writes.
pub(super) const SCHEMA_VERSION: i64 = 4;

const _: () = assert!(
    WINDOW_MS == 10_000,
    "the index's window is written out in SCHEMA"
);

/// Version 3's layout (every report's columns and full JSON in `reports`), which versions 1
/// and 2 are brought to first.
const SCHEMA_V3: &str = "
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
";

/// Version 3's rows are set aside under this name, then copied into the current layout in
/// steps (see [`migrate_rows`]); the table is dropped once empty.
pub(super) const V3_ROWS: &str = "reports_v3";

const SET_V3_ASIDE: &str = "
ALTER TABLE reports RENAME TO reports_v3;
DROP VIEW IF EXISTS reports_readable;
DROP INDEX IF EXISTS reports_by_window;
DROP INDEX IF EXISTS reports_by_site_type_time;
DROP INDEX IF EXISTS reports_by_site_time;
";

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

/// Creates the schema, or brings an older one to the current version's tables. A version 3
/// store's rows are then still set aside: [`migrate_rows`] copies them.
pub(super) fn prepare_schema(conn: &mut Connection) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    let mut version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let has_reports = has_table(&tx, "reports")?;
    if version < 2 && has_reports {
        tx.execute_batch(MIGRATE_FROM_V1)?;
        tx.execute_batch(SCHEMA_V3)?;
        tx.execute_batch(COPY_FROM_V1)?;
        version = 3;
    } else if version == 2 {
        tx.execute_batch(MIGRATE_FROM_V2)?;
        version = 3;
    }
    if version == 3 && has_reports {
        tx.execute_batch(SET_V3_ASIDE)?;
    }
    tx.execute_batch(SCHEMA)?;
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    tx.commit()
}

/// Whether the store needs [`prepare_schema`] (and perhaps [`migrate_rows`]): written by an
/// earlier version, or its rows not all copied yet.
pub(super) fn needs_migration(conn: &Connection) -> rusqlite::Result<bool> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    Ok(version < SCHEMA_VERSION || has_table(conn, V3_ROWS)?)
}

fn has_table(conn: &Connection, name: &str) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1)",
        [name],
        |r| r.get(0),
    )
}

/// Rows copied in one step of [`migrate_rows`].
const MIGRATION_STEP: i64 = 20_000;

/// Copies a version 3 store's rows into the current layout, [`MIGRATION_STEP`] at a time, each
/// step one transaction that also counts them into the aggregates and removes them from the
/// old table, so an interrupted migration goes on where it stopped. Rows keep their row
/// numbers. A row whose JSON no longer reads as a report is kept in `reports_unmigrated`
/// (with a warning), never dropped. Progress is logged.
pub(super) fn migrate_rows(conn: &mut Connection, writer: &mut Writer) -> rusqlite::Result<()> {
    if !has_table(conn, V3_ROWS)? {
        return Ok(());
    }
    let total: i64 = conn.query_row("SELECT COUNT(*) FROM reports_v3", [], |r| r.get(0))?;
    tracing::info!(
        reports = total,
        "migrating the store to version {SCHEMA_VERSION}: its rows are copied into the new \
         layout and counted into the aggregates, once"
    );
    let mut copied = 0i64;
    loop {
        let batch: Vec<(i64, String)> = {
            let mut stmt =
                conn.prepare_cached("SELECT seq, report FROM reports_v3 ORDER BY seq LIMIT ?1")?;
            let rows = stmt.query_map([MIGRATION_STEP], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        let Some(&(last, _)) = batch.last() else {
            break;
        };
        let mut rows = Vec::with_capacity(batch.len());
        let mut unreadable = Vec::new();
        for (seq, json) in batch {
            match serde_json::from_str::<Report>(&json)
                .map_err(RowError::from)
                .and_then(|r| Row::of(&r))
            {
                Ok(mut row) => {
                    row.seq = Some(seq);
                    rows.push(row);
                }
                Err(e) => {
                    tracing::warn!(seq, error = %e, "a stored row does not read as a report; kept in reports_unmigrated");
                    unreadable.push((seq, json));
                }
            }
        }
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        writer.insert(&tx, &rows.iter().collect::<Vec<_>>())?;
        if !unreadable.is_empty() {
            tx.execute_batch(
                "CREATE TABLE IF NOT EXISTS reports_unmigrated (seq INTEGER PRIMARY KEY, report TEXT NOT NULL);",
            )?;
            let mut keep = tx.prepare_cached(
                "INSERT OR REPLACE INTO reports_unmigrated (seq, report) VALUES (?1, ?2)",
            )?;
            for (seq, json) in &unreadable {
                keep.execute(params![seq, json])?;
            }
        }
        tx.execute("DELETE FROM reports_v3 WHERE seq <= ?1", [last])?;
        tx.commit().inspect_err(|_| writer.forget())?;
        copied += (rows.len() + unreadable.len()) as i64;
        tracing::info!(copied, of = total, "migrating the store");
    }
    conn.execute_batch("DROP TABLE reports_v3;")?;
    tracing::info!(reports = copied, "the store is migrated");
    Ok(())
}
