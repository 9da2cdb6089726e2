//! Reading reports and aggregates: `Query` per partition, fanned out over write shards.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;
use futures_util::StreamExt;

use super::item::{self, Item, PK, SK};
use super::{DynamoStore, StoreError};
use crate::report::{Classification, Report, ReportType, Timestamp};
use crate::store::{GroupSummary, MAX_BROWSERS, RecentQuery, TopQuery};

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
            let filters: Vec<(&str, &str)> = filter_type.map(|t| ("type", t)).into_iter().collect();
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
                    .filter_map(|i| item::s(i, "type"))
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
        let mut merged: HashMap<(String, String), GroupSummary> = HashMap::new();
        let mut visitor_days: BTreeMap<(String, String, String), BTreeSet<u8>> = BTreeMap::new();
        let mut merged_visitors: HashMap<(String, String), u64> = HashMap::new();
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
            let visitors: Vec<u8> = match it.get("visitors") {
                Some(AttributeValue::Ns(v)) => v.iter().filter_map(|n| n.parse().ok()).collect(),
                _ => Vec::new(),
            };
            let dispositions: Vec<String> = match it.get("dispositions") {
                Some(AttributeValue::Ss(d)) => d.clone(),
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
                    visitors: 0,
                    dispositions: Vec::new(),
                    classification: item::s(it, "classification")
                        .as_deref()
                        .and_then(Classification::from_name),
                    policy_version: item::s(it, "policy_version"),
                    days: BTreeMap::new(),
                });
            entry.count += count;
            if let Some(day) = item::s(it, SK)
                .as_deref()
                .and_then(|sk| sk.split('#').next())
            {
                *entry.days.entry(day.to_owned()).or_default() += count;
                // A problem's day has an item per write shard: its visitors are the union.
                visitor_days
                    .entry((t.clone(), fp.clone(), day.to_owned()))
                    .or_default()
                    .extend(visitors);
            }
            entry.first_seen = entry.first_seen.min(first);
            entry.last_seen = entry.last_seen.max(last);
            for b in browsers {
                if !entry.browsers.contains(&b) {
                    entry.browsers.push(b);
                }
            }
            for d in dispositions {
                if !entry.dispositions.contains(&d) {
                    entry.dispositions.push(d);
                }
            }
        }
        let mut groups: Vec<GroupSummary> = merged
            .into_values()
            .filter(|g| q.classification.is_none() || g.classification == q.classification)
            .collect();
        for ((t, fp, _), v) in visitor_days {
            *merged_visitors.entry((t, fp)).or_default() += v.len() as u64;
        }
        for g in &mut groups {
            g.browsers.sort();
            g.browsers.truncate(MAX_BROWSERS);
            g.dispositions.sort();
            g.visitors = merged_visitors
                .get(&(g.report_type.as_str().to_owned(), g.fingerprint.clone()))
                .copied()
                .unwrap_or(0);
        }
        // Ties broken as the embedded store breaks them, so both list the same order.
        groups.sort_by(|a, b| {
            b.count
                .cmp(&a.count)
                .then(b.last_seen.cmp(&a.last_seen))
                .then_with(|| a.report_type.as_str().cmp(b.report_type.as_str()))
                .then_with(|| a.fingerprint.cmp(&b.fingerprint))
        });
        groups.truncate(q.limit);
        Ok(groups)
    }
}
