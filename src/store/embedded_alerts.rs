//! The alert state beside the embedded store, in the same SQLite file, on a connection of its
//! own: alerts write rarely, and a write waits for the report writer's transaction to end
//! (busy timeout) instead of going through its queue.
//!
//! - `alert_claims`: one row per claim (`{site}#{key}`), which is also the outbox: a pending
//!   claim holds its alert (JSON), its attempts and its next attempt; a settled one only its
//!   state. Each row has an expiry (new problems 90 days, spikes 3, digests 2).
//! - `alert_budget`: alerts sent per site and clock hour, kept 2 days past the hour.
//! - `alert_hour_batches`: the key of each batch an hourly count took (see [`HourBatch`]), kept
//!   2 days past the hour. Hourly counts come from the `reports` table itself, so they are
//!   exact; the keys tell a batch given again from new reports.
//! - `mutes`.
//!
//! Expired rows are deleted by the next write to their table. Writes that read first run in
//! `BEGIN IMMEDIATE` transactions, so that they are atomic even beside another process.
//!
//! Also the local stand-in for the table's stream: [`EmbeddedAlertState::reports_after`]
//! reads the reports stored since a row number, in the order they were stored.

use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

use super::StoreError;
use super::embedded::{DB_FILE, NoStore};
use crate::alert::{
    AlertState, Claim, DAY_MS, HOUR_ITEM_DAYS, HOUR_MS, HourBatch, Mute, MuteTarget,
    NEW_CLAIM_DAYS, Outcome, Outgoing, Problem, Settle, Ticket, stored_alert,
};
use crate::report::{Report, Timestamp};

const SCHEMA: &str = "
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
fn migrate(c: &Connection) -> rusqlite::Result<()> {
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

/// A transaction that takes the write lock at once, so that what it reads stays true until it
/// commits.
fn write(c: &Connection) -> rusqlite::Result<Transaction<'_>> {
    Transaction::new_unchecked(c, TransactionBehavior::Immediate)
}

