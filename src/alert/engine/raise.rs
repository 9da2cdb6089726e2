//! Which alerts a batch raises: its reports grouped by problem and site, each site's mutes
//! applied, a new-problem claim for each problem not known to be claimed, the hourly counts
//! taken and a spike claim for each count that is one; then the claims, each won once.

use std::collections::{BTreeMap, BTreeSet};

use super::super::message::{Alert, AlertKind};
use super::super::{
    Claim, HOUR_MS, HourBatch, NEW_CLAIM_DAYS, Problem, SPIKE_CLAIM_DAYS, StateError,
};
use super::{Alerter, LEASE, Round, days_after, fresh, later};
use crate::report::script::ScriptRef;
use crate::report::{Classification, Report, ReportType, Timestamp};

/// One problem's share of a batch.
pub(super) struct Share<'a> {
    pub(super) first: &'a Report,
    /// The latest occurrence.
    pub(super) last: Timestamp,
    pub(super) browsers: BTreeSet<String>,
    pub(super) visitors: BTreeSet<u8>,
    /// The ids of its reports, by the clock hour they were received in.
    per_hour: BTreeMap<i64, Vec<&'a str>>,
    pub(super) count: u64,
}

/// The problems of `reports`, each with its share, by site; reports their own policy allows
/// raise no alert and are left out.
pub(super) fn shares_by_site(reports: &[Report]) -> BTreeMap<String, Vec<(Problem, Share<'_>)>> {
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
            last: r.occurred_at,
            browsers: BTreeSet::new(),
            visitors: BTreeSet::new(),
            per_hour: BTreeMap::new(),
            count: 0,
        });
        if r.occurred_at < share.first.occurred_at {
            share.first = r;
        }
        share.last = share.last.max(r.occurred_at);
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
    sites
}

/// The claim of `problem`'s new-problem alert, from its share of the batch.
fn new_problem(problem: &Problem, share: &Share<'_>, browsers: &[String], now: Timestamp) -> Claim {
    let mut alert = Alert::of(
        AlertKind::NewProblem,
        share.first,
        browsers.to_vec(),
        share.count,
    );
    alert.visitors = share.visitors.len() as u64;
    Claim {
        key: problem.new_claim(),
        alert,
        budgeted: false,
        expires: days_after(now, NEW_CLAIM_DAYS),
    }
}

impl Alerter {
    /// One site's problems of the batch: hourly counts, claims, then delivery.
    pub(super) async fn site_round(
        &self,
        site: &str,
        shares: Vec<(Problem, Share<'_>)>,
        now: Timestamp,
        round: &mut Round,
    ) -> Result<(), StateError> {
        let mutes = self.state.mutes(site).await?;
        let mut claims: Vec<Claim> = Vec::new();
        let mut tried: Vec<Problem> = Vec::new();
        let mut scripts = Vec::new();
        for (problem, share) in shares {
            if mutes.iter().any(|m| m.silences(&problem, now)) {
                continue;
            }
            // A script's contents alert as scripts (new, changed, divergent), never as new
            // problems or spikes: a page view sends one report per script.
            if problem.report_type == ReportType::CspHash {
                let script = ScriptRef::of(&share.first.body);
                if !mutes
                    .iter()
                    .any(|m| m.silences_script(site, &script.url, now))
                {
                    scripts.push((script, share));
                }
                continue;
            }
            let browsers: Vec<String> = share.browsers.iter().cloned().collect();
            if !self.is_known(&problem) {
                claims.push(new_problem(&problem, &share, &browsers, now));
                tried.push(problem.clone());
            }
            self.spikes(&problem, &share, &browsers, now, &mut claims)
                .await?;
        }
        claims.extend(self.script_claims(site, &scripts, now).await?);
        if claims.is_empty() {
            return Ok(());
        }
        let (won, ticket) = self.state.claim(site, &claims, later(now, LEASE)).await?;
        round.ticket.merge(ticket);
        self.remember(tried);
        self.remember_claims(claims.iter().filter(|c| c.alert.kind.is_script()));
        let mut items = Vec::new();
        for (claim, won) in claims.into_iter().zip(won) {
            if !won {
                continue;
            }
            match claim.alert.kind {
                AlertKind::NewProblem => round.sent.new_problems += 1,
                AlertKind::Spike => round.sent.spikes += 1,
                AlertKind::NewScript | AlertKind::ScriptChanged | AlertKind::ScriptDivergent => {
                    round.sent.scripts += 1;
                }
                AlertKind::Digest => {}
            }
            items.push(fresh(site, claim, now));
        }
        self.dispatch(site, items, now, false, round).await
    }

    /// Adds `share` to its problem's hourly counts (one per clock hour it spans), and adds to
    /// `claims` a spike claim for each count that is a spike, once per problem and day.
    async fn spikes(
        &self,
        problem: &Problem,
        share: &Share<'_>,
        browsers: &[String],
        now: Timestamp,
        claims: &mut Vec<Claim>,
    ) -> Result<(), StateError> {
        for (&hour, ids) in &share.per_hour {
            let hour = Timestamp(hour);
            let batch = HourBatch::of(ids.iter().copied());
            let (before, after) = self.state.add_to_hour(problem, hour, &batch).await?;
            if !self.rule.worth_checking(before, after) {
                continue;
            }
            let previous = self.state.previous_day(problem, hour).await?;
            // A problem with no previous day is new, and has had its own alert.
            if previous == 0 || !self.rule.is_spike(after, previous) {
                continue;
            }
            let key = problem.spike_claim(&hour.day());
            if claims.iter().any(|c| c.key == key) {
                continue;
            }
            let mut alert = Alert::of(AlertKind::Spike, share.first, browsers.to_vec(), after);
            alert.visitors = share.visitors.len() as u64;
            alert.previous_day_hourly_average = Some(previous as f64 / 24.0);
            claims.push(Claim {
                key,
                alert,
                budgeted: false,
                expires: days_after(now, SPIKE_CLAIM_DAYS),
            });
        }
        Ok(())
    }
}
