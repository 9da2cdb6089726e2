//! The DynamoDB store: one item per report, keyed by site and type, plus per-day aggregates
//! per problem so that `lookout top` reads a few items instead of scanning reports.
//!
//! Writes use `BatchWriteItem` in chunks of 25; `UnprocessedItems` are re-sent with exponential
//! backoff and full jitter until a deadline, on top of the SDK's own retries for throttling
//! and 5xx. Item keys are deterministic (the report's id), so a re-delivered report overwrites
//! its own item instead of adding a second one.

mod client;
pub mod item;
#[cfg(feature = "local")]
pub mod table;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};

pub use self::client::{ClientError, Connection};
use self::item::{Item, PK, SK};
use super::{GroupSummary, PutError, RecentQuery, ReportStore, StoreError, TopQuery};
use crate::report::{Report, ReportType, Timestamp};

/// Items per `BatchWriteItem` call (the service's limit).
const BATCH: usize = 25;

/// How the store writes and reads.
#[derive(Debug, Clone)]
pub struct DynamoSettings {
    /// The table.
    pub table: String,
    /// Write shards per site and type (1 for most sites; more for a site whose report storms
    /// pass one partition's 1,000 writes/s).
    pub shards: u16,
    /// Days a report is kept (the TTL attribute).
    pub retention_days: u32,
    /// How long re-sending unprocessed items may go on.
    pub write_deadline: Duration,
    /// First backoff before re-sending unprocessed items.
    pub initial_backoff: Duration,
}

