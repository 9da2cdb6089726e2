//! The known body fields of every report type, with the older spellings they replace.

use std::sync::LazyLock;

use super::fields::{Field, Kind, Schema, f, fa};
use super::model::ReportType;

const CSP_VIOLATION: &[Field] = &[
    fa("documentURL", Kind::Url, &["document-uri", "documentUri"]),
    f("referrer", Kind::Url),
    fa(
        "blockedURL",
        Kind::Url,
        &["blocked-uri", "blocked", "blockedUri"],
    ),
    fa(
        "effectiveDirective",
        Kind::Str,
        &["effective-directive", "directive"],
    ),
    fa("violatedDirective", Kind::Str, &["violated-directive"]),
    fa("originalPolicy", Kind::Str, &["original-policy", "policy"]),
    fa("sourceFile", Kind::Url, &["source-file"]),
    fa("sample", Kind::Str, &["script-sample"]),
    f("disposition", Kind::Str),
    fa("statusCode", Kind::Int, &["status-code", "status"]),
    fa("lineNumber", Kind::Int, &["line-number"]),
    fa("columnNumber", Kind::Int, &["column-number"]),
];

const CSP_HASH: &[Field] = &[
    f("documentURL", Kind::Url),
    f("subresourceURL", Kind::Url),
    f("hash", Kind::Str),
    f("type", Kind::Str),
    f("destination", Kind::Str),
];

const NETWORK_ERROR: &[Field] = &[
    f("referrer", Kind::Url),
    fa("sampling_fraction", Kind::Num, &["sampling-fraction"]),
    fa("server_ip", Kind::Str, &["server-ip"]),
    f("protocol", Kind::Str),
    f("method", Kind::Str),
    fa("request_headers", Kind::Any, &["request-headers"]),
    fa("response_headers", Kind::Any, &["response-headers"]),
    fa("status_code", Kind::Int, &["status-code"]),
    fa("elapsed_time", Kind::Int, &["elapsed-time"]),
    f("phase", Kind::Str),
    f("type", Kind::Str),
];

const DEPRECATION: &[Field] = &[
    f("id", Kind::Str),
    f("anticipatedRemoval", Kind::Date),
    f("message", Kind::Str),
    f("sourceFile", Kind::Url),
    f("lineNumber", Kind::Int),
    f("columnNumber", Kind::Int),
];

const INTERVENTION: &[Field] = &[
    f("id", Kind::Str),
    f("message", Kind::Str),
    f("sourceFile", Kind::Url),
    f("lineNumber", Kind::Int),
    f("columnNumber", Kind::Int),
];

const CRASH: &[Field] = &[
    f("reason", Kind::Str),
    f("stack", Kind::Str),
    f("is_top_level", Kind::Bool),
    fa("visibility_state", Kind::Str, &["page_visibility"]),
    f("crash_report_api", Kind::Any),
];

const COEP: &[Field] = &[
    f("type", Kind::Str),
    f("blockedURL", Kind::Url),
    f("destination", Kind::Str),
    f("disposition", Kind::Str),
];

const COOP: &[Field] = &[
    f("disposition", Kind::Str),
    f("effectivePolicy", Kind::Str),
    fa("type", Kind::Str, &["violation"]),
    f("previousResponseURL", Kind::Url),
    f("nextResponseURL", Kind::Url),
    f("referrer", Kind::Url),
    f("property", Kind::Str),
    f("openerURL", Kind::Url),
    f("openeeURL", Kind::Url),
    f("otherDocumentURL", Kind::Url),
    f("initialPopupURL", Kind::Url),
    f("sourceFile", Kind::Url),
    f("lineNumber", Kind::Int),
    f("columnNumber", Kind::Int),
];

const PERMISSIONS_POLICY: &[Field] = &[
    fa("featureId", Kind::Str, &["policyId"]),
    f("sourceFile", Kind::Url),
    f("lineNumber", Kind::Int),
    f("columnNumber", Kind::Int),
    f("disposition", Kind::Str),
    f("message", Kind::Str),
];

const POTENTIAL_PERMISSIONS_POLICY: &[Field] = &[
    fa("featureId", Kind::Str, &["policyId"]),
    f("sourceFile", Kind::Url),
    f("lineNumber", Kind::Int),
    f("columnNumber", Kind::Int),
    f("disposition", Kind::Str),
    f("message", Kind::Str),
    f("allowAttribute", Kind::Str),
    f("srcAttribute", Kind::Url),
];

const DOCUMENT_POLICY: &[Field] = &[
    f("featureId", Kind::Str),
    f("sourceFile", Kind::Url),
    f("lineNumber", Kind::Int),
    f("columnNumber", Kind::Int),
    f("disposition", Kind::Str),
    f("message", Kind::Str),
];

/// Integrity-Policy; `reason` comes with Firefox's integrity manifests (WAICT:
/// `manifest_unavailable`, `invalid_manifest`, `missing_from_manifest`, `no_manifest_match`).
const INTEGRITY: &[Field] = &[
    f("documentURL", Kind::Url),
    f("blockedURL", Kind::Url),
    f("destination", Kind::Str),
    f("reportOnly", Kind::Bool),
    f("reason", Kind::Str),
];

/// Document-Isolation-Policy: Chromium's `corp` body, as COEP's.
const DIP: &[Field] = &[
    f("type", Kind::Str),
    f("blockedURL", Kind::Url),
    f("destination", Kind::Str),
    f("disposition", Kind::Str),
];

