//! A CSP report judged against the policy it carries: does that policy really block what the
//! report names? Browsers extensions, rewriting proxies and pages with two policies (a header
//! and a `<meta>`) send reports their own policy allows; those must not fold into real problems.
//!
//! The evaluation is Servo's CSP implementation (`content-security-policy`), with the policy
//! enforced even when the report was report-only (a report-only policy blocks nothing, so
//! everything would read as allowed). A report is `indeterminate` when the answer needs what
//! it does not carry: nonces, hashes and `'strict-dynamic'` (the element's attributes and how
//! it was inserted), a path-restricted source when the blocked URL was cut to its origin,
//! navigation and document directives, or a policy that does not parse.

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex, OnceLock};

use content_security_policy::{
    CheckResult, CspList, Destination, Element, Initiator, InlineCheckType, ParserMetadata,
    PolicyDisposition, PolicySource, Request, Url,
};
use serde::{Deserialize, Serialize};

use super::body::Body;

/// What a CSP report's own policy says of what it reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Classification {
    /// The policy blocks what was reported: the normal case.
    Violation,
    /// The policy allows what was reported: the report did not come from this policy alone
    /// (an extension, a proxy rewriting the page, a second policy).
    AllowedByPolicy,
    /// The report does not carry what the answer depends on.
    Indeterminate,
}

impl Classification {
    /// Every classification, in the order the dashboard offers them.
    pub const ALL: [Classification; 3] = [
        Classification::Violation,
        Classification::AllowedByPolicy,
        Classification::Indeterminate,
    ];

    /// The name used in JSON, groups and `--class`.
    pub fn as_str(self) -> &'static str {
        match self {
            Classification::Violation => "violation",
            Classification::AllowedByPolicy => "allowed-by-policy",
            Classification::Indeterminate => "indeterminate",
        }
    }

    /// Parses a name of [`Classification::as_str`].
    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// The classification of a `csp-violation` body, or `None` when it carries no policy.
/// `url` is the report's URL, the document when the body names none.
pub fn classify(body: &Body, url: &str) -> Option<Classification> {
    let policy = body.str_of("originalPolicy")?.trim();
    if policy.is_empty() {
        return None;
    }
    let directive = body
        .str_of("effectiveDirective")
        .unwrap_or_default()
        .to_ascii_lowercase();
    let blocked = body.str_of("blockedURL").unwrap_or_default();
    let document = body.str_of("documentURL").unwrap_or(url);
    let key = memo_key(policy, &directive, blocked, document);
    if let Some(&known) = memo().lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
        return Some(known);
    }
    let (list, valid) = &*parsed(policy);
    // The evaluation is a dependency's code run on a sender's input: should it panic, the
    // report is indeterminate and the batch goes on.
    let class = if *valid {
        catch_unwind(AssertUnwindSafe(|| {
            judge(list, &directive, blocked, document)
        }))
        .unwrap_or(Classification::Indeterminate)
    } else {
        Classification::Indeterminate
    };
    let mut memo = memo().lock().unwrap_or_else(|p| p.into_inner());
    if memo.len() >= MAX_MEMO {
        memo.clear();
    }
    memo.insert(key, class);
    Some(class)
}

/// Verdicts kept: the same problem is reported again and again, and judging one costs 5 to
/// 50 µs (the policy's source lists matched by the dependency), against a lookup's 0.1 µs.
const MAX_MEMO: usize = 4096;

type Memo = Mutex<HashMap<u64, Classification>>;

fn memo() -> &'static Memo {
    static MEMO: OnceLock<Memo> = OnceLock::new();
    MEMO.get_or_init(Default::default)
}

/// What a verdict depends on, hashed with this process's random seed (a sender cannot aim
/// at a collision it cannot compute).
fn memo_key(policy: &str, directive: &str, blocked: &str, document: &str) -> u64 {
    use std::hash::BuildHasher;
    static SEED: OnceLock<foldhash::fast::RandomState> = OnceLock::new();
    SEED.get_or_init(Default::default)
        .hash_one((policy, directive, blocked, document))
}

/// Distinct policy texts kept parsed; past this the cache starts again (a site has a handful
/// of policies; a sender making up new ones only costs a parse each).
const MAX_CACHED_POLICIES: usize = 256;

/// A policy parsed and enforced, and whether it is valid.
type Parsed = Arc<(CspList, bool)>;

/// The policy text parsed, from a bounded cache.
fn parsed(policy: &str) -> Parsed {
    static CACHE: OnceLock<Mutex<HashMap<String, Parsed>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(list) = cache.lock().unwrap_or_else(|p| p.into_inner()).get(policy) {
        return list.clone();
    }
    let list = CspList::parse(policy, PolicySource::Header, PolicyDisposition::Enforce);
    let valid = !list.0.is_empty() && list.is_valid();
    let list = Arc::new((list, valid));
    let mut cache = cache.lock().unwrap_or_else(|p| p.into_inner());
    if cache.len() >= MAX_CACHED_POLICIES {
        cache.clear();
    }
    cache.insert(policy.to_owned(), list.clone());
    list
}

