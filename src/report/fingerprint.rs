//! Grouping keys: reports with the same key are the same problem.
//!
//! - CSP: effective directive + blocked origin (or the `'unsafe-inline'` / `'unsafe-eval'`
//!   keyword, or the scheme for `data:`/`blob:`) + document origin and path.
//! - Scripts (`csp-hash`): destination + the script's origin and path + the hash of its bytes
//!   (`report::script`), so that each content of a script is a problem of its own.
//! - Certificate reports: type + host name.
//! - NEL: error type + phase + host of the failing request.
//! - Others: type + the field naming the problem (deprecation id, feature id, ...).
//! - Crashes: reason + document; an unresponsive page's with a JS stack: reason + the stack's
//!   top frames (function and file), on whichever page it hung.
//! - Document-Isolation-Policy and Connection-Allowlist: what was refused (its origin), and
//!   whether it was blocked or only reported.

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::body::Body;
use super::classify::Classification;
use super::model::{Disposition, ReportType};
use super::script::ScriptRef;
use super::stack::{Frame, top_frames};
use super::weburl::{WebUrl, query_start};

/// The readable grouping key of a report; `disposition` is the one decoding took out of its
/// body.
pub(crate) fn group_key(
    t: &ReportType,
    url: &str,
    body: &Body,
    class: Option<Classification>,
    disposition: Option<Disposition>,
) -> String {
    let get = |k: &str| body.str_of(k).unwrap_or("");
    let mut key = Key(String::with_capacity(96));
    key.0.push_str(t.as_str());
    match t {
        ReportType::CspViolation => csp_violation_key(&mut key, url, body, class),
        // The hash is part of the group: each content of a script URL is a problem of its own.
        ReportType::CspHash => {
            for part in ScriptRef::of(body).key_parts() {
                key.text(part);
            }
        }
        ReportType::Hpkp | ReportType::ExpectCt | ReportType::ExpectStaple => {
            key.text(&get("hostname").to_ascii_lowercase());
        }
        ReportType::NetworkError => {
            key.text(get("type"));
            key.text(get("phase"));
            key.text(&WebUrl::parse(url).map_or(String::new(), |u| u.host.to_ascii_lowercase()));
            if get("type") == "http.error" {
                let status = body.get("status_code").map(Value::to_string);
                key.text(status.as_deref().unwrap_or_default());
            }
        }
        ReportType::Deprecation | ReportType::Intervention => key.text(get("id")),
        ReportType::PermissionsPolicyViolation
        | ReportType::PotentialPermissionsPolicyViolation
        | ReportType::DocumentPolicyViolation => key.text(get("featureId")),
        ReportType::Crash => crash_key(&mut key, url, body),
        ReportType::Coep => {
            key.text(get("type"));
            key.text(get("destination"));
            key.part(|k| push_blocked_source(k, get("blockedURL")));
        }
        ReportType::Coop => {
            key.text(get("type"));
            key.text(get("effectivePolicy"));
            key.text(get("property"));
            key.part(|k| push_origin_and_path(k, url));
        }
        ReportType::IntegrityViolation => {
            key.text(get("destination"));
            key.part(|k| push_origin_and_path(k, get("blockedURL")));
            // An integrity manifest's verdict (`missing_from_manifest`, ...) asks for another
            // fix than a missing `integrity` attribute. Integrity-Policy's own reports carry
            // none, and their groups stay as they were.
            if let Some(reason) = body.str_of("reason") {
                key.text(reason);
            }
        }
        ReportType::Dip => {
            key.text(get("type"));
            key.text(get("destination"));
            key.part(|k| push_origin(k, get("blockedURL")));
            key.text(disposition.map_or("", Disposition::as_str));
        }
        ReportType::ConnectionAllowlist => {
            key.part(|k| push_origin(k, get("connection")));
            key.text(disposition.map_or("", Disposition::as_str));
        }
        ReportType::Other(_) => key.part(|k| push_origin_and_path(k, url)),
    }
    key.0
}

