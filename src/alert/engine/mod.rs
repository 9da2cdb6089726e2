//! Which alerts the new reports of a batch raise, each once, and how they reach the sinks.
//!
//! - **Claims.** An alert is sent by whoever claims it first in the store
//!   ([`AlertState::claim`]): a conditional write that succeeds once, whatever the write
//!   shards, stream retries and re-deliveries (a re-delivered report is not new: the store
//!   wrote it once). A new problem is claimed once in [`NEW_CLAIM_DAYS`]. A spike is checked
//!   when a problem's count in the current hour reaches [`SpikeRule::min_reports`] (and each
//!   further multiple of it), and claimed once per problem and day. Reports their own policy
//!   allows (`allowed-by-policy`) and muted problems and types never alert; noise never reaches
//!   a store at all.
//! - **Budget.** A site is sent at most [`ALERTS_PER_SITE_HOUR`] messages per clock hour,
//!   counted in the store. When a call's alerts of a site are more than what is left of it,
//!   all but one of what is left go one by one and one digest ([`Alert::digest`]) names the
//!   rest; with nothing left, alerts are claimed (never raised again) but not sent
//!   ([`Sent::suppressed`]). A flood of made-up problems costs the owner a few messages an
//!   hour, and the real problem sent during it is still claimed, named by a digest or listed
//!   by `lookout top`.
//! - **Outbox.** A claim is written pending, holding its alert, and is marked sent only once
//!   every sink took the alert. A sink that fails (a 429, whose `Retry-After` is honoured, a
//!   5xx, a timeout) leaves it pending with a next attempt, backed off; so does running out of
//!   delivery time ([`DELIVERY_TIME`]), which keeps a stream invocation's alerts well within
//!   its timeout. Every call first retries up to [`RETRIES_PER_CALL`] pending alerts whose time
//!   has come; one pending for [`GIVE_UP_AFTER`] is given up and logged. A claim whose caller
//!   stopped before settling it (a killed invocation) is handed out again once its lease
//!   ([`LEASE`]) has passed. Delivery is at least once: a sink may get an alert twice when its
//!   caller stops between sending it and recording that it did.
//!
//! Split: this file holds the [`Alerter`] and one call's round; `raise` decides which alerts
//! the batch raises and claims them, `budget` fits them in each site's hourly budget (a digest
//! for the rest), and `delivery` sends them and retries the outbox.
//!
//! [`NEW_CLAIM_DAYS`]: super::NEW_CLAIM_DAYS
//! [`ALERTS_PER_SITE_HOUR`]: super::ALERTS_PER_SITE_HOUR
//! [`Alert::digest`]: super::message::Alert::digest

mod budget;
mod delivery;
mod raise;
mod scripts;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::rules::SpikeRule;
use super::scripts::ScriptContent;
use super::sink::Sink;
use super::{AlertState, Claim, DAY_MS, HOUR_MS, Outcome, Outgoing, Problem, StateError, Ticket};
use crate::report::{Report, Timestamp};

pub use self::budget::Split;
pub use self::delivery::next_attempt;

/// Problems known to have been claimed (by this process or another): no claim is tried again.
const MAX_KNOWN: usize = 100_000;

/// Sink time one call may spend; what is left to send then waits in the outbox for the next
/// call. With the stream's counting before it, a stream invocation stays well within its
/// 10 s timeout.
pub const DELIVERY_TIME: Duration = Duration::from_secs(4);

/// Pending alerts of earlier calls one call retries, at most.
pub const RETRIES_PER_CALL: usize = 5;

/// How long a claimed alert is its caller's to deliver: after it, another caller may.
pub const LEASE: Duration = Duration::from_secs(120);

/// A pending alert is given up (and logged) once it has waited this long.
pub const GIVE_UP_AFTER: Duration = Duration::from_secs(24 * 3600);

/// What one call did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    /// New problems claimed (sent one by one, in a digest, or suppressed).
    pub new_problems: usize,
    /// Spikes claimed.
    pub spikes: usize,
    /// Script alerts claimed (new, changed, divergent).
    pub scripts: usize,
    /// Digests made, each for the alerts of a site past its hourly budget.
    pub digests: usize,
    /// Alerts claimed but not sent: their site's hourly budget was spent.
    pub suppressed: usize,
    /// Pending alerts of earlier calls delivered by this one.
    pub retried: usize,
    /// Pending alerts given up: not delivered within [`GIVE_UP_AFTER`].
    pub given_up: usize,
    /// Failed sends (an alert at a sink); their alerts stay pending.
    pub undelivered: usize,
}

/// The start of `t`'s clock hour.
fn hour_of(t: Timestamp) -> Timestamp {
    Timestamp(t.millis() - t.millis().rem_euclid(HOUR_MS))
}

