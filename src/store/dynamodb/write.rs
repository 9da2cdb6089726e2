//! Writing report items.
//!
//! 1. Each report's key comes from its content and identity window, so a re-delivery inside
//!    the window overwrites its own item. A report that occurred near its window's edge may
//!    have been stored under the adjacent window: those keys are looked up first (one
//!    `BatchGetItem` of keys only, for the few reports near an edge), and a report whose
//!    neighbour is stored is not written again.
//! 2. Items go out in `BatchWriteItem` chunks of 25, a few chunks at a time. `UnprocessedItems`
//!    are re-sent with exponential backoff and full jitter until the write deadline, on top of
//!    the SDK's own retries of throttling and 5xx.
//! 3. A chunk DynamoDB refuses as invalid (`ValidationException`: the whole call fails) is
//!    split in halves until the item it refuses is alone, so that one bad item never takes its
//!    neighbours down. An item refused alone is logged for recovery, like any unstored report;
//!    it is not retried, since it would be refused again.
//!
//! Counting is not done here: aggregates follow the table's stream (see `aggregate`), which
//! carries one `INSERT` per new item and nothing for an overwrite.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::Duration;

use aws_sdk_dynamodb::error::{BuildError, DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_dynamodb::operation::batch_write_item::BatchWriteItemOutput;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, PutRequest, WriteRequest};
use futures_util::StreamExt;
use tokio::time::Instant;

use super::item::{self, Item, PK, SK};
use super::upload;
use super::{DynamoStore, StoreError};
use crate::report::Report;
use crate::store::PutError;

/// Items per `BatchWriteItem` call (the service's limit).
const BATCH: usize = 25;

/// Keys per `BatchGetItem` call (the service's limit).
const GET_BATCH: usize = 100;

/// `BatchWriteItem` calls in flight at once for one request.
const CHUNKS_IN_FLIGHT: usize = 4;

type Key = item::ItemKey;

/// What became of one request's items.
#[derive(Default)]
struct Written {
    /// Slots (in the item list) not written, with the last error.
    failed: Vec<usize>,
    error: Option<StoreError>,
    /// Slots DynamoDB refused as invalid, with its message.
    refused: Vec<(usize, String)>,
}

impl DynamoStore {
    /// Stores a batch: see the module's documentation.
    pub(super) async fn write_reports(&self, reports: &[Report]) -> Result<(), PutError> {
        let shards = self.settings.shards;
        let uploads = upload::uploads_of(reports, shards);
        let in_upload: HashSet<usize> = uploads
            .iter()
            .flat_map(|u| u.members.iter().copied())
            .collect();
        let neighbours: BTreeSet<Key> = reports
            .iter()
            .enumerate()
            .filter(|(i, _)| !in_upload.contains(i))
            .filter_map(|(_, r)| item::neighbour_key(r, shards))
            .map(|(pk, sk, _)| (pk, sk))
            .chain(uploads.iter().filter_map(|u| u.neighbour.clone()))
            .collect();
        let stored_neighbours = self.stored_neighbours(neighbours).await;

        // One item per distinct key (a batch may not name an item twice); a report whose
        // neighbour is in this batch or already stored is that report.
        let mut items: Vec<Item> = Vec::new();
        let mut positions: Vec<Vec<usize>> = Vec::new();
        let mut slot_of: HashMap<Key, usize> = HashMap::new();
        let mut unstorable: Vec<(usize, serde_json::Error)> = Vec::new();
        for (i, r) in reports.iter().enumerate() {
            if in_upload.contains(&i) {
                continue;
            }
            let key = item::report_key(r, shards);
            if let Some(&slot) = slot_of.get(&key) {
                positions[slot].push(i);
                continue;
            }
            if let Some((pk, sk, _)) = item::neighbour_key(r, shards) {
                let neighbour = (pk, sk);
                if let Some(&slot) = slot_of.get(&neighbour) {
                    positions[slot].push(i);
                    continue;
                }
                if stored_neighbours.contains(&neighbour) {
                    continue;
                }
            }
            match item::report_item(r, shards, self.settings.retention_days) {
                Ok(it) => {
                    slot_of.insert(key, items.len());
                    items.push(it);
                    positions.push(vec![i]);
                }
                Err(e) => unstorable.push((i, e)),
            }
        }

        // A page view's script reports: one item (`upload.rs`).
        for u in &uploads {
            if let Some(&slot) = slot_of.get(&u.key) {
                positions[slot].extend(&u.members);
                continue;
            }
            if u.neighbour
                .as_ref()
                .is_some_and(|n| stored_neighbours.contains(n))
            {
                continue;
            }
            match u.item(self.settings.retention_days) {
                Ok(it) => {
                    slot_of.insert(u.key.clone(), items.len());
                    items.push(it);
                    positions.push(u.members.clone());
                }
                Err(e) => {
                    for &i in &u.members {
                        unstorable.push((i, serde::ser::Error::custom(&e)));
                    }
                }
            }
        }

        let written = self.write_items(items).await;
        let reports_at = |slots: &mut dyn Iterator<Item = usize>| -> Vec<usize> {
            slots.flat_map(|s| positions[s].iter().copied()).collect()
        };
        if !written.refused.is_empty() {
            let refused: Vec<Report> = reports_at(&mut written.refused.iter().map(|(s, _)| *s))
                .into_iter()
                .map(|i| reports[i].clone())
                .collect();
            let why = &written.refused[0].1;
            crate::telemetry::recovery(&refused, &format!("refused by DynamoDB: {why}"));
        }
        // Reports that did not become items are unwritten like any other: the caller retries,
        // then answers 5xx and logs them for recovery, as for the embedded store.
        let mut unwritten = reports_at(&mut written.failed.iter().copied());
        let mut error = written.error;
        for (i, e) in unstorable {
            unwritten.push(i);
            error.get_or_insert_with(|| StoreError::backend(e));
        }
        if unwritten.is_empty() {
            return Ok(());
        }
        Err(PutError {
            unwritten,
            // Every path of `write_chunk` that leaves a slot unwritten records its error; were
            // one to forget, the reports would still be answered as failed, at the deadline.
            source: error.unwrap_or(StoreError::Timeout(self.settings.write_deadline)),
        })
    }