impl DynamoSettings {
    /// Defaults for `table`: 1 shard, 30 days, 3 s write deadline.
    pub fn new(table: impl Into<String>) -> Self {
        Self {
            table: table.into(),
            shards: 1,
            retention_days: 30,
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
}

impl DynamoStore {
    /// A store over `client`.
    pub fn new(client: Client, settings: DynamoSettings) -> Self {
        Self { client, settings }
    }

    /// The settings.
    pub fn settings(&self) -> &DynamoSettings {
        &self.settings
    }

    /// Writes items in chunks of 25, re-sending unprocessed ones; returns the positions (in
    /// `items`) of those that could not be written, with the last error.
    async fn write_items(&self, items: Vec<Item>) -> (Vec<usize>, Option<StoreError>) {
        let deadline = tokio::time::Instant::now() + self.settings.write_deadline;
        let mut unwritten = Vec::new();
        let mut last_error = None;
        let indexed: Vec<(usize, Item)> = items.into_iter().enumerate().collect();
        for chunk in indexed.chunks(BATCH) {
            let mut pending: Vec<(usize, Item)> = chunk.to_vec();
            let mut attempt = 0u32;
            while !pending.is_empty() {
                let requests: Vec<WriteRequest> = pending
                    .iter()
                    .filter_map(|(_, item)| {
                        PutRequest::builder()
                            .set_item(Some(item.clone()))
                            .build()
                            .ok()
                            .map(|p| WriteRequest::builder().put_request(p).build())
                    })
                    .collect();
                let sent = self
                    .client
                    .batch_write_item()
                    .request_items(&self.settings.table, requests)
                    .send()
                    .await;
                match sent {
                    Ok(out) => {
                        let left: Vec<&Item> = out
                            .unprocessed_items()
                            .and_then(|m| m.get(&self.settings.table))
                            .map(|reqs| {
                                reqs.iter()
                                    .filter_map(|r| r.put_request().map(|p| p.item()))
                                    .collect()
                            })
                            .unwrap_or_default();
                        let left_keys: BTreeSet<(String, String)> =
                            left.iter().map(|i| key_of(i)).collect();
                        pending.retain(|(_, item)| left_keys.contains(&key_of(item)));
                    }
                    Err(e) => {
                        tracing::warn!(error = %DisplayErrorContext(&e), "BatchWriteItem failed");
                        last_error = Some(StoreError::backend(e));
                        break;
                    }
                }
                if pending.is_empty() {
                    break;
                }
                attempt += 1;
                let backoff = self.backoff(attempt);
                if tokio::time::Instant::now() + backoff >= deadline {
                    last_error = Some(StoreError::Timeout(self.settings.write_deadline));
                    break;
                }
                tracing::debug!(
                    attempt,
                    left = pending.len(),
                    "re-sending unprocessed items"
                );
                tokio::time::sleep(backoff).await;
            }
            unwritten.extend(pending.iter().map(|(i, _)| *i));
        }
        (unwritten, last_error)
    }

    /// Exponential backoff with full jitter, capped at one second.
    fn backoff(&self, attempt: u32) -> Duration {
        let cap = self
            .settings
            .initial_backoff
            .saturating_mul(1 << attempt.min(10))
            .min(Duration::from_secs(1));
        cap.mul_f64(fastrand::f64())
    }

    /// Adds a request's reports to the per-day aggregates (pre-aggregated: one update per
    /// problem and day). A failure here loses no report (the items are written); it is logged.
    async fn update_aggregates(&self, reports: &[Report]) {
        let mut groups: BTreeMap<(String, String, ReportType, String), Aggregate> = BTreeMap::new();
        for r in reports {
            let key = (
                r.site.clone(),
                r.occurred_at.day(),
                r.report_type.clone(),
                r.fingerprint.clone(),
            );
            groups
                .entry(key)
                .or_insert_with(|| Aggregate::new(r, self.settings.shards))
                .add(r);
        }
        let shard = if self.settings.shards > 1 {
            fastrand::u16(..self.settings.shards)
        } else {
            0
        };
        for ((site, day, t, fingerprint), agg) in groups {
            let mut update = self
                .client
                .update_item()
                .table_name(&self.settings.table)
                .key(PK, AttributeValue::S(item::aggregate_pk(&site, shard)))
                .key(
                    SK,
                    AttributeValue::S(item::aggregate_sk(&day, &t, &fingerprint)),
                )
                .expression_attribute_names("#site", "site")
                .expression_attribute_names("#type", "type")
                .expression_attribute_names("#day", "day")
                .expression_attribute_names("#fp", "fingerprint")
                .expression_attribute_names("#group", "group")
                .expression_attribute_names("#first", "first_seen")
                .expression_attribute_names("#last", "last_seen")
                .expression_attribute_names("#sample", "sample")
                .expression_attribute_names("#exp", item::TTL)
                .expression_attribute_names("#count", "count")
                .expression_attribute_values(":site", AttributeValue::S(site.clone()))
                .expression_attribute_values(":type", AttributeValue::S(t.as_str().to_owned()))
                .expression_attribute_values(":day", AttributeValue::S(day.clone()))
                .expression_attribute_values(":fp", AttributeValue::S(fingerprint.clone()))
                .expression_attribute_values(":group", AttributeValue::S(agg.group.clone()))
                .expression_attribute_values(":first", AttributeValue::S(agg.first.to_string()))
                .expression_attribute_values(":last", AttributeValue::S(agg.last.to_string()))
                .expression_attribute_values(":sample", agg.sample.clone())
                .expression_attribute_values(
                    ":exp",
                    AttributeValue::N(
                        item::expiry(agg.last, self.settings.retention_days).to_string(),
                    ),
                )
                .expression_attribute_values(":n", AttributeValue::N(agg.count.to_string()));
            let mut expression = String::from(
                "SET #site = :site, #type = :type, #day = :day, #fp = :fp, #group = :group, \
                 #first = if_not_exists(#first, :first), #last = :last, \
                 #sample = if_not_exists(#sample, :sample), #exp = :exp ADD #count :n",
            );
            if !agg.browsers.is_empty() {
                expression.push_str(", #browsers :browsers");
                update = update
                    .expression_attribute_names("#browsers", "browsers")
                    .expression_attribute_values(
                        ":browsers",
                        AttributeValue::Ss(agg.browsers.into_iter().collect()),
                    );
            }
            if let Err(e) = update.update_expression(expression).send().await {
                tracing::warn!(error = %DisplayErrorContext(&e), site = %site, "aggregate update failed; reports are stored");
            }
        }
    }

    /// Queries one partition, newest first, from `since`, at most `limit` items.
    async fn query_partition(
        &self,
        pk: String,
        since: &str,
        limit: usize,
        filter_type: Option<&str>,
        forward: bool,
    ) -> Result<Vec<Item>, StoreError> {
        let mut out = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let mut q = self
                .client
                .query()
                .table_name(&self.settings.table)
                .key_condition_expression("#pk = :pk AND #sk >= :since")
                .expression_attribute_names("#pk", PK)
                .expression_attribute_names("#sk", SK)
                .expression_attribute_values(":pk", AttributeValue::S(pk.clone()))
                .expression_attribute_values(":since", AttributeValue::S(since.to_owned()))
                .scan_index_forward(forward)
                .set_exclusive_start_key(start.take());
            if let Some(t) = filter_type {
                q = q
                    .filter_expression("#type = :type")
                    .expression_attribute_names("#type", "type")
                    .expression_attribute_values(":type", AttributeValue::S(t.to_owned()));
            }
            if limit < usize::MAX {
                q = q.limit(i32::try_from(limit - out.len()).unwrap_or(i32::MAX).max(1));
            }
            let page = q.send().await.map_err(StoreError::backend)?;
            out.extend(page.items().iter().cloned());
            match page.last_evaluated_key() {
                Some(k) if out.len() < limit => start = Some(k.clone()),
                _ => break,
            }
        }
        Ok(out)
    }

    /// The aggregates of a site since a day, over every shard.
    async fn aggregates(
        &self,
        site: &str,
        since: Timestamp,
        filter_type: Option<&str>,
    ) -> Result<Vec<Item>, StoreError> {
        let mut all = Vec::new();
        for shard in 0..self.settings.shards.max(1) {
            let pk = item::aggregate_pk(site, shard);
            all.extend(
                self.query_partition(pk, &since.day(), usize::MAX, filter_type, true)
                    .await?,
            );
        }
        Ok(all)
    }
}

/// One problem's counts within a request.
struct Aggregate {
    group: String,
    count: u64,
    first: Timestamp,
    last: Timestamp,
    browsers: BTreeSet<String>,
    /// The key of one report item of the problem (not the report: an aggregate stays one
    /// write unit however large its reports are).
    sample: AttributeValue,
}

impl Aggregate {
    fn new(r: &Report, shards: u16) -> Self {
        let pk = item::report_pk(&r.site, &r.report_type, item::shard_of(r, shards));
        Self {
            group: r.group.clone(),
            count: 0,
            first: r.occurred_at,
            last: r.occurred_at,
            browsers: BTreeSet::new(),
            sample: AttributeValue::M(
                [
                    (PK.to_owned(), AttributeValue::S(pk)),
                    (SK.to_owned(), AttributeValue::S(item::report_sk(r))),
                ]
                .into(),
            ),
        }
    }

