//! The alert state beside the embedded store, in the same SQLite file (tables `alert_claims`,
//! `alert_hour_batches` and `mutes`), on a connection of its own: alerts write rarely, and a
//! write waits for the report writer's transaction to end (busy timeout) instead of going
//! through its queue. Hourly counts come from the `reports` table itself, so they are exact;
//! `alert_hour_batches` keeps the key of each batch counted (see [`HourBatch`]) so that a batch
//! given again is not taken for new reports.
//!
//! Also the local stand-in for the table's stream: [`EmbeddedAlertState::reports_after`]
//! reads the reports stored since a row number, in the order they were stored.

use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rusqlite::{Connection, params};

use super::StoreError;
use super::embedded::{DB_FILE, NoStore};
use crate::alert::{
    AlertState, DAY_MS, HOUR_ITEM_DAYS, HOUR_MS, HourBatch, Mute, MuteTarget, Problem,
};
use crate::report::{Report, Timestamp};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS alert_claims (
    key        TEXT PRIMARY KEY,
    claimed_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS alert_hour_batches (
    mark       TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS alert_hour_batches_expiry ON alert_hour_batches (expires_at);
CREATE TABLE IF NOT EXISTS mutes (
    site   TEXT NOT NULL,
    target TEXT NOT NULL,
    until  INTEGER,
    PRIMARY KEY (site, target)
);
";

/// Alert state in the embedded store's file.
#[derive(Clone)]
pub struct EmbeddedAlertState {
    conn: Arc<Mutex<Connection>>,
}

impl EmbeddedAlertState {
    /// Opens the state of the store in `dir` (which must exist: `lookout serve` creates it).
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let path = dir.join(DB_FILE);
        if !path.exists() {
            return Err(StoreError::backend(NoStore(path)));
        }
        let conn = Connection::open(&path).map_err(StoreError::backend)?;
        conn.execute_batch("PRAGMA busy_timeout = 5000;")
            .and_then(|()| conn.execute_batch(SCHEMA))
            .map_err(StoreError::backend)?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    async fn with<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            let conn = conn.lock().unwrap_or_else(|p| p.into_inner());
            f(&conn).map_err(StoreError::backend)
        })
        .await
        .map_err(StoreError::backend)?
    }

    /// The last row number stored (0 for an empty store).
    pub async fn last_row(&self) -> Result<i64, StoreError> {
        self.with(|c| {
            c.query_row("SELECT COALESCE(MAX(seq), 0) FROM reports", [], |r| {
                r.get(0)
            })
        })
        .await
    }

    /// Up to `limit` reports stored after row `after`, with their row numbers, in order.
    pub async fn reports_after(
        &self,
        after: i64,
        limit: usize,
    ) -> Result<Vec<(i64, Report)>, StoreError> {
        let rows: Vec<(i64, String)> = self
            .with(move |c| {
                let mut stmt = c.prepare_cached(
                    "SELECT seq, report FROM reports WHERE seq > ?1 ORDER BY seq LIMIT ?2",
                )?;
                let rows =
                    stmt.query_map(params![after, limit as i64], |r| Ok((r.get(0)?, r.get(1)?)))?;
                rows.collect()
            })
            .await?;
        rows.into_iter()
            .map(|(seq, json)| {
                serde_json::from_str(&json)
                    .map(|r| (seq, r))
                    .map_err(StoreError::backend)
            })
            .collect()
    }

    async fn claim(&self, key: String) -> Result<bool, StoreError> {
        self.with(move |c| {
            c.execute(
                "INSERT OR IGNORE INTO alert_claims (key, claimed_at) VALUES (?1, ?2)",
                params![key, Timestamp::now().millis()],
            )
            .map(|n| n == 1)
        })
        .await
    }

    async fn count(&self, p: &Problem, from: i64, to: i64) -> Result<u64, StoreError> {
        let (site, t, fp) = (
            p.site.clone(),
            p.report_type.as_str().to_owned(),
            p.fingerprint.clone(),
        );
        self.with(move |c| {
            c.query_row(
                "SELECT COUNT(*) FROM reports WHERE site = ?1 AND type = ?2 AND fingerprint = ?3
                   AND received_at >= ?4 AND received_at < ?5",
                params![site, t, fp, from, to],
                |r| r.get::<_, i64>(0),
            )
        })
        .await
        .map(|n| n.max(0) as u64)
    }
}

