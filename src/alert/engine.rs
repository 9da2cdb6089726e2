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

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::message::{Alert, AlertKind, flatten};
use super::rules::SpikeRule;
use super::sink::{self, Delivery, Sink};
use super::{
    ALERTS_PER_SITE_HOUR, AlertState, Claim, DAY_MS, DIGEST_CLAIM_DAYS, HOUR_MS, HourBatch,
    NEW_CLAIM_DAYS, Outcome, Outgoing, Problem, SPIKE_CLAIM_DAYS, Settle, StateError, Ticket,
};
use crate::report::{Classification, Report, Timestamp};

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

/// The wait after a first failed delivery, doubled after each further one.
const FIRST_BACKOFF: Duration = Duration::from_secs(30);
/// The longest wait between two deliveries of an alert.
const MAX_BACKOFF: Duration = Duration::from_secs(30 * 60);
/// The longest `Retry-After` honoured.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// What one call did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    /// New problems claimed (sent one by one, in a digest, or suppressed).
    pub new_problems: usize,
    /// Spikes claimed.
    pub spikes: usize,
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

/// How a site's alerts go out with what is left of its hourly budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Split {
    /// Alerts sent one by one (the first ones).
    pub one_by_one: usize,
    /// Whether one digest stands for the others (else they are suppressed).
    pub digest: bool,
}

impl Split {
    /// `want` alerts with `granted` messages of budget: all one by one when it covers them;
    /// else `granted - 1` one by one and a digest of the rest; none with no budget.
    pub fn of(want: usize, granted: usize) -> Self {
        if granted >= want {
            Self {
                one_by_one: want,
                digest: false,
            }
        } else if granted == 0 {
            Self {
                one_by_one: 0,
                digest: false,
            }
        } else {
            Self {
                one_by_one: granted - 1,
                digest: true,
            }
        }
    }
}

