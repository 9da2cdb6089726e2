//! Where reports go: the [`ReportStore`] port and its implementations, which also keep the
//! alert state (they implement `crate::alert::AlertState`).
//!
//! Dependencies go one way: `store` imports `alert` (the alert state's port and its types),
//! `alert` never imports `store`; `crate::pipeline` above both hands new reports from one to
//! the other.

pub mod dynamodb;
#[cfg(feature = "local")]
pub mod embedded;
#[cfg(feature = "local")]
pub mod embedded_alerts;
pub mod retry;
pub mod summary;

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::Serialize;
use thiserror::Error;

use crate::report::visitor::DayKey;
use crate::report::{Classification, Report, ReportType, Timestamp};

/// A failure of the store itself (not of the data).
#[derive(Debug, Error)]
pub enum StoreError {
    /// The backend failed; the source says how.
    #[error("the store failed: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The store did not answer in time.
    #[error("the store did not answer within {0:?}")]
    Timeout(std::time::Duration),
    /// The store's worker is gone (shut down or crashed).
    #[error("the store is closed")]
    Closed,
}

impl StoreError {
    /// Wraps any backend error.
    pub fn backend(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Backend(Box::new(e))
    }
}

/// The stores keep the alert state: its failures are theirs.
impl From<StoreError> for crate::alert::StateError {
    fn from(e: StoreError) -> Self {
        Self::new(e)
    }
}

/// A `put` that did not store everything.
#[derive(Debug, Error)]
#[error("{} of the batch's reports were not stored: {source}", unwritten.len())]
pub struct PutError {
    /// Positions (in the batch given to `put`) of the reports that were not stored.
    pub unwritten: Vec<usize>,
    /// Why.
    #[source]
    pub source: StoreError,
}

impl PutError {
    /// Every report of a batch of `n` failed for `source`.
    pub fn all(n: usize, source: StoreError) -> Self {
        Self {
            unwritten: (0..n).collect(),
            source,
        }
    }
}

/// Recent reports for one site.
#[derive(Debug, Clone)]
pub struct RecentQuery {
    /// The site.
    pub site: String,
    /// Only this type, or every type.
    pub report_type: Option<ReportType>,
    /// Oldest occurrence time included.
    pub since: Timestamp,
    /// The most reports returned, newest first.
    pub limit: usize,
    /// Only reports of this classification (CSP).
    pub classification: Option<Classification>,
    /// Only reports of this problem.
    pub fingerprint: Option<String>,
}

/// The most frequent problems of one site.
#[derive(Debug, Clone)]
pub struct TopQuery {
    /// The site.
    pub site: String,
    /// Only this type, or every type.
    pub report_type: Option<ReportType>,
    /// Oldest occurrence time included.
    pub since: Timestamp,
    /// The most groups returned, most frequent first.
    pub limit: usize,
    /// Only groups of this classification (CSP).
    pub classification: Option<Classification>,
}

/// A site with reports in a window, as the dashboard's front page lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SiteSummary {
    pub site: String,
    /// Reports in the window.
    pub reports: u64,
    /// Distinct problems in the window.
    pub problems: u64,
    /// The last occurrence.
    pub last_seen: Timestamp,
}

/// The UTC days from `since`'s day to `now`'s, oldest first (the days a window's aggregates
/// and site registrations are kept under).
pub fn days_between(since: Timestamp, now: Timestamp) -> Vec<String> {
    let mut days = Vec::new();
    let mut t = since;
    while t <= now {
        days.push(t.day());
        t = Timestamp(t.millis() + 86_400_000);
    }
    let today = now.day();
    if days.last() != Some(&today) {
        days.push(today);
    }
    days
}

/// Sites listed at most, busiest first.
pub const MAX_SITES: usize = 200;

/// One group of identical problems, as `lookout top` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupSummary {
    /// The report type.
    #[serde(rename = "type")]
    pub report_type: ReportType,
    /// The group's fingerprint.
    pub fingerprint: String,
    /// The readable grouping key.
    pub group: String,
    /// Reports in the group.
    pub count: u64,
    /// The first occurrence.
    pub first_seen: Timestamp,
    /// The last occurrence.
    pub last_seen: Timestamp,
    /// Browsers that sent it (`Chrome 120`), sorted; at most [`MAX_BROWSERS`] a day are kept.
    pub browsers: Vec<String>,
    /// Distinct visitors (senders' networks) summed over the days of the window: a lower
    /// bound, 0 for reports whose sender's address was not known (see `report::visitor`).
    pub visitors: u64,
    /// The dispositions its reports carried (`enforce`, `report`), sorted.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dispositions: Vec<String>,
    /// For CSP: what the reports' own policy says of them (part of the group).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub classification: Option<Classification>,
    /// The policy version the reports were sent for (`/r/{site}?v=3`; part of the group).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy_version: Option<String>,
    /// Reports per UTC day (`2026-12-03`) within the window, for charts; not printed by `top`.
    #[serde(skip)]
    pub days: BTreeMap<String, u64>,
}

/// Browsers an aggregate keeps a day: a sender chooses its User-Agent, so the set is capped
/// (DynamoDB's items stop at 400 KB); the first ones seen are kept.
pub const MAX_BROWSERS: usize = 32;

/// The storage port. Object-safe: the app holds an `Arc<dyn ReportStore>`.
#[async_trait]
pub trait ReportStore: Send + Sync {
    /// Stores a batch durably. Storing a report that is already stored (same id) is a no-op.
    /// On failure, says which reports were not stored so that the caller can log them.
    async fn put(&self, reports: &[Report]) -> Result<(), PutError>;

    /// Recent reports of a site, newest first.
    async fn recent(&self, query: &RecentQuery) -> Result<Vec<Report>, StoreError>;

    /// The most frequent groups of a site, most frequent first.
    async fn top(&self, query: &TopQuery) -> Result<Vec<GroupSummary>, StoreError>;

    /// Whether each report is stored already, under its own identity or its neighbour's (the
    /// same test `put` makes), in the order given.
    async fn stored(&self, reports: &[Report]) -> Result<Vec<bool>, StoreError>;

    /// The key that turns a sender's network into its visitor byte on `day` (`YYYY-MM-DD`):
    /// made at random by the first caller of the day, the same for every caller that day, and
    /// forgotten after the next (see `report::visitor`).
    async fn day_key(&self, day: &str) -> Result<DayKey, StoreError>;

    /// The sites with reports since `since`, busiest first, at most [`MAX_SITES`].
    async fn sites(&self, since: Timestamp) -> Result<Vec<SiteSummary>, StoreError>;
}
