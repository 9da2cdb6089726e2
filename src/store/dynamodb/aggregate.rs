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

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_dynamodb::types::AttributeValue;
use futures_util::StreamExt;

use super::item::{self, PK, SK};
use super::stream::{NewReport, padded};
use super::{DynamoStore, StoreError};
use crate::report::{Classification, ReportType, Timestamp};
use crate::store::MAX_BROWSERS;

/// Aggregate updates run at once for one stream batch.
const UPDATES_IN_FLIGHT: usize = 8;

/// Attempts at the exact (read, then conditional write) path before giving up on a batch.
const EXACT_ATTEMPTS: u32 = 5;

/// One aggregate's share of a stream batch.
struct Share {
    pk: String,
    sk: String,
    site: String,
    day: String,
    report_type: ReportType,
    fingerprint: String,
    group: String,
    classification: Option<Classification>,
    policy_version: Option<String>,
    sample: (String, String),
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

/// Counts, times and browsers of some of a share's records.
struct Delta {
    count: usize,
    first: Timestamp,
    last: Timestamp,
    browsers: BTreeSet<String>,
    visitors: BTreeSet<u8>,
    dispositions: BTreeSet<&'static str>,
    lo: String,
    hi: String,
    received: Timestamp,
}

impl Share {
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
            browsers: BTreeSet::new(),
            visitors: BTreeSet::new(),
            dispositions: BTreeSet::new(),
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

/// The aggregate's marks, as read on the exact path.
#[derive(Default)]
struct Marks {
    seq: Option<String>,
    first: Option<String>,
    last: Option<String>,
    /// The browsers kept so far (at most `MAX_BROWSERS`).
    browsers: Vec<String>,
}

impl DynamoStore {
    /// Adds new reports (from the table's stream) to their aggregates. An error leaves the
    /// batch to be delivered again; what was counted is not counted twice.
    pub async fn count_new_reports(&self, records: &[NewReport]) -> Result<(), StoreError> {
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
        // The sites and days of the batch, for the front page (`sites.rs`).
        let mut days: BTreeMap<(String, String), Timestamp> = BTreeMap::new();
        for rec in records {
            let r = &rec.report;
            let latest = days
                .entry((r.site.clone(), r.occurred_at.day()))
                .or_default();
            *latest = (*latest).max(r.received_at);
        }
        for ((site, day), received) in &days {
            self.register_site(site, day, *received).await?;
        }
        let updates: Vec<futures_util::future::BoxFuture<'_, Result<(), StoreError>>> = shares
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
        // The common case: nothing of this batch counted yet, and its reports not older than
        // the aggregate's first nor newer... than its last (in-order arrival).
        // With browsers to add, also: the set is still under its cap (else the exact path adds
        // only what fits).
        let mut condition = "(attribute_not_exists(#seq) OR #seq < :lo) \
             AND (attribute_not_exists(#first) OR #first <= :first) \
             AND (attribute_not_exists(#last) OR #last <= :last)"
            .to_owned();
        let mut fast = self
            .update(share, &delta, None)
            .expression_attribute_values(":lo", AttributeValue::S(delta.lo.clone()));
        if !delta.browsers.is_empty() {
            condition
                .push_str(" AND (attribute_not_exists(#browsers) OR size(#browsers) <= :room)");
            let room = MAX_BROWSERS.saturating_sub(delta.browsers.len());
            fast = fast.expression_attribute_values(":room", AttributeValue::N(room.to_string()));
        }
        let fast = fast.condition_expression(condition).send().await;
        match fast {
            Ok(_) => return Ok(()),
            Err(e) if e.code() == Some("ConditionalCheckFailedException") => {}
            Err(e) => return Err(backend("UpdateItem", e)),
        }
        for _ in 0..EXACT_ATTEMPTS {
            let marks = self.marks(share).await?;
            let Some(delta) = share.delta(marks.seq.as_deref()) else {
                return Ok(()); // all of it counted before
            };
            let mut condition = Vec::new();
            let mut update = self.update(share, &delta, Some(&marks));
            for (name, value, placeholder) in [
                ("#seq", &marks.seq, ":was_seq"),
                ("#first", &marks.first, ":was_first"),
                ("#last", &marks.last, ":was_last"),
            ] {
                match value {
                    Some(v) => {
                        condition.push(format!("{name} = {placeholder}"));
                        update = update
                            .expression_attribute_values(placeholder, AttributeValue::S(v.clone()));
                    }
                    None => condition.push(format!("attribute_not_exists({name})")),
                }
            }
            match update
                .condition_expression(condition.join(" AND "))
                .send()
                .await
            {
                Ok(_) => return Ok(()),
                Err(e) if e.code() == Some("ConditionalCheckFailedException") => continue,
                Err(e) => return Err(backend("UpdateItem", e)),
            }
        }
        Err(StoreError::backend(Contended(share.sk.clone())))
    }

