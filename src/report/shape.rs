//! Recognises what a JSON value is by its shape (not by Content-Type) and turns it into a
//! [`Draft`]: a report in the Reporting API's envelope, body not yet normalized.

use serde_json::Value;

use super::body::Body;
use super::error::RejectReason;
use super::fields;
use super::model::{Disposition, ReportType, SourceFormat, Timestamp};
use super::node::{Entries, Node, last, take};
use super::parse_endpoint_name;
use super::schema::schema_of;

/// A report recognised in the body: envelope filled in, known body fields typed.
#[derive(Debug)]
pub(crate) struct Draft {
    pub report_type: ReportType,
    pub format: SourceFormat,
    pub url: String,
    pub user_agent: Option<String>,
    pub age_ms: u64,
    /// When the report itself says the problem happened (certificate reports' `date-time`).
    pub stated_time: Option<Timestamp>,
    /// Enforced or report-only, taken out of the body.
    pub disposition: Option<Disposition>,
    /// The endpoint name the sender says it delivered to (WebKit's `destination`).
    pub endpoint: Option<String>,
    pub body: Body,
}

/// Recognises one JSON value, the whole body or an element of a batch.
///
/// `in_array` tells a batch element from a single object (Safari's variant).
pub(crate) fn recognise(value: Node<'_>, in_array: bool) -> Result<Draft, RejectReason> {
    let Node::Object(mut obj) = value else {
        return Err(RejectReason::NotAnObject);
    };
    if let Some(inner) = take(&mut obj, "csp-report") {
        return legacy_csp(inner);
    }
    if let Some(inner) = take(&mut obj, "expect-ct-report") {
        return certificate(inner, ReportType::ExpectCt, SourceFormat::ExpectCt);
    }
    if let Some(inner) = take(&mut obj, "expect-staple-report") {
        return certificate(inner, ReportType::ExpectStaple, SourceFormat::ExpectStaple);
    }
    let has = |key: &str| last(&obj, key).is_some();
    if has("type") && !has("hostname") {
        let format = if in_array {
            SourceFormat::ReportingApi
        } else {
            SourceFormat::ReportingApiSingle
        };
        return reporting_api(obj, format);
    }
    if has("known-pins") {
        return certificate(Node::Object(obj), ReportType::Hpkp, SourceFormat::Hpkp);
    }
    // Unwrapped certificate reports, as some senders (and Django-Lookout's fixtures) send them.
    if has("hostname") {
        if has("response-status") || has("cert-status") {
            let v = Node::Object(obj);
            return certificate(v, ReportType::ExpectStaple, SourceFormat::ExpectStaple);
        }
        if has("scts") {
            return certificate(
                Node::Object(obj),
                ReportType::ExpectCt,
                SourceFormat::ExpectCt,
            );
        }
    }
    Err(RejectReason::UnknownShape)
}

/// `{"csp-report": {...}}`: CSP's `report-uri` serialization, with its browser quirks.
fn legacy_csp(inner: Node<'_>) -> Result<Draft, RejectReason> {
    let Node::Object(entries) = inner else {
        return Err(RejectReason::ContentNotObject);
    };
    let t = ReportType::CspViolation;
    let blank_blocked = matches!(
        last(&entries, "blocked-uri"),
        Some(Node::Str(s)) if s.is_empty() || s == "self"
    );
    let (disposition, mut body) = typed(entries, &t);
    csp_quirks(&mut body, blank_blocked);
    let url = body.str_of("documentURL").unwrap_or_default().to_owned();
    Ok(Draft {
        report_type: t,
        format: SourceFormat::LegacyCsp,
        url,
        user_agent: None,
        age_ms: 0,
        stated_time: None,
        disposition,
        endpoint: None,
        body,
    })
}

/// Repairs what older browsers left out of CSP reports.
///
/// - No `effectiveDirective` (old Firefox): the first token of `violatedDirective`, which in
///   CSP2 holds the whole directive with its sources (`style-src cdn.example.com`).
/// - An empty or `self` blocked URI on a script or style directive is an inline violation,
///   which CSP3 reports as `inline`.
fn csp_quirks(body: &mut Body, blank_blocked: bool) {
    if body.str_of("effectiveDirective").is_none() {
        let first = body
            .str_of("violatedDirective")
            .and_then(|v| v.split_ascii_whitespace().next())
            .map(str::to_owned);
        if let Some(first) = first {
            body.insert("effectiveDirective", Value::String(first));
        }
    }
    if blank_blocked {
        let directive = body.str_of("effectiveDirective").unwrap_or_default();
        if directive.starts_with("script-src") || directive.starts_with("style-src") {
            body.insert("blockedURL", Value::String("inline".to_owned()));
        }
    }
}

