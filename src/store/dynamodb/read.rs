//! Reading reports and aggregates: `Query` per partition, fanned out over write shards. One
//! problem's reports (a type and a fingerprint) are read from the index `by_problem`, whose
//! partitions hold that problem's reports alone (see `item.rs`): a page costs about a page,
//! however many reports the other problems of its type have.
//!
//! Every `Query` asks for its consumed capacity, summed into [`DynamoStore::read_units`].

use std::collections::{BTreeSet, HashMap};

use aws_sdk_dynamodb::types::{AttributeValue, ReturnConsumedCapacity};
use futures_util::StreamExt;

use super::aggregate_item::{TYPE, aggregate_of};
use super::item::{self, Index, Item, PK, SK};
use super::{DynamoStore, StoreError};
use crate::report::{Report, ReportType, Timestamp};
use crate::store::summary::Top;
use crate::store::{GroupSummary, RecentQuery, TopQuery};

/// Partitions queried at once when a read spans many (every type of a site).
const READ_CONCURRENCY: usize = 8;

/// Items of a `csp-hash` partition read, newest first, for one script content's reports (its
/// reports in uploads are not in the index): about 3 KB each.
const MAX_UPLOADS_READ: usize = 200;

impl DynamoStore {
    /// Queries one partition of the table, or of `index` (its partition key `pk` is then the
    /// index's), from `since` (newest first unless `forward`), at most `limit` items whose
    /// attributes equal `filters` (name, value): pages are read until `limit` items passed the
    /// filters, or the partition ends.
    pub(super) async fn query_partition(
        &self,
        index: Option<&Index>,
        pk: String,
        since: &str,
        limit: usize,
        filters: &[(&str, &str)],
        forward: bool,
    ) -> Result<Vec<Item>, StoreError> {
        let mut out = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        let partition_key = index.map_or(PK, |i| i.partition_key);
        loop {
            let mut q = self
                .client
                .query()
                .table_name(&self.settings.table)
                .set_index_name(index.map(|i| i.name.to_owned()))
                .key_condition_expression("#pk = :pk AND #sk >= :since")
                .expression_attribute_names("#pk", partition_key)
                .expression_attribute_names("#sk", SK)
                .expression_attribute_values(":pk", AttributeValue::S(pk.clone()))
                .expression_attribute_values(":since", AttributeValue::S(since.to_owned()))
                .scan_index_forward(forward)
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .set_exclusive_start_key(start.take());
            if !filters.is_empty() {
                let expression: Vec<String> = (0..filters.len())
                    .map(|i| format!("#f{i} = :f{i}"))
                    .collect();
                q = q.filter_expression(expression.join(" AND "));
                for (i, (name, value)) in filters.iter().enumerate() {
                    q = q
                        .expression_attribute_names(format!("#f{i}"), *name)
                        .expression_attribute_values(
                            format!(":f{i}"),
                            AttributeValue::S((*value).to_owned()),
                        );
                }
            }
            if limit < usize::MAX {
                q = q.limit(i32::try_from(limit - out.len()).unwrap_or(i32::MAX).max(1));
            }
            let page = q.send().await.map_err(StoreError::backend)?;
            if let Some(units) = page.consumed_capacity().and_then(|c| c.capacity_units()) {
                self.consumed(units);
            }
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
            let filters: Vec<(&str, &str)> = filter_type.map(|t| (TYPE, t)).into_iter().collect();
            all.extend(
                self.query_partition(None, pk, &since.day(), usize::MAX, &filters, true)
                    .await?,
            );
        }
        Ok(all)
    }