    /// The update of `share`'s aggregate by `delta`; with `marks`, first and last are set to
    /// the exact minimum and maximum.
    fn update(
        &self,
        share: &Share,
        delta: &Delta,
        marks: Option<&Marks>,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        let mut first = delta.first.to_string();
        let mut last = delta.last.to_string();
        let first_expr = match marks {
            Some(m) => {
                if let Some(f) = m.first.as_ref().filter(|f| **f < first) {
                    first = f.clone();
                }
                if let Some(l) = m.last.as_ref().filter(|l| **l > last) {
                    last = l.clone();
                }
                "#first = :first"
            }
            None => "#first = if_not_exists(#first, :first)",
        };
        let mut expression = format!(
            "SET #site = :site, #type = :type, #day = :day, #fp = :fp, \
             #group = if_not_exists(#group, :group), {first_expr}, #last = :last, \
             #sample = if_not_exists(#sample, :sample), #exp = :exp, #seq = :hi \
             ADD #count :n"
        );
        let sample = AttributeValue::M(
            [
                (PK.to_owned(), AttributeValue::S(share.sample.0.clone())),
                (SK.to_owned(), AttributeValue::S(share.sample.1.clone())),
            ]
            .into(),
        );
        let mut update = self
            .client
            .update_item()
            .table_name(&self.settings.table)
            .key(PK, AttributeValue::S(share.pk.clone()))
            .key(SK, AttributeValue::S(share.sk.clone()))
            .expression_attribute_names("#site", "site")
            .expression_attribute_names("#type", "type")
            .expression_attribute_names("#day", "day")
            .expression_attribute_names("#fp", "fingerprint")
            .expression_attribute_names("#group", "group")
            .expression_attribute_names("#first", "first_seen")
            .expression_attribute_names("#last", "last_seen")
            .expression_attribute_names("#sample", "sample")
            .expression_attribute_names("#exp", item::TTL)
            .expression_attribute_names("#seq", "seq")
            .expression_attribute_names("#count", "count")
            .expression_attribute_values(":site", AttributeValue::S(share.site.clone()))
            .expression_attribute_values(
                ":type",
                AttributeValue::S(share.report_type.as_str().to_owned()),
            )
            .expression_attribute_values(":day", AttributeValue::S(share.day.clone()))
            .expression_attribute_values(":fp", AttributeValue::S(share.fingerprint.clone()))
            .expression_attribute_values(":group", AttributeValue::S(share.group.clone()))
            .expression_attribute_values(":first", AttributeValue::S(first))
            .expression_attribute_values(":last", AttributeValue::S(last))
            .expression_attribute_values(":sample", sample)
            .expression_attribute_values(
                ":exp",
                AttributeValue::N(
                    item::expiry(delta.received, self.settings.retention_days).to_string(),
                ),
            )
            .expression_attribute_values(":hi", AttributeValue::S(delta.hi.clone()))
            .expression_attribute_values(":n", AttributeValue::N(delta.count.to_string()));
        if let Some(class) = share.classification {
            // Part of the group, so the same for every report of the aggregate.
            expression =
                expression.replacen(" ADD ", ", #class = if_not_exists(#class, :class) ADD ", 1);
            update = update
                .expression_attribute_names("#class", "classification")
                .expression_attribute_values(":class", AttributeValue::S(class.as_str().into()));
        }
        if let Some(v) = &share.policy_version {
            expression = expression.replacen(
                " ADD ",
                ", #version = if_not_exists(#version, :version) ADD ",
                1,
            );
            update = update
                .expression_attribute_names("#version", "policy_version")
                .expression_attribute_values(":version", AttributeValue::S(v.clone()));
        }
        // Browsers: on the exact path only what fits under the cap beside those kept.
        let browsers: Vec<String> = match marks {
            Some(m) => delta
                .browsers
                .iter()
                .filter(|b| !m.browsers.contains(b))
                .take(MAX_BROWSERS.saturating_sub(m.browsers.len()))
                .cloned()
                .collect(),
            None => delta.browsers.iter().cloned().collect(),
        };
        if !browsers.is_empty() {
            expression.push_str(", #browsers :browsers");
            update = update
                .expression_attribute_names("#browsers", "browsers")
                .expression_attribute_values(":browsers", AttributeValue::Ss(browsers));
        }
        if !delta.visitors.is_empty() {
            // A set of bytes: bounded by construction (256 values), idempotent under retries.
            expression.push_str(", #visitors :visitors");
            update = update
                .expression_attribute_names("#visitors", "visitors")
                .expression_attribute_values(
                    ":visitors",
                    AttributeValue::Ns(delta.visitors.iter().map(u8::to_string).collect()),
                );
        }
        if !delta.dispositions.is_empty() {
            expression.push_str(", #dispositions :dispositions");
            update = update
                .expression_attribute_names("#dispositions", "dispositions")
                .expression_attribute_values(
                    ":dispositions",
                    AttributeValue::Ss(delta.dispositions.iter().map(|d| d.to_string()).collect()),
                );
        }
        update.update_expression(expression)
    }

    /// The counted-through sequence number and the first and last times of an aggregate.
    async fn marks(&self, share: &Share) -> Result<Marks, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.settings.table)
            .key(PK, AttributeValue::S(share.pk.clone()))
            .key(SK, AttributeValue::S(share.sk.clone()))
            .projection_expression("#seq, #first, #last, #browsers")
            .expression_attribute_names("#seq", "seq")
            .expression_attribute_names("#first", "first_seen")
            .expression_attribute_names("#last", "last_seen")
            .expression_attribute_names("#browsers", "browsers")
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| backend("GetItem", e))?;
        Ok(match out.item() {
            Some(it) => Marks {
                seq: item::s(it, "seq"),
                first: item::s(it, "first_seen"),
                last: item::s(it, "last_seen"),
                browsers: match it.get("browsers") {
                    Some(AttributeValue::Ss(b)) => b.clone(),
                    _ => Vec::new(),
                },
            },
            None => Marks::default(),
        })
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