/// A CSP violation's key parts: directive, blocked source, document, the sample of inline
/// code, and a classification that makes it a problem of its own.
fn csp_violation_key(key: &mut Key, url: &str, body: &Body, class: Option<Classification>) {
    let get = |k: &str| body.str_of(k).unwrap_or("");
    let document = match get("documentURL") {
        "" => url,
        d => d,
    };
    let blocked = get("blockedURL");
    key.text(get("effectiveDirective"));
    key.part(|k| push_blocked_source(k, blocked));
    key.part(|k| push_origin_and_path(k, document));
    // Inline code and eval are told apart by their sample, when 'report-sample' gave
    // one: one injected snippet must not hide the others.
    if is_code(blocked)
        && let Some(sample) = body.str_of("sample")
    {
        key.text(&format!("sample:{}", sample_prefix(sample)));
    }
    // A report its own policy allows, or cannot be judged, is its own problem; a
    // violation's key is as it was before classification existed.
    if let Some(c @ (Classification::AllowedByPolicy | Classification::Indeterminate)) = class {
        key.text(c.as_str());
    }
}

/// A crash's key parts: its reason, then where a hang spins (the top frames of the stack
/// Chrome sends for it, on whichever page) or else the page.
fn crash_key(key: &mut Key, url: &str, body: &Body) {
    let reason = body
        .get("reason")
        .and_then(Value::as_str)
        .unwrap_or("unknown");
    key.text(reason);
    let frames = match reason {
        "unresponsive" => top_frames(body.str_of("stack").unwrap_or("")),
        _ => Vec::new(),
    };
    if frames.is_empty() {
        key.part(|k| push_origin_and_path(k, url));
    }
    for frame in &frames {
        key.part(|k| push_frame(k, frame));
    }
}

/// The parts of a CSP grouping key, read back: what [`group_key`] wrote for a `csp-violation`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CspGroup<'a> {
    /// The effective directive.
    pub directive: &'a str,
    /// The blocked origin (`https://cdn.example`), scheme (`data:`), or keyword for code
    /// (`'unsafe-inline'`, `'unsafe-eval'`, `'wasm-unsafe-eval'`, `trusted-types-*`).
    pub blocked: &'a str,
    /// The document's origin and path.
    pub document: &'a str,
    /// The sample's first characters, for inline and eval reports that carried one.
    pub sample: Option<&'a str>,
}

/// Reads a `csp-violation` grouping key back into its parts; `classification` and
/// `policy_version` are the group's own (they end the key when set), so a sample holding
/// the same words is never mistaken for them.
pub fn parse_csp_group<'a>(
    group: &'a str,
    classification: Option<Classification>,
    policy_version: Option<&str>,
) -> Option<CspGroup<'a>> {
    let mut rest = group.strip_prefix("csp-violation ")?;
    if let Some(v) = policy_version {
        rest = rest.strip_suffix(v)?.strip_suffix(" v=")?;
    }
    if let Some(c @ (Classification::AllowedByPolicy | Classification::Indeterminate)) =
        classification
    {
        rest = rest.strip_suffix(c.as_str())?.strip_suffix(' ')?;
    }
    let (directive, rest) = rest.split_once(' ')?;
    let (blocked, rest) = rest.split_once(' ').unwrap_or((rest, ""));
    let (document, sample) = match rest.find(" sample:") {
        Some(i) => (&rest[..i], Some(&rest[i + " sample:".len()..])),
        None => (rest, None),
    };
    Some(CspGroup {
        directive,
        blocked,
        document,
        sample,
    })
}

/// Characters of a sample that group inline and eval reports (what browsers send at most).
pub const SAMPLE_PREFIX_CHARS: usize = 40;

/// The first [`SAMPLE_PREFIX_CHARS`] characters of a sample.
pub fn sample_prefix(sample: &str) -> &str {
    match sample.char_indices().nth(SAMPLE_PREFIX_CHARS) {
        Some((end, _)) => &sample[..end],
        None => sample,
    }
}

/// Whether a CSP blocked URL stands for code in the page (inline, eval) rather than a fetch.
pub(crate) fn is_code(blocked: &str) -> bool {
    matches!(blocked, "" | "inline" | "self" | "eval" | "wasm-eval")
}

/// The longest part of a grouping key, in bytes: a group is stored with every report and
/// aggregate, so a sender's 500 KB deprecation `id` must not become a 500 KB key.
pub const MAX_GROUP_PART_BYTES: usize = 256;

