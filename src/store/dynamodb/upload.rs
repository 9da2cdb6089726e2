//! Script uploads: a page view's `csp-hash` reports stored as one item.
//!
//! A page under `'report-sha256'` sends one `csp-hash` report per script it loads, and the
//! browser delivers them together: 30 scripts, 30 reports in one request. As 30 items (and 30
//! copies in the index `by_problem`) they would cost 60 write units; as one item holding them
//! all, compressed, a few. The `csp-hash` reports of one request that share their page,
//! User-Agent and visitor (two or more) are one upload item:
//!
//! - its key: the reports' partition (`{site}#csp-hash#{shard}`, the shard from the upload's
//!   id) and `{window}#u{id}`, the identity of the reports together
//!   (`report::identity_of_together`: their contents in any order, the window of the
//!   earliest). The same reports delivered again overwrite their item (no stream record, no
//!   count); an upload near its window's edge is looked up in the adjacent window first, as a
//!   single report is.
//! - `upload`: the reports as JSON, gzip-compressed; `received_at`: when they came.
//! - no `pp`: an upload is in no problem's partition of the index; a script content's reports
//!   are read from the site's uploads (`read.rs`).
//!
//! The stream handler, the archive and every read expand an upload into its reports, so counts,
//! alerts and lists are those of the reports. What changes is what a re-delivery is: the same
//! upload, not the same report. A browser retries an upload only when it got no 2xx answer; if
//! the reports were stored and the answer lost, and the retry carries newer reports too, the
//! retried ones are stored (and counted) a second time.

use std::io::{Read as _, Write as _};

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;

use super::item::{self, Item, ItemKey, PK, SK, TTL};
use crate::report::{Identity, Report, ReportType, Timestamp, identity_of_together};

/// The attribute holding an upload's reports.
pub const UPLOAD: &str = "upload";

/// The attribute holding when an upload was received (epoch ms).
const RECEIVED_AT: &str = "received_at";

/// The most reports one upload item holds (a page with more scripts is several items).
pub const MAX_UPLOAD_REPORTS: usize = 100;

/// The most bytes of JSON one upload item holds, before compression.
pub const MAX_UPLOAD_JSON_BYTES: usize = 192 * 1024;

/// One upload of a request: its reports, its key, and its JSON as its item holds it.
#[derive(Debug, Clone)]
pub struct Upload {
    /// Positions of its reports in the request's batch.
    pub members: Vec<usize>,
    pub key: ItemKey,
    /// Its key in the adjacent identity window, near its window's edge: an item there is this
    /// upload, delivered before.
    pub neighbour: Option<ItemKey>,
    /// Its reports as a JSON array (before compression).
    json: Vec<u8>,
    /// When the earliest of its reports was received.
    received: Timestamp,
}

/// The uploads of a request's reports: each two or more `csp-hash` reports of one site, page,
/// User-Agent, visitor and receipt (and policy version and endpoint), distinct (a report given
/// twice is in its upload once), at most [`MAX_UPLOAD_REPORTS`] and [`MAX_UPLOAD_JSON_BYTES`].
/// The other reports (and one that does not serialize) stay reports.
pub fn uploads_of(reports: &[Report], shards: u16) -> Vec<Upload> {
    type Key<'a> = (
        &'a str,
        &'a str,
        Option<&'a str>,
        Option<u8>,
        i64,
        Option<&'a str>,
        Option<&'a str>,
    );
    let mut groups: Vec<(Key<'_>, Vec<usize>)> = Vec::new();
    for (i, r) in reports.iter().enumerate() {
        if r.report_type != ReportType::CspHash {
            continue;
        }
        let key: Key<'_> = (
            &r.site,
            &r.url,
            r.user_agent.as_deref(),
            r.visitor,
            r.received_at.millis(),
            r.policy_version.as_deref(),
            r.endpoint.as_deref(),
        );
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, members)) => {
                if !members.iter().any(|&m| reports[m].id == r.id) {
                    members.push(i);
                }
            }
            None => groups.push((key, vec![i])),
        }
    }
    groups
        .into_iter()
        .flat_map(|(_, members)| chunks(reports, members))
        .filter(|(members, _)| members.len() >= 2)
        .filter_map(|(members, json)| upload(reports, members, json, shards))
        .collect()
}