    fn add(&mut self, r: &Report) {
        self.count += 1;
        self.first = self.first.min(r.occurred_at);
        self.last = self.last.max(r.occurred_at);
        if let Some(b) = &r.browser {
            self.browsers.insert(b.clone());
        }
    }
}

fn key_of(item: &Item) -> (String, String) {
    (
        item::s(item, PK).unwrap_or_default(),
        item::s(item, SK).unwrap_or_default(),
    )
}

#[async_trait]
impl ReportStore for DynamoStore {
    async fn put(&self, reports: &[Report]) -> Result<(), PutError> {
        if reports.is_empty() {
            return Ok(());
        }
        // One item per distinct key: a batch may not name the same item twice.
        let mut items: Vec<Item> = Vec::new();
        let mut positions: Vec<Vec<usize>> = Vec::new();
        let mut by_key: HashMap<(String, String), usize> = HashMap::new();
        for (i, r) in reports.iter().enumerate() {
            let it = item::report_item(r, self.settings.shards, self.settings.retention_days);
            let k = key_of(&it);
            match by_key.get(&k) {
                Some(&slot) => positions[slot].push(i),
                None => {
                    by_key.insert(k, items.len());
                    items.push(it);
                    positions.push(vec![i]);
                }
            }
        }
        let (failed, error) = self.write_items(items).await;
        if !failed.is_empty() {
            let unwritten = failed
                .iter()
                .flat_map(|slot| positions[*slot].iter().copied())
                .collect();
            return Err(PutError {
                unwritten,
                source: error.unwrap_or(StoreError::Closed),
            });
        }
        self.update_aggregates(reports).await;
        Ok(())
    }