/// A grouping key under construction: space-separated parts, `-` for an empty one, each cut
/// to [`MAX_GROUP_PART_BYTES`].
struct Key(String);

impl Key {
    fn part(&mut self, write: impl FnOnce(&mut String)) {
        self.0.push(' ');
        let before = self.0.len();
        write(&mut self.0);
        if self.0.len() == before {
            self.0.push('-');
        }
        if self.0.len() - before > MAX_GROUP_PART_BYTES {
            let mut part = self.0.split_off(before);
            super::privacy::cut(&mut part, MAX_GROUP_PART_BYTES);
            self.0.push_str(&part);
        }
    }

    fn text(&mut self, s: &str) {
        self.part(|k| k.push_str(s));
    }
}

/// The fingerprint of a grouping key: 16 hex digits of its SHA-256.
pub fn fingerprint(group: &str) -> String {
    hex(&Sha256::digest(group.as_bytes()), 8)
}

/// The first `bytes` bytes (at most 32) of a digest in hex.
pub(crate) fn hex(digest: &[u8], bytes: usize) -> String {
    use std::fmt::Write as _;
    let digest = &digest[..bytes.min(32).min(digest.len())];
    let mut out = String::with_capacity(digest.len() * 2);
    for b in digest {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// What a blocked URL stands for in a group: its origin, or the CSP keyword for inline and
/// eval violations, or its scheme (`data:`).
fn push_blocked_source(out: &mut String, blocked: &str) {
    match blocked {
        "" | "inline" | "self" => out.push_str("'unsafe-inline'"),
        "eval" => out.push_str("'unsafe-eval'"),
        "wasm-eval" => out.push_str("'wasm-unsafe-eval'"),
        b if b.starts_with("trusted-types-") => out.push_str(b),
        b => match WebUrl::parse(b) {
            Some(u) => u.push_origin(out),
            // Scheme-only values (`data`, `blob`) and URLs without a host (`data:image/png...`).
            None => {
                let scheme = b.split(':').next().unwrap_or(b);
                out.push_str(&scheme.to_ascii_lowercase());
                out.push(':');
            }
        },
    }
}

/// A URL's origin (`https://cdn.example`); the value itself, without query or fragment, if it
/// is no URL (`webrtc`).
fn push_origin(out: &mut String, u: &str) {
    match WebUrl::parse(u) {
        Some(parsed) => parsed.push_origin(out),
        None => out.push_str(&u[..query_start(u)]),
    }
}

/// The longest function name a frame keeps in a group, in bytes: the file must fit beside it
/// in [`MAX_GROUP_PART_BYTES`].
const MAX_FRAME_FUNCTION_BYTES: usize = 128;

/// A stack frame in a group: `function@file`, the file as its origin and path (query,
/// fragment, line and column cut), white space in either as `_` so that a frame is one
/// word; `@file` for top-level code.
fn push_frame(out: &mut String, frame: &Frame<'_>) {
    let mut end = frame.function.len().min(MAX_FRAME_FUNCTION_BYTES);
    while !frame.function.is_char_boundary(end) {
        end -= 1;
    }
    push_one_word(out, &frame.function[..end]);
    out.push('@');
    let mut file = String::with_capacity(frame.file.len());
    push_origin_and_path(&mut file, frame.file);
    push_one_word(out, &file);
}

/// `s` with each white space character as `_`.
fn push_one_word(out: &mut String, s: &str) {
    out.extend(s.chars().map(|c| if c.is_whitespace() { '_' } else { c }));
}

/// `https://example.com/path` without query or fragment; the value itself if it is no URL.
pub(crate) fn push_origin_and_path(out: &mut String, u: &str) {
    match WebUrl::parse(u) {
        Some(parsed) => {
            parsed.push_origin(out);
            out.push_str(parsed.path);
        }
        None => out.push_str(&u[..query_start(u)]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key(t: ReportType, url: &str, body: Value) -> String {
        group_key(&t, url, &Body::from(body), None, None)
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
    fn inline_and_eval_group_by_their_samples_first_40_characters() {
        let with = |blocked: &str, sample: &str| {
            key(
                ReportType::CspViolation,
                "https://e.com/",
                json!({"effectiveDirective": "script-src-elem", "blockedURL": blocked, "sample": sample}),
            )
        };
        let a = with(
            "inline",
            "window.klTabId_kis = 1; /* and more text past forty */",
        );
        let b = with("inline", "document.write('<b>hi</b>')");
        assert_ne!(a, b, "two snippets, two problems");
        assert!(
            a.ends_with(" sample:window.klTabId_kis = 1; /* and more text"),
            "{a}"
        );
        assert_eq!(
            with("inline", &format!("{}é tail", "x".repeat(39))),
            with("inline", &format!("{}é other tail", "x".repeat(39))),
            "cut at 40 characters, not bytes"
        );
        assert!(with("eval", "eval('1')").contains("sample:eval('1')"));
        assert!(
            !with("https://cdn.example/x.js", "anything").contains("sample:"),
            "a fetch is grouped by its origin alone"
        );
    }

    #[test]
    fn csp_groups_read_back_into_their_parts() {
        let body = json!({"effectiveDirective": "script-src-elem", "blockedURL": "inline",
                          "sample": "x = 'allowed-by-policy v=2'", "documentURL": "https://e.com/p?q"});
        let class = Some(Classification::AllowedByPolicy);
        let mut group = group_key(
            &ReportType::CspViolation,
            "",
            &Body::from(body),
            class,
            None,
        );
        group.push_str(" v=2");
        assert_eq!(
            parse_csp_group(&group, class, Some("2")),
            Some(CspGroup {
                directive: "script-src-elem",
                blocked: "'unsafe-inline'",
                document: "https://e.com/p",
                sample: Some("x = 'allowed-by-policy v=2'"),
            })
        );
        let plain = key(
            ReportType::CspViolation,
            "",
            json!({"effectiveDirective": "img-src", "blockedURL": "https://cdn.example:8443/a.png",
                   "documentURL": "https://e.com/"}),
        );
        let parts = parse_csp_group(&plain, None, None).unwrap();
        assert_eq!(
            (parts.blocked, parts.sample),
            ("https://cdn.example:8443", None)
        );
        assert_eq!(parse_csp_group("deprecation websql", None, None), None);
    }

    #[test]
    fn nel_http_errors_group_by_status_code() {
        let nel = |status: u16| {
            key(
                ReportType::NetworkError,
                "https://api.example.com/x",
                json!({"type": "http.error", "phase": "application", "status_code": status}),
            )
        };
        assert_eq!(
            nel(503),
            "network-error http.error application api.example.com 503"
        );
        assert_ne!(nel(503), nel(404));
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
    fn isolation_and_allowlist_reports_group_by_what_was_refused_and_disposition() {
        let dip = |blocked: &str, d: Disposition| {
            let body = json!({"type": "corp", "blockedURL": blocked, "destination": "script"});
            group_key(
                &ReportType::Dip,
                "https://e.com/p",
                &Body::from(body),
                None,
                Some(d),
            )
        };
        assert_eq!(
            dip("https://cdn.example/a.js?v=1", Disposition::Enforce),
            "dip corp script https://cdn.example enforce"
        );
        assert_eq!(
            dip("https://cdn.example/a.js", Disposition::Enforce),
            dip("https://cdn.example/b.js", Disposition::Enforce),
            "one origin, one fix"
        );
        assert_ne!(
            dip("https://cdn.example/a.js", Disposition::Enforce),
            dip("https://cdn.example/a.js", Disposition::Report)
        );
        let allowlist = |connection: &str| {
            let body = json!({"url": "https://app.example/", "connection": connection,
                              "allowlist": ["https://app.example"]});
            group_key(
                &ReportType::ConnectionAllowlist,
                "https://app.example/",
                &Body::from(body),
                None,
                Some(Disposition::Report),
            )
        };
        assert_eq!(
            allowlist("https://exfil.example/collect"),
            "connection-allowlist https://exfil.example report"
        );
        assert_eq!(allowlist("webrtc"), "connection-allowlist webrtc report");
    }

    #[test]
    fn an_integrity_manifests_reason_is_part_of_the_group() {
        let without = key(
            ReportType::IntegrityViolation,
            "https://shop.example/",
            json!({"blockedURL": "https://cdn.example/w.js?x", "destination": "script"}),
        );
        assert_eq!(
            without,
            "integrity-violation script https://cdn.example/w.js"
        );
        let with = key(
            ReportType::IntegrityViolation,
            "https://shop.example/",
            json!({"blockedURL": "https://cdn.example/w.js", "destination": "script",
                   "reason": "missing_from_manifest"}),
        );
        assert_eq!(
            with,
            "integrity-violation script https://cdn.example/w.js missing_from_manifest"
        );
    }

    #[test]
    fn unresponsive_crashes_group_by_the_top_frames_of_their_stack() {
        let hang = |url: &str, stack: &str| {
            key(
                ReportType::Crash,
                url,
                json!({"reason": "unresponsive", "stack": stack}),
            )
        };
        // As Chrome sends it: each frame after "\n    at ".
        let chrome = "\n    at spin (https://App.example/js/main.js?v=3#x:12:9)\n    at HTMLButtonElement.<anonymous> (https://app.example/js/main.js?v=3:40:5)\n    at https://app.example/js/boot.js:1:1\n    at https://app.example/js/late.js:9:9";
        assert_eq!(
            hang("https://app.example/a?q", chrome),
            "crash unresponsive spin@https://app.example/js/main.js HTMLButtonElement.<anonymous>@https://app.example/js/main.js @https://app.example/js/boot.js"
        );
        assert_eq!(
            hang("https://app.example/a", chrome),
            hang("https://app.example/b", chrome),
            "one hang, on every page"
        );
        let rebuilt = chrome.replace(":12:9", ":13:1").replace("?v=3", "?v=4");
        assert_eq!(
            hang("https://app.example/a", &rebuilt),
            hang("https://app.example/a", chrome),
            "a new build, the same hang"
        );
        let firefox = "spin@https://app.example/js/main.js:12:9\nHTMLButtonElement.<anonymous>@https://app.example/js/main.js:40:5\n@https://app.example/js/boot.js:1:1";
        assert_eq!(
            hang("https://app.example/", firefox),
            hang("https://app.example/", chrome)
        );
        // Without frames, and for other reasons: by reason and document, as before.
        assert_eq!(
            hang(
                "https://app.example/a?q",
                "Website owner has not opted in for JS call stacks in crash reports."
            ),
            "crash unresponsive https://app.example/a"
        );
        assert_eq!(
            key(
                ReportType::Crash,
                "https://app.example/a",
                json!({"reason": "oom", "stack": chrome})
            ),
            "crash oom https://app.example/a"
        );
        assert_eq!(
            key(ReportType::Crash, "https://app.example", json!({})),
            "crash unknown https://app.example/",
            "Firefox's URL is the origin"
        );
    }

    #[test]
    fn a_hostile_stack_makes_a_small_group_of_one_word_frames() {
        let function = "f".repeat(3000);
        let path = "p".repeat(1000);
        let stack = format!(
            "    at {function} (https://a.example/{path}.js:1:1)\n    at g h (https://a.example/y z.js:1:1)\n    at ctl\u{1b}[2J (https://a.example/c.js:1:1)\n{}",
            "    at x (https://a.example/x.js:1:1)\n".repeat(10_000)
        );
        let k = key(
            ReportType::Crash,
            "https://a.example/",
            json!({"reason": "unresponsive", "stack": stack}),
        );
        let parts: Vec<&str> = k.split(' ').collect();
        assert_eq!(parts.len(), 5, "{k}");
        assert!(
            parts[2].starts_with(&format!("{}@https://a.example/ppp", "f".repeat(128))),
            "{k}"
        );
        assert!(parts[2].len() <= MAX_GROUP_PART_BYTES && parts[2].ends_with('…'));
        assert_eq!(parts[3], "g_h@https://a.example/y_z.js");
        assert_eq!(
            parts[4], "x@https://a.example/x.js",
            "a line with a control character is no frame"
        );
    }

    #[test]
    fn fingerprints_are_stable_hex() {
        let f = fingerprint("deprecation websql");
        // The first 8 bytes of SHA-256("deprecation websql"): stored fingerprints stay valid.
        assert_eq!(f, "923a715560d3e5be");
        assert_ne!(f, fingerprint("deprecation other"));
    }
}