#[async_trait]
impl AlertState for EmbeddedAlertState {
    async fn claim_new(&self, p: &Problem, _first_seen: Timestamp) -> Result<bool, StoreError> {
        self.claim(format!("{}#{}", p.site, p.new_claim())).await
    }

    async fn claim_spike(&self, p: &Problem, day: &str) -> Result<bool, StoreError> {
        self.claim(format!("{}#{}", p.site, p.spike_claim(day)))
            .await
    }

    async fn add_to_hour(
        &self,
        p: &Problem,
        hour: Timestamp,
        batch: &HourBatch,
    ) -> Result<(u64, u64), StoreError> {
        // The reports are already in the table: the hour's count includes them. The batch's
        // mark says whether they were new to it (in the same transaction as the count).
        let (site, t, fp) = (
            p.site.clone(),
            p.report_type.as_str().to_owned(),
            p.fingerprint.clone(),
        );
        let mark = format!("{site}#{t}#{fp}#{}#{}", hour.millis(), batch.key);
        let (from, to) = (hour.millis(), hour.millis() + HOUR_MS);
        let expires = to + HOUR_ITEM_DAYS * DAY_MS;
        let now = Timestamp::now().millis();
        let n = batch.n;
        self.with(move |c| {
            let tx = c.unchecked_transaction()?;
            tx.execute(
                "DELETE FROM alert_hour_batches WHERE expires_at < ?1",
                params![now],
            )?;
            let new = tx.execute(
                "INSERT OR IGNORE INTO alert_hour_batches (mark, expires_at) VALUES (?1, ?2)",
                params![mark, expires],
            )? == 1;
            let after: i64 = tx.query_row(
                "SELECT COUNT(*) FROM reports WHERE site = ?1 AND type = ?2 AND fingerprint = ?3
                   AND received_at >= ?4 AND received_at < ?5",
                params![site, t, fp, from, to],
                |r| r.get(0),
            )?;
            tx.commit()?;
            let after = after.max(0) as u64;
            Ok(if new {
                (after.saturating_sub(n), after)
            } else {
                (after, after)
            })
        })
        .await
    }

    async fn previous_day(&self, p: &Problem, hour: Timestamp) -> Result<u64, StoreError> {
        self.count(p, hour.millis() - 24 * HOUR_MS, hour.millis())
            .await
    }

    async fn mutes(&self, site: &str) -> Result<Vec<Mute>, StoreError> {
        let site = site.to_owned();
        let rows: Vec<(String, Option<i64>)> = {
            let site = site.clone();
            self.with(move |c| {
                let mut stmt =
                    c.prepare_cached("SELECT target, until FROM mutes WHERE site = ?1")?;
                let rows = stmt.query_map(params![site], |r| Ok((r.get(0)?, r.get(1)?)))?;
                rows.collect()
            })
            .await?
        };
        Ok(rows
            .into_iter()
            .filter_map(|(target, until)| {
                Some(Mute {
                    site: site.clone(),
                    target: MuteTarget::from_key(&target)?,
                    until: until.map(Timestamp),
                })
            })
            .collect())
    }

    async fn mute(&self, mute: &Mute) -> Result<(), StoreError> {
        let (site, target, until) = (
            mute.site.clone(),
            mute.target.key(),
            mute.until.map(|u| u.millis()),
        );
        self.with(move |c| {
            c.execute(
                "INSERT OR REPLACE INTO mutes (site, target, until) VALUES (?1, ?2, ?3)",
                params![site, target, until],
            )
            .map(|_| ())
        })
        .await
    }

    async fn unmute(&self, site: &str, target: &MuteTarget) -> Result<bool, StoreError> {
        let (site, target) = (site.to_owned(), target.key());
        self.with(move |c| {
            c.execute(
                "DELETE FROM mutes WHERE site = ?1 AND target = ?2",
                params![site, target],
            )
            .map(|n| n > 0)
        })
        .await
    }
}
