//! Per-day counts of each problem, derived from the table's stream.
//!
//! The stream carries one `INSERT` record for each new report item and none for a write that
//! overwrites one (a re-delivery), so counting `INSERT`s counts every stored report exactly
//! once, whatever the browser re-sent and whatever the request path retried. One `UpdateItem`
//! per problem and day covers all of a stream batch's reports of it.
//!
//! Stream batches may be delivered again (Lambda retries a batch whose handler failed). Each
//! aggregate counts the reports of one report partition (`{site}#{type}#{shard}`), whose
//! stream records arrive in sequence-number order, and keeps the highest sequence number it
//! has counted (`seq`): an update applies only to records above it. The common update is one
//! conditional write; when its condition fails (a batch seen again, or an older report than
//! the aggregate's first or a newer one than its last arriving out of order) the aggregate's
//! marks are read and the update is made again from them, exactly, under an optimistic
//! condition.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_dynamodb::types::AttributeValue;
use futures_util::StreamExt;
use futures_util::future::BoxFuture;

use super::aggregate_item::{Aggregate, BROWSERS, Delta, FIRST_SEEN, LAST_SEEN, Marks, SEQ};
use super::expr::UpdateExpr;
use super::item::{self, PK, SK};
use super::stream::{NewReport, padded};
use super::{DynamoStore, StoreError};
use crate::report::Timestamp;
use crate::store::MAX_BROWSERS;

/// Aggregate updates run at once for one stream batch.
const UPDATES_IN_FLIGHT: usize = 8;

/// Attempts at the exact (read, then conditional write) path before giving up on a batch.
const EXACT_ATTEMPTS: u32 = 5;

/// One aggregate's share of a stream batch.
struct Share {
    aggregate: Aggregate,
    /// Each new report of the share.
    records: Vec<Record>,
}

/// What a new report adds to its aggregate.
struct Record {
    /// The stream sequence number, padded to compare as text.
    seq: String,
    occurred: Timestamp,
    browser: Option<String>,
    received: Timestamp,
    disposition: Option<&'static str>,
    visitor: Option<u8>,
}

impl Share {
    /// What its records above `above` (a padded sequence number; all without) add.
    fn delta(&self, above: Option<&str>) -> Option<Delta> {
        let mut records = self
            .records
            .iter()
            .filter(|r| above.is_none_or(|w| r.seq.as_str() > w))
            .peekable();
        let first = records.peek()?;
        let mut d = Delta {
            count: 0,
            first: first.occurred,
            last: first.occurred,
            browsers: Default::default(),
            visitors: Default::default(),
            dispositions: Default::default(),
            lo: first.seq.clone(),
            hi: first.seq.clone(),
            received: first.received,
        };
        for r in records {
            d.count += 1;
            d.first = d.first.min(r.occurred);
            d.last = d.last.max(r.occurred);
            d.lo = d.lo.min(r.seq.clone());
            d.hi = d.hi.max(r.seq.clone());
            d.received = d.received.max(r.received);
            if d.browsers.len() < MAX_BROWSERS {
                d.browsers.extend(r.browser.clone());
            }
            d.visitors.extend(r.visitor);
            d.dispositions.extend(r.disposition);
        }
        Some(d)
    }
}

/// A batch's new reports, by the aggregate (`pk`, `sk`) they add to.
fn shares_of(records: &[NewReport]) -> BTreeMap<(String, String), Share> {
    let mut shares: BTreeMap<(String, String), Share> = BTreeMap::new();
    for rec in records {
        let r = &rec.report;
        let shard = rec
            .partition
            .rsplit_once('#')
            .and_then(|(_, s)| s.parse::<u16>().ok())
            .unwrap_or(0);
        let day = r.occurred_at.day();
        let pk = item::aggregate_pk(&r.site, shard);
        let sk = item::aggregate_sk(&day, &r.report_type, &r.fingerprint);
        shares
            .entry((pk.clone(), sk.clone()))
            .or_insert_with(|| Share {
                aggregate: Aggregate {
                    pk,
                    sk,
                    site: r.site.clone(),
                    day,
                    report_type: r.report_type.clone(),
                    fingerprint: r.fingerprint.clone(),
                    group: r.group.clone(),
                    classification: r.classification,
                    policy_version: r.policy_version.clone(),
                    sample: (rec.partition.clone(), item::report_sk(r)),
                },
                records: Vec::new(),
            })
            .records
            .push(Record {
                seq: padded(&rec.sequence),
                occurred: r.occurred_at,
                browser: r.browser.clone(),
                received: r.received_at,
                disposition: r.disposition.map(|d| d.as_str()),
                visitor: r.visitor,
            });
    }
    shares
}

/// The sites and days of a batch, each with the latest time a report of it was received.
fn days_of(records: &[NewReport]) -> BTreeMap<(String, String), Timestamp> {
    let mut days: BTreeMap<(String, String), Timestamp> = BTreeMap::new();
    for rec in records {
        let r = &rec.report;
        let latest = days
            .entry((r.site.clone(), r.occurred_at.day()))
            .or_default();
        *latest = (*latest).max(r.received_at);
    }
    days
}

