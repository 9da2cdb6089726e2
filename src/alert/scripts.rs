//! What the scripts pages load say, as alerts: a new script, a script whose content changed,
//! and one served with two contents at once (`csp-hash` reports; see `report::script`).
//!
//! The alert state keeps, per site, each content (hash) of each script URL with its first and
//! last sighting and the visitors (senders' networks) that reported it: merged as a minimum, a
//! maximum and a set union, so that a batch counted twice changes nothing. For each content a
//! batch brings, [`judge`] reads the URL's contents and says which alerts they warrant:
//!
//! - **new script**: a URL first seen in the last day, once the site has had scripts for a day
//!   (the first crawl of a site is its baseline, not a flood of alerts);
//! - **script changed**: a content first seen in the last day for a URL that had another one
//!   before;
//! - **script divergent**: two contents of one URL both reported within the last hour, seen
//!   side by side for at least [`DIVERGENCE_OVERLAP_MS`], each by its own visitors. A deploy
//!   replaces a content (the old one stops); a skimmer served to a fraction of visitors keeps
//!   both alive.
//!
//! Evidence: every verdict needs the content (for a new script, the URL) reported by at least
//! `min_visitors` distinct visitors. A report is anyone's to send; a visitor is a sender's
//! network (`report::visitor`), which a forger has to own. Each alert is claimed once
//! (`script#{url}`, `changed#{url}#{hash}`, `diverge#{url}#{hash}#{hash}`) and goes through the
//! site's hourly budget and mutes like any other.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::{DAY_MS, HOUR_MS};
use crate::report::Timestamp;
use crate::report::script::{ScriptRef, url_id};

/// Distinct visitors a script content needs before it is alerted on, by default.
pub const SCRIPT_MIN_VISITORS: u64 = 2;

/// How long two contents of one URL must be seen side by side to be divergent.
pub const DIVERGENCE_OVERLAP_MS: i64 = 15 * 60_000;

/// The most other contents of one URL read back to judge a content (the embedded store reads
/// the latest seen, DynamoDB the first in key order); the content itself is always read.
pub const MAX_CONTENTS_READ: usize = 100;

/// Days a content's record is kept after it was last seen.
pub const SCRIPT_RECORD_DAYS: i64 = 90;

/// One content of a script URL of a site, as the alert state keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScriptContent {
    /// `sha256-...`; `None`: reported without a hash.
    pub hash: Option<String>,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    /// The visitor bytes that reported it.
    pub visitors: BTreeSet<u8>,
}

/// What one batch says of one script content of a site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sighting {
    pub site: String,
    pub script: ScriptRef,
    /// The earliest and latest occurrence among the batch's reports of it.
    pub first: Timestamp,
    pub last: Timestamp,
    pub visitors: BTreeSet<u8>,
}

/// A script URL's contents after a sighting, as the alert state reads them back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptHistory {
    /// The sighting's content and at most [`MAX_CONTENTS_READ`] others of the URL.
    pub contents: Vec<ScriptContent>,
    /// When the site's first script content was first recorded.
    pub site_since: Timestamp,
}

/// A script URL authorized by an operator, with the content authorized and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Authorization {
    pub site: String,
    /// The script's origin and path, as the inventory lists it.
    pub url: String,
    /// The content authorized (`sha256-...`); `None` for a script reported without a hash.
    pub hash: Option<String>,
    /// The written justification.
    pub reason: String,
    /// Who gave it (the operator's name).
    pub by: String,
    /// When.
    pub at: Timestamp,
}

/// An alert one content warrants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The URL is new to the site.
    NewScript,
    /// The content is new for a URL that had others; they are listed, oldest first.
    Changed { previous: Vec<ScriptContent> },
    /// The content and `with` are both being served.
    Divergent { with: ScriptContent },
}

impl Verdict {
    /// The claim key of this verdict on `script` (within its site).
    pub fn claim_key(&self, script: &ScriptRef) -> String {
        let url = url_id(&script.url);
        let hash = script.hash.as_deref().unwrap_or("-");
        match self {
            Verdict::NewScript => format!("script#{url}"),
            Verdict::Changed { .. } => format!("changed#{url}#{hash}"),
            Verdict::Divergent { with } => {
                let other = with.hash.as_deref().unwrap_or("-");
                let (a, b) = if hash <= other {
                    (hash, other)
                } else {
                    (other, hash)
                };
                format!("diverge#{url}#{a}#{b}")
            }
        }
    }
}

