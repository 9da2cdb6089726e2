//! The embedded store: one SQLite file, no server, browsable with `sqlite3`.
//!
//! Durability: WAL journal with `synchronous=FULL`, so a request is answered only after its
//! reports reached the disk. Writes go through one writer thread that commits concurrent
//! requests together (group commit): one fsync serves many requests under load.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::oneshot;

use super::summary::Top;
use super::{
    GroupSummary, MAX_SITES, PutError, RecentQuery, ReportStore, SiteSummary, StoreError, TopQuery,
};
use crate::report::visitor::DayKey;
use crate::report::{Classification, Report, ReportType, Timestamp};

mod aggregate;
#[cfg(test)]
mod plans;
mod row;
mod schema;
mod writer;

pub(in crate::store) use aggregate::Visitors;
/// A problem's reports received in `[from, to)`, from its hourly counts: what the alert state
/// decides spikes by.
pub(in crate::store) use aggregate::received_between;
use row::{REPORT_COLUMNS, REPORT_JOINS, Row, columns_of, id_bytes, report_of};
use schema::{migrate_rows, needs_migration, prepare_schema};
use writer::{IDENTITY_STORED, MAX_GROUP, WriteJob, Writer, writer_loop};

/// The database file name inside the data directory.
pub const DB_FILE: &str = "lookout.db";

/// The SQLite-backed store.
pub struct EmbeddedStore {
    writer: mpsc::SyncSender<WriteJob>,
    reader: Arc<Mutex<Connection>>,
    /// A connection for the rare writes beside the report writer's queue (the day's visitor
    /// key, retention's removals); `None` when the store was opened read-only.
    side: Option<Arc<Mutex<Connection>>>,
}

/// How the embedded store is opened.
#[derive(Debug, Clone, Copy, Default)]
pub struct EmbeddedOptions {
    /// Cap on the database file's size; writes past it fail (and are answered 503).
    pub max_bytes: Option<u64>,
    /// Open an existing store for reading only (`query`, `top`): writes fail.
    pub read_only: bool,
}

impl EmbeddedStore {
    /// Opens (creating if needed) the store in `dir`.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        Self::open_with(dir, EmbeddedOptions::default())
    }

    /// Opens the store in `dir` with options.
    pub fn open_with(dir: &Path, options: EmbeddedOptions) -> Result<Self, StoreError> {
        let path = dir.join(DB_FILE);
        if options.read_only {
            if !path.exists() {
                return Err(StoreError::backend(NoStore(path)));
            }
        } else {
            std::fs::create_dir_all(dir).map_err(StoreError::backend)?;
        }
        if options.read_only {
            // A store written by an earlier version is brought up to date first, whoever
            // opens it: never refused, never read as empty.
            let conn = open_connection(&path, true)?;
            if needs_migration(&conn).map_err(StoreError::backend)? {
                drop(conn);
                let mut conn = open_connection(&path, false)?;
                migrate(&mut conn)?;
            }
        }
        let mut conn = open_connection(&path, options.read_only)?;
        let mut writer = Writer::default();
        if !options.read_only {
            prepare_schema(&mut conn).map_err(StoreError::backend)?;
            migrate_rows(&mut conn, &mut writer).map_err(StoreError::backend)?;
        }
        if let Some(max) = options.max_bytes {
            let page: i64 = conn
                .query_row("PRAGMA page_size", [], |r| r.get(0))
                .map_err(StoreError::backend)?;
            let pages = (max / page.max(1) as u64).max(1);
            conn.query_row(&format!("PRAGMA max_page_count = {pages}"), [], |_| Ok(()))
                .map_err(StoreError::backend)?;
        }
        let reader = open_connection(&path, true)?;
        let side = if options.read_only {
            None
        } else {
            Some(Arc::new(Mutex::new(open_connection(&path, false)?)))
        };
        let (tx, rx) = mpsc::sync_channel::<WriteJob>(4 * MAX_GROUP);
        thread::Builder::new()
            .name("lookout-writer".into())
            .spawn(move || writer_loop(conn, writer, rx))
            .map_err(StoreError::backend)?;
        Ok(Self {
            writer: tx,
            reader: Arc::new(Mutex::new(reader)),
            side,
        })
    }

    /// Removes at most `limit` reports received before `before`, oldest first, and at most
    /// `limit` of the day and hour aggregates before it; returns how many rows. Rows are
    /// stored in arrival order, so the oldest are the first rows: each step is one short
    /// transaction, and ingest goes on between steps.
    pub async fn remove_before(
        &self,
        before: Timestamp,
        limit: usize,
    ) -> Result<usize, StoreError> {
        let Some(conn) = self.side.clone() else {
            return Err(StoreError::backend(ReadOnly));
        };
        tokio::task::spawn_blocking(move || {
            let mut conn = conn.lock().unwrap_or_else(|p| p.into_inner());
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            // Only the oldest `limit` rows are looked at: with none past retention, a step
            // reads a page, not the table.
            let reports = tx.execute(
                "DELETE FROM reports WHERE seq IN
                     (SELECT seq FROM reports ORDER BY seq LIMIT ?2) AND received_at < ?1",
                params![before.millis(), limit as i64],
            )?;
            let aggregates = aggregate::remove_before(&tx, before, limit)?;
            tx.commit()?;
            Ok::<_, rusqlite::Error>(reports + aggregates)
        })
        .await
        .map_err(StoreError::backend)?
        .map_err(StoreError::backend)
    }

    async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let reader = Arc::clone(&self.reader);
        tokio::task::spawn_blocking(move || {
            let conn = reader.lock().unwrap_or_else(|p| p.into_inner());
            f(&conn).map_err(StoreError::backend)
        })
        .await
        .map_err(StoreError::backend)?
    }
}

