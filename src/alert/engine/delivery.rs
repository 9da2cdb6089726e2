//! Delivery: each alert to the sinks that do not have it yet, within the call's delivery time;
//! what fails stays pending with a next attempt (the sink's `Retry-After`, or a backoff), and
//! every call first retries the outbox's due alerts, giving up on those past their time.

use std::collections::BTreeMap;
use std::time::Duration;

use super::super::message::flatten;
use super::super::sink::{self, Delivery};
use super::super::{Outcome, Outgoing, Settle, StateError};
use super::{Alerter, DELIVERY_TIME, GIVE_UP_AFTER, LEASE, RETRIES_PER_CALL, Round, later};
use crate::report::Timestamp;

/// The wait after a first failed delivery, doubled after each further one.
const FIRST_BACKOFF: Duration = Duration::from_secs(30);
/// The longest wait between two deliveries of an alert.
const MAX_BACKOFF: Duration = Duration::from_secs(30 * 60);
/// The longest `Retry-After` honoured.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

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

impl Alerter {
    /// The outbox: pending alerts whose time has come, given up after [`GIVE_UP_AFTER`].
    pub(super) async fn retry_due(
        &self,
        now: Timestamp,
        round: &mut Round,
    ) -> Result<(), StateError> {
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

    /// Sends `items`, claimed alerts of `site`: those not budgeted yet within what is left of
    /// the site's hourly budget (one by one, then a digest, or not at all), all within the
    /// call's delivery time; records what became of each in `round`.
    pub(super) async fn dispatch(
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
            ready.extend(self.budget(site, undecided, now, round).await?);
        }
        self.send(ready, now, retrying, round).await;
        Ok(())
    }

    /// Sends each of `ready` to the sinks that do not have it yet, while the call has delivery
    /// time left (else it waits for the next call); records what became of each in `round`.
    async fn send(&self, ready: Vec<Outgoing>, now: Timestamp, retrying: bool, round: &mut Round) {
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
