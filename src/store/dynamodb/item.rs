//! The DynamoDB item layout: keys, attributes, and the conversions to and from reports.
//!
//! A report item holds the report's attributes except what its keys already say (`site` and
//! `type` are in `pk`, `id` in `sk`) and a CSP body's `documentURL` when it is the report's
//! `url`: each costs bytes on every write and would be read back identical. Reading restores
//! them, so a report reads back exactly as it was stored; items that still carry them
//! (written before) read the same.
//!
//! | item | `pk` | `sk` | `pp` (index `by_problem`) |
//! | --- | --- | --- | --- |
//! | report | `{site}#{type}#{shard}` | `{window}#{id}`: the start of the report's identity window (RFC 3339, so newest first with `ScanIndexForward=false`) and its id | `{site}#{type}#{fingerprint}#{shard}` |
//! | aggregate | `AGG#{site}#{shard}` | `{day}#{type}#{fingerprint}` | none |
//!
//! An aggregate's attributes are laid out in `aggregate_item.rs`.
//!
//! The global secondary index [`BY_PROBLEM`] is keyed by `pp` and `sk` and projects every
//! attribute, so one `Query` of it returns a page of one problem's reports, newest first,
//! without reading the other problems of its type. It is sparse: report items alone carry
//! `pp` (aggregates, the sites registry, alert and visitor key items do not). A problem's
//! reports share its shard with their own `pk`, so a flood of one problem spreads over as many
//! index partitions as table partitions. Report items written before `pp` existed are not in
//! the index: they are listed among a site's or a type's reports and counted in the
//! aggregates, never on a problem's page, and expire with the table's TTL.
//!
//! A report's key depends only on its content and identity window (see `report::Identity`),
//! so a re-delivery writes the item it wrote the first time. Items written before the
//! windows existed have `{occurred_at}#{id}` sort keys; they read the same.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{Map, Value};

use super::codec::{av_of_json, json_of_av};

use crate::report::{Identity, Report, ReportType, Timestamp};

/// The CSP body field naming the document; decoding fills it in from the report's URL, so an
/// item leaves it out when it only repeats `url` (and reading restores it).
pub const DOCUMENT_URL: &str = "documentURL";

/// Whether `report` is a CSP report whose `documentURL` only repeats its `url`.
fn document_url_repeats_url(report: &Report) -> bool {
    report.report_type == ReportType::CspViolation
        && report.body.get(DOCUMENT_URL).and_then(Value::as_str) == Some(report.url.as_str())
}

/// Partition key attribute.
pub const PK: &str = "pk";
/// Sort key attribute.
pub const SK: &str = "sk";
/// TTL attribute (epoch seconds).
pub const TTL: &str = "expires_at";
/// The problem's partition key attribute of a report item: the partition key of
/// [`BY_PROBLEM`].
pub const PROBLEM_KEY: &str = "pp";

/// A global secondary index of the table: its name and partition key attribute (every index's
/// sort key is [`SK`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Index {
    /// `IndexName`.
    pub name: &'static str,
    /// The partition key attribute.
    pub partition_key: &'static str,
}

/// The reports of one problem, newest first: `pp` ([`problem_pk`]) and `sk`, every attribute
/// projected.
pub static BY_PROBLEM: Index = Index {
    name: "by_problem",
    partition_key: PROBLEM_KEY,
};

/// A DynamoDB item.
pub type Item = HashMap<String, AttributeValue>;

/// An item's key: partition key and sort key.
pub type ItemKey = (String, String);

/// The write shard of a report: spread by its id, so a retry lands on the same shard.
pub fn shard_of(report: &Report, shards: u16) -> u16 {
    shard_of_id(&report.id, shards)
}

pub(crate) fn shard_of_id(id: &str, shards: u16) -> u16 {
    let prefix = id.get(..4).unwrap_or("0");
    u16::from_str_radix(prefix, 16).unwrap_or(0) % shards.max(1)
}