/// Brings a store written by an earlier version up to date (see `schema`).
fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    prepare_schema(conn).map_err(StoreError::backend)?;
    migrate_rows(conn, &mut Writer::default()).map_err(StoreError::backend)
}

fn open_connection(path: &Path, read_only: bool) -> Result<Connection, StoreError> {
    use rusqlite::OpenFlags;
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::default()
    };
    let conn = Connection::open_with_flags(path, flags).map_err(StoreError::backend)?;
    // Readers map the file (fewer copies through the kernel); the writer keeps a larger
    // page cache, so that the indexes' newest pages stay in memory between commits, and
    // checkpoints every 8,192 pages (32 MiB) instead of 1,000: fewer, larger copies into the
    // database file (about 10 % more ingest on a 5 M-report store, BENCHMARKS.md). The WAL is
    // cut back to 64 MiB after each checkpoint.
    let pragmas = if read_only {
        "PRAGMA busy_timeout = 5000; PRAGMA mmap_size = 1073741824; PRAGMA cache_size = -32768;"
    } else {
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 5000;
         PRAGMA cache_size = -65536; PRAGMA wal_autocheckpoint = 8192;
         PRAGMA journal_size_limit = 67108864;"
    };
    conn.execute_batch(pragmas).map_err(StoreError::backend)?;
    Ok(conn)
}

/// A store opened for reading that does not exist.
#[derive(Debug, thiserror::Error)]
#[error("no store at {} (run `lookout serve` first, or pass --data)", .0.display())]
pub(crate) struct NoStore(pub(crate) PathBuf);

/// A write asked of a store opened read-only.
#[derive(Debug, thiserror::Error)]
#[error("the store was opened read-only")]
struct ReadOnly;

/// No visitor key could be made or read back.
#[derive(Debug, thiserror::Error)]
#[error(
    "no visitor key for the day (the system's random source failed, or the stored key is damaged)"
)]
struct NoRandom;

#[async_trait]
impl ReportStore for EmbeddedStore {
    async fn put(&self, reports: &[Report]) -> Result<(), PutError> {
        if reports.is_empty() {
            return Ok(());
        }
        // A report that does not serialize is answered unwritten; it never holds back the rest.
        let mut rows = Vec::with_capacity(reports.len());
        let mut unstorable = Vec::new();
        let mut why = None;
        for (i, r) in reports.iter().enumerate() {
            match Row::of(r) {
                Ok(row) => rows.push(row),
                Err(e) => {
                    unstorable.push(i);
                    why.get_or_insert(e);
                }
            }
        }
        let (reply, answer) = oneshot::channel();
        let closed = || PutError::all(reports.len(), StoreError::Closed);
        match self.writer.try_send(WriteJob { rows, reply }) {
            Ok(()) => {}
            Err(mpsc::TrySendError::Disconnected(_)) => return Err(closed()),
            Err(mpsc::TrySendError::Full(job)) => {
                // The queue is bounded: when it is full, wait off the async threads.
                let writer = self.writer.clone();
                tokio::task::spawn_blocking(move || writer.send(job))
                    .await
                    .map_err(|e| PutError::all(reports.len(), StoreError::backend(e)))?
                    .map_err(|_| closed())?;
            }
        }
        match answer.await {
            Ok(Ok(())) => match why {
                None => Ok(()),
                Some(e) => Err(PutError {
                    unwritten: unstorable,
                    source: StoreError::backend(e),
                }),
            },
            Ok(Err(e)) => Err(PutError::all(reports.len(), StoreError::backend(e))),
            Err(_) => Err(PutError::all(reports.len(), StoreError::Closed)),
        }
    }