/// `members` (positions in `reports`) cut into uploads of at most [`MAX_UPLOAD_REPORTS`]
/// reports and [`MAX_UPLOAD_JSON_BYTES`] of JSON (compressed, always under DynamoDB's 400 KB an
/// item, however little the reports compress), each with its JSON array.
fn chunks(reports: &[Report], mut members: Vec<usize>) -> Vec<(Vec<usize>, Vec<u8>)> {
    // In the order of their ids: the same reports delivered again in another order are cut
    // the same way, into the same uploads.
    members.sort_by(|&a, &b| reports[a].id.cmp(&reports[b].id));
    let mut out: Vec<(Vec<usize>, Vec<u8>)> = Vec::new();
    for i in members {
        let Ok(json) = serde_json::to_vec(&reports[i]) else {
            continue;
        };
        match out.last_mut() {
            Some((last, array))
                if last.len() < MAX_UPLOAD_REPORTS
                    && array.len() + 1 + json.len() < MAX_UPLOAD_JSON_BYTES =>
            {
                last.push(i);
                array.push(b',');
                array.extend(json);
            }
            _ => {
                let mut array = vec![b'['];
                array.extend(json);
                out.push((vec![i], array));
            }
        }
    }
    for (_, array) in &mut out {
        array.push(b']');
    }
    out
}

/// The upload of `members`, whose JSON array is `json`.
fn upload(reports: &[Report], members: Vec<usize>, json: Vec<u8>, shards: u16) -> Option<Upload> {
    let rs: Vec<&Report> = members.iter().map(|&i| &reports[i]).collect();
    let (key, neighbour) = upload_keys(&rs, shards)?;
    let received = rs.iter().map(|r| r.received_at).min()?;
    Some(Upload {
        members,
        key,
        neighbour,
        json,
        received,
    })
}

/// An upload's key and, near its window's edge, the key it would have in the adjacent window.
fn upload_keys(reports: &[&Report], shards: u16) -> Option<(ItemKey, Option<ItemKey>)> {
    let (identity, neighbour) = identity_of_together(reports)?;
    let key = |i: &Identity| {
        let first = reports[0];
        (
            item::report_pk(
                &first.site,
                &first.report_type,
                item::shard_of_id(&i.id, shards),
            ),
            format!("{}#u{}", i.window, i.id),
        )
    };
    Some((key(&identity), neighbour.as_ref().map(key)))
}

impl Upload {
    /// The upload as an item (see the module's documentation).
    pub fn item(&self, retention_days: u32) -> std::io::Result<Item> {
        let mut gz = GzEncoder::new(Vec::with_capacity(self.json.len() / 4), Compression::best());
        gz.write_all(&self.json)?;
        let bytes = gz.finish()?;
        let (pk, sk) = self.key.clone();
        Ok(Item::from([
            (PK.to_owned(), AttributeValue::S(pk)),
            (SK.to_owned(), AttributeValue::S(sk)),
            (UPLOAD.to_owned(), AttributeValue::B(Blob::new(bytes))),
            (
                RECEIVED_AT.to_owned(),
                AttributeValue::N(self.received.millis().to_string()),
            ),
            (
                TTL.to_owned(),
                AttributeValue::N(item::expiry(self.received, retention_days).to_string()),
            ),
        ]))
    }
}

/// Whether an item is an upload.
pub fn is_upload(item: &Item) -> bool {
    matches!(item.get(UPLOAD), Some(AttributeValue::B(_)))
}

