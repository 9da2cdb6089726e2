//! The app's retry of [`ReportStore::put`], the outermost of the three layers around a write,
//! each with its own name and bound:
//!
//! 1. the SDK's standard retries of one call (3 attempts: throttling, 5xx, timeouts;
//!    `crate::aws`);
//! 2. the DynamoDB store's re-sending of `UnprocessedItems` within its write deadline
//!    (`DynamoSettings::write_deadline`, 3 s);
//! 3. [`PutRetry`]: the whole `put` again for what is still unstored, a few times within a
//!    deadline (the request's [`PutRetry::REQUEST`], or `lookout replay`'s [`PutRetry::REPLAY`]).

use std::collections::HashSet;
use std::time::Duration;

use thiserror::Error;

use super::{PutError, ReportStore};
use crate::report::Report;

/// How often, how far apart and for how long a caller retries a `put`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PutRetry {
    /// Attempts in all (at least 1).
    pub attempts: u32,
    /// The wait before the second attempt; each later wait is four times the one before.
    pub first_backoff: Duration,
    /// The time every attempt and wait together may take.
    pub timeout: Duration,
}

impl PutRetry {
    /// A browser's request: 3 attempts within 5 s (the function's timeout is 10 s).
    pub const REQUEST: Self = Self {
        attempts: 3,
        first_backoff: Duration::from_millis(50),
        timeout: Duration::from_secs(5),
    };
    /// `lookout replay`: 3 attempts, 200 ms then 800 ms apart, within a minute.
    pub const REPLAY: Self = Self {
        attempts: 3,
        first_backoff: Duration::from_millis(200),
        timeout: Duration::from_secs(60),
    };
}

/// Why the last attempt failed.
#[derive(Debug, Error)]
pub enum PutFailure {
    /// The store refused or failed some reports.
    #[error(transparent)]
    Store(#[from] PutError),
    /// The attempts did not finish within the retry's timeout.
    #[error("timed out after {0:?}")]
    TimedOut(Duration),
}

/// Reports still unstored after every attempt.
#[derive(Debug)]
pub struct Unstored {
    /// The reports, in their order in the batch.
    pub reports: Vec<Report>,
    /// Why the last attempt failed.
    pub failure: PutFailure,
}

/// Stores `reports`, retrying only what is still unstored, as `retry` says.
pub async fn put_with_retries(
    store: &dyn ReportStore,
    reports: &[Report],
    retry: PutRetry,
) -> Result<(), Unstored> {
    if reports.is_empty() {
        return Ok(());
    }
    let deadline = tokio::time::Instant::now() + retry.timeout;
    // The first attempt stores the batch as given; only a failure copies what is left.
    let mut pending: Option<Vec<Report>> = None;
    let mut backoff = retry.first_backoff;
    let mut failure = PutFailure::TimedOut(retry.timeout);
    for attempt in 1..=retry.attempts.max(1) {
        let current = pending.as_deref().unwrap_or(reports);
        match tokio::time::timeout_at(deadline, store.put(current)).await {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(e)) => {
                let unwritten: HashSet<usize> = e.unwritten.iter().copied().collect();
                let left: Vec<Report> = current
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| unwritten.contains(i))
                    .map(|(_, r)| r.clone())
                    .collect();
                tracing::warn!(attempt, remaining = left.len(), error = %e, "store failed");
                if left.is_empty() {
                    return Ok(());
                }
                pending = Some(left);
                failure = PutFailure::Store(e);
            }
            Err(_) => {
                tracing::warn!(attempt, "store timed out");
                failure = PutFailure::TimedOut(retry.timeout);
                break;
            }
        }
        if attempt == retry.attempts.max(1) || tokio::time::Instant::now() + backoff >= deadline {
            break;
        }
        tokio::time::sleep(backoff).await;
        backoff *= 4;
    }
    Err(Unstored {
        reports: pending.unwrap_or_else(|| reports.to_vec()),
        failure,
    })
}