    async fn recent(&self, q: &RecentQuery) -> Result<Vec<Report>, StoreError> {
        let q = q.clone();
        let rows = self.read(move |conn| recent_rows(conn, &q)).await?;
        rows.into_iter()
            .map(|c| report_of(c).map_err(StoreError::backend))
            .collect()
    }

    async fn stored(&self, reports: &[Report]) -> Result<Vec<bool>, StoreError> {
        let identities: Vec<Vec<(i64, row::StoredId)>> = reports
            .iter()
            .map(|r| {
                let mut ids = vec![(r.window().millis(), id_bytes(&r.id))];
                ids.extend(r.neighbour().map(|n| (n.window.millis(), id_bytes(&n.id))));
                ids
            })
            .collect();
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(IDENTITY_STORED)?;
            let mut answers = Vec::with_capacity(identities.len());
            for ids in &identities {
                let mut any = false;
                for (window, id) in ids {
                    any |= stmt.query_row(params![window, id], |row| row.get::<_, bool>(0))?;
                }
                answers.push(any);
            }
            Ok(answers)
        })
        .await
    }

    async fn day_key(&self, day: &str) -> Result<DayKey, StoreError> {
        let Some(conn) = self.side.clone() else {
            return Err(StoreError::backend(ReadOnly));
        };
        let fresh = DayKey::generate().map_err(|_| StoreError::backend(NoRandom))?;
        let day = day.to_owned();
        tokio::task::spawn_blocking(move || {
            let mut conn = conn.lock().unwrap_or_else(|p| p.into_inner());
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            tx.execute(
                "INSERT OR IGNORE INTO day_keys (day, key) VALUES (?1, ?2)",
                params![day, fresh.bytes().as_slice()],
            )?;
            // Keys of days before yesterday are forgotten: their visitor bytes can no longer
            // be traced back to a network.
            tx.execute(
                "DELETE FROM day_keys WHERE day < date(?1, '-1 day')",
                params![day],
            )?;
            let key: Vec<u8> = tx.query_row(
                "SELECT key FROM day_keys WHERE day = ?1",
                params![day],
                |r| r.get(0),
            )?;
            tx.commit()?;
            Ok::<_, rusqlite::Error>(key)
        })
        .await
        .map_err(StoreError::backend)?
        .map_err(StoreError::backend)
        .and_then(|k| DayKey::from_bytes(&k).ok_or_else(|| StoreError::backend(NoRandom)))
    }

    async fn sites(&self, since: Timestamp) -> Result<Vec<SiteSummary>, StoreError> {
        let rows = self
            .read(move |conn| aggregate::sites_since(conn, since, MAX_SITES))
            .await?;
        Ok(rows
            .into_iter()
            .map(|(site, reports, problems, last_seen)| SiteSummary {
                site,
                reports: reports.max(0) as u64,
                problems: problems.max(0) as u64,
                last_seen: Timestamp(last_seen),
            })
            .collect())
    }

    /// Read from the day aggregates: about problems × days rows, however many reports.
    async fn top(&self, q: &TopQuery) -> Result<Vec<GroupSummary>, StoreError> {
        let (limit, classification) = (q.limit, q.classification);
        let q = q.clone();
        let days = self
            .read(move |conn| {
                aggregate::days_of_site(
                    conn,
                    &q.site,
                    q.report_type.as_ref().map(ReportType::as_str),
                    q.since,
                )
            })
            .await?;
        let mut top = Top::default();
        for day in days {
            top.merge(day);
        }
        Ok(top.groups(limit, classification))
    }
}