    /// Recent reports of a site, newest first.
    ///
    /// One problem (a fingerprint) is read from the index `by_problem`, one partition per type
    /// and write shard, which holds that problem's reports alone (those written before the
    /// index are not there: see `item.rs`); other reads from the table's partitions of each
    /// type. Without a type, every known type is read, and the other types the aggregates
    /// name: the aggregates are counted from the stream a moment after the reports are stored,
    /// so a report of a known type is listed as soon as its write returned, and one of a type
    /// Lookout has no rules for once it has been counted.
    pub(super) async fn read_recent(&self, q: &RecentQuery) -> Result<Vec<Report>, StoreError> {
        let shards = self.settings.shards.max(1);
        // Report attributes, named as `Report` serializes its fields (see `item.rs`).
        let mut filters: Vec<(&str, &str)> = Vec::new();
        if let Some(c) = q.classification {
            filters.push(("classification", c.as_str()));
        }
        let types = self.types_of(q).await?;
        // (whether in the index `by_problem`, partition, items read at most) of each `Query`.
        let mut reads: Vec<(bool, String, usize)> = Vec::new();
        for t in &types {
            for s in 0..shards {
                match &q.fingerprint {
                    Some(fingerprint) => {
                        let pk = item::problem_pk(&q.site, t, fingerprint, s);
                        reads.push((true, pk, q.limit));
                        // Script uploads are in no problem's partition: the latest are read
                        // and their reports of the problem kept (`upload.rs`).
                        if *t == ReportType::CspHash {
                            let pk = item::report_pk(&q.site, t, s);
                            reads.push((false, pk, MAX_UPLOADS_READ));
                        }
                    }
                    None => reads.push((false, item::report_pk(&q.site, t, s), q.limit)),
                }
            }
        }
        // Sort keys start with the identity window, which may begin before `since`.
        let since = crate::report::window_of(q.since).to_string();
        let (since, filters) = (&since, &filters);
        let pages: Vec<Result<Vec<Item>, StoreError>> = futures_util::stream::iter(reads)
            .map(|(by_problem, pk, limit)| {
                let index = by_problem.then_some(&item::BY_PROBLEM);
                self.query_partition(index, pk, since, limit, filters, false)
            })
            .buffer_unordered(READ_CONCURRENCY)
            .collect()
            .await;
        let mut reports = Vec::new();
        for page in pages {
            for it in page? {
                for r in item::reports_of(&it).map_err(StoreError::backend)? {
                    // An upload's reports are of several problems (the classification is
                    // filtered by the query: uploads have none, as `csp-hash` reports).
                    let wanted = q.fingerprint.as_ref().is_none_or(|f| *f == r.fingerprint);
                    if r.occurred_at >= q.since && wanted {
                        reports.push(r);
                    }
                }
            }
        }
        reports.sort_by(|a, b| b.occurred_at.cmp(&a.occurred_at).then(a.id.cmp(&b.id)));
        // A lone script report is read from the index and from its partition.
        reports.dedup_by(|a, b| a.id == b.id && a.occurred_at == b.occurred_at);
        reports.truncate(q.limit);
        Ok(reports)
    }

    /// The types whose partitions a query of recent reports reads: its own, or every known
    /// type and the other types the site's aggregates name.
    async fn types_of(&self, q: &RecentQuery) -> Result<Vec<ReportType>, StoreError> {
        if let Some(t) = &q.report_type {
            return Ok(vec![t.clone()]);
        }
        let others: BTreeSet<String> = self
            .aggregates(&q.site, q.since, None)
            .await?
            .iter()
            .filter_map(|i| item::s(i, TYPE))
            .collect();
        let mut types = ReportType::KNOWN.to_vec();
        types.extend(
            others
                .iter()
                .filter_map(|t| ReportType::from_name(t))
                .filter(|t| matches!(t, ReportType::Other(_))),
        );
        Ok(types)
    }

    /// The most frequent problems of a site.
    pub(super) async fn read_top(&self, q: &TopQuery) -> Result<Vec<GroupSummary>, StoreError> {
        let items = self
            .aggregates(
                &q.site,
                q.since,
                q.report_type.as_ref().map(ReportType::as_str),
            )
            .await?;
        let mut top = Top::default();
        for it in items.iter().filter_map(aggregate_of) {
            if it.last_seen >= q.since {
                top.merge(it);
            }
        }
        Ok(top.groups(q.limit, q.classification))
    }
}
