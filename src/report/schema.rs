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

const INTEGRITY: &[Field] = &[
    f("documentURL", Kind::Url),
    f("blockedURL", Kind::Url),
    f("destination", Kind::Str),
    f("reportOnly", Kind::Bool),
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

/// Every table, in the order [`slot`] numbers them (the last: types without rules).
const TABLES: [&[Field]; 16] = [
    CSP_VIOLATION,
    CSP_HASH,
    NETWORK_ERROR,
    DEPRECATION,
    INTERVENTION,
    CRASH,
    COEP,
    COOP,
    PERMISSIONS_POLICY,
    POTENTIAL_PERMISSIONS_POLICY,
    DOCUMENT_POLICY,
    INTEGRITY,
    HPKP,
    EXPECT_CT,
    EXPECT_STAPLE,
    &[],
];

/// The tables indexed by name, built on first use.
static SCHEMAS: LazyLock<Vec<Schema>> =
    LazyLock::new(|| TABLES.iter().map(|fields| Schema::new(fields)).collect());

fn slot(t: &ReportType) -> usize {
    match t {
        ReportType::CspViolation => 0,
        ReportType::CspHash => 1,
        ReportType::NetworkError => 2,
        ReportType::Deprecation => 3,
        ReportType::Intervention => 4,
        ReportType::Crash => 5,
        ReportType::Coep => 6,
        ReportType::Coop => 7,
        ReportType::PermissionsPolicyViolation => 8,
        ReportType::PotentialPermissionsPolicyViolation => 9,
        ReportType::DocumentPolicyViolation => 10,
        ReportType::IntegrityViolation => 11,
        ReportType::Hpkp => 12,
        ReportType::ExpectCt => 13,
        ReportType::ExpectStaple => 14,
        ReportType::Other(_) => 15,
    }
}

/// The known fields of a type's body; none for types Lookout has no rules for.
pub(crate) fn schema_of(t: &ReportType) -> &'static Schema {
    &SCHEMAS[slot(t)]
}

/// The body fields that hold URLs, for privacy stripping (all types share these names).
pub(crate) fn url_fields_of(t: &ReportType) -> impl Iterator<Item = &'static str> {
    TABLES[slot(t)]
        .iter()
        .filter(|f| f.kind == Kind::Url)
        .map(|f| f.name)
}

/// Every type Lookout has rules for.
pub const KNOWN_TYPES: [ReportType; 15] = [
    ReportType::CspViolation,
    ReportType::CspHash,
    ReportType::NetworkError,
    ReportType::Deprecation,
    ReportType::Intervention,
    ReportType::Crash,
    ReportType::Coep,
    ReportType::Coop,
    ReportType::PermissionsPolicyViolation,
    ReportType::PotentialPermissionsPolicyViolation,
    ReportType::DocumentPolicyViolation,
    ReportType::IntegrityViolation,
    ReportType::Hpkp,
    ReportType::ExpectCt,
    ReportType::ExpectStaple,
];

/// The body field names a type's table knows, older spellings included (for property tests
/// and the fuzzer's dictionary).
pub fn known_field_names(t: &ReportType) -> impl Iterator<Item = &'static str> {
    TABLES[slot(t)]
        .iter()
        .flat_map(|f| std::iter::once(f.name).chain(f.aliases.iter().copied()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `fields::take_disposition` reads `disposition` and `reportOnly` before typing, which
    /// holds only while no alias renames to or from them.
    #[test]
    fn every_type_with_rules_is_listed() {
        let slots: std::collections::BTreeSet<usize> = KNOWN_TYPES.iter().map(slot).collect();
        assert_eq!(slots, (0..15).collect());
    }

    #[test]
    fn disposition_names_have_no_aliases() {
        for fields in TABLES {
            for f in fields {
                let named = matches!(f.name, "disposition" | "reportOnly");
                assert!(!named || f.aliases.is_empty(), "{} has aliases", f.name);
                for alias in f.aliases {
                    assert!(!matches!(*alias, "disposition" | "reportOnly"), "{alias}");
                }
            }
        }
    }
}
