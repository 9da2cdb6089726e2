//! The script inventory: what ran on a site's pages, from its `csp-hash` reports.
//!
//! A `csp-hash` report's group is its script's URL (origin and path) and hash
//! (`report::script`), so each content of each script is a problem with exact figures on both
//! stores (counts, first and last seen, browsers, visitors; re-deliveries count once). The
//! inventory merges a site's contents by URL, adds the pages that loaded each script (from a
//! bounded sample of the latest reports), its authorization (`lookout scripts authorize`) and,
//! from `integrity-violation` reports, whether it is still loaded without `integrity=`.
//!
//! - [`gather`]: reads those inputs from the store and the alert state, and builds the
//!   inventory (what `lookout scripts` and the dashboard's Scripts view show);
//! - [`build`]: the inventory from those inputs (pure);
//! - [`render`]: as text, JSON lines, Markdown and CSV.

pub mod render;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::alert::scripts::Authorization;
use crate::alert::{AlertState, StateError};
use crate::report::script::{ScriptRef, origin_and_path};
use crate::report::{Report, ReportType, Timestamp};
use crate::store::{GroupSummary, RecentQuery, ReportStore, StoreError, TopQuery};

/// Script contents (URL and hash pairs) read at most for one inventory.
pub const MAX_CONTENTS: usize = 5_000;

/// Latest `csp-hash` reports read for the pages that loaded each script.
pub const PAGE_SAMPLE: usize = 2_000;

/// Pages listed per script at most.
pub const MAX_PAGES: usize = 10;

/// What an inventory says of a script.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Authorized, and nothing but the authorized content seen since.
    Authorized,
    /// Authorized, but another content was seen since.
    Changed,
    /// Never authorized.
    Unreviewed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Authorized => "authorized",
            Status::Changed => "changed",
            Status::Unreviewed => "unreviewed",
        }
    }
}

/// One content (hash) of a script.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Content {
    /// `sha256-...`; `None`: reported without a hash (see [`Script::note`]).
    pub hash: Option<String>,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    pub reports: u64,
    /// Distinct visitors (senders' networks), summed over days: a lower bound.
    pub visitors: u64,
    pub browsers: Vec<String>,
    /// Its problem's fingerprint (`lookout query --fingerprint`).
    pub fingerprint: String,
}

/// An authorization, as the inventory shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Authorized {
    pub hash: Option<String>,
    pub reason: String,
    pub by: String,
    pub at: Timestamp,
}

/// Integrity-Policy's view of a script: reports that it was loaded without `integrity=`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Integrity {
    /// `integrity-violation` reports naming it in the window.
    pub missing_reports: u64,
    /// The `integrity` attribute to add, when the script had one known content in the window.
    pub suggested: Option<String>,
}

/// One script of a site.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Script {
    /// Origin and path.
    pub url: String,
    pub destination: String,
    /// Pages (origin and path) that loaded it, among the latest reports.
    pub pages: Vec<String>,
    /// Its contents, the latest seen first.
    pub hashes: Vec<Content>,
    pub status: Status,
    pub authorization: Option<Authorized>,
    /// Present when `integrity-violation` reports name it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub integrity: Option<Integrity>,
    /// Advice, when its reports carried no hash.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Script {
    /// A script with nothing known of it yet.
    fn new(url: &str, destination: &str) -> Self {
        Self {
            url: url.to_owned(),
            destination: destination.to_owned(),
            pages: Vec::new(),
            hashes: Vec::new(),
            status: Status::Unreviewed,
            authorization: None,
            integrity: None,
            note: None,
        }
    }

    /// Reports of all its contents.
    pub fn reports(&self) -> u64 {
        self.hashes.iter().map(|c| c.reports).sum()
    }

    /// The content seen last.
    pub fn latest(&self) -> Option<&Content> {
        self.hashes.first()
    }
}

/// Advice for a script reported without a hash.
pub const NO_HASH_NOTE: &str = "reported without a hash: a cross-origin script fetched without CORS cannot be hashed; load it with crossorigin=\"anonymous\" (its server must send Access-Control-Allow-Origin)";

