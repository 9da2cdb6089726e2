//! Each site's hourly budget of messages: the alerts it covers go one by one, one digest
//! (claimed like any alert) stands for the rest, and with nothing left they are suppressed.

use super::super::message::Alert;
use super::super::{
    ALERTS_PER_SITE_HOUR, Claim, DIGEST_CLAIM_DAYS, HOUR_MS, Outcome, Outgoing, Settle, StateError,
};
use super::{Alerter, LEASE, Round, days_after, fresh, hour_of, later};
use crate::report::Timestamp;

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

impl Alerter {
    /// Takes from `site`'s budget of the hour what `undecided` (claimed alerts of the site not
    /// budgeted yet) need; returns those to send: the ones it covers, then the digest standing
    /// for the others. The others' outcomes (digested, or suppressed when nothing is left) are
    /// recorded in `round`.
    pub(super) async fn budget(
        &self,
        site: &str,
        undecided: Vec<Outgoing>,
        now: Timestamp,
        round: &mut Round,
    ) -> Result<Vec<Outgoing>, StateError> {
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
        let mut ready: Vec<Outgoing> = undecided
            .by_ref()
            .take(split.one_by_one)
            .map(|mut o| {
                o.budgeted = true;
                o
            })
            .collect();
        let rest: Vec<Outgoing> = undecided.collect();
        if split.digest && !rest.is_empty() {
            ready.extend(self.digest(site, rest, now, round).await?);
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
        Ok(ready)
    }

    /// One digest for `rest`, alerts of `site` past its budget: claimed (so kept) before the
    /// alerts it stands for are settled as digested. Returns it to send, if this call won it.
    async fn digest(
        &self,
        site: &str,
        rest: Vec<Outgoing>,
        now: Timestamp,
        round: &mut Round,
    ) -> Result<Option<Outgoing>, StateError> {
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
        for o in rest {
            round.outcomes.push(Outcome {
                site: o.site,
                key: o.key,
                settle: Settle::Digested,
            });
        }
        Ok((won.first() == Some(&true)).then(|| fresh(site, claim, now)))
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
}