/// The partition key of a report.
pub fn report_pk(site: &str, t: &ReportType, shard: u16) -> String {
    format!("{site}#{}#{shard}", t.as_str())
}

/// The partition key of a report in [`BY_PROBLEM`]: its site, type, fingerprint, and the write
/// shard of its item's `pk`.
pub fn problem_pk(site: &str, t: &ReportType, fingerprint: &str, shard: u16) -> String {
    format!("{site}#{}#{fingerprint}#{shard}", t.as_str())
}

/// The sort key of a report: its identity window and id.
pub fn report_sk(report: &Report) -> String {
    sk_of(&Identity {
        window: report.window(),
        id: report.id.clone(),
    })
}

fn sk_of(identity: &Identity) -> String {
    format!("{}#{}", identity.window, identity.id)
}

/// The key of a report's item.
pub fn report_key(report: &Report, shards: u16) -> (String, String) {
    (
        report_pk(&report.site, &report.report_type, shard_of(report, shards)),
        report_sk(report),
    )
}

/// The key the report would have in the adjacent identity window, when it occurred near the
/// edge: an item there is this report, delivered before.
pub fn neighbour_key(report: &Report, shards: u16) -> Option<(String, String, Identity)> {
    let n = report.neighbour()?;
    let pk = report_pk(
        &report.site,
        &report.report_type,
        shard_of_id(&n.id, shards),
    );
    Some((pk, sk_of(&n), n))
}

/// The partition key of a site's aggregates (one per write shard: an aggregate counts the
/// reports of one report partition).
pub fn aggregate_pk(site: &str, shard: u16) -> String {
    format!("AGG#{site}#{shard}")
}

/// The sort key of one aggregate.
pub fn aggregate_sk(day: &str, t: &ReportType, fingerprint: &str) -> String {
    format!("{day}#{}#{fingerprint}", t.as_str())
}

/// The TTL value: `t` plus the retention, in epoch seconds. Items are kept from when Lookout
/// received them (never from a time a sender stated).
pub fn expiry(t: Timestamp, retention_days: u32) -> i64 {
    t.millis() / 1000 + i64::from(retention_days) * 86_400
}

/// Attributes a report item leaves out because its keys hold them.
const IN_KEYS: [&str; 3] = ["site", "type", "id"];

/// A report as an item: flat, readable attributes plus the body as a Map. Fails only if the
/// report does not serialize to a JSON object: the writer then answers that report unwritten,
/// never stores an empty item.
pub fn report_item(
    report: &Report,
    shards: u16,
    retention_days: u32,
) -> Result<Item, serde_json::Error> {
    let AttributeValue::M(mut item) = av_of_json(serde_json::to_value(report)?) else {
        return Err(serde::ser::Error::custom("a report is not a JSON object"));
    };
    for key in IN_KEYS {
        item.remove(key);
    }
    // An empty `url` (a legacy report without a document) is left out: DynamoDB before 2020
    // (and DynamoDB Local of that time) refuses empty strings; reading restores it.
    item.retain(|_, v| !matches!(v, AttributeValue::S(s) if s.is_empty()));
    if document_url_repeats_url(report)
        && let Some(AttributeValue::M(body)) = item.get_mut("body")
    {
        body.remove(DOCUMENT_URL);
    }
    let shard = shard_of(report, shards);
    item.insert(
        PK.into(),
        AttributeValue::S(report_pk(&report.site, &report.report_type, shard)),
    );
    item.insert(SK.into(), AttributeValue::S(report_sk(report)));
    item.insert(
        PROBLEM_KEY.into(),
        AttributeValue::S(problem_pk(
            &report.site,
            &report.report_type,
            &report.fingerprint,
            shard,
        )),
    );
    item.insert(
        TTL.into(),
        AttributeValue::N(expiry(report.received_at, retention_days).to_string()),
    );
    Ok(item)
}