    /// The keys of reports stored in the adjacent identity window of reports that occurred
    /// near their window's edge. A failed lookup is logged and treated as "none": the worst
    /// it can do is store a re-delivery twice.
    async fn stored_neighbours(&self, keys: BTreeSet<Key>) -> HashSet<Key> {
        let mut found = HashSet::new();
        let keys: Vec<Key> = keys.into_iter().collect();
        let deadline = Instant::now() + self.settings.write_deadline / 2;
        for chunk in keys.chunks(GET_BATCH) {
            match self.existing(chunk, deadline).await {
                Ok(keys) => found.extend(keys),
                Err(e) => {
                    tracing::warn!(error = %e, "looking up neighbouring windows failed; writing anyway");
                }
            }
        }
        found
    }

    /// Whether each report is stored, under its own key or its neighbour's.
    pub(super) async fn stored_already(&self, reports: &[Report]) -> Result<Vec<bool>, StoreError> {
        let shards = self.settings.shards;
        let mut candidates: Vec<Vec<Key>> = reports
            .iter()
            .map(|r| {
                let mut keys = vec![item::report_key(r, shards)];
                keys.extend(item::neighbour_key(r, shards).map(|(pk, sk, _)| (pk, sk)));
                keys
            })
            .collect();
        // Script reports that `put` stores as one upload are stored when their upload is.
        for u in upload::uploads_of(reports, shards) {
            let keys: Vec<Key> = std::iter::once(u.key).chain(u.neighbour).collect();
            for i in u.members {
                candidates[i] = keys.clone();
            }
        }
        let unique: Vec<Key> = candidates
            .iter()
            .flatten()
            .cloned()
            .collect::<BTreeSet<Key>>()
            .into_iter()
            .collect();
        let mut found = HashSet::new();
        for chunk in unique.chunks(GET_BATCH) {
            let deadline = Instant::now() + self.settings.write_deadline;
            found.extend(self.existing(chunk, deadline).await?);
        }
        Ok(candidates
            .iter()
            .map(|keys| keys.iter().any(|k| found.contains(k)))
            .collect())
    }

    /// Which of `keys` name stored items (keys only are read: one read unit per item).
    async fn existing(&self, keys: &[Key], deadline: Instant) -> Result<Vec<Key>, StoreError> {
        let as_item = |(pk, sk): &Key| -> Item {
            [
                (PK.to_owned(), AttributeValue::S(pk.clone())),
                (SK.to_owned(), AttributeValue::S(sk.clone())),
            ]
            .into()
        };
        let mut pending: Vec<Item> = keys.iter().map(as_item).collect();
        let mut found = Vec::new();
        let mut attempt = 0;
        while !pending.is_empty() {
            let request = KeysAndAttributes::builder()
                .set_keys(Some(std::mem::take(&mut pending)))
                .projection_expression("#pk, #sk")
                .expression_attribute_names("#pk", PK)
                .expression_attribute_names("#sk", SK)
                .consistent_read(true)
                .build()
                .map_err(StoreError::backend)?;
            let out = self
                .client
                .batch_get_item()
                .request_items(&self.settings.table, request)
                .send()
                .await
                .map_err(StoreError::backend)?;
            if let Some(items) = out.responses().and_then(|r| r.get(&self.settings.table)) {
                found.extend(items.iter().map(key_of));
            }
            pending = out
                .unprocessed_keys()
                .and_then(|u| u.get(&self.settings.table))
                .map(|k| k.keys().to_vec())
                .unwrap_or_default();
            if pending.is_empty() {
                break;
            }
            attempt += 1;
            let backoff = self.backoff(attempt);
            if Instant::now() + backoff >= deadline {
                return Err(StoreError::Timeout(self.settings.write_deadline / 2));
            }
            tokio::time::sleep(backoff).await;
        }
        Ok(found)
    }

