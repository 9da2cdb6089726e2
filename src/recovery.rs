//! Recovery records: the reports the collector could not store, logged whole so that
//! `lookout replay` can store them again, and read back from whatever an operator exports.
//!
//! Writing ([`log_unstored`], [`log_undecoded`]): one error line each (target
//! `lookout::recovery`, field `recovery=true`), the report JSON-encoded (control characters
//! escaped) so that nothing a browser sent reaches the log raw. Unstored reports are logged
//! within the recovery bytes of a [`Budget`]: when a store fails under a flood, every unstored
//! report would otherwise be a line (billed per byte ingested); past the budget, reports are
//! still answered `503` (browsers re-send Reporting API batches) and counted, but not logged
//! one by one.
//!
//! Reading ([`read`]) is pure: text in, reports out. Accepted, mixed freely in one input:
//! - Lambda's JSON log lines (`{"level":"ERROR","recovery":true,"report":"{…}",…}`), one per
//!   line, as `sam logs` prints them (after a prefix) or as a file of exported events;
//! - the JSON document `aws logs filter-log-events` prints (`{"events":[{"message":"…"}]}`),
//!   pretty-printed or not;
//! - the local server's terminal lines (`… report not stored recovery=true … report={…}`).

use serde_json::Value;

use crate::limits::Budget;
use crate::report::{Report, Timestamp};

/// The tracing target of recovery lines.
pub const TARGET: &str = "lookout::recovery";

/// Logs every report that could not be stored, one line each, with the whole normalized
/// report as JSON, within `budget`'s recovery bytes. Returns how many were not logged (over
/// the budget).
pub fn log_unstored(budget: &Budget, reports: &[Report], error: &str) -> u64 {
    let now = Timestamp::now();
    let mut dropped = 0;
    for r in reports {
        let json = serde_json::to_string(r).unwrap_or_default();
        let line = budget.admit_recovery_line(json.len() as u64 + error.len() as u64, now);
        if line.dropped_last_minute > 0 {
            tracing::warn!(target: TARGET, dropped = line.dropped_last_minute, "recovery log budget was spent: reports answered 503 without a recovery line");
        }
        if line.logged {
            tracing::error!(target: TARGET, recovery = true, error = %error.escape_debug(), report = %json, "report not stored");
        } else {
            if line.first_dropped {
                tracing::warn!(target: TARGET, bytes_per_minute = budget.recovery_bytes_per_minute(), "recovery log budget spent for this minute: further unstored reports are answered 503 and counted, not logged");
            }
            dropped += 1;
        }
    }
    dropped
}

/// Logs a request body that could not be decoded because of a defect, marked for recovery
/// like unstored reports (field `body`, the bytes as text).
pub fn log_undecoded(site: Option<&str>, body: &[u8], error: &str) {
    let text = String::from_utf8_lossy(body);
    tracing::error!(target: TARGET, recovery = true, site = site.unwrap_or("-"), error = %error.escape_debug(), body = %text.escape_debug(), "request not decoded");
}

/// What an input held.
#[derive(Debug, Default)]
pub struct Records {
    /// The reports of recovery records, in input order.
    pub reports: Vec<Report>,
    /// Recovery records whose report does not read back (damaged, or from another version).
    pub unreadable: usize,
    /// Recovery records of request bodies that could not be decoded (a defect): they hold the
    /// raw body, not reports, and are not replayed.
    pub bodies: usize,
}

/// Reads every recovery record in `text`; anything else (other log lines) is skipped.
pub fn read(text: &str) -> Records {
    let mut out = Records::default();
    // The whole input as JSON values (filter-log-events' document, or JSON lines)...
    let whole: Result<Vec<Value>, _> = serde_json::Deserializer::from_str(text)
        .into_iter::<Value>()
        .collect();
    match whole {
        Ok(values) => values.iter().for_each(|v| value(v, &mut out)),
        // ...else line by line, each from its first JSON object or `report=` field.
        Err(_) => text.lines().for_each(|l| line(l, &mut out)),
    }
    out
}

fn line(l: &str, out: &mut Records) {
    if let Some(at) = l.find("report={") {
        let rest = &l[at + "report=".len()..];
        match first_json(rest) {
            Some(v) => report(&v, out),
            None => out.unreadable += 1,
        }
    } else if let Some(at) = l.find('{')
        && let Some(v) = first_json(&l[at..])
    {
        value(&v, out);
    }
}

