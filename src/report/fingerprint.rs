//! Grouping keys: reports with the same key are the same problem.
//!
//! - CSP: effective directive + blocked origin (or the `'unsafe-inline'` / `'unsafe-eval'`
//!   keyword, or the scheme for `data:`/`blob:`) + document origin and path.
//! - Certificate reports: type + host name.
//! - NEL: error type + phase + host of the failing request.
//! - Others: type + the field naming the problem (deprecation id, feature id, ...).

use std::fmt::Write as _;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::fields::str_of;
use super::model::ReportType;

/// The readable grouping key of a report.
pub fn group_key(t: &ReportType, url: &str, body: &Map<String, Value>) -> String {
    let get = |k: &str| str_of(body, k).unwrap_or("");
    let parts: Vec<String> = match t {
        ReportType::CspViolation => vec![
            get("effectiveDirective").to_owned(),
            blocked_source(get("blockedURL")),
            origin_and_path(if get("documentURL").is_empty() {
                url
            } else {
                get("documentURL")
            }),
        ],
        ReportType::CspHash => vec![
            get("destination").to_owned(),
            origin_and_path(get("subresourceURL")),
        ],
        ReportType::Hpkp | ReportType::ExpectCt | ReportType::ExpectStaple => {
            vec![get("hostname").to_ascii_lowercase()]
        }
        ReportType::NetworkError => vec![
            get("type").to_owned(),
            get("phase").to_owned(),
            super::site::host_of(url).unwrap_or_default(),
        ],
        ReportType::Deprecation | ReportType::Intervention => vec![get("id").to_owned()],
        ReportType::PermissionsPolicyViolation
        | ReportType::PotentialPermissionsPolicyViolation
        | ReportType::DocumentPolicyViolation => vec![get("featureId").to_owned()],
        ReportType::Crash => vec![
            body.get("reason")
                .and_then(Value::as_str)
                .unwrap_or("unknown")
                .to_owned(),
            origin_and_path(url),
        ],
        ReportType::Coep => vec![
            get("type").to_owned(),
            get("destination").to_owned(),
            blocked_source(get("blockedURL")),
        ],
        ReportType::Coop => vec![
            get("type").to_owned(),
            get("effectivePolicy").to_owned(),
            get("property").to_owned(),
            origin_and_path(url),
        ],
        ReportType::IntegrityViolation => vec![
            get("destination").to_owned(),
            origin_and_path(get("blockedURL")),
        ],
        ReportType::Other(_) => vec![origin_and_path(url)],
    };
    let mut key = t.as_str().to_owned();
    for p in parts {
        key.push(' ');
        key.push_str(if p.is_empty() { "-" } else { &p });
    }
    key
}

/// The fingerprint of a grouping key: 16 hex digits of its SHA-256.
pub fn fingerprint(group: &str) -> String {
    hex(&Sha256::digest(group.as_bytes()), 8)
}

/// The first `bytes` bytes of a digest in hex.
pub(crate) fn hex(digest: &[u8], bytes: usize) -> String {
    let mut s = String::with_capacity(bytes * 2);
    for b in &digest[..bytes] {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// What a blocked URL stands for in a group: its origin, or the CSP keyword for inline and
/// eval violations, or its scheme (`data:`).
fn blocked_source(blocked: &str) -> String {
    match blocked {
        "" | "inline" | "self" => "'unsafe-inline'".to_owned(),
        "eval" => "'unsafe-eval'".to_owned(),
        "wasm-eval" => "'wasm-unsafe-eval'".to_owned(),
        b if b.starts_with("trusted-types-") => b.to_owned(),
        b => match url::Url::parse(b) {
            Ok(u) if u.has_host() => u.origin().ascii_serialization(),
            Ok(u) => format!("{}:", u.scheme()),
            // Scheme-only values: `data`, `blob`, `filesystem`.
            Err(_) => format!("{}:", b.trim_end_matches(':')),
        },
    }
}

/// `https://example.com/path` without query or fragment; the value itself if it is no URL.
fn origin_and_path(u: &str) -> String {
    match url::Url::parse(u) {
        Ok(parsed) if parsed.has_host() => {
            format!("{}{}", parsed.origin().ascii_serialization(), parsed.path())
        }
        _ => u.split(['?', '#']).next().unwrap_or_default().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key(t: ReportType, url: &str, body: Value) -> String {
        group_key(&t, url, body.as_object().unwrap())
    }

    #[test]
    fn csp_groups_by_directive_blocked_origin_and_document() {
        let k = key(
            ReportType::CspViolation,
            "",
            json!({"effectiveDirective": "img-src", "blockedURL": "https://cdn.example.net/a/b.png?x=1",
                   "documentURL": "https://example.com/page?id=7"}),
        );
        assert_eq!(
            k,
            "csp-violation img-src https://cdn.example.net https://example.com/page"
        );
        let inline = key(
            ReportType::CspViolation,
            "https://example.com/",
            json!({"effectiveDirective": "script-src-elem", "blockedURL": "inline"}),
        );
        assert_eq!(
            inline,
            "csp-violation script-src-elem 'unsafe-inline' https://example.com/"
        );
        let data = key(
            ReportType::CspViolation,
            "https://e.com/",
            json!({"effectiveDirective": "font-src", "blockedURL": "data"}),
        );
        assert_eq!(data, "csp-violation font-src data: https://e.com/");
        let eval = key(
            ReportType::CspViolation,
            "https://e.com/",
            json!({"effectiveDirective": "script-src", "blockedURL": "eval"}),
        );
        assert!(eval.contains("'unsafe-eval'"));
    }

    #[test]
    fn other_types() {
        assert_eq!(
            key(ReportType::Hpkp, "", json!({"hostname": "WWW.Example.com"})),
            "hpkp www.example.com"
        );
        assert_eq!(
            key(
                ReportType::NetworkError,
                "https://api.example.com/x?y",
                json!({"type": "tcp.refused", "phase": "connection"})
            ),
            "network-error tcp.refused connection api.example.com"
        );
        assert_eq!(
            key(
                ReportType::Deprecation,
                "https://e.com/",
                json!({"id": "websql"})
            ),
            "deprecation websql"
        );
        assert_eq!(
            key(
                ReportType::Other("x-new".into()),
                "https://e.com/p?q",
                json!({})
            ),
            "x-new https://e.com/p"
        );
    }

    #[test]
    fn fingerprints_are_stable_hex() {
        let f = fingerprint("deprecation websql");
        assert_eq!(f.len(), 16);
        assert_eq!(f, fingerprint("deprecation websql"));
        assert_ne!(f, fingerprint("deprecation other"));
    }
}
