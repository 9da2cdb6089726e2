//! A problem's figures over a window, merged from its aggregates of each day: one merge for
//! both stores, so that they show the same figures for the same reports.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::{GroupSummary, MAX_BROWSERS};
use crate::report::{Classification, ReportType, Timestamp};

/// A problem's aggregate of one day (on DynamoDB, of one write shard's share of that day).
#[derive(Debug, Clone, PartialEq)]
pub struct DayAggregate {
    /// The report type's name, as stored.
    pub report_type: String,
    pub fingerprint: String,
    /// The UTC day (`2026-12-03`); `None` for aggregates kept without one.
    pub day: Option<String>,
    pub group: String,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    pub count: u64,
    /// Browsers in the order first seen, at most [`MAX_BROWSERS`].
    pub browsers: Vec<String>,
    /// The visitor bytes seen that day.
    pub visitors: Vec<u8>,
    pub dispositions: Vec<String>,
    pub classification: Option<Classification>,
    pub policy_version: Option<String>,
}

/// Day aggregates merged into problems: a problem's days (and, on DynamoDB, write shards)
/// summed, the same way for both stores.
#[derive(Default)]
pub struct Top {
    /// Each problem (type and fingerprint) so far.
    merged: HashMap<(String, String), GroupSummary>,
    /// Each problem's visitors of each day: a day has an item per write shard, whose visitors
    /// are a union.
    visitor_days: BTreeMap<(String, String, String), BTreeSet<u8>>,
}

impl Top {
    pub fn merge(&mut self, it: DayAggregate) {
        let key = (it.report_type.clone(), it.fingerprint.clone());
        let entry = self.merged.entry(key).or_insert_with(|| GroupSummary {
            report_type: ReportType::from_name(&it.report_type)
                .unwrap_or(ReportType::Other(it.report_type.clone())),
            fingerprint: it.fingerprint.clone(),
            group: it.group.clone(),
            count: 0,
            first_seen: it.first_seen,
            last_seen: it.last_seen,
            browsers: Vec::new(),
            visitors: 0,
            dispositions: Vec::new(),
            classification: it.classification,
            policy_version: it.policy_version.clone(),
            days: BTreeMap::new(),
        });
        entry.count += it.count;
        if let Some(day) = it.day {
            *entry.days.entry(day.clone()).or_default() += it.count;
            self.visitor_days
                .entry((it.report_type, it.fingerprint, day))
                .or_default()
                .extend(it.visitors);
        }
        entry.first_seen = entry.first_seen.min(it.first_seen);
        entry.last_seen = entry.last_seen.max(it.last_seen);
        for b in it.browsers {
            if !entry.browsers.contains(&b) {
                entry.browsers.push(b);
            }
        }
        for d in it.dispositions {
            if !entry.dispositions.contains(&d) {
                entry.dispositions.push(d);
            }
        }
    }

    /// The problems of `classification` (or all), most frequent first, at most `limit`.
    pub fn groups(self, limit: usize, classification: Option<Classification>) -> Vec<GroupSummary> {
        let mut visitors: HashMap<(String, String), u64> = HashMap::new();
        for ((t, fp, _), v) in self.visitor_days {
            *visitors.entry((t, fp)).or_default() += v.len() as u64;
        }
        let mut groups: Vec<GroupSummary> = self
            .merged
            .into_values()
            .filter(|g| classification.is_none() || g.classification == classification)
            .collect();
        for g in &mut groups {
            g.browsers.sort();
            g.browsers.truncate(MAX_BROWSERS);
            g.dispositions.sort();
            g.visitors = visitors
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
        groups.truncate(limit);
        groups
    }
}