    /// Writes items in chunks of 25, a few chunks at a time.
    async fn write_items(&self, items: Vec<Item>) -> Written {
        let deadline = Instant::now() + self.settings.write_deadline;
        let indexed: Vec<(usize, Item)> = items.into_iter().enumerate().collect();
        let chunks: Vec<Vec<(usize, Item)>> = indexed.chunks(BATCH).map(<[_]>::to_vec).collect();
        let results: Vec<Written> = futures_util::stream::iter(chunks)
            .map(|chunk| self.write_chunk(chunk, deadline))
            .buffer_unordered(CHUNKS_IN_FLIGHT)
            .collect()
            .await;
        let mut all = Written::default();
        for w in results {
            all.failed.extend(w.failed);
            all.refused.extend(w.refused);
            if w.error.is_some() {
                all.error = w.error;
            }
        }
        all
    }

    /// Writes one chunk, re-sending unprocessed items; splits it when DynamoDB refuses it as
    /// invalid.
    fn write_chunk(
        &self,
        chunk: Vec<(usize, Item)>,
        deadline: Instant,
    ) -> futures_util::future::BoxFuture<'_, Written> {
        Box::pin(async move {
            let mut pending = chunk;
            let mut attempt = 0u32;
            let mut written = Written::default();
            while !pending.is_empty() {
                let requests = match put_requests(&pending) {
                    Ok(requests) => requests,
                    Err(e) => {
                        written.error = Some(StoreError::backend(e));
                        break;
                    }
                };
                let sent = self
                    .client
                    .batch_write_item()
                    .request_items(&self.settings.table, requests)
                    .send()
                    .await;
                match sent {
                    Ok(out) => {
                        let left = unprocessed(&out, &self.settings.table);
                        pending.retain(|(_, item)| left.contains(&key_of(item)));
                    }
                    Err(e) if e.code() == Some("ValidationException") => {
                        let why = e.message().unwrap_or("invalid item").to_owned();
                        if pending.len() == 1 {
                            tracing::warn!(error = %why, "DynamoDB refused an item");
                            written.refused.push((pending[0].0, why));
                            return written;
                        }
                        let second = pending.split_off(pending.len() / 2);
                        for half in [pending, second] {
                            let w = self.write_chunk(half, deadline).await;
                            written.failed.extend(w.failed);
                            written.refused.extend(w.refused);
                            written.error = w.error.or(written.error);
                        }
                        return written;
                    }
                    Err(e) => {
                        tracing::warn!(error = %DisplayErrorContext(&e), "BatchWriteItem failed");
                        written.error = Some(StoreError::backend(e));
                        break;
                    }
                }
                if pending.is_empty() {
                    break;
                }
                attempt += 1;
                let backoff = self.backoff(attempt);
                if Instant::now() + backoff >= deadline {
                    written.error = Some(StoreError::Timeout(self.settings.write_deadline));
                    break;
                }
                tracing::debug!(
                    attempt,
                    left = pending.len(),
                    "re-sending unprocessed items"
                );
                tokio::time::sleep(backoff).await;
            }
            written.failed.extend(pending.iter().map(|(i, _)| *i));
            written
        })
    }

    /// Exponential backoff with full jitter, capped at one second.
    pub(super) fn backoff(&self, attempt: u32) -> Duration {
        let cap = self
            .settings
            .initial_backoff
            .saturating_mul(1 << attempt.min(10))
            .min(Duration::from_secs(1));
        cap.mul_f64(fastrand::f64())
    }
}

/// Put requests of a chunk's items.
fn put_requests(chunk: &[(usize, Item)]) -> Result<Vec<WriteRequest>, BuildError> {
    chunk
        .iter()
        .map(|(_, item)| {
            PutRequest::builder()
                .set_item(Some(item.clone()))
                .build()
                .map(|p| WriteRequest::builder().put_request(p).build())
        })
        .collect()
}

/// The keys of the items a `BatchWriteItem` call left unprocessed in `table`.
fn unprocessed(out: &BatchWriteItemOutput, table: &str) -> HashSet<Key> {
    out.unprocessed_items()
        .and_then(|m| m.get(table))
        .map(|reqs| {
            reqs.iter()
                .filter_map(|r| r.put_request().map(|p| key_of(p.item())))
                .collect()
        })
        .unwrap_or_default()
}

/// An item's key.
pub(super) fn key_of(item: &Item) -> Key {
    (
        item::s(item, PK).unwrap_or_default(),
        item::s(item, SK).unwrap_or_default(),
    )
}
