//! The embedded store: one SQLite file, no server, browsable with `sqlite3`.
//!
//! Durability: WAL journal with `synchronous=FULL`, so a request is answered only after its
//! reports reached the disk. Writes go through one writer thread that commits concurrent
//! requests together (group commit): one fsync serves many requests under load.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::oneshot;

use super::{
    GroupSummary, MAX_BROWSERS, MAX_SITES, PutError, RecentQuery, ReportStore, SiteSummary,
    StoreError, TopQuery,
};
use crate::report::visitor::DayKey;
use crate::report::{Classification, Report, ReportType, Timestamp};

mod schema;
mod writer;

use schema::prepare_schema;
use writer::{IDENTITY_STORED, MAX_GROUP, Row, WriteJob, writer_loop};

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
        let mut conn = open_connection(&path, options.read_only)?;
        if !options.read_only {
            prepare_schema(&mut conn).map_err(StoreError::backend)?;
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
            .spawn(move || writer_loop(conn, rx))
            .map_err(StoreError::backend)?;
        Ok(Self {
            writer: tx,
            reader: Arc::new(Mutex::new(reader)),
            side,
        })
    }

    /// Removes at most `limit` reports received before `before`, oldest first; returns how
    /// many. Rows are stored in arrival order, so the oldest are the first rows: each step is
    /// one short transaction that reads no index, and ingest goes on between steps.
    pub async fn remove_before(
        &self,
        before: Timestamp,
        limit: usize,
    ) -> Result<usize, StoreError> {
        let Some(conn) = self.side.clone() else {
            return Err(StoreError::backend(ReadOnly));
        };
        tokio::task::spawn_blocking(move || {
            let conn = conn.lock().unwrap_or_else(|p| p.into_inner());
            conn.execute(
                "DELETE FROM reports WHERE seq IN
                     (SELECT seq FROM reports WHERE received_at < ?1 ORDER BY seq LIMIT ?2)",
                params![before.millis(), limit as i64],
            )
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

fn open_connection(path: &Path, read_only: bool) -> Result<Connection, StoreError> {
    use rusqlite::OpenFlags;
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::default()
    };
    let conn = Connection::open_with_flags(path, flags).map_err(StoreError::backend)?;
    let pragmas = if read_only {
        "PRAGMA busy_timeout = 5000;"
    } else {
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 5000;"
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
        let rows: Vec<String> = self
            .read(move |conn| {
                let t = q.report_type.as_ref().map(ReportType::as_str);
                let mut stmt = conn.prepare_cached(
                    "SELECT report FROM reports
                     WHERE site = ?1 AND (?2 IS NULL OR type = ?2) AND occurred_at >= ?3
                       AND (?5 IS NULL OR json_extract(report, '$.classification') = ?5)
                       AND (?6 IS NULL OR fingerprint = ?6)
                     ORDER BY occurred_at DESC, id LIMIT ?4",
                )?;
                let class = q.classification.map(Classification::as_str);
                let rows = stmt.query_map(
                    params![
                        q.site,
                        t,
                        q.since.millis(),
                        q.limit as i64,
                        class,
                        q.fingerprint
                    ],
                    |row| row.get::<_, String>(0),
                )?;
                rows.collect()
            })
            .await?;
        rows.iter()
            .map(|json| serde_json::from_str(json).map_err(StoreError::backend))
            .collect()
    }

    async fn stored(&self, reports: &[Report]) -> Result<Vec<bool>, StoreError> {
        let identities: Vec<Vec<(i64, String)>> = reports
            .iter()
            .map(|r| {
                let mut ids = vec![(r.window().millis(), r.id.clone())];
                ids.extend(r.neighbour().map(|n| (n.window.millis(), n.id)));
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
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT site, COUNT(*), COUNT(DISTINCT type || ' ' || fingerprint), MAX(occurred_at)
                 FROM reports WHERE occurred_at >= ?1
                 GROUP BY site ORDER BY COUNT(*) DESC, site LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![since.millis(), MAX_SITES as i64], |row| {
                Ok(SiteSummary {
                    site: row.get(0)?,
                    reports: row.get::<_, i64>(1)? as u64,
                    problems: row.get::<_, i64>(2)? as u64,
                    last_seen: Timestamp(row.get(3)?),
                })
            })?;
            rows.collect()
        })
        .await
    }

    async fn top(&self, q: &TopQuery) -> Result<Vec<GroupSummary>, StoreError> {
        let q = q.clone();
        self.read(move |conn| {
            let t = q.report_type.as_ref().map(ReportType::as_str);
            let mut stmt = conn.prepare_cached(
                "SELECT type, fingerprint, MIN(grp), COUNT(*), MIN(occurred_at), MAX(occurred_at),
                        GROUP_CONCAT(DISTINCT browser), MAX(json_extract(report, '$.classification')),
                        MAX(json_extract(report, '$.policy_version')),
                        GROUP_CONCAT(DISTINCT json_extract(report, '$.disposition')),
                        COUNT(DISTINCT (occurred_at / 86400000) * 256 + json_extract(report, '$.visitor'))
                 FROM reports
                 WHERE site = ?1 AND (?2 IS NULL OR type = ?2) AND occurred_at >= ?3
                   AND (?5 IS NULL OR json_extract(report, '$.classification') = ?5)
                 GROUP BY type, fingerprint
                 ORDER BY COUNT(*) DESC, MAX(occurred_at) DESC, type, fingerprint LIMIT ?4",
            )?;
            let class = q.classification.map(Classification::as_str);
            let rows = stmt.query_map(
                params![q.site, t, q.since.millis(), q.limit as i64, class],
                |row| {
                    let type_name: String = row.get(0)?;
                    let browsers: Option<String> = row.get(6)?;
                    let mut browsers: Vec<String> = browsers
                        .map(|b| b.split(',').map(str::to_owned).collect())
                        .unwrap_or_default();
                    browsers.sort();
                    browsers.truncate(MAX_BROWSERS);
                    let dispositions: Option<String> = row.get(9)?;
                    let mut dispositions: Vec<String> = dispositions
                        .map(|d| d.split(',').map(str::to_owned).collect())
                        .unwrap_or_default();
                    dispositions.sort();
                    Ok(GroupSummary {
                        report_type: ReportType::from_name(&type_name)
                            .unwrap_or(ReportType::Other(type_name)),
                        fingerprint: row.get(1)?,
                        group: row.get(2)?,
                        count: row.get::<_, i64>(3)? as u64,
                        first_seen: Timestamp(row.get(4)?),
                        last_seen: Timestamp(row.get(5)?),
                        browsers,
                        // Distinct (day, visitor) pairs: each day's visitors, summed.
                        visitors: row.get::<_, i64>(10)? as u64,
                        dispositions,
                        classification: row
                            .get::<_, Option<String>>(7)?
                            .as_deref()
                            .and_then(Classification::from_name),
                        policy_version: row.get(8)?,
                        days: BTreeMap::new(),
                    })
                },
            )?;
            let mut groups: Vec<GroupSummary> = rows.collect::<rusqlite::Result<_>>()?;
            let mut days = conn.prepare_cached(
                "SELECT strftime('%Y-%m-%d', occurred_at / 1000, 'unixepoch'), COUNT(*)
                 FROM reports
                 WHERE site = ?1 AND type = ?2 AND fingerprint = ?3 AND occurred_at >= ?4
                 GROUP BY 1",
            )?;
            for g in &mut groups {
                let rows = days.query_map(
                    params![q.site, g.report_type.as_str(), g.fingerprint, q.since.millis()],
                    |row| Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)? as u64)),
                )?;
                g.days = rows.collect::<rusqlite::Result<_>>()?;
            }
            Ok(groups)
        })
        .await
    }
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
