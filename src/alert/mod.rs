//! Alerts: a problem seen for the first time, a problem whose hourly count spikes, a script
//! new, changed or served with two contents.
//!
//! - [`message`]: what an alert says, as versioned JSON, as a Slack message and as an e-mail.
//! - [`rules`]: when a count is a spike.
//! - [`scripts`]: what the scripts pages load (`csp-hash` reports) warrant, and authorizations.
//! - [`engine`]: decides, for the new reports of a stream batch (or of the local store), which
//!   alerts to send, each claimed once, within a budget per site and hour, and delivers them
//!   through an outbox (a claim stays pending until every sink took its alert), with the state
//!   a store keeps ([`AlertState`]).
//! - [`sink`]: where alerts go (a webhook, an SNS topic), bounded in time; they are made from
//!   the settings in one place, `config::AlertArgs::sinks`.
//! - [`secret`]: the webhook URL, read from an SSM parameter.
//!
//! Dependencies go one way: `alert` uses `report` only. [`AlertState`] is its port, with its own
//! error ([`StateError`]); the stores implement it in `store/` (which imports `alert`, never the
//! reverse), and `crate::pipeline` hands the alerter its batches.

pub mod engine;
pub mod message;
pub mod rules;
pub mod scripts;
pub mod secret;
pub mod sink;

use async_trait::async_trait;
use sha2::{Digest as _, Sha256};

use self::message::Alert;
use self::scripts::{Authorization, ScriptHistory, Sighting};
use crate::report::{ReportType, Timestamp};

/// The most alert messages a site is sent per clock hour (new problems, spikes and digests
/// together); past it, one digest names the rest and the site's alerts pause until the next
/// hour.
pub const ALERTS_PER_SITE_HOUR: u32 = 10;

/// Days a new-problem claim is kept: 90. A problem is alerted once in that time however often
/// it comes back, and the claims of problems a forger invents (one per made-up host) do not
/// pile up for ever. A problem still seen 90 days after its alert is alerted once more, as a
/// reminder.
pub const NEW_CLAIM_DAYS: i64 = 90;

/// Days a spike claim is kept (a spike is claimed once per problem and day).
pub const SPIKE_CLAIM_DAYS: i64 = 3;

/// Days a digest's claim is kept: it claims nothing but its own delivery.
pub const DIGEST_CLAIM_DAYS: i64 = 2;

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
    /// What is muted: a problem, a report type, or a script URL (every content of it).
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
    /// A script's origin and path: its `csp-hash` contents raise no script alert.
    Script(String),
}

impl MuteTarget {
    /// The stored key: `fingerprint#{f}`, `type#{t}` or `script#{url}`.
    pub fn key(&self) -> String {
        match self {
            MuteTarget::Fingerprint(f) => format!("fingerprint#{f}"),
            MuteTarget::Type(t) => format!("type#{t}"),
            MuteTarget::Script(url) => format!("script#{url}"),
        }
    }

    /// Parses [`MuteTarget::key`].
    pub fn from_key(key: &str) -> Option<Self> {
        let (kind, value) = key.split_once('#')?;
        match kind {
            "fingerprint" => Some(MuteTarget::Fingerprint(value.to_owned())),
            "type" => Some(MuteTarget::Type(value.to_owned())),
            "script" => Some(MuteTarget::Script(value.to_owned())),
            _ => None,
        }
    }
}

impl Mute {
    /// Whether this mute silences `problem` at `now`.
    pub fn silences(&self, problem: &Problem, now: Timestamp) -> bool {
        self.holds(&problem.site, now)
            && match &self.target {
                MuteTarget::Fingerprint(f) => *f == problem.fingerprint,
                MuteTarget::Type(t) => t == problem.report_type.as_str(),
                MuteTarget::Script(_) => false,
            }
    }

    /// Whether this mute silences the script at `url` (origin and path) of `site` at `now`.
    pub fn silences_script(&self, site: &str, url: &str, now: Timestamp) -> bool {
        self.holds(site, now) && matches!(&self.target, MuteTarget::Script(u) if u == url)
    }