/// The directives that govern `effective`, in the order CSP falls back through them.
fn fallbacks(effective: &str) -> &'static [&'static str] {
    match effective {
        "script-src-elem" => &["script-src-elem", "script-src", "default-src"],
        "script-src-attr" => &["script-src-attr", "script-src", "default-src"],
        "style-src-elem" => &["style-src-elem", "style-src", "default-src"],
        "style-src-attr" => &["style-src-attr", "style-src", "default-src"],
        "worker-src" => &["worker-src", "child-src", "script-src", "default-src"],
        "frame-src" => &["frame-src", "child-src", "default-src"],
        "img-src" => &["img-src", "default-src"],
        "font-src" => &["font-src", "default-src"],
        "media-src" => &["media-src", "default-src"],
        "object-src" => &["object-src", "default-src"],
        "manifest-src" => &["manifest-src", "default-src"],
        "connect-src" => &["connect-src", "default-src"],
        _ => &[],
    }
}

/// Whether the source lists governing `effective` hold a nonce, a hash or `'strict-dynamic'`:
/// then an inline element's fate depends on attributes the report does not carry.
fn depends_on_element(list: &CspList, effective: &str) -> bool {
    list.0.iter().any(|policy| {
        fallbacks(effective)
            .iter()
            .find_map(|name| policy.directive_set.iter().find(|d| d.name == *name))
            .is_some_and(|d| {
                d.value.iter().any(|s| {
                    let s = s.to_ascii_lowercase();
                    s.starts_with("'nonce-")
                        || s.starts_with("'sha256-")
                        || s.starts_with("'sha384-")
                        || s.starts_with("'sha512-")
                        || s == "'strict-dynamic'"
                })
            })
    })
}

fn judge(list: &CspList, directive: &str, blocked: &str, document: &str) -> Classification {
    use Classification::*;
    let Ok(doc) = Url::parse(document) else {
        return Indeterminate;
    };
    // Older browsers name the directive that matched, not the effective one.
    let directive = match directive {
        "script-src" => "script-src-elem",
        "style-src" => "style-src-elem",
        d => d,
    };
    let verdict = |r: CheckResult| match r {
        CheckResult::Blocked => Violation,
        CheckResult::Allowed => AllowedByPolicy,
    };
    match blocked {
        "inline" => {
            let kind = match directive {
                "script-src-elem" => InlineCheckType::Script,
                "script-src-attr" => InlineCheckType::ScriptAttribute,
                "style-src-elem" => InlineCheckType::Style,
                "style-src-attr" => InlineCheckType::StyleAttribute,
                _ => return Indeterminate,
            };
            if depends_on_element(list, directive) {
                return Indeterminate;
            }
            // No source text: a 40-character sample cannot match a hash, and there is none.
            verdict(
                list.should_elements_inline_type_behavior_be_blocked(
                    &Element { nonce: None },
                    kind,
                    "",
                )
                .0,
            )
        }
        "eval" => verdict(list.is_js_evaluation_allowed("").0),
        "wasm-eval" => verdict(list.is_wasm_evaluation_allowed().0),
        _ => judge_fetch(list, directive, blocked, &doc),
    }
}

