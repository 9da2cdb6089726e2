//! The policy the reports ask for: each CSP problem seen often enough becomes a source in the
//! directive a person would edit, and everything left out says why.
//!
//! Rules, in order, for each problem (a group of identical reports):
//! 1. Reports their own policy allows (`allowed-by-policy`) or cannot be judged
//!    (`indeterminate`) are left out: adding a source would not change what the browser does.
//! 2. Too few reports or browsers: left out (thresholds).
//! 3. A document outside the site (a copy, a proxy, a test page): left out.
//! 4. What is blocked becomes a source: the blocked origin (`'self'` when it is the document's),
//!    a scheme (`data:`, `blob:`), `'wasm-unsafe-eval'`; inline code becomes the hash of its
//!    sample when the sample is the whole code (shorter than the 40 characters browsers send).
//!    `'unsafe-inline'` and `'unsafe-eval'` are never added: they are left out with what they
//!    would allow, for a person to decide.
//! 5. The directive to edit is the effective one if the policy has it, else its parent
//!    (`script-src` for `script-src-elem`), else a new one seeded with the sources of the
//!    directive that governed it until now (`default-src`), so nothing allowed before is lost.

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::directives::{Directive, Policy};
use crate::report::{Classification, SAMPLE_PREFIX_CHARS};

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
}

/// How much a problem must have been seen to shape the policy.
#[derive(Debug, Clone, Copy)]
pub struct Thresholds {
    pub min_reports: u64,
    pub min_browsers: usize,
}

/// A source the suggestion adds.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Added {
    pub directive: String,
    pub source: String,
    pub reports: u64,
    pub browsers: usize,
    /// Where a new directive's first sources came from (`default-src`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seeded_from: Option<String>,
}

/// A problem the suggestion does not act on, and why.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct LeftOut {
    pub fingerprint: String,
    pub directive: String,
    pub blocked: String,
    pub document: String,
    pub reports: u64,
    /// A short code (`too_few_reports`, `unsafe_inline`, ...).
    pub reason: &'static str,
    /// What it means and what to do.
    pub advice: String,
}

/// The suggested policy, what changed and what was left out.
#[derive(Debug, Clone)]
pub struct Suggestion {
    pub base: Policy,
    pub policy: Policy,
    pub added: Vec<Added>,
    pub left_out: Vec<LeftOut>,
}

/// The suggestion for `site`, from `base` and the problems seen.
pub fn suggest(
    base: &Policy,
    site: &str,
    observations: &[Observation],
    t: Thresholds,
) -> Suggestion {
    let mut policy = base.clone();
    let mut added = Vec::new();
    let mut left_out = Vec::new();
    let mut sorted: Vec<&Observation> = observations.iter().collect();
    sorted.sort_by(|a, b| {
        b.reports
            .cmp(&a.reports)
            .then(a.fingerprint.cmp(&b.fingerprint))
    });
    for o in sorted {
        let leave = |reason, advice: String| LeftOut {
            fingerprint: o.fingerprint.clone(),
            directive: o.directive.clone(),
            blocked: o.blocked.clone(),
            document: o.document.clone(),
            reports: o.reports,
            reason,
            advice,
        };
        match source_for(o, site, t) {
            Err((reason, advice)) => left_out.push(leave(reason, advice)),
            Ok(source) => match edit(&mut policy, &o.directive, &source) {
                Edit::Added { seeded_from } => added.push(Added {
                    directive: target_name(&policy, &o.directive),
                    source,
                    reports: o.reports,
                    browsers: o.browsers,
                    seeded_from,
                }),
                Edit::AlreadyThere => {}
                Edit::NotRestricted => left_out.push(leave(
                    "not_restricted",
                    format!(
                        "the policy does not restrict {}: nothing to add (was the report from another policy?)",
                        o.directive
                    ),
                )),
            },
        }
    }
    Suggestion {
        base: base.clone(),
        policy,
        added,
        left_out,
    }
}

