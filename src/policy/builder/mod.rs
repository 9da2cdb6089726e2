//! The policy the reports ask for: each CSP problem seen often enough becomes a source in the
//! directive a person would edit, and everything left out says why.
//!
//! Anyone can POST a report, so nothing here trusts report text: the base is the owner's policy
//! (never one a report carries), and what a report names is parsed into a source expression
//! ([`super::source`]) or left out. Rules, in order, for each problem (a group of identical
//! reports):
//! 1. Reports their own policy allows (`allowed-by-policy`) or cannot be judged
//!    (`indeterminate`) are left out: adding a source would not change what the browser does.
//! 2. Too few visitors (distinct senders' networks, which a sender cannot choose): left out;
//!    too few reports or browsers (thresholds against noise, not against forgers): left out.
//! 3. A document outside the site (a copy, a proxy, a test page): left out.
//! 4. Only fetch directives are changed; `frame-ancestors`, `form-action`, `base-uri`,
//!    `report-uri` and the like are the owner's alone.
//! 5. What is blocked becomes a source when it parses as one: the blocked origin (`'self'` when
//!    it is the document's; never a wildcard), `data:`/`blob:` only where they cannot run code,
//!    `'wasm-unsafe-eval'` in script directives. Inline code becomes the hash of its sample only
//!    with [`Rules::hash_samples`]. `'unsafe-inline'` and `'unsafe-eval'` are never added.
//! 6. The directive to edit is the effective one if the policy has it, else its parent
//!    (`script-src` for `script-src-elem`), else a new one seeded with the sources of the
//!    directive that governed it until now (`default-src`), so nothing allowed before is lost.
//! 7. A source that would take the policy over [`MAX_POLICY_BYTES`] is left out, and the
//!    result is parsed back as browsers parse it and must hold exactly what was built.
//!
//! Rules 1 to 5 are in `blocked.rs`, rule 6 in `edit.rs`, and what is left out, with its
//! [`Reason`], in `left_out.rs`.

mod blocked;
mod edit;
mod left_out;
#[cfg(test)]
mod tests;

use serde::Serialize;

use self::blocked::source_for;
use self::edit::{Edit, edit, target_name};
pub use self::left_out::{LeftOut, Reason};
use super::directives::Policy;
use crate::report::Classification;

/// The largest policy the builder writes, in bytes: with Lookout's `report-uri` and `report-to`
/// added it stays under the 4 KiB a header may hold before proxies refuse it (nginx's default
/// proxy buffer, see `snippet::MAX_HEADER_BYTES`). What would not fit is left out, named.
pub const MAX_POLICY_BYTES: usize = 3_584;

/// One CSP problem as the aggregates hold it.
#[derive(Debug, Clone)]
pub struct Observation {
    pub fingerprint: String,
    /// The effective directive the browser reported.
    pub directive: String,
    /// What was blocked, as the group holds it (origin, scheme or keyword).
    pub blocked: String,
    /// The document's origin and path.
    pub document: String,
    /// The first characters of the sample, for inline code that carried one.
    pub sample: Option<String>,
    pub classification: Option<Classification>,
    pub reports: u64,
    pub browsers: usize,
    /// Distinct visitors (senders' networks), summed over days: see `report::visitor`.
    pub visitors: u64,
}

/// What a problem must show to shape the policy. The counts filter noise (one visitor's odd
/// browser), not adversaries: a report's count and browser are the sender's to choose.
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    pub min_reports: u64,
    pub min_browsers: usize,
    /// The threshold against forgers: a sender cannot choose its network, so a problem seen
    /// from fewer networks than this is left out.
    pub min_visitors: u64,
    /// Whether inline code may be allowed by the hash of its reported sample. Off by default:
    /// the sample is the sender's text, so its hash allows whatever code a forger (or the very
    /// injection the policy blocked) chose.
    pub hash_samples: bool,
}

