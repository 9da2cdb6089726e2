//! The aggregate item layout: one problem's reports of one day in one write shard (its keys
//! are in [`super::item`]). Every attribute is named here once: the stream's counting
//! (`aggregate.rs`) writes them with [`Aggregate::update`] and reads its marks back with
//! [`Marks::of`]; `top` (`read.rs`) reads the items back with [`aggregate_of`].
//!
//! | attribute | type | written |
//! | --- | --- | --- |
//! | `site`, `type`, `day`, `fingerprint` | S | by every update, the same each time |
//! | `group`, `classification`, `policy_version` | S | by the first update (part of the problem) |
//! | `sample` | M (`pk`, `sk`) | by the first update: the key of one report of the problem |
//! | `first_seen`, `last_seen` | S (RFC 3339) | the earliest and latest time a report occurred |
//! | `seq` | S | the highest stream sequence number counted, padded to compare as text |
//! | `count` | N | added: the reports counted |
//! | `browsers` | SS | added: at most `MAX_BROWSERS` |
//! | `visitors` | NS | added: the reports' visitor bytes |
//! | `dispositions` | SS | added |
//! | `expires_at` | N | the TTL, from the latest report received |

use std::collections::BTreeSet;

use aws_sdk_dynamodb::types::AttributeValue;

use super::expr::UpdateExpr;
use super::item::{self, Item, PK, SK, TTL};
use crate::report::{Classification, ReportType, Timestamp};
use crate::store::MAX_BROWSERS;

/// The site.
pub const SITE: &str = "site";
/// The report type's name.
pub const TYPE: &str = "type";
/// The day (`YYYY-MM-DD`) the reports occurred.
pub const DAY: &str = "day";
/// The problem's fingerprint.
pub const FINGERPRINT: &str = "fingerprint";
/// The readable grouping key.
pub const GROUP: &str = "group";
/// For CSP: what the reports' own policy says of them.
pub const CLASSIFICATION: &str = "classification";
/// The policy version the reports were sent for.
pub const POLICY_VERSION: &str = "policy_version";
/// The key of one report of the problem.
pub const SAMPLE: &str = "sample";
/// When the earliest report occurred.
pub const FIRST_SEEN: &str = "first_seen";
/// When the latest report occurred.
pub const LAST_SEEN: &str = "last_seen";
/// The highest stream sequence number counted.
pub const SEQ: &str = "seq";
/// The reports counted.
pub const COUNT: &str = "count";
/// The browsers that sent them.
pub const BROWSERS: &str = "browsers";
/// Their visitor bytes.
pub const VISITORS: &str = "visitors";
/// Their dispositions.
pub const DISPOSITIONS: &str = "dispositions";

/// One aggregate: its key, and the problem it counts, which every update writes the same.
pub struct Aggregate {
    pub pk: String,
    pub sk: String,
    pub site: String,
    pub day: String,
    pub report_type: ReportType,
    pub fingerprint: String,
    pub group: String,
    pub classification: Option<Classification>,
    pub policy_version: Option<String>,
    /// The key (`pk`, `sk`) of one report of the problem.
    pub sample: (String, String),
}

/// What some new reports add to their aggregate.
pub struct Delta {
    pub count: usize,
    pub first: Timestamp,
    pub last: Timestamp,
    pub browsers: BTreeSet<String>,
    pub visitors: BTreeSet<u8>,
    pub dispositions: BTreeSet<&'static str>,
    /// The lowest and highest of their (padded) stream sequence numbers.
    pub lo: String,
    pub hi: String,
    /// When the latest of them was received (the TTL counts from it).
    pub received: Timestamp,
}

/// An aggregate's marks, as the exact path reads them.
#[derive(Default)]
pub struct Marks {
    pub seq: Option<String>,
    pub first: Option<String>,
    pub last: Option<String>,
    /// The browsers kept so far (at most `MAX_BROWSERS`).
    pub browsers: Vec<String>,
}

impl Marks {
    /// The marks of an aggregate item (or of its projection on them).
    pub fn of(it: &Item) -> Self {
        Self {
            seq: item::s(it, SEQ),
            first: item::s(it, FIRST_SEEN),
            last: item::s(it, LAST_SEEN),
            browsers: item::string_set(it, BROWSERS),
        }
    }
}

/// An aggregate item as `top` reads it back: the shared day aggregate.
pub type AggregateItem = crate::store::summary::DayAggregate;