/// The common case: nothing of this batch counted yet, and its reports not older than the
/// aggregate's first nor newer... than its last (in-order arrival). With browsers to add,
/// also: the set is still under its cap (else the exact path adds only what fits).
fn fast_update(share: &Share, delta: &Delta, expires: i64) -> UpdateExpr {
    let mut e = share.aggregate.update(delta, None, expires);
    let (seq, first, last) = (e.name(SEQ), e.name(FIRST_SEEN), e.name(LAST_SEEN));
    let lo = e.value(AttributeValue::S(delta.lo.clone()));
    let at_first = e.value(AttributeValue::S(delta.first.to_string()));
    let at_last = e.value(AttributeValue::S(delta.last.to_string()));
    e.condition(format!("(attribute_not_exists({seq}) OR {seq} < {lo})"))
        .condition(format!(
            "(attribute_not_exists({first}) OR {first} <= {at_first})"
        ))
        .condition(format!(
            "(attribute_not_exists({last}) OR {last} <= {at_last})"
        ));
    if !delta.browsers.is_empty() {
        let browsers = e.name(BROWSERS);
        let room = MAX_BROWSERS.saturating_sub(delta.browsers.len());
        let room = e.value(AttributeValue::N(room.to_string()));
        e.condition(format!(
            "(attribute_not_exists({browsers}) OR size({browsers}) <= {room})"
        ));
    }
    e
}

/// The exact path's update, made from the `marks` read: applied only if they are still what
/// was read.
fn exact_update(share: &Share, delta: &Delta, marks: &Marks, expires: i64) -> UpdateExpr {
    let mut e = share.aggregate.update(delta, Some(marks), expires);
    for (name, was) in [
        (SEQ, &marks.seq),
        (FIRST_SEEN, &marks.first),
        (LAST_SEEN, &marks.last),
    ] {
        let n = e.name(name);
        let clause = match was {
            Some(v) => format!("{n} = {}", e.value(AttributeValue::S(v.clone()))),
            None => format!("attribute_not_exists({n})"),
        };
        e.condition(clause);
    }
    e
}

impl DynamoStore {
    /// Adds new reports (from the table's stream) to their aggregates. An error leaves the
    /// batch to be delivered again; what was counted is not counted twice.
    pub async fn count_new_reports(&self, records: &[NewReport]) -> Result<(), StoreError> {
        // The sites and days of the batch, for the front page (`sites.rs`).
        for ((site, day), received) in &days_of(records) {
            self.register_site(site, day, *received).await?;
        }
        let updates: Vec<BoxFuture<'_, Result<(), StoreError>>> = shares_of(records)
            .into_values()
            .map(|share| Box::pin(async move { self.count_share(&share).await }) as _)
            .collect();
        let results: Vec<Result<(), StoreError>> = futures_util::stream::iter(updates)
            .buffer_unordered(UPDATES_IN_FLIGHT)
            .collect()
            .await;
        let failed = results.iter().filter(|r| r.is_err()).count();
        match results.into_iter().find_map(Result::err) {
            None => Ok(()),
            Some(e) => {
                tracing::warn!(failed, error = %e, "aggregate updates failed; the batch is left for a retry");
                Err(e)
            }
        }
    }

    async fn count_share(&self, share: &Share) -> Result<(), StoreError> {
        let Some(delta) = share.delta(None) else {
            return Ok(());
        };
        let fast = fast_update(share, &delta, self.expires(&delta));
        if self.try_update(share, fast).await? {
            return Ok(());
        }
        for _ in 0..EXACT_ATTEMPTS {
            let marks = self.marks(share).await?;
            let Some(delta) = share.delta(marks.seq.as_deref()) else {
                return Ok(()); // all of it counted before
            };
            let exact = exact_update(share, &delta, &marks, self.expires(&delta));
            if self.try_update(share, exact).await? {
                return Ok(());
            }
        }
        Err(StoreError::backend(Contended(share.aggregate.sk.clone())))
    }

    /// When an aggregate updated by `delta` expires (epoch seconds).
    fn expires(&self, delta: &Delta) -> i64 {
        item::expiry(delta.received, self.settings.retention_days)
    }

    /// Sends `update` of `share`'s aggregate: `true` if written, `false` if its condition
    /// failed.
    async fn try_update(&self, share: &Share, update: UpdateExpr) -> Result<bool, StoreError> {
        let request = self
            .client
            .update_item()
            .table_name(&self.settings.table)
            .key(PK, AttributeValue::S(share.aggregate.pk.clone()))
            .key(SK, AttributeValue::S(share.aggregate.sk.clone()));
        match update.apply(request).send().await {
            Ok(_) => Ok(true),
            Err(e) if e.code() == Some("ConditionalCheckFailedException") => Ok(false),
            Err(e) => Err(backend("UpdateItem", e)),
        }
    }

    /// The counted-through sequence number, the first and last times and the browsers of an
    /// aggregate.
    async fn marks(&self, share: &Share) -> Result<Marks, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.settings.table)
            .key(PK, AttributeValue::S(share.aggregate.pk.clone()))
            .key(SK, AttributeValue::S(share.aggregate.sk.clone()))
            .projection_expression("#seq, #first, #last, #browsers")
            .expression_attribute_names("#seq", SEQ)
            .expression_attribute_names("#first", FIRST_SEEN)
            .expression_attribute_names("#last", LAST_SEEN)
            .expression_attribute_names("#browsers", BROWSERS)
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| backend("GetItem", e))?;
        Ok(out.item().map(Marks::of).unwrap_or_default())
    }
}

fn backend<E>(op: &str, e: aws_sdk_dynamodb::error::SdkError<E>) -> StoreError
where
    E: std::error::Error + Send + Sync + 'static,
{
    tracing::warn!(error = %DisplayErrorContext(&e), "{op} failed");
    StoreError::backend(e)
}

/// An aggregate whose marks kept moving under the exact path's updates.
#[derive(Debug, thiserror::Error)]
#[error("aggregate {0} kept changing during its update")]
struct Contended(String);
