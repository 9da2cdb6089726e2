//! Which alerts the new reports of a batch raise, each exactly once.
//!
//! A new-problem alert is sent by whoever claims it first in the store ([`AlertState`]): a
//! conditional write that succeeds once ever, whatever the write shards, stream retries and
//! re-deliveries (a re-delivered report is not new: the store wrote it once). A spike is
//! checked when a problem's count in the current hour reaches [`SpikeRule::min_reports`] (and
//! each further multiple of it), and claimed once per problem and day. Reports their own policy
//! allows (`allowed-by-policy`) and muted problems and types never alert; noise never reaches a
//! store at all.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use super::message::{Alert, AlertKind};
use super::rules::SpikeRule;
use super::sink::{self, Sink};
use super::{AlertState, HOUR_MS, HourBatch, Mute, Problem};
use crate::report::{Classification, Report, Timestamp};
use crate::store::StoreError;

/// The time one alert may take at one sink.
const DELIVERY_TIME: std::time::Duration = std::time::Duration::from_secs(4);

/// Problems known to have been claimed (by this process or another): no claim is tried again.
const MAX_KNOWN: usize = 100_000;

/// What one batch sent.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    pub new_problems: usize,
    pub spikes: usize,
    pub undelivered: usize,
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
    /// The ids of its reports, by the clock hour they were received in.
    per_hour: BTreeMap<i64, Vec<&'a str>>,
    count: u64,
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

    /// Raises the alerts of `reports` (each a report stored for the first time). A store
    /// error is returned (the batch may be retried: claims make that safe); a sink that fails
    /// is logged and counted, never returned.
    pub async fn on_new_reports(&self, reports: &[Report]) -> Result<Sent, StoreError> {
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
                per_hour: BTreeMap::new(),
                count: 0,
            });
            if r.occurred_at < share.first.occurred_at {
                share.first = r;
            }
            share.browsers.extend(r.browser.clone());
            let hour = r.received_at.millis() - r.received_at.millis().rem_euclid(HOUR_MS);
            share.per_hour.entry(hour).or_default().push(r.id.as_str());
            share.count += 1;
        }
        let mut sent = Sent::default();
        let mut mutes: HashMap<String, Vec<Mute>> = HashMap::new();
        let now = Timestamp::now();
        for (problem, share) in shares {
            if !mutes.contains_key(&problem.site) {
                let site_mutes = self.state.mutes(&problem.site).await?;
                mutes.insert(problem.site.clone(), site_mutes);
            }
            if mutes[&problem.site]
                .iter()
                .any(|m| m.silences(&problem, now))
            {
                continue;
            }
            let browsers: Vec<String> = share.browsers.iter().cloned().collect();
            let known = self
                .known
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .contains(&problem);
            if !known {
                if self
                    .state
                    .claim_new(&problem, share.first.occurred_at)
                    .await?
                {
                    let alert = Alert::of(
                        AlertKind::NewProblem,
                        share.first,
                        browsers.clone(),
                        share.count,
                    );
                    self.deliver(&alert, &mut sent).await;
                    sent.new_problems += 1;
                }
                let mut k = self.known.lock().unwrap_or_else(|p| p.into_inner());
                if k.len() >= MAX_KNOWN {
                    k.clear();
                }
                k.insert(problem.clone());
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
                if self.state.claim_spike(&problem, &hour.day()).await? {
                    let mut alert =
                        Alert::of(AlertKind::Spike, share.first, browsers.clone(), after);
                    alert.previous_day_hourly_average = Some(previous as f64 / 24.0);
                    self.deliver(&alert, &mut sent).await;
                    sent.spikes += 1;
                }
            }
        }
        Ok(sent)
    }

    async fn deliver(&self, alert: &Alert, sent: &mut Sent) {
        tracing::info!(kind = ?alert.kind, site = %alert.site, fingerprint = %alert.fingerprint, "alert");
        for s in &self.sinks {
            if sink::send(s.as_ref(), alert, DELIVERY_TIME).await != sink::Delivery::Sent {
                sent.undelivered += 1;
            }
        }
    }
}