/// An aggregate item read back; `None` without its type or fingerprint.
pub fn aggregate_of(it: &Item) -> Option<AggregateItem> {
    let time = |name: &str| {
        item::s(it, name)
            .and_then(|s| Timestamp::parse_rfc3339(&s))
            .unwrap_or_default()
    };
    Some(AggregateItem {
        report_type: item::s(it, TYPE)?,
        fingerprint: item::s(it, FINGERPRINT)?,
        day: item::s(it, SK)
            .as_deref()
            .and_then(|sk| sk.split('#').next())
            .map(str::to_owned),
        group: item::s(it, GROUP).unwrap_or_default(),
        first_seen: time(FIRST_SEEN),
        last_seen: time(LAST_SEEN),
        count: item::n(it, COUNT).unwrap_or(0).max(0) as u64,
        browsers: item::string_set(it, BROWSERS),
        visitors: match it.get(VISITORS) {
            Some(AttributeValue::Ns(v)) => v.iter().filter_map(|n| n.parse().ok()).collect(),
            _ => Vec::new(),
        },
        dispositions: item::string_set(it, DISPOSITIONS),
        classification: item::s(it, CLASSIFICATION)
            .as_deref()
            .and_then(Classification::from_name),
        policy_version: item::s(it, POLICY_VERSION),
    })
}

impl Aggregate {
    /// The update adding `delta`, its item expiring at `expires` (epoch seconds). Without
    /// `marks` (the fast path, whose condition makes `delta`'s first and last the aggregate's
    /// minimum and maximum, and checks its browsers have room), the first time already kept
    /// stays and every browser of `delta` is added. With the `marks` the exact path read,
    /// first and last are set to the exact minimum and maximum, and only the browsers that fit
    /// under the cap beside those kept are added.
    pub fn update(&self, delta: &Delta, marks: Option<&Marks>, expires: i64) -> UpdateExpr {
        let s = |v: &str| AttributeValue::S(v.to_owned());
        let (first, last) = first_and_last(delta, marks);
        let mut e = UpdateExpr::default();
        e.set(SITE, s(&self.site))
            .set(TYPE, s(self.report_type.as_str()))
            .set(DAY, s(&self.day))
            .set(FINGERPRINT, s(&self.fingerprint))
            .set_if_absent(GROUP, s(&self.group));
        if marks.is_some() {
            e.set(FIRST_SEEN, AttributeValue::S(first));
        } else {
            e.set_if_absent(FIRST_SEEN, AttributeValue::S(first));
        }
        e.set(LAST_SEEN, AttributeValue::S(last))
            .set_if_absent(SAMPLE, self.sample_value())
            .set(TTL, AttributeValue::N(expires.to_string()))
            .set(SEQ, s(&delta.hi));
        // Both part of the group, so the same for every report of the aggregate.
        if let Some(class) = self.classification {
            e.set_if_absent(CLASSIFICATION, s(class.as_str()));
        }
        if let Some(v) = &self.policy_version {
            e.set_if_absent(POLICY_VERSION, s(v));
        }
        e.add(COUNT, AttributeValue::N(delta.count.to_string()));
        let browsers = browsers_to_add(delta, marks);
        if !browsers.is_empty() {
            e.add(BROWSERS, AttributeValue::Ss(browsers));
        }
        if !delta.visitors.is_empty() {
            // A set of bytes: bounded by construction (256 values), idempotent under retries.
            let visitors = delta.visitors.iter().map(u8::to_string).collect();
            e.add(VISITORS, AttributeValue::Ns(visitors));
        }
        if !delta.dispositions.is_empty() {
            let dispositions = delta.dispositions.iter().map(|d| d.to_string()).collect();
            e.add(DISPOSITIONS, AttributeValue::Ss(dispositions));
        }
        e
    }

    fn sample_value(&self) -> AttributeValue {
        AttributeValue::M(
            [
                (PK.to_owned(), AttributeValue::S(self.sample.0.clone())),
                (SK.to_owned(), AttributeValue::S(self.sample.1.clone())),
            ]
            .into(),
        )
    }
}

/// The first and last times to write: `delta`'s, or with `marks` the earlier and later of
/// theirs and `delta`'s.
fn first_and_last(delta: &Delta, marks: Option<&Marks>) -> (String, String) {
    let mut first = delta.first.to_string();
    let mut last = delta.last.to_string();
    if let Some(m) = marks {
        if let Some(f) = m.first.as_ref().filter(|f| **f < first) {
            first = f.clone();
        }
        if let Some(l) = m.last.as_ref().filter(|l| **l > last) {
            last = l.clone();
        }
    }
    (first, last)
}

