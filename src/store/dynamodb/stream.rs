//! The table's stream, read two ways: as a Lambda event ([`StreamEvent`]: the deployed stack,
//! where Lambda polls the stream and invokes the same function), and locally through the
//! DynamoDB Streams API ([`Tailer`], which `lookout serve --table` runs). Both yield batches of
//! [`NewReport`]s, which `crate::pipeline` counts and alerts on the same way; nothing here
//! knows what is done with them.

use serde::Deserialize;
use serde_json::Value;

use super::codec;
use super::item::{self, Item, PK};
use crate::report::Report;

/// Stream sequence numbers are decimal strings of up to 40 digits: padded, they compare (and
/// sort) as text.
pub fn padded(sequence: &str) -> String {
    if sequence.len() < 40 && sequence.bytes().all(|b| b.is_ascii_digit()) {
        format!("{sequence:0>40}")
    } else {
        sequence.to_owned()
    }
}

/// A report item the stream says is new.
#[derive(Debug, Clone)]
pub struct NewReport {
    /// The item's partition key (`{site}#{type}#{shard}`).
    pub partition: String,
    /// The stream record's sequence number.
    pub sequence: String,
    /// The report.
    pub report: Report,
}

impl NewReport {
    /// The reports of a stream record's new image, if it holds reports (a report item, or an
    /// upload's: its reports share the record's sequence number).
    pub fn from_image(image: &Item, sequence: &str) -> Vec<Self> {
        if !item::is_report_item(image) {
            return Vec::new();
        }
        let Some(partition) = item::s(image, PK) else {
            return Vec::new();
        };
        let reports = match item::reports_of(image) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "a stream record's reports do not read; not counted");
                return Vec::new();
            }
        };
        reports
            .into_iter()
            .map(|report| Self {
                partition: partition.clone(),
                sequence: sequence.to_owned(),
                report,
            })
            .collect()
    }
}

/// A batch of the table's stream as Lambda delivers it (`{"Records": [...]}`), read for the
/// fields Lookout uses; the rest of what Lambda sends is ignored. An event without records
/// reads as an empty batch.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct StreamEvent {
    /// The batch's records, in stream order.
    #[serde(rename = "Records", default)]
    pub records: Vec<StreamRecord>,
}

/// One record of a stream batch.
#[derive(Debug, Clone, Deserialize)]
pub struct StreamRecord {
    /// Where it comes from: `aws:dynamodb` for a table's stream.
    #[serde(rename = "eventSource")]
    pub event_source: Option<String>,
    /// `INSERT`, `MODIFY` or `REMOVE`.
    #[serde(rename = "eventName")]
    pub event_name: Option<String>,
    /// The change.
    pub dynamodb: Option<StreamChange>,
}

/// What a stream record says of its item.
#[derive(Debug, Clone, Deserialize)]
pub struct StreamChange {
    /// The record's place in its shard.
    #[serde(rename = "SequenceNumber")]
    pub sequence_number: Option<String>,
    /// The item as written, in DynamoDB's JSON form (read by
    /// [`codec::item_of_dynamodb_json`]: a record whose image does not read is not counted,
    /// and the rest of its batch is).
    #[serde(rename = "NewImage")]
    pub new_image: Option<Value>,
}

impl StreamEvent {
    /// Whether it is a batch of a DynamoDB stream (its first record's source says so), as
    /// opposed to another event that read as one (an HTTP request has no records).
    pub fn is_dynamodb(&self) -> bool {
        self.records.first().and_then(|r| r.event_source.as_deref()) == Some("aws:dynamodb")
    }

    /// Its new report items: the `INSERT` records of report items (aggregates and overwrites
    /// are left out).
    pub fn new_reports(&self) -> Vec<NewReport> {
        self.records
            .iter()
            .filter(|r| r.event_name.as_deref() == Some("INSERT"))
            .filter_map(|r| {
                let change = r.dynamodb.as_ref()?;
                let sequence = change.sequence_number.as_deref()?;
                let image = codec::item_of_dynamodb_json(change.new_image.as_ref()?)?;
                Some(NewReport::from_image(&image, sequence))
            })
            .flatten()
            .collect()
    }
}