/// The reports an upload item holds.
pub fn reports_of_upload(item: &Item) -> Result<Vec<Report>, serde_json::Error> {
    let Some(AttributeValue::B(blob)) = item.get(UPLOAD) else {
        return Err(serde::de::Error::custom("not an upload"));
    };
    let mut json = Vec::new();
    GzDecoder::new(blob.as_ref())
        .read_to_end(&mut json)
        .map_err(serde_json::Error::io)?;
    serde_json::from_slice(&json)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Options, RequestMeta, decode};

    fn page_view(scripts: usize, received: i64) -> Vec<Report> {
        let reports: Vec<serde_json::Value> = (0..scripts)
            .map(|i| {
                serde_json::json!({"type": "csp-hash", "age": 10, "url": "https://shop.example/p",
                    "user_agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36",
                    "body": {"documentURL": "https://shop.example/p",
                             "subresourceURL": format!("https://shop.example/s/{i}.js"),
                             "hash": "sha256-kXpLomJzl7/XaYNWb9qqrD03SIV3MeQ858OKe5bGOks=",
                             "type": "subresource", "destination": "script"}})
            })
            .collect();
        let body = serde_json::to_vec(&reports).unwrap();
        let meta = RequestMeta {
            site: Some("shop.example"),
            user_agent: None,
            received_at: Timestamp(received),
            endpoint: None,
            policy_version: None,
        };
        decode(&body, &meta, &Options::default()).unwrap().reports
    }

    #[test]
    fn a_page_views_scripts_are_one_item_of_a_few_write_units_that_reads_back_exactly() {
        let reports = page_view(30, 1_796_000_000_500);
        let uploads = uploads_of(&reports, 2);
        assert_eq!(uploads.len(), 1);
        let mut members = uploads[0].members.clone();
        members.sort_unstable();
        assert_eq!(members, (0..30).collect::<Vec<_>>());
        let it = uploads[0].item(30).unwrap();
        assert!(is_upload(&it));
        let units = item::write_units(&it);
        assert!(units <= 3, "{} bytes: {units} units", item::item_size(&it));
        let mut back = reports_of_upload(&it).unwrap();
        let mut sent = reports.clone();
        back.sort_by(|a, b| a.id.cmp(&b.id));
        sent.sort_by(|a, b| a.id.cmp(&b.id));
        assert_eq!(back, sent);
    }

    #[test]
    fn the_same_reports_delivered_again_have_the_same_key_in_any_order() {
        let first = page_view(5, 1_796_000_000_500);
        // Delivered again 300 ms later with a larger age: the same occurrences.
        let mut again = page_view(5, 1_796_000_000_800);
        for r in &mut again {
            r.occurred_at = Timestamp(r.occurred_at.millis() - 300);
        }
        again.reverse();
        let keys = |rs: &[Report]| upload_keys(&rs.iter().collect::<Vec<_>>(), 4).unwrap().0;
        assert_eq!(keys(&first), keys(&again));
        assert_ne!(keys(&first), keys(&page_view(4, 1_796_000_000_500)));
    }

    #[test]
    fn a_lone_script_report_and_other_types_stay_reports() {
        assert!(uploads_of(&page_view(1, 1_796_000_000_500), 1).is_empty());
        let mut two = page_view(2, 1_796_000_000_500);
        two[1].visitor = Some(7);
        assert!(
            uploads_of(&two, 1).is_empty(),
            "two visitors, two page views"
        );
        let mut twice = page_view(2, 1_796_000_000_500);
        twice.push(twice[0].clone());
        let uploads = uploads_of(&twice, 1);
        assert_eq!(uploads.len(), 1);
        let mut members = uploads[0].members.clone();
        members.sort_unstable();
        assert_eq!(members, [0, 1], "a report given twice is in it once");
    }

    #[test]
    fn an_upload_stays_under_dynamodbs_item_size_whatever_its_reports_hold() {
        // Reports with 60 KB of incompressible text each (a forger's): several uploads, each
        // item under 400 KB.
        let mut reports = page_view(12, 1_796_000_000_500);
        let mut seed: u64 = 7;
        for r in &mut reports {
            let noise: String = (0..60_000)
                .map(|_| {
                    seed = seed
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1_442_695_040_888_963_407);
                    char::from(b'!' + (seed >> 58) as u8)
                })
                .collect();
            r.body.insert("noise", serde_json::Value::String(noise));
        }
        let uploads = uploads_of(&reports, 1);
        assert!(uploads.len() >= 4, "{uploads:?}");
        assert_eq!(uploads.iter().map(|u| u.members.len()).sum::<usize>(), 12);
        for u in &uploads {
            let it = u.item(30).unwrap();
            assert!(
                item::item_size(&it) < 400 * 1024,
                "{}",
                item::item_size(&it)
            );
        }
    }
}