/// Why an inventory could not be gathered.
#[derive(Debug, thiserror::Error)]
pub enum GatherError {
    /// The reports could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The authorizations could not be read.
    #[error(transparent)]
    State(#[from] StateError),
}

/// The inventory of `site` since `since`: its scripts from the store, with the authorizations
/// the alert state keeps.
pub async fn gather(
    store: &dyn ReportStore,
    state: &dyn AlertState,
    site: &str,
    since: Timestamp,
) -> Result<Vec<Script>, GatherError> {
    let authorizations = state.authorizations(site).await?;
    Ok(gather_with(store, site, since, &authorizations).await?)
}

/// The inventory of `site` since `since`, with `authorizations` read already (or none, when
/// the alert state cannot be read: the dashboard still shows the scripts). Reads the site's
/// `csp-hash` and `integrity-violation` groups (at most [`MAX_CONTENTS`] each) and its
/// [`PAGE_SAMPLE`] latest `csp-hash` reports.
pub async fn gather_with(
    store: &dyn ReportStore,
    site: &str,
    since: Timestamp,
    authorizations: &[Authorization],
) -> Result<Vec<Script>, StoreError> {
    let top = |t: ReportType| TopQuery {
        site: site.to_owned(),
        report_type: Some(t),
        since,
        limit: MAX_CONTENTS,
        classification: None,
    };
    let hashes = store.top(&top(ReportType::CspHash)).await?;
    let integrity = store.top(&top(ReportType::IntegrityViolation)).await?;
    let sample = store
        .recent(&RecentQuery {
            site: site.to_owned(),
            report_type: Some(ReportType::CspHash),
            since,
            limit: PAGE_SAMPLE,
            classification: None,
            fingerprint: None,
        })
        .await?;
    Ok(build(&hashes, &sample, authorizations, &integrity))
}

/// The inventory of a site: `hashes` are its `csp-hash` groups, `sample` its latest `csp-hash`
/// reports, `authorizations` its authorizations and `integrity` its `integrity-violation`
/// groups. Scripts are listed by URL.
pub fn build(
    hashes: &[GroupSummary],
    sample: &[Report],
    authorizations: &[Authorization],
    integrity: &[GroupSummary],
) -> Vec<Script> {
    let mut scripts: BTreeMap<String, Script> = BTreeMap::new();
    for g in hashes {
        let Some(s) = ScriptRef::from_group(&g.group) else {
            continue;
        };
        let script = scripts
            .entry(s.url.clone())
            .or_insert_with(|| Script::new(&s.url, &s.destination));
        script.hashes.push(Content {
            hash: s.hash,
            first_seen: g.first_seen,
            last_seen: g.last_seen,
            reports: g.count,
            visitors: g.visitors,
            browsers: g.browsers.clone(),
            fingerprint: g.fingerprint.clone(),
        });
    }
    for r in sample {
        let s = ScriptRef::of(&r.body);
        let Some(script) = scripts.get_mut(&s.url) else {
            continue;
        };
        let page = page_of(r);
        if script.pages.len() < MAX_PAGES && !script.pages.contains(&page) {
            script.pages.push(page);
        }
    }
    // A script loaded without `integrity=` is listed even when no `csp-hash` report names it
    // (a site with Integrity-Policy and without `'report-sha256'`): with no content known.
    for g in integrity {
        let Some((destination, url)) = integrity_script(&g.group) else {
            continue;
        };
        let script = scripts
            .entry(url.to_owned())
            .or_insert_with(|| Script::new(url, destination));
        let i = script.integrity.get_or_insert(Integrity {
            missing_reports: 0,
            suggested: None,
        });
        i.missing_reports += g.count;
    }
    for script in scripts.values_mut() {
        script
            .hashes
            .sort_by(|a, b| b.last_seen.cmp(&a.last_seen).then(a.hash.cmp(&b.hash)));
        script.pages.sort();
        if script.hashes.iter().any(|c| c.hash.is_none()) {
            script.note = Some(NO_HASH_NOTE.to_owned());
        }
        if let Some(i) = script.integrity.as_mut()
            && let [only] = script.hashes.as_slice()
        {
            i.suggested = only.hash.clone();
        }
        if let Some(a) = authorizations.iter().find(|a| a.url == script.url) {
            script.status = status(script, a);
            script.authorization = Some(Authorized {
                hash: a.hash.clone(),
                reason: a.reason.clone(),
                by: a.by.clone(),
                at: a.at,
            });
        }
    }
    let mut out: Vec<Script> = scripts.into_values().collect();
    out.sort_by(|a, b| b.reports().cmp(&a.reports()).then(a.url.cmp(&b.url)));
    out
}

/// `authorized` unless a content other than the authorized one was seen since the
/// authorization.
fn status(script: &Script, a: &Authorization) -> Status {
    let other_since = script
        .hashes
        .iter()
        .any(|c| c.hash != a.hash && c.last_seen >= a.at);
    if other_since {
        Status::Changed
    } else {
        Status::Authorized
    }
}

/// The page a report came from: its document's origin and path.
fn page_of(r: &Report) -> String {
    origin_and_path(r.body.str_of("documentURL").unwrap_or(&r.url))
}

/// The destination and script URL an `integrity-violation` group names
/// (`integrity-violation {destination} {url}[ {reason}]`).
fn integrity_script(group: &str) -> Option<(&str, &str)> {
    let rest = group.strip_prefix("integrity-violation ")?;
    let (destination, rest) = rest.split_once(' ')?;
    Some((destination, rest.split(' ').next()?))
}

#[cfg(test)]
mod tests;