/// When an alert whose delivery failed `attempts` times in all, the last at `now`, is tried
/// again: after what the sink asked for (`Retry-After`, within 1 s and 1 h), else after a
/// backoff doubling from 30 s up to 30 min.
pub fn next_attempt(now: Timestamp, attempts: u32, retry_after: Option<Duration>) -> Timestamp {
    let wait = match retry_after {
        Some(asked) => asked.clamp(Duration::from_secs(1), MAX_RETRY_AFTER),
        None => {
            let doublings = attempts.saturating_sub(1).min(16);
            FIRST_BACKOFF
                .saturating_mul(1u32 << doublings)
                .min(MAX_BACKOFF)
        }
    };
    later(now, wait)
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

/// Decides and sends alerts.
pub struct Alerter {
    state: Arc<dyn AlertState>,
    sinks: Vec<Arc<dyn Sink>>,
    rule: SpikeRule,
    known: Mutex<HashSet<Problem>>,
}

/// One problem's share of a batch.
struct Share<'a> {
    first: &'a Report,
    browsers: BTreeSet<String>,
    visitors: BTreeSet<u8>,
    /// The ids of its reports, by the clock hour they were received in.
    per_hour: BTreeMap<i64, Vec<&'a str>>,
    count: u64,
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
            known: Mutex::new(HashSet::new()),
        }
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

    async fn round(
        &self,
        reports: &[Report],
        now: Timestamp,
        round: &mut Round,
    ) -> Result<(), StateError> {
        self.retry_due(now, round).await?;
        let mut shares: BTreeMap<Problem, Share<'_>> = BTreeMap::new();
        for r in reports {
            if r.classification == Some(Classification::AllowedByPolicy) {
                continue;
            }
            let problem = Problem {
                site: r.site.clone(),
                report_type: r.report_type.clone(),
                fingerprint: r.fingerprint.clone(),
            };
            let share = shares.entry(problem).or_insert_with(|| Share {
                first: r,
                browsers: BTreeSet::new(),
                visitors: BTreeSet::new(),
                per_hour: BTreeMap::new(),
                count: 0,
            });
            if r.occurred_at < share.first.occurred_at {
                share.first = r;
            }
            share.browsers.extend(r.browser.clone());
            share.visitors.extend(r.visitor);
            let hour = r.received_at.millis() - r.received_at.millis().rem_euclid(HOUR_MS);
            share.per_hour.entry(hour).or_default().push(r.id.as_str());
            share.count += 1;
        }
        let mut sites: BTreeMap<String, Vec<(Problem, Share<'_>)>> = BTreeMap::new();
        for (problem, share) in shares {
            sites
                .entry(problem.site.clone())
                .or_default()
                .push((problem, share));
        }
        for (site, shares) in sites {
            self.site_round(&site, shares, now, round).await?;
        }
        Ok(())
    }

    /// One site's problems of the batch: hourly counts, claims, then delivery.
    async fn site_round(
        &self,
        site: &str,
        shares: Vec<(Problem, Share<'_>)>,
        now: Timestamp,
        round: &mut Round,
    ) -> Result<(), StateError> {
        let mutes = self.state.mutes(site).await?;
        let mut claims: Vec<Claim> = Vec::new();
        let mut tried: Vec<Problem> = Vec::new();
        for (problem, share) in shares {
            if mutes.iter().any(|m| m.silences(&problem, now)) {
                continue;
            }
            let browsers: Vec<String> = share.browsers.iter().cloned().collect();
            if !self.is_known(&problem) {
                let mut alert = Alert::of(
                    AlertKind::NewProblem,
                    share.first,
                    browsers.clone(),
                    share.count,
                );
                alert.visitors = share.visitors.len() as u64;
                claims.push(Claim {
                    key: problem.new_claim(),
                    alert,
                    budgeted: false,
                    expires: days_after(now, NEW_CLAIM_DAYS),
                });
                tried.push(problem.clone());
            }
            for (&hour, ids) in &share.per_hour {
                let hour = Timestamp(hour);
                let batch = HourBatch::of(ids.iter().copied());
                let (before, after) = self.state.add_to_hour(&problem, hour, &batch).await?;
                if !self.rule.worth_checking(before, after) {
                    continue;
                }
                let previous = self.state.previous_day(&problem, hour).await?;
                // A problem with no previous day is new, and has had its own alert.
                if previous == 0 || !self.rule.is_spike(after, previous) {
                    continue;
                }
                let key = problem.spike_claim(&hour.day());
                if claims.iter().any(|c| c.key == key) {
                    continue;
                }
                let mut alert = Alert::of(AlertKind::Spike, share.first, browsers.clone(), after);
                alert.visitors = share.visitors.len() as u64;
                alert.previous_day_hourly_average = Some(previous as f64 / 24.0);
                claims.push(Claim {
                    key,
                    alert,
                    budgeted: false,
                    expires: days_after(now, SPIKE_CLAIM_DAYS),
                });
            }
        }
        if claims.is_empty() {
            return Ok(());
        }
        let (won, ticket) = self.state.claim(site, &claims, later(now, LEASE)).await?;
        round.ticket.merge(ticket);
        self.remember(tried);
        let mut items = Vec::new();
        for (claim, won) in claims.into_iter().zip(won) {
            if !won {
                continue;
            }
            match claim.alert.kind {
                AlertKind::NewProblem => round.sent.new_problems += 1,
                AlertKind::Spike => round.sent.spikes += 1,
                AlertKind::Digest => {}
            }
            items.push(Outgoing {
                site: site.to_owned(),
                key: claim.key,
                alert: claim.alert,
                queued_at: now,
                attempts: 0,
                budgeted: claim.budgeted,
                delivered: Vec::new(),
            });
        }
        self.dispatch(site, items, now, false, round).await
    }

    /// The outbox: pending alerts whose time has come, given up after [`GIVE_UP_AFTER`].
    async fn retry_due(&self, now: Timestamp, round: &mut Round) -> Result<(), StateError> {
        let (due, ticket) = self
            .state
            .due(now, RETRIES_PER_CALL, later(now, LEASE))
            .await?;
        round.ticket.merge(ticket);
        let give_up = i64::try_from(GIVE_UP_AFTER.as_millis()).unwrap_or(i64::MAX);
        let mut sites: BTreeMap<String, Vec<Outgoing>> = BTreeMap::new();
        for o in due {
            if now.millis() - o.queued_at.millis() >= give_up {
                // The problem, never where it was to go (a webhook URL is a secret).
                tracing::warn!(
                    site = %o.site,
                    claim = %o.key,
                    kind = ?o.alert.kind,
                    fingerprint = %o.alert.fingerprint,
                    group = %flatten(&o.alert.group),
                    attempts = o.attempts,
                    queued_at = %o.queued_at,
                    "alert given up: not delivered within 24 hours"
                );
                round.sent.given_up += 1;
                round.outcomes.push(Outcome {
                    site: o.site,
                    key: o.key,
                    settle: Settle::GivenUp,
                });
                continue;
            }
            sites.entry(o.site.clone()).or_default().push(o);
        }
        for (site, items) in sites {
            self.dispatch(&site, items, now, true, round).await?;
        }
        Ok(())
    }

    /// Sends `items`, claimed alerts of `site`: those not yet budgeted within what is left of
    /// the site's hourly budget (one by one, then a digest, or not at all), within the call's
    /// delivery time; records what became of each in `round`.
    async fn dispatch(
        &self,
        site: &str,
        items: Vec<Outgoing>,
        now: Timestamp,
        retrying: bool,
        round: &mut Round,
    ) -> Result<(), StateError> {
        let (mut ready, undecided): (Vec<Outgoing>, Vec<Outgoing>) =
            items.into_iter().partition(|o| o.budgeted);
        if !undecided.is_empty() {
            let want = undecided.len();
            let granted = self
                .state
                .take_budget(
                    site,
                    hour_of(now),
                    u32::try_from(want).unwrap_or(u32::MAX),
                    ALERTS_PER_SITE_HOUR,
                )
                .await?;
            let split = Split::of(want, granted as usize);
            let mut undecided = undecided.into_iter();
            ready.extend(undecided.by_ref().take(split.one_by_one).map(|mut o| {
                o.budgeted = true;
                o
            }));
            let rest: Vec<Outgoing> = undecided.collect();
            if split.digest && !rest.is_empty() {
                let digest = {
                    let covered: Vec<&Alert> = rest.iter().map(|o| &o.alert).collect();
                    let paused_until = Timestamp(hour_of(now).millis() + HOUR_MS);
                    Alert::digest(site, &covered, paused_until)
                };
                let claim = Claim {
                    key: format!("digest#{now}#{:08x}", fastrand::u32(..)),
                    alert: digest,
                    budgeted: true,
                    expires: days_after(now, DIGEST_CLAIM_DAYS),
                };
                // The digest is claimed (so kept) before the alerts it stands for are settled.
                let (won, ticket) = self
                    .state
                    .claim(site, std::slice::from_ref(&claim), later(now, LEASE))
                    .await?;
                round.ticket.merge(ticket);
                round.sent.digests += 1;
                tracing::info!(
                    site,
                    covered = rest.len(),
                    "the site's alert budget of the hour is reached: one digest for the rest"
                );
                if won.first() == Some(&true) {
                    ready.push(Outgoing {
                        site: site.to_owned(),
                        key: claim.key,
                        alert: claim.alert,
                        queued_at: now,
                        attempts: 0,
                        budgeted: true,
                        delivered: Vec::new(),
                    });
                }
                for o in rest {
                    round.outcomes.push(Outcome {
                        site: o.site,
                        key: o.key,
                        settle: Settle::Digested,
                    });
                }
            } else if !rest.is_empty() {
                tracing::info!(
                    site,
                    suppressed = rest.len(),
                    "the site's alert budget of the hour is spent: alerts claimed, not sent"
                );
                round.sent.suppressed += rest.len();
                for o in rest {
                    round.outcomes.push(Outcome {
                        site: o.site,
                        key: o.key,
                        settle: Settle::Suppressed,
                    });
                }
            }
        }
        for mut o in ready {
            if round.spent >= DELIVERY_TIME {
                // Out of time: the next call sends it.
                round.outcomes.push(Outcome {
                    site: o.site,
                    key: o.key,
                    settle: Settle::Retry {
                        at: now,
                        attempts: o.attempts,
                        delivered: o.delivered,
                    },
                });
                continue;
            }
            tracing::info!(
                kind = ?o.alert.kind,
                site = %o.site,
                fingerprint = %o.alert.fingerprint,
                attempt = o.attempts + 1,
                "alert"
            );
            let settle = match self.deliver(&mut o, round).await {
                Ok(()) => {
                    if retrying {
                        round.sent.retried += 1;
                    }
                    Settle::Sent
                }
                Err(retry_after) => {
                    let attempts = o.attempts.saturating_add(1);
                    Settle::Retry {
                        at: next_attempt(Timestamp::now(), attempts, retry_after),
                        attempts,
                        delivered: o.delivered,
                    }
                }
            };
            round.outcomes.push(Outcome {
                site: o.site,
                key: o.key,
                settle,
            });
        }
        Ok(())
    }

    /// Sends `o` to each sink that does not have it yet, within what is left of the call's
    /// delivery time. `Err` holds the longest wait a failing sink asked for.
    async fn deliver(&self, o: &mut Outgoing, round: &mut Round) -> Result<(), Option<Duration>> {
        let mut failed = false;
        let mut retry_after: Option<Duration> = None;
        for s in &self.sinks {
            let name = s.name();
            if o.delivered.iter().any(|d| d == name) {
                continue;
            }
            let left = DELIVERY_TIME.saturating_sub(round.spent);
            let started = tokio::time::Instant::now();
            let delivery = sink::send(s.as_ref(), &o.alert, left).await;
            round.spent += started.elapsed();
            match delivery {
                Delivery::Sent => o.delivered.push(name.to_owned()),
                Delivery::Failed { retry_after: asked } => {
                    failed = true;
                    round.sent.undelivered += 1;
                    retry_after = retry_after.max(asked);
                }
            }
        }
        if failed { Err(retry_after) } else { Ok(()) }
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

    #[test]
    fn the_budget_sends_what_it_covers_then_one_digest() {
        assert_eq!(
            Split::of(3, 10),
            Split {
                one_by_one: 3,
                digest: false
            }
        );
        assert_eq!(
            Split::of(10, 10),
            Split {
                one_by_one: 10,
                digest: false
            }
        );
        // 300 new problems with the whole budget: 9 alerts and a digest of 291.
        assert_eq!(
            Split::of(300, 10),
            Split {
                one_by_one: 9,
                digest: true
            }
        );
        assert_eq!(
            Split::of(11, 10),
            Split {
                one_by_one: 9,
                digest: true
            }
        );
        // One message left: a digest of them all.
        assert_eq!(
            Split::of(4, 1),
            Split {
                one_by_one: 0,
                digest: true
            }
        );
        assert_eq!(
            Split::of(4, 0),
            Split {
                one_by_one: 0,
                digest: false
            }
        );
        assert_eq!(
            Split::of(0, 0),
            Split {
                one_by_one: 0,
                digest: false
            }
        );
    }

    #[test]
    fn a_failed_alert_waits_what_the_sink_asked_or_a_growing_backoff() {
        let now = Timestamp(1_796_000_000_000);
        let after = |attempts, asked| next_attempt(now, attempts, asked).millis() - now.millis();
        assert_eq!(after(1, Some(Duration::from_secs(7))), 7_000);
        assert_eq!(after(1, Some(Duration::ZERO)), 1_000, "at least a second");
        assert_eq!(
            after(1, Some(Duration::from_secs(86_400))),
            3_600_000,
            "at most an hour"
        );
        assert_eq!(after(1, None), 30_000);
        assert_eq!(after(2, None), 60_000);
        assert_eq!(after(3, None), 120_000);
        assert_eq!(after(30, None), 1_800_000, "at most 30 minutes");
        assert_eq!(after(0, None), 30_000);
    }

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
