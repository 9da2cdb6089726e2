//! Alerts: a problem seen for the first time, a problem whose hourly count spikes.
//!
//! - [`message`]: what an alert says, as versioned JSON, as a Slack message and as an e-mail.
//! - [`rules`]: when a count is a spike.
//! - [`engine`]: decides, for the new reports of a stream batch (or of the local store), which
//!   alerts to send, exactly once each, with the state a store keeps ([`AlertState`]).
//! - [`sink`]: where alerts go (a webhook, an SNS topic), bounded in time and retried.

pub mod engine;
pub mod message;
pub mod rules;
pub mod sink;

use async_trait::async_trait;
use sha2::{Digest as _, Sha256};

use crate::report::{ReportType, Timestamp};
use crate::store::StoreError;

/// An hour in milliseconds: spikes are counted per clock hour.
pub const HOUR_MS: i64 = 3_600_000;

/// A day in milliseconds.
pub const DAY_MS: i64 = 24 * HOUR_MS;

/// Days an hourly count (and the keys of the batches it took) is kept after its hour.
pub const HOUR_ITEM_DAYS: i64 = 2;

/// One problem's new reports of one clock hour in one batch, as its hourly count takes them.
///
/// A batch delivered again must not be counted again: hourly counts decide spikes, and a
/// doubled count is a false spike. The aggregates solve this with a stream sequence mark per
/// aggregate; hourly counts are keyed by the batch's reports instead, because:
///
/// - the alerter is given reports, not stream records (the embedded store has no stream), and
/// - one problem's reports are spread over write shards, so over stream shards, whose sequence
///   numbers do not compare: one mark per hourly count would skip other shards' reports.
///
/// The key is a hash of the ids of the problem's reports of that hour in the batch. A batch
/// delivered again whole (Lambda retries a batch whose invocation failed or timed out, perhaps
/// on another instance) holds the same reports, so it has the same key, and a count that took
/// that key already is left as it is. Each count keeps the keys of its recent batches (the
/// stores say how many). A batch cut differently the second time (Lambda's bisection after a
/// failure, a stream read again from its start) has other keys and is counted again; alerts are
/// sent after their batch is counted, within a time bound, so that this stays rare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HourBatch {
    /// How many reports (distinct ids).
    pub n: u64,
    /// A key derived from their ids: the same reports, the same key.
    pub key: String,
}

impl HourBatch {
    /// The batch of the reports with these ids (in any order; a repeated id counts once).
    pub fn of<'a>(ids: impl IntoIterator<Item = &'a str>) -> Self {
        let mut ids: Vec<&str> = ids.into_iter().collect();
        ids.sort_unstable();
        ids.dedup();
        let mut h = Sha256::new();
        for id in &ids {
            h.update(id.as_bytes());
            h.update(b"\n");
        }
        let key = h
            .finalize()
            .iter()
            .take(8)
            .map(|b| format!("{b:02x}"))
            .collect();
        Self {
            n: ids.len() as u64,
            key,
        }
    }
}

/// One problem of one site: what alerts are about.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Problem {
    pub site: String,
    pub report_type: ReportType,
    pub fingerprint: String,
}

impl Problem {
    /// The key of its new-problem claim within its site: `new#{type}#{fingerprint}`.
    pub fn new_claim(&self) -> String {
        format!("new#{}#{}", self.report_type.as_str(), self.fingerprint)
    }

    /// The key of its spike claim for `day` within its site.
    pub fn spike_claim(&self, day: &str) -> String {
        format!(
            "spike#{}#{}#{day}",
            self.report_type.as_str(),
            self.fingerprint
        )
    }
}

/// A mute: a problem, or a whole report type, of a site, until a time.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Mute {
    pub site: String,
    /// What is muted: `fingerprint:{f}` or `type:{t}`.
    pub target: MuteTarget,
    /// Until when (`None`: until unmuted).
    pub until: Option<Timestamp>,
}

/// What a mute silences.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MuteTarget {
    Fingerprint(String),
    Type(String),
}

impl MuteTarget {
    /// The stored key: `fingerprint#{f}` or `type#{t}`.
    pub fn key(&self) -> String {
        match self {
            MuteTarget::Fingerprint(f) => format!("fingerprint#{f}"),
            MuteTarget::Type(t) => format!("type#{t}"),
        }
    }

    /// Parses [`MuteTarget::key`].
    pub fn from_key(key: &str) -> Option<Self> {
        let (kind, value) = key.split_once('#')?;
        match kind {
            "fingerprint" => Some(MuteTarget::Fingerprint(value.to_owned())),
            "type" => Some(MuteTarget::Type(value.to_owned())),
            _ => None,
        }
    }
}

impl Mute {
    /// Whether this mute silences `problem` at `now`.
    pub fn silences(&self, problem: &Problem, now: Timestamp) -> bool {
        self.site == problem.site
            && self.until.is_none_or(|u| now < u)
            && match &self.target {
                MuteTarget::Fingerprint(f) => *f == problem.fingerprint,
                MuteTarget::Type(t) => t == problem.report_type.as_str(),
            }
    }
}

/// The state alerts need, kept by a store: which alerts were claimed, hourly counts, mutes.
#[async_trait]
pub trait AlertState: Send + Sync {
    /// Claims the new-problem alert of `problem`: `true` once ever, for the first caller.
    async fn claim_new(&self, problem: &Problem, first_seen: Timestamp)
    -> Result<bool, StoreError>;

    /// Claims the spike alert of `problem` for `day` (`YYYY-MM-DD`): `true` once per day.
    async fn claim_spike(&self, problem: &Problem, day: &str) -> Result<bool, StoreError>;

    /// Adds `batch`, new reports of `problem` received in the hour starting at `hour`, to the
    /// hour's count, unless the count took that batch already (see [`HourBatch`]); returns the
    /// hour's count before and after (the same when the batch was counted before).
    async fn add_to_hour(
        &self,
        problem: &Problem,
        hour: Timestamp,
        batch: &HourBatch,
    ) -> Result<(u64, u64), StoreError>;

    /// Reports of `problem` received in the 24 hours before `hour`.
    async fn previous_day(&self, problem: &Problem, hour: Timestamp) -> Result<u64, StoreError>;

    /// The mutes of `site`.
    async fn mutes(&self, site: &str) -> Result<Vec<Mute>, StoreError>;

    /// Adds or replaces a mute.
    async fn mute(&self, mute: &Mute) -> Result<(), StoreError>;

    /// Removes a mute; `true` if there was one.
    async fn unmute(&self, site: &str, target: &MuteTarget) -> Result<bool, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_is_named_by_its_reports_whatever_their_order() {
        let a = HourBatch::of(["r1", "r2", "r3"]);
        assert_eq!(a.n, 3);
        assert_eq!(a.key.len(), 16);
        assert_eq!(HourBatch::of(["r3", "r1", "r2", "r1"]), a);
        assert_ne!(HourBatch::of(["r1", "r2"]).key, a.key);
        // Ids are separated: ["ab", "c"] is not ["a", "bc"].
        assert_ne!(
            HourBatch::of(["ab", "c"]).key,
            HourBatch::of(["a", "bc"]).key
        );
    }
}
