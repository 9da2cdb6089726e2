//! The stream batches Lambda gave up on (`lookout replay --failed-batches QUEUE_URL`): the
//! stack's `FailedBatches` queue holds where each was in the table's stream; each is read
//! again from the stream and counted, once: counting is idempotent, so a batch counted in part
//! is completed, never counted twice. A message is deleted once its batch is counted; one whose
//! records the stream no longer holds (after 24 hours) is kept and reported.

use serde::Serialize;

use crate::pipeline::Pipeline;
use crate::store::dynamodb::stream::{FailedBatch, Tailer};

/// Messages read from the queue at a time (SQS's most).
const RECEIVE: i32 = 10;

/// What a replay of failed batches did.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct BatchSummary {
    /// Batches read from the queue.
    pub batches: usize,
    /// Of those, counted now (their messages deleted).
    pub counted: usize,
    /// New reports they held (counted now, or found counted already).
    pub reports: usize,
    /// Messages that name no stream batch (kept in the queue).
    pub unreadable: usize,
    /// Batches that could not be read or counted (kept in the queue; see the log).
    pub failed: usize,
}

/// The queue could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("the failed-batch queue could not be read: {0}")]
pub struct QueueError(String);

/// Counts the batches the queue at `queue_url` names, read from the stream by `tailer`, into
/// `steps`' aggregates (give it no alerter: the alerts of a batch a day old are late news, and
/// its problems show in `top`). With `dry_run`, only reads the first messages.
pub async fn count(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    tailer: &Tailer,
    steps: &Pipeline,
    dry_run: bool,
) -> Result<BatchSummary, QueueError> {
    let queue = |e: aws_sdk_sqs::error::SdkError<_>| {
        QueueError(aws_sdk_sqs::error::DisplayErrorContext(e).to_string())
    };
    let mut summary = BatchSummary::default();
    loop {
        let received = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(RECEIVE)
            .visibility_timeout(60)
            .wait_time_seconds(1)
            .send()
            .await
            .map_err(queue)?;
        let messages = received.messages();
        if messages.is_empty() {
            break;
        }
        for m in messages {
            let Some(batch) = m.body().and_then(FailedBatch::from_message) else {
                summary.unreadable += 1;
                continue;
            };
            summary.batches += 1;
            if dry_run {
                continue;
            }
            match tailer.replay(&batch, steps).await {
                Ok(n) => {
                    summary.reports += n;
                    summary.counted += 1;
                    if let Some(handle) = m.receipt_handle() {
                        sqs.delete_message()
                            .queue_url(queue_url)
                            .receipt_handle(handle)
                            .send()
                            .await
                            .map_err(|e| {
                                QueueError(aws_sdk_sqs::error::DisplayErrorContext(e).to_string())
                            })?;
                    }
                }
                Err(e) => {
                    summary.failed += 1;
                    tracing::warn!(error = %e, shard = %batch.shard_id, start = %batch.start, "a failed batch could not be counted again");
                }
            }
        }
        if dry_run {
            break;
        }
    }
    Ok(summary)
}