/// The alerts `script`'s content warrants, given its URL's `history` (read after the sighting
/// was recorded), at `now`.
pub fn judge(
    script: &ScriptRef,
    history: &ScriptHistory,
    min_visitors: u64,
    now: Timestamp,
) -> Vec<Verdict> {
    let enough = |v: &BTreeSet<u8>| v.len() as u64 >= min_visitors.max(1);
    let mut verdicts = Vec::new();
    let Some(this) = history.contents.iter().find(|c| c.hash == script.hash) else {
        return verdicts;
    };
    let url_first = history
        .contents
        .iter()
        .map(|c| c.first_seen)
        .min()
        .unwrap_or(this.first_seen);
    let url_visitors: BTreeSet<u8> = history
        .contents
        .iter()
        .flat_map(|c| c.visitors.iter().copied())
        .collect();
    let recent = |t: Timestamp| t.millis() >= now.millis() - DAY_MS;
    if recent(url_first)
        && url_first.millis() >= history.site_since.millis() + DAY_MS
        && enough(&url_visitors)
    {
        verdicts.push(Verdict::NewScript);
    }
    if script.hash.is_none() || !enough(&this.visitors) {
        return verdicts;
    }
    let mut before: Vec<ScriptContent> = history
        .contents
        .iter()
        .filter(|c| c.hash.is_some() && c.hash != script.hash && c.first_seen < this.first_seen)
        .cloned()
        .collect();
    before.sort_by_key(|c| c.first_seen);
    if recent(this.first_seen) && !before.is_empty() {
        verdicts.push(Verdict::Changed { previous: before });
    }
    let served = |c: &ScriptContent| c.last_seen.millis() >= now.millis() - HOUR_MS;
    if served(this) {
        for other in &history.contents {
            if other.hash.is_none() || other.hash == script.hash {
                continue;
            }
            let overlap = this.last_seen.min(other.last_seen).millis()
                - this.first_seen.max(other.first_seen).millis();
            if served(other)
                && enough(&other.visitors)
                && other.visitors != this.visitors
                && overlap >= DIVERGENCE_OVERLAP_MS
            {
                verdicts.push(Verdict::Divergent {
                    with: other.clone(),
                });
            }
        }
    }
    verdicts
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_796_000_000_000;
    const MIN: i64 = 60_000;
    const A: &str = "sha256-kXpLomJzl7/XaYNWb9qqrD03SIV3MeQ858OKe5bGOks=";
    const B: &str = "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";

    fn script(hash: Option<&str>) -> ScriptRef {
        ScriptRef {
            destination: "script".into(),
            url: "https://shop.example/checkout.js".into(),
            hash: hash.map(str::to_owned),
        }
    }

    fn content(hash: &str, first: i64, last: i64, visitors: &[u8]) -> ScriptContent {
        ScriptContent {
            hash: Some(hash.to_owned()),
            first_seen: Timestamp(NOW + first),
            last_seen: Timestamp(NOW + last),
            visitors: visitors.iter().copied().collect(),
        }
    }

    fn history(contents: Vec<ScriptContent>, site_since: i64) -> ScriptHistory {
        ScriptHistory {
            contents,
            site_since: Timestamp(NOW + site_since),
        }
    }

    #[test]
    fn a_new_url_is_alerted_after_the_sites_first_day_only() {
        let h = history(vec![content(A, -MIN, 0, &[1, 2])], -2 * DAY_MS);
        assert_eq!(
            judge(&script(Some(A)), &h, 2, Timestamp(NOW)),
            vec![Verdict::NewScript]
        );
        let first_day = history(vec![content(A, -MIN, 0, &[1, 2])], -HOUR_MS);
        assert!(judge(&script(Some(A)), &first_day, 2, Timestamp(NOW)).is_empty());
        let one_visitor = history(vec![content(A, -MIN, 0, &[1])], -2 * DAY_MS);
        assert!(judge(&script(Some(A)), &one_visitor, 2, Timestamp(NOW)).is_empty());
    }

    #[test]
    fn a_new_content_of_a_known_url_is_a_change_not_a_new_script() {
        let h = history(
            vec![
                content(A, -3 * DAY_MS, -2 * HOUR_MS, &[1, 2]),
                content(B, -HOUR_MS, 0, &[3, 4]),
            ],
            -9 * DAY_MS,
        );
        let v = judge(&script(Some(B)), &h, 2, Timestamp(NOW));
        assert_eq!(
            v,
            vec![Verdict::Changed {
                previous: vec![h.contents[0].clone()]
            }]
        );
        // The old content, reported late, is no change.
        assert!(judge(&script(Some(A)), &h, 2, Timestamp(NOW)).is_empty());
        // One forger's network is not enough.
        let forged = history(
            vec![
                content(A, -3 * DAY_MS, 0, &[1, 2]),
                content(B, -HOUR_MS, 0, &[9]),
            ],
            -9 * DAY_MS,
        );
        assert!(judge(&script(Some(B)), &forged, 2, Timestamp(NOW)).is_empty());
    }

    #[test]
    fn two_contents_served_side_by_side_are_divergent_and_a_deploy_is_not() {
        let both = history(
            vec![
                content(A, -3 * DAY_MS, -MIN, &[1, 2]),
                content(B, -30 * MIN, 0, &[3, 4]),
            ],
            -9 * DAY_MS,
        );
        let v = judge(&script(Some(B)), &both, 2, Timestamp(NOW));
        assert!(v.contains(&Verdict::Divergent {
            with: both.contents[0].clone()
        }));
        let key = Verdict::Divergent {
            with: both.contents[0].clone(),
        }
        .claim_key(&script(Some(B)));
        let back = Verdict::Divergent {
            with: both.contents[1].clone(),
        }
        .claim_key(&script(Some(A)));
        assert_eq!(key, back, "one claim whichever content brought it");
        // A deploy: the old content stopped when the new one came.
        let deploy = history(
            vec![
                content(A, -3 * DAY_MS, -30 * MIN, &[1, 2]),
                content(B, -31 * MIN, 0, &[3, 4]),
            ],
            -9 * DAY_MS,
        );
        let v = judge(&script(Some(B)), &deploy, 2, Timestamp(NOW));
        assert!(!v.iter().any(|v| matches!(v, Verdict::Divergent { .. })));
    }

    #[test]
    fn a_script_without_a_hash_can_only_be_new() {
        let mut c = content(A, -MIN, 0, &[1, 2]);
        c.hash = None;
        let h = history(vec![c], -2 * DAY_MS);
        assert_eq!(
            judge(&script(None), &h, 2, Timestamp(NOW)),
            vec![Verdict::NewScript]
        );
    }
}
