//! The DynamoDB store: one item per report, keyed by site and type, plus per-day aggregates
//! per problem so that `lookout top` reads a few items instead of scanning reports.
//!
//! Split by job: [`item`] (the layout of keys and report items), `aggregate_item` (the
//! aggregates' layout), [`codec`] (attribute values to and from JSON, and from the Streams
//! API), `expr` (update expressions built clause by clause), `write` (report items, idempotent
//! by key), [`aggregate`] (counts from the table's stream), `read` (queries: one problem's
//! reports from the sparse index `by_problem`, see [`item`]), [`stream`]
//! (stream records in, from a Lambda event or, locally, from the Streams API), `alerts/` (the
//! alert state: claims, outbox, hourly counts, budgets; `crate::alert::AlertState`), `mute`
//! (mutes, written by `lookout mute`), `day_key` (the visitors' key of the day).

pub mod aggregate;
mod aggregate_item;
mod alerts;
mod authorize;
pub mod codec;
mod day_key;
mod expr;
pub mod item;
mod mute;
mod read;
mod sites;
pub mod stream;
#[cfg(feature = "local")]
pub mod table;
pub mod upload;
mod write;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;

pub use self::stream::NewReport;
use super::{GroupSummary, PutError, RecentQuery, ReportStore, SiteSummary, StoreError, TopQuery};
use crate::report::Report;
use crate::report::visitor::DayKey;

/// How the store writes and reads.
#[derive(Debug, Clone)]
pub struct DynamoSettings {
    /// The table.
    pub table: String,
    /// Write shards per site and type (1 for most sites; more for a site whose report storms
    /// pass one partition's 1,000 writes/s).
    pub shards: u16,
    /// Days a report is kept (the TTL attribute), from when it was received.
    pub retention_days: u32,
    /// How long re-sending unprocessed items may go on.
    pub write_deadline: Duration,
    /// First backoff before re-sending unprocessed items.
    pub initial_backoff: Duration,
}

/// Days a report is kept unless configured (`RetentionDays`, `--retention-days`).
pub const DEFAULT_RETENTION_DAYS: u32 = 30;
/// Write shards per site and type unless configured (`WriteShards`, `--write-shards`).
pub const DEFAULT_WRITE_SHARDS: u16 = 1;

impl DynamoSettings {
    /// Defaults for `table`: 1 shard, 30 days, 3 s write deadline.
    pub fn new(table: impl Into<String>) -> Self {
        Self {
            table: table.into(),
            shards: DEFAULT_WRITE_SHARDS,
            retention_days: DEFAULT_RETENTION_DAYS,
            write_deadline: Duration::from_secs(3),
            initial_backoff: Duration::from_millis(25),
        }
    }
}

/// The DynamoDB-backed store.
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    settings: DynamoSettings,
    /// Sites and days registered by this process (`sites.rs`).
    registered: Arc<sites::Registered>,
    /// Read units the reads consumed (`read.rs`), in thousandths, shared by clones.
    read_milliunits: Arc<AtomicU64>,
    /// Each site's first script sighting, once this process read it (it never changes).
    script_sites:
        Arc<std::sync::Mutex<std::collections::HashMap<String, crate::report::Timestamp>>>,
}

impl DynamoStore {
    /// A store over `client`.
    pub fn new(client: Client, settings: DynamoSettings) -> Self {
        Self {
            client,
            settings,
            registered: Default::default(),
            read_milliunits: Default::default(),
            script_sites: Default::default(),
        }
    }

    /// Read request units this store's queries of reports, aggregates and the sites registry
    /// have consumed so far, as DynamoDB reported them (`ReturnConsumedCapacity`), over every
    /// clone of the store: the difference across a read is what it cost.
    pub fn read_units(&self) -> f64 {
        self.read_milliunits.load(Ordering::Relaxed) as f64 / 1000.0
    }

    /// Adds what one call consumed to [`DynamoStore::read_units`].
    fn consumed(&self, units: f64) {
        if units.is_finite() && units > 0.0 {
            self.read_milliunits
                .fetch_add((units * 1000.0).round() as u64, Ordering::Relaxed);
        }
    }

    /// The settings.
    pub fn settings(&self) -> &DynamoSettings {
        &self.settings
    }

    /// The client.
    pub fn client(&self) -> &Client {
        &self.client
    }
}

#[async_trait]
impl ReportStore for DynamoStore {
    async fn put(&self, reports: &[Report]) -> Result<(), PutError> {
        if reports.is_empty() {
            return Ok(());
        }
        self.write_reports(reports).await
    }

    async fn recent(&self, q: &RecentQuery) -> Result<Vec<Report>, StoreError> {
        self.read_recent(q).await
    }

    async fn top(&self, q: &TopQuery) -> Result<Vec<GroupSummary>, StoreError> {
        self.read_top(q).await
    }

    async fn stored(&self, reports: &[Report]) -> Result<Vec<bool>, StoreError> {
        self.stored_already(reports).await
    }

    async fn day_key(&self, day: &str) -> Result<DayKey, StoreError> {
        self.visitor_key(day).await
    }

    async fn sites(&self, since: crate::report::Timestamp) -> Result<Vec<SiteSummary>, StoreError> {
        self.read_sites(since).await
    }
}