/// The source that would allow what `o` reports, or why there is none to add.
fn source_for(
    o: &Observation,
    site: &str,
    t: Thresholds,
) -> Result<String, (&'static str, String)> {
    match o.classification {
        Some(Classification::AllowedByPolicy) => {
            return Err((
                "allowed_by_policy",
                "the report's own policy allows this: it came from an extension, a proxy or a second policy (a <meta> beside the header), not from this policy".into(),
            ));
        }
        Some(Classification::Indeterminate) => {
            return Err((
                "indeterminate",
                "whether the policy blocks this depends on what the report does not carry (a nonce, a hash, 'strict-dynamic', a URL cut to its origin): check it by hand".into(),
            ));
        }
        _ => {}
    }
    if o.reports < t.min_reports {
        return Err((
            "too_few_reports",
            format!(
                "{} report(s), under --min-reports {}",
                o.reports, t.min_reports
            ),
        ));
    }
    if o.browsers < t.min_browsers {
        return Err((
            "too_few_browsers",
            format!(
                "{} browser(s), under --min-browsers {}",
                o.browsers, t.min_browsers
            ),
        ));
    }
    let document_origin = origin_of(&o.document);
    if !host_of_origin(document_origin)
        .is_some_and(|h| h == site || h.ends_with(&format!(".{site}")))
    {
        return Err((
            "foreign_document",
            format!(
                "reported from {}, a page outside {site} (a copy, a proxy or a test page)",
                o.document
            ),
        ));
    }
    let attr = o.directive.ends_with("-attr");
    match o.blocked.as_str() {
        "'unsafe-inline'" => match o.sample.as_deref().filter(|s| is_whole(s)) {
            Some(code) if !attr => Ok(hash_source(code)),
            Some(code) => Err((
                "inline_attribute",
                format!(
                    "an inline attribute (onclick=, style=): move it into a script or stylesheet, or allow exactly it with 'unsafe-hashes' {}",
                    hash_source(code)
                ),
            )),
            None => Err((
                "unsafe_inline",
                format!(
                    "inline code{}: give it a nonce or a hash, or move it to a file; 'unsafe-inline' would allow any inline code, including an attacker's",
                    match &o.sample {
                        Some(s) => format!(" starting {s:?} (the sample is cut, so its hash is unknown: hash the whole code)"),
                        None => " without a sample (add 'report-sample' to the policy to see it)".into(),
                    }
                ),
            )),
        },
        "'unsafe-eval'" => Err((
            "unsafe_eval",
            "eval() or new Function(): replace it; 'unsafe-eval' would let any string run as code".into(),
        )),
        "'wasm-unsafe-eval'" => Ok("'wasm-unsafe-eval'".into()),
        b if b.starts_with("trusted-types-") => Err((
            "trusted_types",
            "a Trusted Types violation: fix the sink or name a Trusted Types policy; no source allows it".into(),
        )),
        b if b.ends_with(':') && !b.contains('/') => match b {
            "data:" | "blob:" | "mediastream:" | "filesystem:" => Ok(b.to_owned()),
            _ => Err((
                "not_a_source",
                format!("the scheme {b} is not one a page's policy should allow"),
            )),
        },
        b if b.contains("://") => {
            if b.eq_ignore_ascii_case(document_origin) {
                Ok("'self'".into())
            } else {
                Ok(b.to_owned())
            }
        }
        b => Err(("not_a_source", format!("{b} is no source to allow"))),
    }
}

/// Whether a sample is the whole code: browsers send the first 40 characters.
fn is_whole(sample: &str) -> bool {
    sample.chars().count() < SAMPLE_PREFIX_CHARS
}

/// `'sha256-...'` of some inline code.
fn hash_source(code: &str) -> String {
    use base64::Engine as _;
    let digest = Sha256::digest(code.as_bytes());
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

/// `https://e.com:8443` of `https://e.com:8443/path`.
fn origin_of(document: &str) -> &str {
    match document.find("://") {
        Some(i) => {
            let after = &document[i + 3..];
            let end = after.find('/').map_or(document.len(), |j| i + 3 + j);
            &document[..end]
        }
        None => document,
    }
}

fn host_of_origin(origin: &str) -> Option<&str> {
    let host_port = origin.split_once("://")?.1;
    Some(match host_port.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host_port,
    })
}

/// The directive that a source for `effective` goes in, as [`edit`] would choose it.
fn target_name(policy: &Policy, effective: &str) -> String {
    if policy.get(effective).is_some() {
        return effective.to_owned();
    }
    parent(effective).unwrap_or(effective).to_owned()
}

/// `script-src` for `script-src-elem` and `-attr`, `style-src` likewise.
fn parent(effective: &str) -> Option<&'static str> {
    match effective {
        "script-src-elem" | "script-src-attr" => Some("script-src"),
        "style-src-elem" | "style-src-attr" => Some("style-src"),
        _ => None,
    }
}

/// The directives that governed `name` when it is absent, in CSP's fallback order.
fn fallbacks(name: &str) -> &'static [&'static str] {
    match name {
        "script-src" | "style-src" | "img-src" | "font-src" | "media-src" | "object-src"
        | "manifest-src" | "connect-src" | "child-src" => &["default-src"],
        "frame-src" => &["child-src", "default-src"],
        "worker-src" => &["child-src", "script-src", "default-src"],
        _ => &[],
    }
}

/// What adding a source to a policy did.
enum Edit {
    /// Added; to a new directive seeded from this one's sources, if any.
    Added { seeded_from: Option<String> },
    /// The directive already allowed it.
    AlreadyThere,
    /// The policy does not restrict the directive at all: nothing to add to.
    NotRestricted,
}