/// Whether an item holds reports: a report's, or an upload's (not an aggregate's).
pub fn is_report_item(item: &Item) -> bool {
    s(item, PK).is_some_and(|pk| !pk.starts_with("AGG#")) && item.contains_key("received_at")
}

/// The reports an item holds: a report item's one, or an upload's (`upload.rs`).
pub fn reports_of(item: &Item) -> Result<Vec<Report>, serde_json::Error> {
    if super::upload::is_upload(item) {
        return super::upload::reports_of_upload(item);
    }
    report_of(item).map(|r| vec![r])
}

/// Attributes of a report item that are no field of its report: keys and the TTL.
const NOT_FIELDS: [&str; 4] = [PK, SK, TTL, PROBLEM_KEY];

/// A report read back from its item.
pub fn report_of(item: &Item) -> Result<Report, serde_json::Error> {
    let mut map = Map::new();
    for (k, v) in item {
        if !NOT_FIELDS.contains(&k.as_str()) {
            map.insert(k.clone(), json_of_av(v));
        }
    }
    // What the keys hold: `{site}#{type}#{shard}` (neither a site nor a type name has `#`) and
    // `{window}#{id}` (or `{occurred_at}#{id}` in items written before windows).
    if let Some((site, rest)) = s(item, PK).as_deref().and_then(|pk| pk.split_once('#'))
        && let Some((type_name, _shard)) = rest.rsplit_once('#')
    {
        map.entry("site").or_insert_with(|| site.into());
        map.entry("type").or_insert_with(|| type_name.into());
    }
    if let Some((time, id)) = s(item, SK).as_deref().and_then(|sk| sk.rsplit_once('#')) {
        map.entry("occurred_at").or_insert_with(|| time.into());
        map.entry("id").or_insert_with(|| id.into());
    }
    map.entry("url").or_insert_with(|| "".into());
    if map.get("type").and_then(Value::as_str) == Some(ReportType::CspViolation.as_str())
        && let Some(url) = map.get("url").and_then(Value::as_str).map(str::to_owned)
        && !url.is_empty()
        && let Some(Value::Object(body)) = map.get_mut("body")
    {
        body.entry(DOCUMENT_URL).or_insert(Value::String(url));
    }
    serde_json::from_value(Value::Object(map))
}

/// The size DynamoDB bills an item at, in bytes, by its documented rules: attribute names
/// plus values; strings and binaries by their bytes, numbers one byte per two significant
/// digits plus one, booleans and nulls one byte, lists and maps 3 bytes plus one per element.
/// Writes cost one write unit per started kilobyte (1,024 bytes) of this.
pub fn item_size(item: &Item) -> usize {
    item.iter().map(|(k, v)| k.len() + value_size(v)).sum()
}

/// Write request units of one write of `item` (standard table class).
pub fn write_units(item: &Item) -> usize {
    item_size(item).div_ceil(1024).max(1)
}

fn value_size(v: &AttributeValue) -> usize {
    match v {
        AttributeValue::S(s) => s.len(),
        AttributeValue::N(n) => number_size(n),
        AttributeValue::B(b) => b.as_ref().len(),
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::L(items) => 3 + items.iter().map(|i| 1 + value_size(i)).sum::<usize>(),
        AttributeValue::M(map) => {
            3 + map
                .iter()
                .map(|(k, i)| 1 + k.len() + value_size(i))
                .sum::<usize>()
        }
        AttributeValue::Ss(items) => items.iter().map(String::len).sum(),
        AttributeValue::Ns(items) => items.iter().map(|n| number_size(n)).sum(),
        AttributeValue::Bs(items) => items.iter().map(|b| b.as_ref().len()).sum(),
        _ => 0,
    }
}

/// A number's size: one byte per two significant digits, plus one.
fn number_size(n: &str) -> usize {
    let mantissa = n.split(['e', 'E']).next().unwrap_or(n);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let significant = digits
        .trim_start_matches('0')
        .trim_end_matches('0')
        .len()
        .max(1);
    significant.div_ceil(2) + 1
}