    /// Whether this mute is `site`'s and still in force at `now`.
    fn holds(&self, site: &str, now: Timestamp) -> bool {
        self.site == site && self.until.is_none_or(|u| now < u)
    }
}

/// An alert to claim.
#[derive(Debug, Clone, PartialEq)]
pub struct Claim {
    /// Its key within its site: [`Problem::new_claim`], [`Problem::spike_claim`], or
    /// `digest#{time}#{random}` for a digest.
    pub key: String,
    /// What it says.
    pub alert: Alert,
    /// Whether its site's hourly budget was taken for it already (a digest's is).
    pub budgeted: bool,
    /// When the claim is forgotten, so that the same alert may be raised again.
    pub expires: Timestamp,
}

/// A claimed alert not delivered yet (the outbox), as handed out for delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    pub site: String,
    /// Its claim's key within its site.
    pub key: String,
    pub alert: Alert,
    /// When it was claimed.
    pub queued_at: Timestamp,
    /// Deliveries tried so far.
    pub attempts: u32,
    /// Whether its site's hourly budget was taken for it (`false`: its caller stopped before
    /// deciding how to send it).
    pub budgeted: bool,
    /// The sinks that took it already ([`sink::Sink::name`]): not sent to again.
    pub delivered: Vec<String>,
}

/// What became of a claimed alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settle {
    /// Every sink took it.
    Sent,
    /// A digest stands for it.
    Digested,
    /// Not sent: its site's hourly budget was spent.
    Suppressed,
    /// Not delivered in time; logged.
    GivenUp,
    /// Still pending: a sink failed, or the call ran out of time. Tried again from `at`.
    Retry {
        at: Timestamp,
        /// Deliveries tried so far.
        attempts: u32,
        /// The sinks that took it already.
        delivered: Vec<String>,
    },
}

impl Settle {
    /// The claim's stored state: `pending`, `sent`, `digested`, `suppressed` or `given_up`.
    pub fn state(&self) -> &'static str {
        match self {
            Settle::Sent => "sent",
            Settle::Digested => "digested",
            Settle::Suppressed => "suppressed",
            Settle::GivenUp => "given_up",
            Settle::Retry { .. } => "pending",
        }
    }
}

/// What became of one claimed alert of a site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub site: String,
    /// Its claim's key within its site.
    pub key: String,
    pub settle: Settle,
}

/// What a store has to close once the alerts it handed out ([`AlertState::claim`],
/// [`AlertState::due`]) are settled: for DynamoDB, the outbox entries written so that the
/// alerts are found again if their caller stops first. The embedded store needs none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ticket(pub Vec<String>);

impl Ticket {
    /// Adds what `other` has to close.
    pub fn merge(&mut self, other: Ticket) {
        self.0.extend(other.0);
    }

    /// Whether there is nothing to close.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A pending claim's alert read back from its stored JSON; `None`, logged, when it does not
/// read (the store then gives the claim up).
pub fn stored_alert(site: &str, key: &str, json: &str) -> Option<Alert> {
    match serde_json::from_str(json) {
        Ok(alert) => Some(alert),
        Err(e) => {
            tracing::warn!(site, claim = key, error = %e, "a pending alert does not read; given up");
            None
        }
    }
}

/// A failure of the store that keeps the alert state, shown as that store's own error (its
/// message and causes): each store converts its errors into it.
#[derive(Debug)]
pub struct StateError(Box<dyn std::error::Error + Send + Sync>);

impl StateError {
    /// A store's error as the alert state's.
    pub fn new(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self(Box::new(e))
    }
}

impl std::fmt::Display for StateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for StateError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

/// The state alerts need, kept by a store: which alerts were claimed and what became of them
/// (the outbox), each site's hourly budget, hourly counts, mutes.
#[async_trait]
pub trait AlertState: Send + Sync {
    /// Claims `claims` of `site`, each for the first caller only (a key is claimed once until
    /// its claim expires), and keeps each claim this caller wins pending, with its alert, until
    /// [`AlertState::settle`] records what became of it. A claim still pending at
    /// `lease_until` (its caller stopped) is handed out again by [`AlertState::due`]. Returns
    /// whether this caller won each claim, in order, and what to close after settling.
    async fn claim(
        &self,
        site: &str,
        claims: &[Claim],
        lease_until: Timestamp,
    ) -> Result<(Vec<bool>, Ticket), StateError>;