/// A Reporting API report: `{type, age, url, user_agent, body}`.
///
/// WebKit adds `destination`, the name of the endpoint it delivered to (which header's
/// `report-to` fired), kept when it is a plausible name; and `attempts`, ignored with every
/// other key of the envelope.
fn reporting_api(mut obj: Entries<'_>, format: SourceFormat) -> Result<Draft, RejectReason> {
    let report_type = match last(&obj, "type") {
        Some(Node::Str(name)) => ReportType::from_name(name).ok_or(RejectReason::InvalidType)?,
        _ => return Err(RejectReason::MissingType),
    };
    let entries = match take(&mut obj, "body") {
        Some(Node::Object(entries)) => entries,
        None | Some(Node::Null) => Vec::new(),
        Some(_) => return Err(RejectReason::BodyNotObject),
    };
    let blank_blocked = report_type == ReportType::CspViolation
        && matches!(last(&entries, "blocked"), Some(Node::Str(s)) if s.is_empty());
    let (disposition, mut body) = typed(entries, &report_type);
    if report_type == ReportType::CspViolation {
        csp_quirks(&mut body, blank_blocked);
    }
    let url = match take(&mut obj, "url") {
        Some(Node::Str(u)) if !u.is_empty() => u.into_owned(),
        // Some senders leave the envelope URL out; the body names the document.
        _ => body.str_of("documentURL").unwrap_or_default().to_owned(),
    };
    if report_type == ReportType::CspViolation
        && body.str_of("documentURL").is_none()
        && !url.is_empty()
    {
        // Draft-era `csp` reports named the document only in the envelope.
        body.insert("documentURL", Value::String(url.clone()));
    }
    let user_agent = match take(&mut obj, "user_agent") {
        Some(Node::Str(ua)) if !ua.is_empty() => Some(ua.into_owned()),
        _ => None,
    };
    let endpoint = match last(&obj, "destination") {
        Some(Node::Str(name)) => parse_endpoint_name(name).map(str::to_owned),
        _ => None,
    };
    Ok(Draft {
        report_type,
        format,
        url,
        user_agent,
        age_ms: age_of(last(&obj, "age")),
        stated_time: None,
        disposition,
        endpoint,
        body,
    })
}

/// HPKP, Expect-CT and Expect-Staple reports.
fn certificate(
    inner: Node<'_>,
    report_type: ReportType,
    format: SourceFormat,
) -> Result<Draft, RejectReason> {
    let Node::Object(entries) = inner else {
        return Err(RejectReason::ContentNotObject);
    };
    let (disposition, body) = typed(entries, &report_type);
    let url = match body.str_of("hostname") {
        Some(host) => match body.get("port").and_then(Value::as_i64) {
            Some(port) if port != 443 && port > 0 => format!("https://{host}:{port}/"),
            _ => format!("https://{host}/"),
        },
        None => String::new(),
    };
    let stated_time = body.str_of("date-time").and_then(Timestamp::parse_rfc3339);
    Ok(Draft {
        report_type,
        format,
        url,
        user_agent: None,
        age_ms: 0,
        stated_time,
        disposition,
        endpoint: None,
        body,
    })
}

/// A body's disposition, taken out of its entries, and the rest typed with its type's table.
fn typed(mut entries: Entries<'_>, t: &ReportType) -> (Option<Disposition>, Body) {
    let schema = schema_of(t);
    let disposition = fields::take_disposition(&mut entries, schema);
    (disposition, fields::apply(entries, schema))
}

/// The `age` field in milliseconds: a non-negative number (or numeric string), else 0.
fn age_of(v: Option<&Node<'_>>) -> u64 {
    match v {
        Some(Node::Num(n)) => n
            .as_u64()
            .or_else(|| {
                n.as_f64()
                    .filter(|f| f.is_finite() && *f > 0.0)
                    .map(|f| f as u64)
            })
            .unwrap_or(0),
        Some(Node::Str(s)) => s.trim().parse::<u64>().unwrap_or(0),
        _ => 0,
    }
}