/// The first JSON value at the start of `s`, ignoring what follows.
fn first_json(s: &str) -> Option<Value> {
    serde_json::Deserializer::from_str(s)
        .into_iter::<Value>()
        .next()?
        .ok()
}

fn value(v: &Value, out: &mut Records) {
    match v {
        Value::Array(items) => items.iter().for_each(|v| value(v, out)),
        Value::Object(o) => {
            if let Some(events) = o.get("events").and_then(Value::as_array) {
                for e in events {
                    if let Some(m) = e.get("message").and_then(Value::as_str) {
                        text_value(m, out);
                    }
                }
            } else if o.get("recovery").is_some_and(is_true) {
                if o.contains_key("report") {
                    report(&o["report"], out);
                } else if o.contains_key("body") {
                    out.bodies += 1;
                }
            } else if let Some(m) = o.get("message").and_then(Value::as_str) {
                // An exported event whose message is the log line itself.
                if m.trim_start().starts_with('{') {
                    text_value(m, out);
                }
            }
        }
        _ => {}
    }
}

/// A log line held as a string (an event's message).
fn text_value(m: &str, out: &mut Records) {
    match serde_json::from_str::<Value>(m) {
        Ok(v) => value(&v, out),
        Err(_) => line(m, out),
    }
}

fn is_true(v: &Value) -> bool {
    v.as_bool() == Some(true) || v.as_str() == Some("true")
}

/// A recovery record's `report`: the report's JSON, as a string (Lambda's JSON logs) or an
/// object.
fn report(v: &Value, out: &mut Records) {
    let parsed = match v {
        Value::String(s) => serde_json::from_str::<Report>(s),
        other => serde_json::from_value::<Report>(other.clone()),
    };
    match parsed {
        Ok(r) => out.reports.push(r),
        Err(_) => out.unreadable += 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Options, RequestMeta, Timestamp, decode};

    fn sample() -> Report {
        let body = br#"{"csp-report":{"document-uri":"https://example.com/","blocked-uri":"https://cdn.example.net/x.js","effective-directive":"script-src-elem","original-policy":"script-src 'self'"}}"#;
        let meta = RequestMeta {
            user_agent: Some("Mozilla/5.0 Firefox/149.0"),
            ..RequestMeta::new(Some("example.com"), Timestamp(1_795_305_600_000))
        };
        decode(body, &meta, &Options::default())
            .unwrap()
            .reports
            .remove(0)
    }

    #[test]
    fn reads_lambda_json_lines_filter_log_events_and_terminal_lines() {
        let r = sample();
        let json = serde_json::to_string(&r).unwrap();
        let lambda_line = serde_json::json!({
            "level": "ERROR", "recovery": true, "error": "the store failed",
            "report": json, "message": "report not stored"
        })
        .to_string();
        let other = r#"{"level":"INFO","message":"reports","site":"example.com"}"#;
        // JSON lines, with a line that is not a recovery record.
        let lines = read(&format!("{lambda_line}\n{other}\n{lambda_line}\n"));
        assert_eq!(lines.reports, vec![r.clone(), r.clone()]);
        // `sam logs`: a prefix before each JSON line; the input is no longer JSON as a whole.
        let sam = read(&format!(
            "2026/12/03/[$LATEST]abc 2026-12-03T04:00:00 {lambda_line}\n"
        ));
        assert_eq!(sam.reports, vec![r.clone()]);
        // `aws logs filter-log-events`, pretty-printed.
        let doc = serde_json::json!({"events": [
            {"logStreamName": "s", "timestamp": 1, "message": lambda_line},
            {"logStreamName": "s", "timestamp": 2, "message": other}
        ]});
        let exported = read(&serde_json::to_string_pretty(&doc).unwrap());
        assert_eq!(exported.reports, vec![r.clone()]);
        // The local server's terminal line.
        let terminal = format!(
            "2026-12-03T04:00:00Z ERROR lookout::recovery: report not stored recovery=true error=injected report={json}"
        );
        assert_eq!(read(&terminal).reports, vec![r]);
    }

    #[test]
    fn counts_what_it_cannot_replay() {
        let damaged = r#"{"recovery":true,"report":"{\"id\":\"cut"}"#;
        let body = r#"{"recovery":true,"site":"example.com","body":"{\"csp-report\":"}"#;
        let got = read(&format!("{damaged}\n{body}\n"));
        assert!(got.reports.is_empty());
        assert_eq!((got.unreadable, got.bodies), (1, 1));
    }
}
