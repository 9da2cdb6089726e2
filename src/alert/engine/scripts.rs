//! The script alerts a batch raises: each script content's sighting recorded in the alert
//! state, its URL's contents read back and judged (`alert::scripts::judge`), a claim for each
//! verdict not known to be claimed.
//!
//! A sighting that would change nothing of what this process last recorded of its content but
//! move the last sighting by less than [`NOTE_EVERY`] (no earlier first sighting, no new
//! visitor while it has fewer than [`SIGHTING_VISITORS`]), and whose verdicts were all claimed,
//! is not recorded: a content's last sighting lags by at most that much, well under
//! the divergence overlap, and a busy page's scripts cost a write each per interval and
//! process rather than per batch.

use super::super::message::{Alert, AlertKind, Content, MAX_PREVIOUS, ScriptFacts};
use super::super::scripts::{Authorization, ScriptContent, Sighting, Verdict, judge};
use super::super::{Claim, NEW_CLAIM_DAYS, StateError};
use super::raise::Share;
use super::{Alerter, days_after};
use crate::report::Timestamp;
use crate::report::script::ScriptRef;

/// How long a content recorded by this process is not recorded again (unless new visitors
/// report it).
pub const NOTE_EVERY: i64 = 5 * 60_000;

/// Visitors past which a content's new visitors alone do not make this process record it again
/// (at least the evidence alerts need): they no longer change a verdict, and a busy page's
/// every new visitor would otherwise cost a write per script.
pub const SIGHTING_VISITORS: u64 = 32;

/// Contents this process remembers having recorded, at most (then it forgets them all).
const MAX_NOTED: usize = 100_000;

impl Alerter {
    /// The claims of the script alerts `shares` (one per script content of `site` in the
    /// batch, with the script its reports name; mutes already applied) raise.
    pub(super) async fn script_claims(
        &self,
        site: &str,
        shares: &[(ScriptRef, Share<'_>)],
        now: Timestamp,
    ) -> Result<Vec<Claim>, StateError> {
        let mut claims = Vec::new();
        let mut authorizations: Option<Vec<Authorization>> = None;
        for (script, share) in shares {
            let sighting = Sighting {
                site: site.to_owned(),
                script: script.clone(),
                first: share.first.occurred_at,
                last: share.last,
                visitors: share.visitors.clone(),
            };
            if self.noted_lately(&sighting) {
                continue;
            }
            let history = self.state.note_script(&sighting).await?;
            let verdicts = judge(script, &history, self.script_min_visitors, now);
            let this = history.contents.iter().find(|c| c.hash == script.hash);
            // Remembered as recorded only when nothing is left to claim: a verdict whose claim
            // this call does not get to make (an error before it) is judged again next time.
            if verdicts
                .iter()
                .all(|v| self.is_claimed(&v.claim_key(script)))
                && let Some(this) = this
            {
                self.note(&sighting, this.clone());
            }
            for verdict in verdicts {
                let key = verdict.claim_key(script);
                if self.is_claimed(&key) || claims.iter().any(|c: &Claim| c.key == key) {
                    continue;
                }
                if authorizations.is_none() {
                    authorizations = Some(self.state.authorizations(site).await?);
                }
                let authorization = authorizations
                    .as_deref()
                    .unwrap_or_default()
                    .iter()
                    .find(|a| a.url == script.url);
                let mut alert = script_alert(share, script, &verdict, authorization);
                alert.visitors = this.map_or(0, |c| c.visitors.len() as u64);
                claims.push(Claim {
                    key,
                    alert,
                    budgeted: false,
                    expires: days_after(now, NEW_CLAIM_DAYS),
                });
            }
        }
        Ok(claims)
    }

    /// Whether recording `sighting` would change nothing but move its last sighting by less
    /// than [`NOTE_EVERY`], by what this process recorded last.
    fn noted_lately(&self, sighting: &Sighting) -> bool {
        let noted = self.noted.lock().unwrap_or_else(|e| e.into_inner());
        let enough = SIGHTING_VISITORS.max(self.script_min_visitors);
        noted.get(&noted_key(sighting)).is_some_and(|c| {
            sighting.first >= c.first_seen
                && sighting.last.millis() < c.last_seen.millis() + NOTE_EVERY
                && (sighting.visitors.is_subset(&c.visitors) || c.visitors.len() as u64 >= enough)
        })
    }

    fn note(&self, sighting: &Sighting, recorded: ScriptContent) {
        let mut noted = self.noted.lock().unwrap_or_else(|e| e.into_inner());
        if noted.len() >= MAX_NOTED {
            noted.clear();
        }
        noted.insert(noted_key(sighting), recorded);
    }

    fn is_claimed(&self, key: &str) -> bool {
        self.known_claims
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(key)
    }

    /// Remembers that `claims` were claimed (won here or by another caller).
    pub(super) fn remember_claims<'a>(&self, claims: impl Iterator<Item = &'a Claim>) {
        let mut known = self.known_claims.lock().unwrap_or_else(|e| e.into_inner());
        for c in claims {
            if known.len() >= MAX_NOTED {
                known.clear();
            }
            known.insert(c.key.clone());
        }
    }
}

/// A script content of a site: site, URL, hash.
pub(super) type NotedKey = (String, String, Option<String>);

fn noted_key(s: &Sighting) -> NotedKey {
    (s.site.clone(), s.script.url.clone(), s.script.hash.clone())
}

/// The alert of `verdict` on `script`, from its share of the batch, with the URL's
/// authorization if it has one.
fn script_alert(
    share: &Share<'_>,
    script: &ScriptRef,
    verdict: &Verdict,
    authorization: Option<&Authorization>,
) -> Alert {
    let content = |c: &ScriptContent| Content {
        hash: c.hash.clone(),
        first_seen: c.first_seen,
        last_seen: c.last_seen,
        visitors: c.visitors.len() as u64,
        authorized: authorization.is_some_and(|a| a.hash == c.hash),
    };
    let (kind, previous) = match verdict {
        Verdict::NewScript => (AlertKind::NewScript, Vec::new()),
        Verdict::Changed { previous } => (
            AlertKind::ScriptChanged,
            previous
                .iter()
                .rev()
                .take(MAX_PREVIOUS)
                .rev()
                .map(content)
                .collect(),
        ),
        Verdict::Divergent { with } => (AlertKind::ScriptDivergent, vec![content(with)]),
    };
    let browsers = share.browsers.iter().cloned().collect();
    Alert::script(
        kind,
        share.first,
        browsers,
        share.count,
        ScriptFacts {
            url: script.url.clone(),
            destination: script.destination.clone(),
            hash: script.hash.clone(),
            previous,
            authorized_hash: authorization.and_then(|a| a.hash.clone()),
        },
    )
}
