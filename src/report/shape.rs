//! Recognises what a JSON value is by its shape (not by Content-Type) and turns it into a
//! [`Draft`]: a report in the Reporting API's envelope, body not yet normalized.

use serde_json::{Map, Value};

use super::error::RejectReason;
use super::fields::{self, str_of};
use super::model::{ReportType, SourceFormat, Timestamp};
use super::schema::fields_of;

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
    pub body: Map<String, Value>,
}

/// Recognises one JSON value, the whole body or an element of a batch.
///
/// `in_array` tells a batch element from a single object (Safari's variant).
pub(crate) fn recognise(value: Value, in_array: bool) -> Result<Draft, RejectReason> {
    let Value::Object(mut obj) = value else {
        return Err(RejectReason::NotAnObject);
    };
    if let Some(inner) = obj.remove("csp-report") {
        return legacy_csp(inner);
    }
    if let Some(inner) = obj.remove("expect-ct-report") {
        return certificate(inner, ReportType::ExpectCt, SourceFormat::ExpectCt);
    }
    if let Some(inner) = obj.remove("expect-staple-report") {
        return certificate(inner, ReportType::ExpectStaple, SourceFormat::ExpectStaple);
    }
    if obj.contains_key("type") && !obj.contains_key("hostname") {
        let format = if in_array {
            SourceFormat::ReportingApi
        } else {
            SourceFormat::ReportingApiSingle
        };
        return reporting_api(obj, format);
    }
    if obj.contains_key("known-pins") {
        return certificate(Value::Object(obj), ReportType::Hpkp, SourceFormat::Hpkp);
    }
    // Unwrapped certificate reports, as some senders (and Django-Lookout's fixtures) send them.
    if obj.contains_key("hostname") {
        if obj.contains_key("response-status") || obj.contains_key("cert-status") {
            let v = Value::Object(obj);
            return certificate(v, ReportType::ExpectStaple, SourceFormat::ExpectStaple);
        }
        if obj.contains_key("scts") {
            return certificate(
                Value::Object(obj),
                ReportType::ExpectCt,
                SourceFormat::ExpectCt,
            );
        }
    }
    Err(RejectReason::UnknownShape)
}

/// `{"csp-report": {...}}`: CSP's `report-uri` serialization, with its browser quirks.
fn legacy_csp(inner: Value) -> Result<Draft, RejectReason> {
    let Value::Object(mut body) = inner else {
        return Err(RejectReason::ContentNotObject);
    };
    let t = ReportType::CspViolation;
    let blank_blocked = matches!(
        body.get("blocked-uri"),
        Some(Value::String(s)) if s.is_empty() || s == "self"
    );
    fields::apply(&mut body, fields_of(&t));
    csp_quirks(&mut body, blank_blocked);
    let url = str_of(&body, "documentURL").unwrap_or_default().to_owned();
    Ok(Draft {
        report_type: t,
        format: SourceFormat::LegacyCsp,
        url,
        user_agent: None,
        age_ms: 0,
        stated_time: None,
        body,
    })
}

/// Repairs what older browsers left out of CSP reports.
///
/// - No `effectiveDirective` (old Firefox): the first token of `violatedDirective`, which in
///   CSP2 holds the whole directive with its sources (`style-src cdn.example.com`).
/// - An empty or `self` blocked URI on a script or style directive is an inline violation,
///   which CSP3 reports as `inline`.
fn csp_quirks(body: &mut Map<String, Value>, blank_blocked: bool) {
    if str_of(body, "effectiveDirective").is_none() {
        let first = str_of(body, "violatedDirective")
            .and_then(|v| v.split_ascii_whitespace().next())
            .map(str::to_owned);
        if let Some(first) = first {
            body.insert("effectiveDirective".to_owned(), Value::String(first));
        }
    }
    if blank_blocked {
        let directive = str_of(body, "effectiveDirective").unwrap_or_default();
        if directive.starts_with("script-src") || directive.starts_with("style-src") {
            body.insert("blockedURL".to_owned(), Value::String("inline".to_owned()));
        }
    }
}

/// A Reporting API report: `{type, age, url, user_agent, body}`.
fn reporting_api(mut obj: Map<String, Value>, format: SourceFormat) -> Result<Draft, RejectReason> {
    let report_type = match obj.get("type") {
        Some(Value::String(name)) => {
            ReportType::from_name(name).ok_or(RejectReason::InvalidType)?
        }
        _ => return Err(RejectReason::MissingType),
    };
    let mut body = match obj.remove("body") {
        Some(Value::Object(body)) => body,
        None | Some(Value::Null) => Map::new(),
        Some(_) => return Err(RejectReason::BodyNotObject),
    };
    let blank_blocked = report_type == ReportType::CspViolation
        && matches!(body.get("blocked"), Some(Value::String(s)) if s.is_empty());
    fields::apply(&mut body, fields_of(&report_type));
    if report_type == ReportType::CspViolation {
        csp_quirks(&mut body, blank_blocked);
    }
    let url = match obj.remove("url") {
        Some(Value::String(u)) if !u.is_empty() => u,
        // Some senders leave the envelope URL out; the body names the document.
        _ => str_of(&body, "documentURL").unwrap_or_default().to_owned(),
    };
    if report_type == ReportType::CspViolation
        && str_of(&body, "documentURL").is_none()
        && !url.is_empty()
    {
        // Draft-era `csp` reports named the document only in the envelope.
        body.insert("documentURL".to_owned(), Value::String(url.clone()));
    }
    let user_agent = match obj.remove("user_agent") {
        Some(Value::String(ua)) if !ua.is_empty() => Some(ua),
        _ => None,
    };
    Ok(Draft {
        report_type,
        format,
        url,
        user_agent,
        age_ms: age_of(obj.get("age")),
        stated_time: None,
        body,
    })
}

/// HPKP, Expect-CT and Expect-Staple reports.
fn certificate(
    inner: Value,
    report_type: ReportType,
    format: SourceFormat,
) -> Result<Draft, RejectReason> {
    let Value::Object(mut body) = inner else {
        return Err(RejectReason::ContentNotObject);
    };
    fields::apply(&mut body, fields_of(&report_type));
    let url = match str_of(&body, "hostname") {
        Some(host) => match body.get("port").and_then(Value::as_i64) {
            Some(port) if port != 443 && port > 0 => format!("https://{host}:{port}/"),
            _ => format!("https://{host}/"),
        },
        None => String::new(),
    };
    let stated_time = str_of(&body, "date-time").and_then(Timestamp::parse_rfc3339);
    Ok(Draft {
        report_type,
        format,
        url,
        user_agent: None,
        age_ms: 0,
        stated_time,
        body,
    })
}

/// The `age` field in milliseconds: a non-negative number (or numeric string), else 0.
fn age_of(v: Option<&Value>) -> u64 {
    match v {
        Some(Value::Number(n)) => n
            .as_u64()
            .or_else(|| {
                n.as_f64()
                    .filter(|f| f.is_finite() && *f > 0.0)
                    .map(|f| f as u64)
            })
            .unwrap_or(0),
        Some(Value::String(s)) => s.trim().parse::<u64>().unwrap_or(0),
        _ => 0,
    }
}