/// Adds `source` where it allows `effective`.
fn edit(policy: &mut Policy, effective: &str, source: &str) -> Edit {
    let name = target_name(policy, effective);
    if let Some(d) = policy.get_mut(&name) {
        return if d.add(source) {
            Edit::Added { seeded_from: None }
        } else {
            Edit::AlreadyThere
        };
    }
    let Some(from) = fallbacks(&name).iter().find_map(|f| policy.get(f)).cloned() else {
        return Edit::NotRestricted;
    };
    let mut created = Directive {
        name: name.clone(),
        sources: from.sources.clone(),
    };
    created.add(source);
    policy.directives.push(created);
    Edit::Added {
        seeded_from: Some(from.name),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(directive: &str, blocked: &str, reports: u64) -> Observation {
        Observation {
            fingerprint: format!("{directive}{blocked}"),
            directive: directive.into(),
            blocked: blocked.into(),
            document: "https://example.com/page".into(),
            sample: None,
            classification: Some(Classification::Violation),
            reports,
            browsers: 2,
        }
    }

    const ANY: Thresholds = Thresholds {
        min_reports: 1,
        min_browsers: 1,
    };

    #[test]
    fn sources_go_where_a_person_would_put_them() {
        let base = Policy::parse("default-src 'self'; script-src 'self'; report-uri /r");
        let s = suggest(
            &base,
            "example.com",
            &[
                obs("script-src-elem", "https://cdn.example.net", 9),
                obs("img-src", "data:", 5),
                obs("img-src", "https://example.com", 4),
                obs("connect-src", "https://api.example.org", 3),
                obs("worker-src", "blob:", 2),
            ],
            ANY,
        );
        assert_eq!(
            s.policy.to_string(),
            "default-src 'self'; script-src 'self' https://cdn.example.net; report-uri /r; img-src 'self' data:; connect-src 'self' https://api.example.org; worker-src 'self' https://cdn.example.net blob:"
        );
        let img = s.added.iter().find(|a| a.source == "data:").unwrap();
        assert_eq!(img.seeded_from.as_deref(), Some("default-src"));
        assert!(
            s.left_out.is_empty(),
            "the document's own origin is 'self', already there: {:?}",
            s.left_out
        );
        assert_eq!(
            diff(&s.base, &s.policy).lines().next(),
            Some("  default-src 'self'")
        );
    }

    #[test]
    fn inline_code_becomes_a_hash_only_when_the_sample_is_whole() {
        let base = Policy::parse("script-src 'self' 'report-sample'");
        let mut short = obs("script-src-elem", "'unsafe-inline'", 3);
        short.sample = Some("document.title=\"ok\"".into());
        let mut long = obs("script-src-elem", "'unsafe-inline'", 3);
        long.fingerprint = "long".into();
        long.sample = Some("x".repeat(40));
        let s = suggest(&base, "example.com", &[short, long], ANY);
        // echo -n 'document.title="ok"' | openssl dgst -sha256 -binary | base64
        assert!(s.policy.to_string().contains("'sha256-"), "{}", s.policy);
        assert_eq!(s.left_out.len(), 1);
        assert_eq!(s.left_out[0].reason, "unsafe_inline");
        assert!(!s.policy.to_string().contains("'unsafe-inline'"));
    }

    #[test]
    fn what_is_left_out_says_why() {
        let base = Policy::parse("default-src 'self'");
        let mut allowed = obs("img-src", "https://a.example", 10);
        allowed.classification = Some(Classification::AllowedByPolicy);
        let mut foreign = obs("img-src", "https://b.example", 10);
        foreign.document = "https://proxy.example.net/example.com/".into();
        let mut one_browser = obs("img-src", "https://c.example", 10);
        one_browser.browsers = 1;
        let s = suggest(
            &base,
            "example.com",
            &[
                allowed,
                foreign,
                one_browser,
                obs("img-src", "https://d.example", 1),
                obs("script-src-elem", "'unsafe-eval'", 10),
                obs("require-trusted-types-for", "trusted-types-sink", 10),
            ],
            Thresholds {
                min_reports: 2,
                min_browsers: 2,
            },
        );
        let mut reasons: Vec<&str> = s.left_out.iter().map(|l| l.reason).collect();
        reasons.sort();
        assert_eq!(
            reasons,
            [
                "allowed_by_policy",
                "foreign_document",
                "too_few_browsers",
                "too_few_reports",
                "trusted_types",
                "unsafe_eval"
            ]
        );
        assert_eq!(s.policy, base);
    }

    #[test]
    fn the_hash_is_csp_s_sha256_of_the_code() {
        // The value browsers compute for <script>alert(1)</script> (a well-known example).
        assert_eq!(
            hash_source("alert(1)"),
            "'sha256-bhHHL3z2vDgxUt0W3dWQOrprscmda2Y5pLsLg4GF+pI='"
        );
    }
}