/// A string attribute.
pub fn s(item: &Item, key: &str) -> Option<String> {
    match item.get(key) {
        Some(AttributeValue::S(v)) => Some(v.clone()),
        _ => None,
    }
}

/// A numeric attribute as `i64`.
pub fn n(item: &Item, key: &str) -> Option<i64> {
    match item.get(key) {
        Some(AttributeValue::N(v)) => v.parse().ok(),
        _ => None,
    }
}

/// A string set attribute (empty when absent).
pub fn string_set(item: &Item, key: &str) -> Vec<String> {
    match item.get(key) {
        Some(AttributeValue::Ss(v)) => v.clone(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Options, RequestMeta, decode};

    /// A request for `example.com` at a fixed time.
    fn meta(user_agent: Option<&'static str>) -> RequestMeta<'static> {
        RequestMeta {
            site: Some("example.com"),
            user_agent,
            received_at: Timestamp(1_795_305_600_000),
            endpoint: None,
            policy_version: None,
        }
    }

    #[test]
    fn item_sizes_follow_dynamodb_rules() {
        let item: Item = [
            ("pk".to_owned(), AttributeValue::S("abc".into())), // 2 + 3
            ("n".to_owned(), AttributeValue::N("12345".into())), // 1 + 4
            ("z".to_owned(), AttributeValue::N("-0.00100".into())), // 1 + 2
            ("b".to_owned(), AttributeValue::Bool(true)),       // 1 + 1
            (
                "m".to_owned(),
                // 1 + 3 + (1 + 1 + 1) + (1 + 2 + 2)
                AttributeValue::M(
                    [
                        ("x".to_owned(), AttributeValue::S("y".into())),
                        ("yy".to_owned(), AttributeValue::N("7".into())),
                    ]
                    .into(),
                ),
            ),
            (
                "l".to_owned(),
                // 1 + 3 + (1 + 2)
                AttributeValue::L(vec![AttributeValue::S("ab".into())]),
            ),
        ]
        .into();
        assert_eq!(item_size(&item), 5 + 5 + 3 + 2 + 12 + 7);
        assert_eq!(write_units(&item), 1);
        let big: Item = [("s".to_owned(), AttributeValue::S("x".repeat(1024)))].into();
        assert_eq!(write_units(&big), 2, "1,025 bytes start a second kilobyte");
    }

    #[test]
    fn a_report_round_trips_through_its_item() {
        let meta = meta(Some("Mozilla/5.0 Chrome/120.0 Safari/537.36"));
        let body = br#"[{"type":"network-error","age":1500,"url":"https://example.com/x","body":{"type":"http.error","phase":"application","status_code":502,"sampling_fraction":0.25,"elapsed_time":30,"extra":{"nested":[1,"a",null,true]}}}]"#;
        let report = decode(body, &meta, &Options::default())
            .unwrap()
            .reports
            .remove(0);
        let item = report_item(&report, 4, 30).unwrap();
        assert_eq!(
            s(&item, PK).unwrap(),
            format!("example.com#network-error#{}", shard_of(&report, 4))
        );
        assert!(
            s(&item, SK)
                .unwrap()
                .starts_with("2026-11-21T23:59:50.000Z#")
        );
        assert_eq!(
            n(&item, TTL),
            Some(1_795_305_600 + 30 * 86_400),
            "from received_at"
        );
        assert!(matches!(item.get("body"), Some(AttributeValue::M(_))));
        for in_keys in IN_KEYS {
            assert!(!item.contains_key(in_keys), "{in_keys} is in the keys");
        }
        assert_eq!(report_of(&item).unwrap(), report);
    }

    #[test]
    fn a_report_item_carries_its_problem_key_and_reads_back_without_it() {
        let meta = meta(None);
        let body = br#"[{"type":"csp-violation","url":"https://example.com/a","body":{"documentURL":"https://example.com/a","blockedURL":"https://cdn.example.net/x.js","effectiveDirective":"script-src-elem"}}]"#;
        let report = decode(body, &meta, &Options::default())
            .unwrap()
            .reports
            .remove(0);
        let shard = shard_of(&report, 8);
        let item = report_item(&report, 8, 30).unwrap();
        assert_eq!(
            s(&item, PROBLEM_KEY).unwrap(),
            format!("example.com#csp-violation#{}#{shard}", report.fingerprint),
            "site, type, fingerprint and the shard of its pk"
        );
        assert_eq!(
            s(&item, PK).unwrap(),
            format!("example.com#csp-violation#{shard}")
        );
        assert_eq!(
            s(&item, PROBLEM_KEY),
            Some(problem_pk(
                &report.site,
                &report.report_type,
                &report.fingerprint,
                shard
            ))
        );
        assert_eq!(BY_PROBLEM.partition_key, PROBLEM_KEY);
        let back = report_of(&item).unwrap();
        assert_eq!(back, report, "pp is no field of the report");
        let reserialized = serde_json::to_value(&back).unwrap();
        assert!(reserialized.get(PROBLEM_KEY).is_none());
        // An item written before the index (no `pp`) reads the same.
        let mut before = item.clone();
        before.remove(PROBLEM_KEY);
        assert_eq!(report_of(&before).unwrap(), report);
    }

    #[test]
    fn a_csp_report_leaves_out_its_repeated_document_url_and_gets_it_back() {
        let meta = meta(None);
        let body = br#"[{"type":"csp-violation","url":"https://example.com/a","body":{"documentURL":"https://example.com/a","blockedURL":"inline","effectiveDirective":"script-src"}},
                        {"type":"csp-violation","url":"https://example.com/a","body":{"documentURL":"https://example.com/b","blockedURL":"inline","effectiveDirective":"script-src"}},
                        {"type":"x-future-kind","url":"https://example.com/a","body":{"documentURL":"https://example.com/a"}}]"#;
        let reports = decode(body, &meta, &Options::default()).unwrap().reports;
        assert_eq!(reports.len(), 3);
        let items: Vec<Item> = reports
            .iter()
            .map(|r| report_item(r, 2, 30).unwrap())
            .collect();
        let has_document_url = |i: &Item| match i.get("body") {
            Some(AttributeValue::M(b)) => b.contains_key(DOCUMENT_URL),
            _ => panic!("no body"),
        };
        assert!(!has_document_url(&items[0]), "the same as url: left out");
        assert!(has_document_url(&items[1]), "another document: kept");
        assert!(has_document_url(&items[2]), "not a CSP report: kept");
        for (item, report) in items.iter().zip(&reports) {
            assert_eq!(&report_of(item).unwrap(), report);
            assert!(item_size(item) < item_size(&legacy_item(report)));
        }
    }

    #[test]
    fn items_written_with_every_attribute_read_the_same() {
        let meta = meta(None);
        let body = br#"{"csp-report":{"document-uri":"https://example.com/","blocked-uri":"https://x.example/","effective-directive":"img-src"}}"#;
        let report = decode(body, &meta, &Options::default())
            .unwrap()
            .reports
            .remove(0);
        assert_eq!(report_of(&legacy_item(&report)).unwrap(), report);
    }

    /// The item as the first layout wrote it: every attribute of the report.
    fn legacy_item(report: &Report) -> Item {
        let AttributeValue::M(mut item) = av_of_json(serde_json::to_value(report).unwrap()) else {
            unreachable!()
        };
        item.insert(
            PK.into(),
            AttributeValue::S(report_pk(&report.site, &report.report_type, 0)),
        );
        item.insert(SK.into(), AttributeValue::S(report_sk(report)));
        item
    }
}