/// A pending claim as read for the outbox.
struct PendingRow {
    key: String,
    site: Option<String>,
    alert: Option<String>,
    attempts: i64,
    budgeted: bool,
    delivered: Option<String>,
    claimed_at: i64,
}

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
            .and_then(|()| migrate(&conn))
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
    async fn claim(
        &self,
        site: &str,
        claims: &[Claim],
        lease_until: Timestamp,
    ) -> Result<(Vec<bool>, Ticket), StoreError> {
        if claims.is_empty() {
            return Ok((Vec::new(), Ticket::default()));
        }
        let rows = claims
            .iter()
            .map(
                |c| -> Result<(String, String, bool, i64), serde_json::Error> {
                    Ok((
                        format!("{site}#{}", c.key),
                        serde_json::to_string(&c.alert)?,
                        c.budgeted,
                        c.expires.millis(),
                    ))
                },
            )
            .collect::<Result<Vec<(String, String, bool, i64)>, serde_json::Error>>()
            .map_err(StoreError::backend)?;
        let site = site.to_owned();
        let now = Timestamp::now().millis();
        let lease = lease_until.millis();
        let won = self
            .with(move |c| {
                let tx = write(c)?;
                tx.execute(
                    "DELETE FROM alert_claims WHERE expires_at < ?1",
                    params![now],
                )?;
                let mut won = Vec::with_capacity(rows.len());
                {
                    let mut insert = tx.prepare_cached(
                        "INSERT OR IGNORE INTO alert_claims
                           (key, claimed_at, site, state, alert, attempts, budgeted, delivered,
                            next_attempt, expires_at)
                         VALUES (?1, ?2, ?3, 'pending', ?4, 0, ?5, NULL, ?6, ?7)",
                    )?;
                    for (key, alert, budgeted, expires) in &rows {
                        let n = insert
                            .execute(params![key, now, site, alert, budgeted, lease, expires])?;
                        won.push(n == 1);
                    }
                }
                tx.commit()?;
                Ok(won)
            })
            .await?;
        Ok((won, Ticket::default()))
    }

    async fn due(
        &self,
        now: Timestamp,
        limit: usize,
        lease_until: Timestamp,
    ) -> Result<(Vec<Outgoing>, Ticket), StoreError> {
        let (now, lease) = (now.millis(), lease_until.millis());
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows: Vec<PendingRow> = self
            .with(move |c| {
                let tx = write(c)?;
                let rows = {
                    let mut select = tx.prepare_cached(
                        "SELECT key, site, alert, attempts, budgeted, delivered, claimed_at
                           FROM alert_claims
                          WHERE state = 'pending' AND next_attempt <= ?1
                          ORDER BY next_attempt LIMIT ?2",
                    )?;
                    let rows = select.query_map(params![now, limit], |r| {
                        Ok(PendingRow {
                            key: r.get(0)?,
                            site: r.get(1)?,
                            alert: r.get(2)?,
                            attempts: r.get(3)?,
                            budgeted: r.get(4)?,
                            delivered: r.get(5)?,
                            claimed_at: r.get(6)?,
                        })
                    })?;
                    rows.collect::<rusqlite::Result<Vec<PendingRow>>>()?
                };
                {
                    let mut take = tx.prepare_cached(
                        "UPDATE alert_claims SET next_attempt = ?2 WHERE key = ?1",
                    )?;
                    for row in &rows {
                        take.execute(params![row.key, lease])?;
                    }
                }
                tx.commit()?;
                Ok(rows)
            })
            .await?;
        let mut due = Vec::with_capacity(rows.len());
        let mut unreadable = Vec::new();
        for row in rows {
            let site = row.site.unwrap_or_default();
            let key = row
                .key
                .strip_prefix(&format!("{site}#"))
                .unwrap_or(&row.key)
                .to_owned();
            match row
                .alert
                .as_deref()
                .and_then(|a| stored_alert(&site, &key, a))
            {
                Some(alert) => due.push(Outgoing {
                    site,
                    key,
                    alert,
                    queued_at: Timestamp(row.claimed_at),
                    attempts: u32::try_from(row.attempts.max(0)).unwrap_or(u32::MAX),
                    budgeted: row.budgeted,
                    delivered: row
                        .delivered
                        .and_then(|d| serde_json::from_str(&d).ok())
                        .unwrap_or_default(),
                }),
                None => unreadable.push(Outcome {
                    site,
                    key,
                    settle: Settle::GivenUp,
                }),
            }
        }
        if !unreadable.is_empty() {
            self.settle(Ticket::default(), &unreadable).await?;
        }
        Ok((due, Ticket::default()))
    }

    async fn settle(&self, _ticket: Ticket, outcomes: &[Outcome]) -> Result<(), StoreError> {
        if outcomes.is_empty() {
            return Ok(());
        }
        // (key, state, for a retry: next attempt, attempts, delivered sinks as JSON)
        let rows: Vec<(String, &'static str, Option<(i64, i64, String)>)> = outcomes
            .iter()
            .map(|o| {
                let key = format!("{}#{}", o.site, o.key);
                match &o.settle {
                    Settle::Retry {
                        at,
                        attempts,
                        delivered,
                    } => (
                        key,
                        o.settle.state(),
                        Some((
                            at.millis(),
                            i64::from(*attempts),
                            serde_json::to_string(delivered).unwrap_or_default(),
                        )),
                    ),
                    other => (key, other.state(), None),
                }
            })
            .collect();
        self.with(move |c| {
            let tx = write(c)?;
            {
                let mut retry = tx.prepare_cached(
                    "UPDATE alert_claims
                        SET next_attempt = ?2, attempts = ?3, delivered = ?4, budgeted = 1
                      WHERE key = ?1 AND state = 'pending'",
                )?;
                let mut done = tx.prepare_cached(
                    "UPDATE alert_claims SET state = ?2, alert = NULL, next_attempt = NULL
                      WHERE key = ?1 AND state = 'pending'",
                )?;
                for (key, state, retry_with) in &rows {
                    match retry_with {
                        Some((at, attempts, delivered)) => {
                            retry.execute(params![key, at, attempts, delivered])?
                        }
                        None => done.execute(params![key, state])?,
                    };
                }
            }
            tx.commit()
        })
        .await
    }

    async fn take_budget(
        &self,
        site: &str,
        hour: Timestamp,
        want: u32,
        limit: u32,
    ) -> Result<u32, StoreError> {
        let site = site.to_owned();
        let hour = hour.millis();
        let expires = hour + HOUR_MS + HOUR_ITEM_DAYS * DAY_MS;
        let now = Timestamp::now().millis();
        self.with(move |c| {
            let tx = write(c)?;
            tx.execute(
                "DELETE FROM alert_budget WHERE expires_at < ?1",
                params![now],
            )?;
            let used: i64 = tx
                .query_row(
                    "SELECT used FROM alert_budget WHERE site = ?1 AND hour = ?2",
                    params![site, hour],
                    |r| r.get(0),
                )
                .optional()?
                .unwrap_or(0);
            let granted = i64::from(want).min((i64::from(limit) - used).max(0));
            if granted > 0 {
                tx.execute(
                    "INSERT INTO alert_budget (site, hour, used, expires_at)
                     VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (site, hour) DO UPDATE SET used = used + excluded.used",
                    params![site, hour, granted, expires],
                )?;
            }
            tx.commit()?;
            Ok(u32::try_from(granted).unwrap_or(0))
        })
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
            let tx = write(c)?;
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