/// Connection-Allowlist: `connection` is the refused URL (stripped by the browser) or
/// `webrtc`; `url` the document.
const CONNECTION_ALLOWLIST: &[Field] = &[
    f("url", Kind::Url),
    f("connection", Kind::Url),
    f("allowlist", Kind::Any),
    f("disposition", Kind::Str),
];

const HPKP: &[Field] = &[
    f("date-time", Kind::Str),
    f("hostname", Kind::Str),
    f("port", Kind::Int),
    f("effective-expiration-date", Kind::Str),
    f("include-subdomains", Kind::Bool),
    f("noted-hostname", Kind::Str),
    f("served-certificate-chain", Kind::Any),
    f("validated-certificate-chain", Kind::Any),
    f("known-pins", Kind::Any),
];

const EXPECT_CT: &[Field] = &[
    f("date-time", Kind::Str),
    f("hostname", Kind::Str),
    f("port", Kind::Int),
    f("scheme", Kind::Str),
    f("effective-expiration-date", Kind::Str),
    f("served-certificate-chain", Kind::Any),
    f("validated-certificate-chain", Kind::Any),
    f("scts", Kind::Any),
    f("failure-mode", Kind::Str),
    f("test-report", Kind::Bool),
];

const EXPECT_STAPLE: &[Field] = &[
    f("date-time", Kind::Str),
    f("hostname", Kind::Str),
    f("port", Kind::Int),
    f("effective-expiration-date", Kind::Str),
    f("response-status", Kind::Str),
    f("ocsp-response", Kind::Str),
    f("cert-status", Kind::Str),
    f("served-certificate-chain", Kind::Any),
    f("validated-certificate-chain", Kind::Any),
];

/// The known fields of a type's body; none for types Lookout has no rules for.
fn fields_of(t: &ReportType) -> &'static [Field] {
    match t {
        ReportType::CspViolation => CSP_VIOLATION,
        ReportType::CspHash => CSP_HASH,
        ReportType::NetworkError => NETWORK_ERROR,
        ReportType::Deprecation => DEPRECATION,
        ReportType::Intervention => INTERVENTION,
        ReportType::Crash => CRASH,
        ReportType::Coep => COEP,
        ReportType::Coop => COOP,
        ReportType::PermissionsPolicyViolation => PERMISSIONS_POLICY,
        ReportType::PotentialPermissionsPolicyViolation => POTENTIAL_PERMISSIONS_POLICY,
        ReportType::DocumentPolicyViolation => DOCUMENT_POLICY,
        ReportType::IntegrityViolation => INTEGRITY,
        ReportType::Dip => DIP,
        ReportType::ConnectionAllowlist => CONNECTION_ALLOWLIST,
        ReportType::Hpkp => HPKP,
        ReportType::ExpectCt => EXPECT_CT,
        ReportType::ExpectStaple => EXPECT_STAPLE,
        ReportType::Other(_) => &[],
    }
}

/// The indexed tables of [`ReportType::KNOWN`], in its order, then the empty one of the
/// types without rules; built on first use.
static SCHEMAS: LazyLock<Vec<Schema>> = LazyLock::new(|| {
    let mut schemas: Vec<Schema> = ReportType::KNOWN
        .iter()
        .map(|t| Schema::new(fields_of(t)))
        .collect();
    schemas.push(Schema::new(&[]));
    schemas
});

/// The known fields of a type's body, indexed; none for types Lookout has no rules for.
pub(crate) fn schema_of(t: &ReportType) -> &'static Schema {
    let i = ReportType::KNOWN
        .iter()
        .position(|known| known == t)
        .unwrap_or(ReportType::KNOWN.len());
    &SCHEMAS[i]
}

/// The body fields that hold URLs, for privacy stripping (all types share these names).
pub(crate) fn url_fields_of(t: &ReportType) -> impl Iterator<Item = &'static str> {
    fields_of(t)
        .iter()
        .filter(|f| f.kind == Kind::Url)
        .map(|f| f.name)
}

/// The body field names a type's table knows, older spellings included (for property tests
/// and the fuzzer's dictionary).
pub fn known_field_names(t: &ReportType) -> impl Iterator<Item = &'static str> {
    fields_of(t)
        .iter()
        .flat_map(|f| std::iter::once(f.name).chain(f.aliases.iter().copied()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_type_has_its_own_indexed_table() {
        for t in &ReportType::KNOWN {
            let fields = fields_of(t);
            assert!(!fields.is_empty(), "{t}");
            let indexed: Vec<&str> = schema_of(t).fields.iter().map(|f| f.name).collect();
            let listed: Vec<&str> = fields.iter().map(|f| f.name).collect();
            assert_eq!(indexed, listed, "{t}");
        }
        let other = ReportType::Other("x-new".into());
        assert!(schema_of(&other).fields.is_empty());
    }

    /// `fields::take_disposition` reads `disposition` and `reportOnly` before typing, which
    /// holds only while no alias renames to or from them.
    #[test]
    fn disposition_names_have_no_aliases() {
        for t in &ReportType::KNOWN {
            for f in fields_of(t) {
                let named = matches!(f.name, "disposition" | "reportOnly");
                assert!(!named || f.aliases.is_empty(), "{} has aliases", f.name);
                for alias in f.aliases {
                    assert!(!matches!(*alias, "disposition" | "reportOnly"), "{alias}");
                }
            }
        }
    }
}
