//! Reading reports and aggregates: `Query` per partition, fanned out over write shards.

use std::collections::{BTreeSet, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;
use futures_util::StreamExt;

use super::aggregate_item::{AggregateItem, ReadAggregate, TYPE};
use super::item::{self, Item, PK, SK};
use super::{DynamoStore, StoreError};
use crate::report::{Report, ReportType, Timestamp};
use crate::store::summary::Top;
use crate::store::{GroupSummary, RecentQuery, TopQuery};

/// Partitions queried at once when a read spans many (every type of a site).
const READ_CONCURRENCY: usize = 8;

impl DynamoStore {
    /// Queries one partition from `since` (newest first unless `forward`), at most `limit`
    /// items whose attributes equal `filters` (name, value).
    pub(super) async fn query_partition(
        &self,
        pk: String,
        since: &str,
        limit: usize,
        filters: &[(&str, &str)],
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
                self.query_partition(pk, &since.day(), usize::MAX, &filters, true)
                    .await?,
            );
        }
        Ok(all)
    }

    /// Recent reports of a site, newest first.
    ///
    /// Without a type, every known type's partitions are read, and those of the other types the
    /// aggregates name: the aggregates are counted from the stream a moment after the reports
    /// are stored, so a report of a known type is listed as soon as its write returned, and
    /// one of a type Lookout has no rules for once it has been counted.
    pub(super) async fn read_recent(&self, q: &RecentQuery) -> Result<Vec<Report>, StoreError> {
        let types: Vec<ReportType> = match &q.report_type {
            Some(t) => vec![t.clone()],
            None => {
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
                types
            }
        };
        // Sort keys start with the identity window, which may begin before `since`.
        let since = crate::report::window_of(q.since).to_string();
        // Report attributes, named as `Report` serializes its fields (see `item.rs`).
        let mut filters: Vec<(&str, &str)> = Vec::new();
        if let Some(c) = q.classification {
            filters.push(("classification", c.as_str()));
        }
        if let Some(f) = &q.fingerprint {
            filters.push(("fingerprint", f));
        }
        let partitions: Vec<String> = types
            .iter()
            .flat_map(|t| {
                (0..self.settings.shards.max(1)).map(move |s| item::report_pk(&q.site, t, s))
            })
            .collect();
        let (since, filters) = (&since, &filters);
        let pages: Vec<Result<Vec<Item>, StoreError>> = futures_util::stream::iter(partitions)
            .map(|pk| self.query_partition(pk, since, q.limit, filters, false))
            .buffer_unordered(READ_CONCURRENCY)
            .collect()
            .await;
        let mut reports = Vec::new();
        for page in pages {
            for it in page? {
                let r = item::report_of(&it).map_err(StoreError::backend)?;
                if r.occurred_at >= q.since {
                    reports.push(r);
                }
            }
        }
        reports.sort_by(|a, b| b.occurred_at.cmp(&a.occurred_at).then(a.id.cmp(&b.id)));
        reports.truncate(q.limit);
        Ok(reports)
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
        for it in items.iter().filter_map(AggregateItem::of) {
            if it.last_seen >= q.since {
                top.merge(it);
            }
        }
        Ok(top.groups(q.limit, q.classification))
    }
}
