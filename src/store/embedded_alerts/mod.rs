//! The alert state beside the embedded store, in the same SQLite file, on a connection of its
//! own: alerts write rarely, and a write waits for the report writer's transaction to end
//! (busy timeout) instead of going through its queue.
//!
//! - `alert_claims`: one row per claim (`{site}#{key}`), which is also the outbox: a pending
//!   claim holds its alert (JSON), its attempts and its next attempt; a settled one only its
//!   state. Each row has an expiry (new problems 90 days, spikes 3, digests 2).
//! - `alert_budget`: alerts sent per site and clock hour, kept 2 days past the hour.
//! - `alert_hour_batches`: the key of each batch an hourly count took (see [`HourBatch`]), kept
//!   2 days past the hour. Hourly counts come from the store's hourly aggregates, so they are
//!   exact; the keys tell a batch given again from new reports.
//! - `mutes`.
//! - `script_contents`, `script_sites`, `script_authorizations`: what `alert::scripts` keeps.
//!
//! Expired rows are deleted by the next write to their table. Writes that read first run in
//! `BEGIN IMMEDIATE` transactions, so that they are atomic even beside another process.
//!
//! Also the local stand-in for the table's stream: [`EmbeddedAlertState::reports_after`]
//! reads the reports stored since a row number, in the order they were stored.
//!
//! Split by table: `schema` (the tables, and the migration of older files), `claims` (claims
//! and the outbox), `hours` (hourly counts), `budget` (each site's hourly budget), `mutes`;
//! `rows` reads the reports stored since a row. Each file's methods are what the
//! [`AlertState`] implementation below calls.

mod budget;
mod claims;
mod hours;
mod mutes;
mod rows;
mod schema;
mod scripts;

use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rusqlite::{Connection, Transaction, TransactionBehavior};

use super::StoreError;
use super::embedded::{DB_FILE, NoStore};
use crate::alert::scripts::{Authorization, ScriptHistory, Sighting};
use crate::alert::{
    AlertState, Claim, HourBatch, Mute, MuteTarget, Outcome, Outgoing, Problem, StateError, Ticket,
};
use crate::report::Timestamp;

/// A transaction that takes the write lock at once, so that what it reads stays true until it
/// commits.
fn write(c: &Connection) -> rusqlite::Result<Transaction<'_>> {
    Transaction::new_unchecked(c, TransactionBehavior::Immediate)
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
            .and_then(|()| conn.execute_batch(schema::SCHEMA))
            .and_then(|()| schema::migrate(&conn))
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
}

#[async_trait]
impl AlertState for EmbeddedAlertState {
    async fn claim(
        &self,
        site: &str,
        claims: &[Claim],
        lease_until: Timestamp,
    ) -> Result<(Vec<bool>, Ticket), StateError> {
        self.claim_alerts(site, claims, lease_until)
            .await
            .map_err(StateError::from)
    }

    async fn due(
        &self,
        now: Timestamp,
        limit: usize,
        lease_until: Timestamp,
    ) -> Result<(Vec<Outgoing>, Ticket), StateError> {
        self.due_alerts(now, limit, lease_until)
            .await
            .map_err(StateError::from)
    }

    /// The embedded store's tickets are empty: a pending claim is its own outbox entry.
    async fn settle(&self, _ticket: Ticket, outcomes: &[Outcome]) -> Result<(), StateError> {
        self.settle_alerts(outcomes).await.map_err(StateError::from)
    }

    async fn take_budget(
        &self,
        site: &str,
        hour: Timestamp,
        want: u32,
        limit: u32,
    ) -> Result<u32, StateError> {
        self.take_alert_budget(site, hour, want, limit)
            .await
            .map_err(StateError::from)
    }

    async fn add_to_hour(
        &self,
        p: &Problem,
        hour: Timestamp,
        batch: &HourBatch,
    ) -> Result<(u64, u64), StateError> {
        self.add_to_hour_count(p, hour, batch)
            .await
            .map_err(StateError::from)
    }

    async fn previous_day(&self, p: &Problem, hour: Timestamp) -> Result<u64, StateError> {
        self.previous_day_count(p, hour)
            .await
            .map_err(StateError::from)
    }

    async fn mutes(&self, site: &str) -> Result<Vec<Mute>, StateError> {
        self.read_mutes(site).await.map_err(StateError::from)
    }

    async fn mute(&self, mute: &Mute) -> Result<(), StateError> {
        self.put_mute(mute).await.map_err(StateError::from)
    }

    async fn unmute(&self, site: &str, target: &MuteTarget) -> Result<bool, StateError> {
        self.delete_mute(site, target)
            .await
            .map_err(StateError::from)
    }

    async fn note_script(&self, sighting: &Sighting) -> Result<ScriptHistory, StateError> {
        self.note_script_content(sighting)
            .await
            .map_err(StateError::from)
    }

    async fn authorizations(&self, site: &str) -> Result<Vec<Authorization>, StateError> {
        self.read_authorizations(site)
            .await
            .map_err(StateError::from)
    }

    async fn authorize(&self, authorization: &Authorization) -> Result<(), StateError> {
        self.put_authorization(authorization)
            .await
            .map_err(StateError::from)
    }

    async fn revoke(&self, site: &str, url: &str) -> Result<bool, StateError> {
        self.delete_authorization(site, url)
            .await
            .map_err(StateError::from)
    }
}
