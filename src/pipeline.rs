//! The step after storing, written once: a batch of new reports (each stored for the first
//! time) is counted into the aggregates where the store keeps them, then alerted on
//! ([`on_new_reports`]).
//!
//! Three callers hand it their batches:
//!
//! - the Lambda function, one stream batch per invocation (`lambda::handle_stream`);
//! - `lookout serve --table`, whose reader of the table's stream
//!   (`store::dynamodb::stream::Tailer`) hands each batch it reads to a `Pipeline` and knows
//!   nothing of what is done with it;
//! - `lookout serve` with the embedded store, every second, the rows stored since the last
//!   batch (the embedded store counts when it reads: they are only alerted on).
//!
//! Counting fails a batch (it is delivered or read again, and counting is idempotent); alerts
//! never do (a failing webhook must not hold the stream back), and are claimed once each, so a
//! batch given again sends none twice.
//!
//! `pipeline` sits above `store` and `alert`, which know nothing of each other's work here.

use crate::alert::engine::{Alerter, Sent};
use crate::report::Report;
use crate::store::StoreError;
use crate::store::dynamodb::{DynamoStore, NewReport};

/// A batch of new reports, each stored for the first time.
#[derive(Debug)]
pub enum Batch {
    /// Report items the table's stream says are new (its `INSERT` records): counted into the
    /// aggregates, then alerted on.
    Stream(Vec<NewReport>),
    /// Reports the embedded store stored since the last batch: alerted on (the embedded store
    /// counts when it reads). An empty one retries the alerts whose delivery is due again.
    Stored(Vec<Report>),
}

impl Batch {
    /// How many new reports it holds.
    pub fn len(&self) -> usize {
        match self {
            Batch::Stream(records) => records.len(),
            Batch::Stored(reports) => reports.len(),
        }
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn into_reports(self) -> Vec<Report> {
        match self {
            Batch::Stream(records) => records.into_iter().map(|n| n.report).collect(),
            Batch::Stored(reports) => reports,
        }
    }
}

/// Counts a stream `batch` into `counter`'s aggregates (`None` where the store counts when it
/// reads), then raises its alerts with `alerter` (`None`: alerts are off). Returns how many
/// reports the batch held. A counting error is returned, before any alert; an alert error is
/// logged, never returned.
pub async fn on_new_reports(
    counter: Option<&DynamoStore>,
    alerter: Option<&Alerter>,
    batch: Batch,
) -> Result<usize, StoreError> {
    let n = batch.len();
    if let (Some(store), Batch::Stream(records)) = (counter, &batch) {
        store.count_new_reports(records).await?;
    }
    if let Some(alerter) = alerter {
        alert(alerter, &batch.into_reports()).await;
    }
    Ok(n)
}

/// Raises the alerts of `reports`; a failure is logged (the claims make a later try safe).
async fn alert(alerter: &Alerter, reports: &[Report]) {
    match alerter.on_new_reports(reports).await {
        Ok(sent) if sent != Sent::default() => tracing::info!(?sent, "alerts"),
        Ok(_) => {}
        // No new report: only due alerts were retried, and they stay due.
        Err(e) if reports.is_empty() => {
            tracing::warn!(error = %e, "retrying pending alerts failed")
        }
        Err(e) => {
            tracing::error!(error = %e, "alert state unavailable: this batch's alerts were not decided")
        }
    }
}

/// The step as a value, for the local reader of the table's stream: each batch counted into
/// `counter`'s aggregates, then alerted on by `alerter` (when alerts are on).
#[cfg(feature = "local")]
pub struct Pipeline {
    /// The store whose stream is read.
    pub counter: DynamoStore,
    /// Alerts, when sinks are set.
    pub alerter: Option<std::sync::Arc<Alerter>>,
}

#[cfg(feature = "local")]
#[async_trait::async_trait]
impl crate::store::dynamodb::stream::OnBatch for Pipeline {
    async fn on_batch(&self, batch: Vec<NewReport>) -> Result<(), StoreError> {
        let batch = Batch::Stream(batch);
        on_new_reports(Some(&self.counter), self.alerter.as_deref(), batch)
            .await
            .map(|_| ())
    }
}