/// The browsers to add: all of `delta`'s, or with `marks` only what fits under the cap beside
/// those kept.
fn browsers_to_add(delta: &Delta, marks: Option<&Marks>) -> Vec<String> {
    match marks {
        Some(m) => delta
            .browsers
            .iter()
            .filter(|b| !m.browsers.contains(b))
            .take(MAX_BROWSERS.saturating_sub(m.browsers.len()))
            .cloned()
            .collect(),
        None => delta.browsers.iter().cloned().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn aggregate() -> Aggregate {
        Aggregate {
            pk: "AGG#example.com#0".into(),
            sk: "2026-11-21#csp-violation#f1".into(),
            site: "example.com".into(),
            day: "2026-11-21".into(),
            report_type: ReportType::CspViolation,
            fingerprint: "f1".into(),
            group: "csp-violation script-src".into(),
            classification: Some(Classification::Violation),
            policy_version: Some("3".into()),
            sample: ("example.com#csp-violation#0".into(), "w#id".into()),
        }
    }

    fn delta() -> Delta {
        Delta {
            count: 2,
            first: Timestamp(1_795_305_000_000),
            last: Timestamp(1_795_305_600_000),
            browsers: ["Chrome 120".to_owned(), "Firefox 130".to_owned()].into(),
            visitors: [7, 9].into(),
            dispositions: ["enforce"].into(),
            lo: "0001".into(),
            hi: "0002".into(),
            received: Timestamp(1_795_305_600_000),
        }
    }

    #[test]
    fn an_update_writes_the_attributes_aggregates_have_always_had() {
        let (first, last) = (delta().first.to_string(), delta().last.to_string());
        let (update, condition) = aggregate().update(&delta(), None, 99).resolved();
        assert_eq!(
            update,
            format!(
                "SET site = 'example.com', type = 'csp-violation', day = '2026-11-21', \
                 fingerprint = 'f1', group = if_not_exists(group, 'csp-violation script-src'), \
                 first_seen = if_not_exists(first_seen, '{first}'), last_seen = '{last}', \
                 sample = if_not_exists(sample, {{pk: 'example.com#csp-violation#0', sk: 'w#id'}}), \
                 expires_at = 99, seq = '0002', \
                 classification = if_not_exists(classification, 'violation'), \
                 policy_version = if_not_exists(policy_version, '3') \
                 ADD count 2, browsers {{Chrome 120, Firefox 130}}, visitors {{7, 9}}, \
                 dispositions {{enforce}}"
            )
        );
        assert_eq!(condition, "", "conditions are the caller's");
    }

    #[test]
    fn the_exact_update_sets_first_and_last_and_adds_only_the_browsers_that_fit() {
        let kept: Vec<String> = (0..MAX_BROWSERS - 1).map(|i| format!("B {i}")).collect();
        let marks = Marks {
            seq: Some("0001".into()),
            first: Some("2026-11-01T00:00:00.000Z".into()),
            last: Some("2026-11-30T00:00:00.000Z".into()),
            browsers: kept,
        };
        let mut a = aggregate();
        a.classification = None;
        a.policy_version = None;
        let mut d = delta();
        d.visitors.clear();
        d.dispositions.clear();
        let (update, _) = a.update(&d, Some(&marks), 99).resolved();
        assert!(
            update.contains(
                "first_seen = '2026-11-01T00:00:00.000Z', last_seen = '2026-11-30T00:00:00.000Z'"
            ),
            "{update}"
        );
        assert!(
            update.ends_with("ADD count 2, browsers {Chrome 120}"),
            "one place left: {update}"
        );
        assert!(!update.contains("classification"), "{update}");
        assert!(!update.contains("policy_version"), "{update}");
    }

    #[test]
    fn an_aggregate_item_reads_back() {
        let first = Timestamp(1_795_305_000_000);
        let it: Item = [
            (PK.to_owned(), AttributeValue::S("AGG#example.com#0".into())),
            (
                SK.to_owned(),
                AttributeValue::S("2026-11-21#csp-violation#f1".into()),
            ),
            (TYPE.to_owned(), AttributeValue::S("csp-violation".into())),
            (FINGERPRINT.to_owned(), AttributeValue::S("f1".into())),
            (FIRST_SEEN.to_owned(), AttributeValue::S(first.to_string())),
            (COUNT.to_owned(), AttributeValue::N("3".into())),
            (
                VISITORS.to_owned(),
                AttributeValue::Ns(vec!["7".into(), "9".into()]),
            ),
            (
                CLASSIFICATION.to_owned(),
                AttributeValue::S("violation".into()),
            ),
        ]
        .into();
        let a = aggregate_of(&it).unwrap();
        assert_eq!(
            (a.report_type.as_str(), a.fingerprint.as_str()),
            ("csp-violation", "f1")
        );
        assert_eq!(a.day.as_deref(), Some("2026-11-21"));
        assert_eq!(
            (a.first_seen, a.last_seen, a.count),
            (first, Timestamp::default(), 3)
        );
        assert_eq!(a.visitors, [7, 9]);
        assert_eq!(a.classification, Some(Classification::Violation));
        assert!(a.group.is_empty() && a.browsers.is_empty() && a.policy_version.is_none());
        let mut untyped = it;
        untyped.remove(TYPE);
        assert!(aggregate_of(&untyped).is_none(), "not an aggregate");
    }
}
