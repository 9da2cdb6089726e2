//! Which problems become sources (rules 1 to 5 of [`super`]): the evidence a problem must
//! show, its document and its directive, then what its blocked value becomes, one function per
//! kind of value (inline code, `eval`, Trusted Types, a scheme or an origin).

use sha2::{Digest, Sha256};

use super::left_out::Reason;
use super::{Observation, Rules};
use crate::policy::source::{FetchDirective, HostSource, Refused, Source};
use crate::report::site::is_same_or_subdomain;
use crate::report::{Classification, SAMPLE_PREFIX_CHARS};

/// Why a problem is left out: the reason, and what it means for the owner.
pub(super) type Why = (Reason, String);

/// The source that would allow what `o` reports and the directive it is for, or why there is
/// none to add.
pub(super) fn source_for(
    o: &Observation,
    site: &str,
    rules: Rules,
) -> Result<(FetchDirective, Source), Why> {
    judged_blocked(o)?;
    seen_enough(o, rules)?;
    let document = document_origin(o, site)?;
    let directive = FetchDirective::parse(&o.directive).ok_or_else(|| {
        (
            Reason::NotAFetchDirective,
            format!(
                "{} is not a fetch directive: reports never change navigation, document or reporting directives; only you do",
                o.directive
            ),
        )
    })?;
    let source = match o.blocked.as_str() {
        "'unsafe-inline'" => inline_code(o, rules)?,
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
        b => scheme_or_origin(b, directive, &document)?,
    };
    Ok((directive, source))
}

/// Rule 1: only what the report's own policy blocks; a source would change nothing else.
fn judged_blocked(o: &Observation) -> Result<(), Why> {
    match o.classification {
        Some(Classification::AllowedByPolicy) => Err((
            Reason::AllowedByPolicy,
            "the report's own policy allows this: it came from an extension, a proxy or a second policy (a <meta> beside the header), not from this policy".into(),
        )),
        Some(Classification::Indeterminate) => Err((
            Reason::Indeterminate,
            "whether the policy blocks this depends on what the report does not carry (a nonce, a hash, 'strict-dynamic', a URL cut to its origin): check it by hand".into(),
        )),
        _ => Ok(()),
    }
}

/// Rule 2: enough reports, visitors and browsers, in that order.
fn seen_enough(o: &Observation, rules: Rules) -> Result<(), Why> {
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
    Ok(())
}

/// Rule 3: the origin of the reporting document, which must be the site or one of its
/// subdomains.
fn document_origin(o: &Observation, site: &str) -> Result<HostSource, Why> {
    HostSource::parse(origin_of(&o.document))
        .ok()
        .filter(|d| is_same_or_subdomain(d.host(), site))
        .ok_or_else(|| {
            (
                Reason::ForeignDocument,
                format!(
                    "reported from {}, a page outside {site} (a copy, a proxy or a test page)",
                    o.document
                ),
            )
        })
}

/// Blocked inline code (`'unsafe-inline'`): the hash of its sample when the owner asks for it
/// and the sample is the whole code of an element (never of an attribute), else why not.
fn inline_code(o: &Observation, rules: Rules) -> Result<Source, Why> {
    let attr = o.directive.ends_with("-attr");
    let whole = o.sample.as_deref().filter(|s| is_whole(s));
    match whole {
        Some(code) if rules.hash_samples && !attr => Ok(Source::Hash(hash_source(code))),
        Some(_) if attr => Err((
            Reason::InlineAttribute,
            "an inline attribute (onclick=, style=): move it into a script or stylesheet".into(),
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
                        " without a sample (add 'report-sample' to the policy to see it)".into(),
                }
            ),
        )),
    }
}

/// A blocked scheme (`data:`) or origin, as a source for `directive` on a page of `document`.
fn scheme_or_origin(
    blocked: &str,
    directive: FetchDirective,
    document: &HostSource,
) -> Result<Source, Why> {
    Source::for_blocked(blocked, directive, document).map_err(|e| match e {
        Refused::SchemeRunsCode { .. } => (Reason::SchemeRunsCode, e.to_string()),
        _ => (Reason::NotASource, format!("not a source to allow: {e}")),
    })
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

/// `https://e.com:8443` of `https://e.com:8443/path`. Not `weburl::WebUrl`, which reads past
/// user-info and a query: a document URL with either is left out here, as it always was.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_is_csp_s_sha256_of_the_code() {
        // The value browsers compute for <script>alert(1)</script> (a well-known example).
        assert_eq!(
            hash_source("alert(1)"),
            "'sha256-bhHHL3z2vDgxUt0W3dWQOrprscmda2Y5pLsLg4GF+pI='"
        );
    }
}
