//! Report identity: what makes two deliveries the same report.
//!
//! A browser that re-sends a report (after a 5xx, or an answer it never got) sends the same
//! content with a larger `age`, so that `received_at − age` moves by the upload's jitter: a
//! few milliseconds to a few hundred, more on a slow network. The rule:
//!
//! - Two reports are one when their content is equal (site, type, URL, User-Agent,
//!   disposition, body) and they occurred in the same [`WINDOW_MS`] window of time, or within
//!   [`GRACE_MS`] of each other across the edge between two windows.
//! - Otherwise they are two: the same problem seen twice a window apart stays two reports.
//!
//! The id is a digest of the content and the window, so that a re-delivery inside the window
//! gets the same id without anything being looked up. A report that occurred within the grace
//! of its window's edge also has a [`Report::neighbour`]: the identity it would have in the
//! adjacent window. The stores look that one up, and a report whose neighbour is already
//! stored is that report's re-delivery.
//!
//! The trade-off: identical reports from one browser within one window (the same violation
//! twice in ten seconds, on the same line of the same page) are counted once.

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::fingerprint;
use super::model::{Disposition, Report, Timestamp};

/// The width of an identity window, in milliseconds.
pub const WINDOW_MS: i64 = 10_000;

/// How close to a window's edge a report must be for the adjacent window to be checked.
pub const GRACE_MS: i64 = 2_000;

/// Where a report is filed: the start of its window and its id in that window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The start of the window.
    pub window: Timestamp,
    /// The id: 32 hex digits.
    pub id: String,
}

impl Report {
    /// The start of the identity window this report's occurrence falls in.
    pub fn window(&self) -> Timestamp {
        window_of(self.occurred_at)
    }

    /// The identity of this report in the adjacent window, when it occurred within
    /// [`GRACE_MS`] of the edge between the two: a re-delivery stored there is this report.
    pub fn neighbour(&self) -> Option<Identity> {
        let window = neighbour_window(self.occurred_at)?;
        Some(Identity {
            id: id_in(&content_digest(self), window),
            window,
        })
    }

    /// Files this report under `identity` (its neighbour's, when that one is stored).
    pub fn adopt(&mut self, identity: Identity) {
        self.id = identity.id;
    }
}

/// The adjacent window, when `t` falls within [`GRACE_MS`] of the edge between the two.
fn neighbour_window(t: Timestamp) -> Option<Timestamp> {
    let window = window_of(t);
    let into = t.millis() - window.millis();
    let other = if into < GRACE_MS {
        window.millis().checked_sub(WINDOW_MS).filter(|w| *w >= 0)?
    } else if into >= WINDOW_MS - GRACE_MS {
        window.millis() + WINDOW_MS
    } else {
        return None;
    };
    Some(Timestamp(other))
}

/// The identity of reports delivered together and stored as one (a page view's `csp-hash`
/// reports): their contents, in any order, in the window of the earliest; and, when the
/// earliest occurred near its window's edge, their identity in the adjacent window. A
/// re-delivery of the same reports has the same identity, as a single report's has.
pub fn identity_of_together(reports: &[&Report]) -> Option<(Identity, Option<Identity>)> {
    let earliest = reports.iter().map(|r| r.occurred_at).min()?;
    let mut digests: Vec<[u8; 32]> = reports.iter().map(|r| content_digest(r)).collect();
    digests.sort_unstable();
    digests.dedup();
    let mut h = Sha256::new();
    for d in &digests {
        h.update(d);
    }
    let content: [u8; 32] = h.finalize().into();
    let identity = |window: Timestamp| Identity {
        id: id_in(&content, window),
        window,
    };
    Some((
        identity(window_of(earliest)),
        neighbour_window(earliest).map(identity),
    ))
}

/// The start of the window `t` falls in.
pub fn window_of(t: Timestamp) -> Timestamp {
    Timestamp(t.millis().max(0) / WINDOW_MS * WINDOW_MS)
}

/// The id of a report, from its content and its window.
pub(crate) fn report_id(r: &Report) -> String {
    id_in(&content_digest(r), r.window())
}

fn id_in(content: &[u8; 32], window: Timestamp) -> String {
    let mut h = Sha256::new();
    h.update(content);
    h.update(window.millis().to_be_bytes());
    fingerprint::hex(&h.finalize(), 16)
}

/// SHA-256 of the content that makes a report the same report, in an unambiguous encoding:
/// strings and collections prefixed with their length, values tagged by kind.
///
/// The disposition counts because decoding takes it out of the body: a page under the same
/// policy enforced and report-only sends two reports that differ in nothing else.
fn content_digest(r: &Report) -> [u8; 32] {
    let mut h = Hasher(Sha256::new());
    h.str(&r.site);
    h.str(r.report_type.as_str());
    h.str(&r.url);
    h.str(r.user_agent.as_deref().unwrap_or(""));
    h.0.update([match r.disposition {
        None => 0,
        Some(Disposition::Enforce) => 1,
        Some(Disposition::Report) => 2,
    }]);
    h.len(r.body.len());
    for (k, v) in r.body.iter() {
        h.str(k);
        h.value(v);
    }
    h.0.finalize().into()
}

struct Hasher(Sha256);

impl Hasher {
    fn len(&mut self, n: usize) {
        self.0.update((n as u64).to_be_bytes());
    }

    fn str(&mut self, s: &str) {
        self.len(s.len());
        self.0.update(s.as_bytes());
    }

    fn value(&mut self, v: &Value) {
        match v {
            Value::Null => self.0.update([0]),
            Value::Bool(b) => self.0.update([1, u8::from(*b)]),
            Value::Number(n) => {
                self.0.update([2]);
                self.str(&n.to_string());
            }
            Value::String(s) => {
                self.0.update([3]);
                self.str(s);
            }
            Value::Array(items) => {
                self.0.update([4]);
                self.len(items.len());
                items.iter().for_each(|i| self.value(i));
            }
            Value::Object(map) => {
                self.0.update([5]);
                self.len(map.len());
                for (k, item) in map {
                    self.str(k);
                    self.value(item);
                }
            }
        }
    }
}