/// The rows of [`ReportStore::recent`]'s answer, newest first: each site and type's (or each
/// problem's) newest rows read from its index, then merged.
fn recent_rows(conn: &Connection, q: &RecentQuery) -> rusqlite::Result<Vec<row::StoredColumns>> {
    let t = q.report_type.as_ref().map(ReportType::as_str);
    let class = q.classification.map(Classification::as_str);
    // The index to read: a problem's reports, or a site and type's.
    let (keys, by_problem): (Vec<i64>, bool) = match &q.fingerprint {
        Some(fp) => {
            let mut stmt = conn.prepare_cached(
                "SELECT id FROM problems WHERE site = ?1 AND fingerprint = ?2
                   AND (?3 IS NULL OR type = ?3) AND (?4 IS NULL OR classification = ?4)",
            )?;
            let ids = stmt.query_map(params![q.site, fp, t, class], |r| r.get(0))?;
            (ids.collect::<rusqlite::Result<_>>()?, true)
        }
        None => {
            let mut stmt = conn.prepare_cached(
                "SELECT id FROM site_types WHERE site = ?1 AND (?2 IS NULL OR type = ?2)",
            )?;
            let ids = stmt.query_map(params![q.site, t], |r| r.get(0))?;
            (ids.collect::<rusqlite::Result<_>>()?, false)
        }
    };
    let sql = recent_sql(by_problem);
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = Vec::new();
    for key in keys {
        let found = stmt.query_map(params![key, q.since.millis(), q.limit as i64, class], |r| {
            Ok((r.get::<_, i64>(1)?, columns_of(r, 0)?))
        })?;
        rows.extend(found.collect::<rusqlite::Result<Vec<_>>>()?);
    }
    rows.sort_by(|(ta, a), (tb, b)| tb.cmp(ta).then_with(|| a.id().cmp(b.id())));
    rows.truncate(q.limit);
    Ok(rows.into_iter().map(|(_, c)| c).collect())
}

/// The newest reports of one problem (`by_problem`) or one site and type, read from the index
/// that keeps them in time order; SQLite sorts only reports of the same time by id. Both take
/// the same parameters: the key, the oldest time, the limit, the classification or NULL.
fn recent_sql(by_problem: bool) -> String {
    if by_problem {
        format!(
            "SELECT {REPORT_COLUMNS} FROM reports r {REPORT_JOINS}
             WHERE r.problem = ?1 AND r.occurred_at >= ?2
               AND (?4 IS NULL OR p.classification = ?4)
             ORDER BY r.occurred_at DESC, r.id LIMIT ?3"
        )
    } else {
        format!(
            "SELECT {REPORT_COLUMNS} FROM reports r {REPORT_JOINS}
             WHERE r.site_type = ?1 AND r.occurred_at >= ?2
               AND (?4 IS NULL OR p.classification = ?4)
             ORDER BY r.occurred_at DESC, r.id LIMIT ?3"
        )
    }
}

/// Up to `limit` reports stored after row `after`, with their row numbers, in order (the
/// local stand-in for the table's stream); a row that no longer reads as a report is an error.
pub(super) fn reports_after(
    conn: &Connection,
    after: i64,
    limit: usize,
) -> Result<Vec<(i64, Report)>, StoreError> {
    let rows: Vec<(i64, row::StoredColumns)> = {
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT r.seq, {REPORT_COLUMNS} FROM reports r {REPORT_JOINS}
                 WHERE r.seq > ?1 ORDER BY r.seq LIMIT ?2"
            ))
            .map_err(StoreError::backend)?;
        let rows = stmt
            .query_map(params![after, limit as i64], |r| {
                Ok((r.get(0)?, columns_of(r, 1)?))
            })
            .map_err(StoreError::backend)?;
        rows.collect::<rusqlite::Result<_>>()
            .map_err(StoreError::backend)?
    };
    rows.into_iter()
        .map(|(seq, c)| report_of(c).map(|r| (seq, r)).map_err(StoreError::backend))
        .collect()
}

impl EmbeddedStore {
    /// The number of stored reports (for tests and the health answer).
    pub async fn count(&self) -> Result<u64, StoreError> {
        self.read(|conn| {
            conn.query_row("SELECT COUNT(*) FROM reports", [], |r| r.get::<_, i64>(0))
                .optional()
                .map(|n| n.unwrap_or(0) as u64)
        })
        .await
    }
}