/// `t` plus `d`.
fn later(t: Timestamp, d: Duration) -> Timestamp {
    Timestamp(
        t.millis()
            .saturating_add(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
    )
}

/// `t` plus `days` days.
fn days_after(t: Timestamp, days: i64) -> Timestamp {
    Timestamp(t.millis().saturating_add(days * DAY_MS))
}

/// A claimed alert as first handed to delivery: queued now, never tried.
fn fresh(site: &str, claim: Claim, now: Timestamp) -> Outgoing {
    Outgoing {
        site: site.to_owned(),
        key: claim.key,
        alert: claim.alert,
        queued_at: now,
        attempts: 0,
        budgeted: claim.budgeted,
        delivered: Vec::new(),
    }
}

/// Decides and sends alerts.
pub struct Alerter {
    state: Arc<dyn AlertState>,
    sinks: Vec<Arc<dyn Sink>>,
    rule: SpikeRule,
    /// Visitors a script content needs before it alerts.
    script_min_visitors: u64,
    known: Mutex<HashSet<Problem>>,
    /// Script alerts' claim keys known to be claimed (by this process or another).
    known_claims: Mutex<HashSet<String>>,
    /// What this process last recorded of each script content (site, URL, hash).
    noted: Mutex<HashMap<scripts::NotedKey, ScriptContent>>,
}

/// What one call decided so far.
#[derive(Default)]
struct Round {
    /// What the store has to close once the outcomes are recorded.
    ticket: Ticket,
    /// What became of each alert handed to this call.
    outcomes: Vec<Outcome>,
    /// Sink time spent.
    spent: Duration,
    sent: Sent,
}

impl Alerter {
    /// An alerter over `state`, sending to `sinks`.
    pub fn new(state: Arc<dyn AlertState>, sinks: Vec<Arc<dyn Sink>>, rule: SpikeRule) -> Self {
        Self {
            state,
            sinks,
            rule,
            script_min_visitors: super::scripts::SCRIPT_MIN_VISITORS,
            known: Mutex::new(HashSet::new()),
            known_claims: Mutex::new(HashSet::new()),
            noted: Mutex::new(HashMap::new()),
        }
    }

    /// The visitors a script content needs before it alerts (see [`super::scripts`]).
    pub fn with_script_min_visitors(mut self, n: u64) -> Self {
        self.script_min_visitors = n.max(1);
        self
    }

    /// Retries the outbox's due alerts, then raises the alerts of `reports` (each a report
    /// stored for the first time; none is fine). A store error is returned (the batch may be
    /// retried: claims make that safe), after recording what was already delivered; a sink
    /// that fails is logged and counted, never returned: its alert stays pending.
    pub async fn on_new_reports(&self, reports: &[Report]) -> Result<Sent, StateError> {
        let now = Timestamp::now();
        let mut round = Round::default();
        let result = self.round(reports, now, &mut round).await;
        let Round {
            ticket,
            outcomes,
            sent,
            ..
        } = round;
        // After an error, alerts handed to this call may be left undecided: the ticket stays
        // open (they are found again after their lease), but what was decided is recorded.
        let ticket = if result.is_ok() {
            ticket
        } else {
            Ticket::default()
        };
        let settled = if outcomes.is_empty() && ticket.is_empty() {
            Ok(())
        } else {
            self.state.settle(ticket, &outcomes).await
        };
        result.and(settled).map(|()| sent)
    }

    /// This call's work: the outbox's due alerts first, then each site's new problems and
    /// spikes.
    async fn round(
        &self,
        reports: &[Report],
        now: Timestamp,
        round: &mut Round,
    ) -> Result<(), StateError> {
        self.retry_due(now, round).await?;
        for (site, shares) in raise::shares_by_site(reports) {
            self.site_round(&site, shares, now, round).await?;
        }
        Ok(())
    }

    fn is_known(&self, problem: &Problem) -> bool {
        self.known
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(problem)
    }

    fn remember(&self, problems: Vec<Problem>) {
        let mut known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        for p in problems {
            if known.len() >= MAX_KNOWN {
                known.clear();
            }
            known.insert(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::NEW_CLAIM_DAYS;

    #[test]
    fn budgets_are_per_clock_hour() {
        assert_eq!(hour_of(Timestamp(7_200_000 + 59_999)), Timestamp(7_200_000));
        assert_eq!(hour_of(Timestamp(7_200_000)), Timestamp(7_200_000));
        assert_eq!(
            days_after(Timestamp(0), NEW_CLAIM_DAYS),
            Timestamp(90 * 86_400_000)
        );
    }
}