fn judge_fetch(list: &CspList, directive: &str, blocked: &str, doc: &Url) -> Classification {
    use Classification::*;
    let destination = match directive {
        "script-src-elem" => Destination::Script,
        "style-src-elem" => Destination::Style,
        "img-src" => Destination::Image,
        "font-src" => Destination::Font,
        "media-src" => Destination::Video,
        "object-src" => Destination::Object,
        "frame-src" => Destination::IFrame,
        "worker-src" => Destination::Worker,
        "manifest-src" => Destination::Manifest,
        "connect-src" => Destination::None,
        // Navigation and document directives (base-uri, form-action, frame-ancestors, ...),
        // child-src and default-src as effective directives (which fetch is unknown).
        _ => return Indeterminate,
    };
    let origin = doc.origin();
    let url = match blocked {
        "data" => Url::parse("data:,"),
        "blob" => Url::parse(&format!("blob:{}/", origin.ascii_serialization())),
        b if b.contains(':') => Url::parse(b),
        // A bare word (`self`, `about`, a future keyword) is no URL to judge.
        b if !b.contains('/') => return Indeterminate,
        b => doc.join(b),
    };
    let Ok(url) = url else {
        return Indeterminate;
    };
    let check = |parser_metadata, redirect_count| {
        let request = Request {
            url: url.clone(),
            current_url: url.clone(),
            origin: origin.clone(),
            redirect_count,
            destination,
            initiator: Initiator::None,
            nonce: String::new(),
            integrity_metadata: String::new(),
            parser_metadata,
        };
        list.should_request_be_blocked(&request).0
    };
    let inserted = check(ParserMetadata::ParserInserted, 0);
    // 'strict-dynamic' decides by how the script was inserted, which a report does not say.
    if inserted != check(ParserMetadata::NotParserInserted, 0) {
        return Indeterminate;
    }
    // A URL cut to its origin (cross-origin redirects) may have matched a path-restricted
    // source: CSP ignores paths after a redirect, so differing answers mean "cannot say".
    if matches!(url.path(), "" | "/")
        && url.query().is_none()
        && inserted != check(ParserMetadata::ParserInserted, 1)
    {
        return Indeterminate;
    }
    match inserted {
        CheckResult::Blocked => Violation,
        CheckResult::Allowed => AllowedByPolicy,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Classification::*;
    use serde_json::json;

    fn class(policy: &str, directive: &str, blocked: &str) -> Option<Classification> {
        let body = Body::from(json!({
            "originalPolicy": policy,
            "effectiveDirective": directive,
            "blockedURL": blocked,
            "documentURL": "https://example.com/page",
        }));
        classify(&body, "https://example.com/page")
    }

    #[test]
    fn a_real_block_is_a_violation() {
        assert_eq!(
            class(
                "script-src 'self'",
                "script-src-elem",
                "https://evil.example/x.js"
            ),
            Some(Violation)
        );
        assert_eq!(
            class("default-src 'none'", "img-src", "data"),
            Some(Violation)
        );
        assert_eq!(
            class("script-src 'self'", "script-src-elem", "inline"),
            Some(Violation)
        );
        assert_eq!(
            class("script-src 'self'", "script-src", "eval"),
            Some(Violation)
        );
        assert_eq!(
            class("default-src 'self'", "worker-src", "blob"),
            Some(Violation)
        );
        assert_eq!(
            class(
                "default-src 'self'; report-uri /r",
                "connect-src",
                "https://api.other.example/v1"
            ),
            Some(Violation)
        );
    }

    #[test]
    fn what_the_policy_allows_is_allowed_by_policy() {
        // getsentry/sentry#31507: the blocked URL is in the very policy that reports it.
        assert_eq!(
            class(
                "script-src 'self' https://www.googletagmanager.com",
                "script-src-elem",
                "https://www.googletagmanager.com/gtag/js?id=G-1"
            ),
            Some(AllowedByPolicy)
        );
        // getsentry/sentry#39743: an allowed image host, and 'self'.
        assert_eq!(
            class(
                "img-src 'self' https://*.example.net",
                "img-src",
                "https://cdn.example.net/a.png"
            ),
            Some(AllowedByPolicy)
        );
        assert_eq!(
            class(
                "default-src 'self'",
                "script-src-elem",
                "https://example.com/app.js"
            ),
            Some(AllowedByPolicy)
        );
        assert_eq!(
            class("img-src data:", "img-src", "data"),
            Some(AllowedByPolicy)
        );
        assert_eq!(
            class(
                "script-src 'self' 'unsafe-inline'",
                "script-src-elem",
                "inline"
            ),
            Some(AllowedByPolicy)
        );
        assert_eq!(
            class("script-src 'self' 'unsafe-eval'", "script-src", "eval"),
            Some(AllowedByPolicy)
        );
    }

    #[test]
    fn what_a_report_does_not_carry_is_indeterminate() {
        let strict = "script-src 'nonce-r4nd0m' 'strict-dynamic' https: 'unsafe-inline'; object-src 'none'; base-uri 'none'";
        assert_eq!(
            class(strict, "script-src-elem", "https://cdn.example/x.js"),
            Some(Indeterminate)
        );
        assert_eq!(
            class(strict, "script-src-elem", "inline"),
            Some(Indeterminate)
        );
        assert_eq!(
            class("script-src 'sha256-abc='", "script-src-elem", "inline"),
            Some(Indeterminate)
        );
        // The blocked URL cut to its origin; the policy allows one path of it.
        assert_eq!(
            class(
                "img-src https://cdn.example/img/",
                "img-src",
                "https://cdn.example"
            ),
            Some(Indeterminate)
        );
        assert_eq!(
            class(
                "img-src https://cdn.example/img/",
                "img-src",
                "https://cdn.example/other/a.png"
            ),
            Some(Violation)
        );
        assert_eq!(
            class("form-action 'self'", "form-action", "https://x.example/"),
            Some(Indeterminate)
        );
        assert_eq!(
            class("img-src ☃", "img-src", "https://x.example/"),
            Some(Indeterminate)
        );
        assert_eq!(
            class("script-src 'self'", "script-src-elem", "self"),
            Some(Indeterminate)
        );
    }

    #[test]
    fn no_policy_no_classification() {
        assert_eq!(class("", "script-src-elem", "inline"), None);
        let body = Body::from(json!({"blockedURL": "inline"}));
        assert_eq!(classify(&body, "https://example.com/"), None);
    }

    #[test]
    fn a_non_ascii_sample_never_panics() {
        // The crate cuts samples by bytes; Lookout never hands it one.
        let body = Body::from(json!({
            "originalPolicy": "script-src 'self' 'report-sample'",
            "effectiveDirective": "script-src-elem",
            "blockedURL": "inline",
            "sample": "ééééééééééééééééééééééééééééééééééééééééééé",
            "documentURL": "https://example.com/",
        }));
        assert_eq!(classify(&body, "https://example.com/"), Some(Violation));
    }
}