#[cfg(feature = "local")]
pub use tailer::{FailedBatch, OnBatch, Tailer};

#[cfg(feature = "local")]
mod tailer {
    use std::collections::HashMap;
    use std::time::Duration;

    use aws_sdk_dynamodbstreams::types::{OperationType, ShardIteratorType};

    use super::super::codec;
    use super::super::{DynamoStore, StoreError};
    use super::NewReport;

    /// What a [`Tailer`] hands each batch of new reports it reads to (`lookout serve`: the
    /// pipeline, which counts them and raises their alerts). An error ends the pass before the
    /// batch's position is kept, so the next pass reads the batch again.
    #[async_trait::async_trait]
    pub trait OnBatch: Send + Sync {
        /// Takes one batch (one read of one shard; empty when the read held no new report).
        async fn on_batch(&self, batch: Vec<NewReport>) -> Result<(), StoreError>;
    }

    /// Reads a table's stream through the DynamoDB Streams API and hands its new reports on,
    /// batch by batch, as Lambda does for the deployed stack. Each pass reads every shard from
    /// where the last one stopped (the first from the oldest record kept: counting is
    /// idempotent, so reading records again is harmless).
    pub struct Tailer {
        streams: aws_sdk_dynamodbstreams::Client,
        stream_arn: String,
        /// The last sequence number read, per shard.
        positions: HashMap<String, String>,
    }

    impl Tailer {
        /// A tailer of `store`'s table, whose stream must be on.
        pub async fn new(
            streams: aws_sdk_dynamodbstreams::Client,
            store: &DynamoStore,
        ) -> Result<Self, StoreError> {
            let table = store
                .client()
                .describe_table()
                .table_name(&store.settings().table)
                .send()
                .await
                .map_err(StoreError::backend)?;
            let stream_arn = table
                .table()
                .and_then(|t| t.latest_stream_arn())
                .ok_or_else(|| StoreError::backend(NoStream(store.settings().table.clone())))?
                .to_owned();
            Ok(Self {
                streams,
                stream_arn,
                positions: HashMap::new(),
            })
        }

        /// Reads what the stream holds now and hands it to `on_batch`, batch by batch; returns
        /// the new reports handed on.
        pub async fn pass(&mut self, on_batch: &dyn OnBatch) -> Result<usize, StoreError> {
            let mut shards = Vec::new();
            let mut start: Option<String> = None;
            loop {
                let out = self
                    .streams
                    .describe_stream()
                    .stream_arn(&self.stream_arn)
                    .set_exclusive_start_shard_id(start.take())
                    .send()
                    .await
                    .map_err(StoreError::backend)?;
                let Some(d) = out.stream_description() else {
                    break;
                };
                shards.extend(
                    d.shards()
                        .iter()
                        .filter_map(|s| s.shard_id().map(str::to_owned)),
                );
                match d.last_evaluated_shard_id() {
                    Some(last) => start = Some(last.to_owned()),
                    None => break,
                }
            }
            let mut handed = 0;
            for shard in shards {
                handed += self.read_shard(&shard, on_batch).await?;
            }
            Ok(handed)
        }

        async fn read_shard(
            &mut self,
            shard: &str,
            on_batch: &dyn OnBatch,
        ) -> Result<usize, StoreError> {
            let mut req = self
                .streams
                .get_shard_iterator()
                .stream_arn(&self.stream_arn)
                .shard_id(shard);
            req = match self.positions.get(shard) {
                Some(seq) => req
                    .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                    .sequence_number(seq),
                None => req.shard_iterator_type(ShardIteratorType::TrimHorizon),
            };
            let mut iterator = req
                .send()
                .await
                .map_err(StoreError::backend)?
                .shard_iterator()
                .map(str::to_owned);
            let mut handed = 0;
            while let Some(it) = iterator.take() {
                let out = self
                    .streams
                    .get_records()
                    .shard_iterator(it)
                    .send()
                    .await
                    .map_err(StoreError::backend)?;
                let Some(read) = Read::of(out.records(), None) else {
                    break;
                };
                let n = read.new.len();
                on_batch.on_batch(read.new).await?;
                handed += n;
                if let Some(seq) = read.last {
                    self.positions.insert(shard.to_owned(), seq);
                }
                iterator = out.next_shard_iterator().map(str::to_owned);
            }
            Ok(handed)
        }