impl Default for Rules {
    /// Two visitors: one sender on one network (a forger with `curl`, one odd machine) never
    /// shapes the policy alone.
    fn default() -> Self {
        Self {
            min_reports: 1,
            min_browsers: 1,
            min_visitors: 2,
            hash_samples: false,
        }
    }
}

/// A source the suggestion adds.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Added {
    pub directive: String,
    pub source: String,
    pub reports: u64,
    pub browsers: usize,
    pub visitors: u64,
    /// Where a new directive's first sources came from (`default-src`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seeded_from: Option<String>,
}

/// The suggested policy, what changed and what was left out.
#[derive(Debug, Clone)]
pub struct Suggestion {
    pub base: Policy,
    pub policy: Policy,
    pub added: Vec<Added>,
    pub left_out: Vec<LeftOut>,
}

/// The suggestion read back as browsers parse it did not hold what the builder meant: a bug,
/// and nothing is printed.
#[derive(Debug, thiserror::Error)]
#[error("the suggested policy does not parse back into what was built: {0}")]
pub struct NotParsedBack(pub String);

/// The suggestion for `site`, from the owner's `base` policy and the problems seen.
pub fn suggest(
    base: &Policy,
    site: &str,
    observations: &[Observation],
    rules: Rules,
) -> Result<Suggestion, NotParsedBack> {
    let mut policy = base.clone();
    let mut added = Vec::new();
    let mut left_out = Vec::new();
    let mut sorted: Vec<&Observation> = observations.iter().collect();
    // The best evidence first: what fits under the ceiling is what most visitors saw.
    sorted.sort_by(|a, b| {
        b.visitors
            .cmp(&a.visitors)
            .then(b.reports.cmp(&a.reports))
            .then(a.fingerprint.cmp(&b.fingerprint))
    });
    for o in sorted {
        let leave = |reason, advice| LeftOut::of(o, reason, advice);
        let (directive, source) = match source_for(o, site, rules) {
            Err((reason, advice)) => {
                left_out.push(leave(reason, advice));
                continue;
            }
            Ok(found) => found,
        };
        let before = policy.clone();
        match edit(&mut policy, directive, &source) {
            Edit::Added { .. } if policy.to_string().len() > MAX_POLICY_BYTES => {
                policy = before;
                left_out.push(leave(
                    Reason::TooLarge,
                    format!(
                        "{source} would take the policy over {MAX_POLICY_BYTES} bytes: allow it by hand if it is yours (hundreds of hosts are rarely real; they are what a flood of forged reports looks like)"
                    ),
                ));
            }
            Edit::Added { seeded_from } => added.push(Added {
                directive: target_name(&policy, directive.name()),
                source: source.to_string(),
                reports: o.reports,
                browsers: o.browsers,
                visitors: o.visitors,
                seeded_from,
            }),
            Edit::AlreadyThere => {}
            Edit::NotRestricted => left_out.push(leave(
                Reason::NotRestricted,
                format!(
                    "the policy does not restrict {}: nothing to add (was the report from another policy?)",
                    directive.name()
                ),
            )),
        }
    }
    policy.check_parses_back().map_err(NotParsedBack)?;
    Ok(Suggestion {
        base: base.clone(),
        policy,
        added,
        left_out,
    })
}

/// The difference between two policies, one line per directive: `  ` unchanged, `- `/`+ `
/// changed or new.
pub fn diff(before: &Policy, after: &Policy) -> String {
    let mut out = String::new();
    for d in &before.directives {
        match after.get(&d.name) {
            Some(a) if a == d => out.push_str(&format!("  {d}\n")),
            Some(a) => out.push_str(&format!("- {d}\n+ {a}\n")),
            None => out.push_str(&format!("- {d}\n")),
        }
    }
    for a in &after.directives {
        if before.get(&a.name).is_none() {
            out.push_str(&format!("+ {a}\n"));
        }
    }
    out
}