    /// Up to `limit` pending alerts whose next attempt is due at `now`, the longest due first,
    /// each leased to this caller until `lease_until` (no other caller gets it before then).
    async fn due(
        &self,
        now: Timestamp,
        limit: usize,
        lease_until: Timestamp,
    ) -> Result<(Vec<Outgoing>, Ticket), StateError>;

    /// Records what became of claimed alerts (an alert left pending is due again at its
    /// `Retry::at`), then closes `ticket`.
    async fn settle(&self, ticket: Ticket, outcomes: &[Outcome]) -> Result<(), StateError>;

    /// Takes up to `want` alerts of `site`'s budget of the clock hour starting at `hour`, of
    /// which there are `limit`: atomically, whoever else takes some at the same time. Returns
    /// how many were granted (`want` while enough is left, then what is left, then 0).
    async fn take_budget(
        &self,
        site: &str,
        hour: Timestamp,
        want: u32,
        limit: u32,
    ) -> Result<u32, StateError>;

    /// Adds `batch`, new reports of `problem` received in the hour starting at `hour`, to the
    /// hour's count, unless the count took that batch already (see [`HourBatch`]); returns the
    /// hour's count before and after (the same when the batch was counted before).
    async fn add_to_hour(
        &self,
        problem: &Problem,
        hour: Timestamp,
        batch: &HourBatch,
    ) -> Result<(u64, u64), StateError>;

    /// Reports of `problem` received in the 24 hours before `hour`.
    async fn previous_day(&self, problem: &Problem, hour: Timestamp) -> Result<u64, StateError>;

    /// The mutes of `site`.
    async fn mutes(&self, site: &str) -> Result<Vec<Mute>, StateError>;

    /// Adds or replaces a mute.
    async fn mute(&self, mute: &Mute) -> Result<(), StateError>;

    /// Removes a mute; `true` if there was one.
    async fn unmute(&self, site: &str, target: &MuteTarget) -> Result<bool, StateError>;

    /// Records `sighting` of a script content (merged into what is kept: the earliest first
    /// sighting, the latest last one, the visitors united, so that the same sighting twice
    /// changes nothing), and reads back its URL's contents and when the site's first script
    /// content was recorded.
    async fn note_script(&self, sighting: &Sighting) -> Result<ScriptHistory, StateError>;

    /// The script authorizations of `site`.
    async fn authorizations(&self, site: &str) -> Result<Vec<Authorization>, StateError>;

    /// Adds or replaces the authorization of a script URL (written with the operator's
    /// credentials, as mutes are).
    async fn authorize(&self, authorization: &Authorization) -> Result<(), StateError>;

    /// Removes the authorization of a script URL of `site`; `true` if there was one.
    async fn revoke(&self, site: &str, url: &str) -> Result<bool, StateError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_script_mute_silences_its_url_only() {
        let target = MuteTarget::Script("https://shop.example/a#b.js".into());
        assert_eq!(MuteTarget::from_key(&target.key()), Some(target.clone()));
        let m = Mute {
            site: "shop.example".into(),
            target,
            until: Some(Timestamp(10)),
        };
        assert!(m.silences_script("shop.example", "https://shop.example/a#b.js", Timestamp(9)));
        assert!(!m.silences_script("shop.example", "https://shop.example/a#b.js", Timestamp(10)));
        assert!(!m.silences_script("shop.example", "https://shop.example/c.js", Timestamp(9)));
        assert!(!m.silences_script("other.example", "https://shop.example/a#b.js", Timestamp(9)));
    }

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