        /// Reads a batch that failed every retry again, from its first record to its last,
        /// and hands its new reports to `on_batch`; returns how many. The stream keeps records
        /// 24 hours: an older batch is gone from it (its reports are still in the table).
        pub async fn replay(
            &self,
            batch: &FailedBatch,
            on_batch: &dyn OnBatch,
        ) -> Result<usize, StoreError> {
            let mut iterator = self
                .streams
                .get_shard_iterator()
                .stream_arn(&batch.stream_arn)
                .shard_id(&batch.shard_id)
                .shard_iterator_type(ShardIteratorType::AtSequenceNumber)
                .sequence_number(&batch.start)
                .send()
                .await
                .map_err(StoreError::backend)?
                .shard_iterator()
                .map(str::to_owned);
            let end = super::padded(&batch.end);
            let mut handed = 0;
            while let Some(it) = iterator.take() {
                let out = self
                    .streams
                    .get_records()
                    .shard_iterator(it)
                    .send()
                    .await
                    .map_err(StoreError::backend)?;
                let Some(read) = Read::of(out.records(), Some(&end)) else {
                    break;
                };
                handed += read.new.len();
                on_batch.on_batch(read.new).await?;
                if read.past_end {
                    break;
                }
                iterator = out.next_shard_iterator().map(str::to_owned);
            }
            Ok(handed)
        }
    }

    /// What Lambda sends to a stream mapping's on-failure destination for a batch that failed
    /// every retry: where it was in the stream (`DDBStreamBatchInfo`), not its records.
    #[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
    pub struct FailedBatch {
        #[serde(rename = "streamArn")]
        pub stream_arn: String,
        #[serde(rename = "shardId")]
        pub shard_id: String,
        #[serde(rename = "startSequenceNumber")]
        pub start: String,
        #[serde(rename = "endSequenceNumber")]
        pub end: String,
    }

    impl FailedBatch {
        /// The batch a destination's message names; `None` for a message of another kind.
        pub fn from_message(body: &str) -> Option<Self> {
            #[derive(serde::Deserialize)]
            struct Message {
                #[serde(rename = "DDBStreamBatchInfo")]
                info: FailedBatch,
            }
            serde_json::from_str::<Message>(body).ok().map(|m| m.info)
        }
    }

    /// One read of a shard: its new reports, the last sequence number read, and whether a
    /// record past the end asked for was met.
    struct Read {
        new: Vec<NewReport>,
        last: Option<String>,
        past_end: bool,
    }

    impl Read {
        /// The records up to `end` (a padded sequence number; all without); `None` when the
        /// read held no record.
        fn of(
            records: &[aws_sdk_dynamodbstreams::types::Record],
            end: Option<&str>,
        ) -> Option<Self> {
            if records.is_empty() {
                return None;
            }
            let mut read = Read {
                new: Vec::new(),
                last: None,
                past_end: false,
            };
            for r in records {
                let Some(change) = r.dynamodb() else { continue };
                let Some(seq) = change.sequence_number() else {
                    continue;
                };
                if end.is_some_and(|end| super::padded(seq).as_str() > end) {
                    read.past_end = true;
                    break;
                }
                read.last = Some(seq.to_owned());
                if r.event_name() != Some(&OperationType::Insert) {
                    continue;
                }
                if let Some(image) = change.new_image() {
                    let item = codec::item_of_stream_image(image);
                    read.new.extend(NewReport::from_image(&item, seq));
                }
            }
            Some(read)
        }
    }

    impl Tailer {
        /// Passes every `every` until the process ends; failures are logged and retried.
        pub async fn run(mut self, on_batch: impl OnBatch, every: Duration) {
            loop {
                if let Err(e) = self.pass(&on_batch).await {
                    tracing::warn!(error = %e, "reading the table's stream failed; retrying");
                }
                tokio::time::sleep(every).await;
            }
        }
    }

    /// A table without a stream.
    #[derive(Debug, thiserror::Error)]
    #[error(
        "table {0} has no stream (create it with `lookout create-table`, as the template does)"
    )]
    struct NoStream(String);
}