    async fn recent(&self, q: &RecentQuery) -> Result<Vec<Report>, StoreError> {
        let types: Vec<ReportType> = match &q.report_type {
            Some(t) => vec![t.clone()],
            None => {
                let seen: BTreeSet<String> = self
                    .aggregates(&q.site, q.since, None)
                    .await?
                    .iter()
                    .filter_map(|i| item::s(i, "type"))
                    .collect();
                seen.iter()
                    .filter_map(|t| ReportType::from_name(t))
                    .collect()
            }
        };
        let since = q.since.to_string();
        let mut reports = Vec::new();
        for t in &types {
            for shard in 0..self.settings.shards.max(1) {
                let pk = item::report_pk(&q.site, t, shard);
                for it in self
                    .query_partition(pk, &since, q.limit, None, false)
                    .await?
                {
                    reports.push(item::report_of(&it).map_err(StoreError::backend)?);
                }
            }
        }
        reports.sort_by(|a, b| b.occurred_at.cmp(&a.occurred_at).then(a.id.cmp(&b.id)));
        reports.truncate(q.limit);
        Ok(reports)
    }

    async fn top(&self, q: &TopQuery) -> Result<Vec<GroupSummary>, StoreError> {
        let items = self
            .aggregates(
                &q.site,
                q.since,
                q.report_type.as_ref().map(ReportType::as_str),
            )
            .await?;
        let mut merged: HashMap<(String, String), GroupSummary> = HashMap::new();
        for it in &items {
            let (Some(t), Some(fp)) = (item::s(it, "type"), item::s(it, "fingerprint")) else {
                continue;
            };
            let first = item::s(it, "first_seen")
                .and_then(|s| Timestamp::parse_rfc3339(&s))
                .unwrap_or_default();
            let last = item::s(it, "last_seen")
                .and_then(|s| Timestamp::parse_rfc3339(&s))
                .unwrap_or_default();
            if last < q.since {
                continue;
            }
            let browsers: Vec<String> = match it.get("browsers") {
                Some(AttributeValue::Ss(b)) => b.clone(),
                _ => Vec::new(),
            };
            let count = item::n(it, "count").unwrap_or(0).max(0) as u64;
            let entry = merged
                .entry((t.clone(), fp.clone()))
                .or_insert_with(|| GroupSummary {
                    report_type: ReportType::from_name(&t).unwrap_or(ReportType::Other(t.clone())),
                    fingerprint: fp.clone(),
                    group: item::s(it, "group").unwrap_or_default(),
                    count: 0,
                    first_seen: first,
                    last_seen: last,
                    browsers: Vec::new(),
                });
            entry.count += count;
            entry.first_seen = entry.first_seen.min(first);
            entry.last_seen = entry.last_seen.max(last);
            for b in browsers {
                if !entry.browsers.contains(&b) {
                    entry.browsers.push(b);
                }
            }
        }
        let mut groups: Vec<GroupSummary> = merged.into_values().collect();
        for g in &mut groups {
            g.browsers.sort();
        }
        groups.sort_by(|a, b| b.count.cmp(&a.count).then(b.last_seen.cmp(&a.last_seen)));
        groups.truncate(q.limit);
        Ok(groups)
    }
}
