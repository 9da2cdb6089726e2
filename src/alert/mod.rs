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

use crate::report::{ReportType, Timestamp};
use crate::store::StoreError;

/// An hour in milliseconds: spikes are counted per clock hour.
pub const HOUR_MS: i64 = 3_600_000;

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

    /// Adds `n` new reports of `problem` received in the hour starting at `hour`; returns the
    /// hour's count before and after.
    async fn add_to_hour(
        &self,
        problem: &Problem,
        hour: Timestamp,
        n: u64,
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
