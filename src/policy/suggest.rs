//! The suggestion for a site, read from a store: what `lookout policy` prints and the
//! dashboard's policy page shows.
//!
//! Starts from the owner's policy, never from one a report carries: anyone can POST reports,
//! so their `originalPolicy` is only counted, as information. Reads the site's CSP problems
//! (the aggregates: one read per problem and day) and, for that information, its most recent
//! CSP reports (at most [`POLICY_SAMPLE`]).

use std::collections::HashSet;

use serde::Serialize;

use super::builder::{self, NotParsedBack, Observation, Rules};
use super::directives::Policy;
use crate::report::{Report, ReportType, Timestamp, parse_csp_group};
use crate::store::{GroupSummary, RecentQuery, ReportStore, StoreError, TopQuery};

/// Recent CSP reports read to compare the policies they carry with the owner's.
pub const POLICY_SAMPLE: usize = 1000;

/// What the site's recent CSP reports say of the policy they were sent under: information,
/// never a base (anyone can send a report).
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReportedPolicies {
    /// Recent CSP reports read.
    pub read: usize,
    /// Of those, reports whose policy differs from the owner's.
    pub differing: usize,
    /// Distinct policies among those.
    pub distinct_differing: usize,
}

impl ReportedPolicies {
    /// Counts the policies `recent` reports carry that differ from `base`.
    fn of(recent: &[Report], base: &Policy) -> Self {
        let mut differing = 0;
        let mut distinct = HashSet::new();
        for p in recent
            .iter()
            .filter_map(|r| r.body.str_of("originalPolicy"))
        {
            if Policy::parse(p).without_reporting() != base.without_reporting() {
                differing += 1;
                distinct.insert(p);
            }
        }
        Self {
            read: recent.len(),
            differing,
            distinct_differing: distinct.len(),
        }
    }

    /// One line for a person, or nothing when every report carries the owner's policy.
    pub fn summary(&self) -> Option<String> {
        (self.differing > 0).then(|| {
            format!(
                "{} of the latest {} CSP report(s) carry a policy that differs from yours ({} distinct): a second policy, an old deployment, or forged reports; they do not shape the suggestion",
                self.differing, self.read, self.distinct_differing
            )
        })
    }
}

/// A suggestion with what it was made from.
pub struct Suggested {
    /// The CSP problems read.
    pub problems: usize,
    /// The policies the reports carry, against the owner's.
    pub reported: ReportedPolicies,
    /// The suggestion.
    pub suggestion: builder::Suggestion,
}

/// Why there is no suggestion.
#[derive(Debug, thiserror::Error)]
pub enum SuggestError {
    /// The store could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The builder's result did not parse back (a bug).
    #[error(transparent)]
    NotParsedBack(#[from] NotParsedBack),
}

/// The suggestion for `site` from the CSP problems since `since`, starting from the owner's
/// `from_policy`.
pub async fn suggest_for_site(
    store: &dyn ReportStore,
    site: &str,
    since: Timestamp,
    from_policy: &str,
    rules: Rules,
) -> Result<Suggested, SuggestError> {
    let groups = store
        .top(&TopQuery {
            site: site.to_owned(),
            report_type: Some(ReportType::CspViolation),
            since,
            limit: usize::MAX,
            classification: None,
        })
        .await?;
    let base = Policy::parse(from_policy);
    let recent = store
        .recent(&RecentQuery {
            site: site.to_owned(),
            report_type: Some(ReportType::CspViolation),
            since,
            limit: POLICY_SAMPLE,
            classification: None,
            fingerprint: None,
        })
        .await?;
    let reported = ReportedPolicies::of(&recent, &base);
    let observations: Vec<Observation> = groups.iter().filter_map(observation).collect();
    Ok(Suggested {
        problems: groups.len(),
        reported,
        suggestion: builder::suggest(&base, site, &observations, rules)?,
    })
}

/// A CSP problem as the builder reads it, from its group's parts.
fn observation(g: &GroupSummary) -> Option<Observation> {
    let parts = parse_csp_group(&g.group, g.classification, g.policy_version.as_deref())?;
    Some(Observation {
        fingerprint: g.fingerprint.clone(),
        directive: parts.directive.to_owned(),
        blocked: parts.blocked.to_owned(),
        document: parts.document.to_owned(),
        sample: parts.sample.map(str::to_owned),
        classification: g.classification,
        reports: g.count,
        browsers: g.browsers.len(),
        visitors: g.visitors,
    })
}
