//! Logging: set-up for the terminal and for Lambda, per-request counts, and the recovery line
//! for reports that could not be stored.
//!
//! Logs carry counts and types, never report bodies, except the recovery line, whose report
//! is JSON-encoded (control characters escaped) so that nothing a browser sent reaches the log
//! raw.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::report::{Batch, Report, ReportType, Timestamp};

/// The tracing target of recovery lines: `lookout::recovery`.
pub const RECOVERY_TARGET: &str = "lookout::recovery";

/// Logs for a terminal: human-readable, to stderr, `RUST_LOG` or `info`.
pub fn init_terminal() {
    let filter = log_filter(std::env::var("RUST_LOG").ok().as_deref());
    let _ = tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
        .with(filter)
        .try_init();
}

/// A `RUST_LOG`-style filter (`info`, `lookout=debug,warn`), `info` when absent or unreadable.
/// `Targets` rather than `EnvFilter`: the same directives without span-field matching, and
/// without the regex engine in the Lambda artifact.
fn log_filter(spec: Option<&str>) -> Targets {
    spec.map(str::trim)
        .filter(|s| !s.is_empty())
        .and_then(|s| s.to_ascii_lowercase().parse().ok())
        .unwrap_or_else(|| Targets::new().with_default(tracing::Level::INFO))
}

/// Logs for Lambda: JSON when `AWS_LAMBDA_LOG_FORMAT=JSON`, no timestamps (CloudWatch adds
/// them), level from `AWS_LAMBDA_LOG_LEVEL`, then `RUST_LOG`, else `info`.
pub fn init_lambda() {
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok();
    let filter = log_filter(level.as_deref());
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let layer = tracing_subscriber::fmt::layer()
        .with_target(false)
        .without_time();
    let registry = tracing_subscriber::registry().with(filter);
    let _ = if json {
        registry.with(layer.json().flatten_event(true)).try_init()
    } else {
        registry.with(layer.with_ansi(false)).try_init()
    };
}

/// What happened to one request's reports.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct RequestCounts {
    /// Reports stored (or to be stored), by type.
    pub accepted: BTreeMap<String, u64>,
    /// Reports filtered out, by reason.
    pub filtered: BTreeMap<&'static str, u64>,
    /// Elements that were not reports, by reason.
    pub rejected: BTreeMap<&'static str, u64>,
    /// Accepted reports that could not be stored (the request was answered 503).
    #[serde(skip_serializing_if = "is_zero")]
    pub unstored: u64,
    /// Of those, the ones not logged for recovery because the recovery log budget was spent.
    #[serde(skip_serializing_if = "is_zero")]
    pub recovery_dropped: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl RequestCounts {
    /// Counts a decoded batch.
    pub fn of(batch: &Batch) -> Self {
        let mut c = Self::default();
        for r in &batch.reports {
            *c.accepted
                .entry(r.report_type.as_str().to_owned())
                .or_default() += 1;
        }
        for f in &batch.filtered {
            *c.filtered.entry(f.reason.code()).or_default() += 1;
        }
        for r in &batch.rejected {
            *c.rejected.entry(r.reason.code()).or_default() += 1;
        }
        c
    }

    /// Logs the counts as one line.
    pub fn log(&self, site: Option<&str>) {
        let counts = serde_json::to_string(self).unwrap_or_default();
        tracing::info!(target: "lookout::requests", site = site.unwrap_or("-"), counts = %counts, "reports");
    }
}

impl RequestCounts {
    /// Prints the counts as CloudWatch Embedded Metric Format on stdout, namespace `Lookout`:
    /// `Accepted`, `Filtered`, `Rejected` without dimensions, and `Accepted` per `Type`. The
    /// document is also the request's log line (site, counts by type and reason as plain
    /// properties), so Lambda logs one line per request instead of a line plus metrics.
    /// Sites are never a dimension (anyone can invent site names, and every dimension value is
    /// a billed metric); types outside the known list count as `other`.
    pub fn emit_emf(&self, at: Timestamp, site: Option<&str>) {
        for line in self.emf_lines(at, site) {
            println!("{line}");
        }
    }

    /// The EMF documents: one with the request's counts, which also carries the per-type
    /// metric when every accepted report has one type (the usual case), then one per type
    /// when there are several. Only counts that are not zero are metrics (a sum needs no
    /// zeros), and breakdowns appear only when they say more than the totals: a request of
    /// one report logs about 200 bytes.
    pub fn emf_lines(&self, at: Timestamp, site: Option<&str>) -> Vec<String> {
        let sum = |m: &BTreeMap<&'static str, u64>| m.values().sum::<u64>();
        let accepted: u64 = self.accepted.values().sum();
        let mut by_type: BTreeMap<&str, u64> = BTreeMap::new();
        for (t, n) in &self.accepted {
            let known =
                ReportType::from_name(t).is_some_and(|t| !matches!(t, ReportType::Other(_)));
            *by_type
                .entry(if known { t.as_str() } else { "other" })
                .or_default() += n;
        }
        let single_type = match by_type.len() {
            1 => by_type.keys().next().copied(),
            _ => None,
        };
        let metric = |name: &str| serde_json::json!({ "Name": name });
        let mut first = serde_json::json!({
            "_aws": {"Timestamp": at.millis()},
            "message": "reports",
            "site": site.unwrap_or("-"),
        });
        let mut plain = Vec::new();
        let totals = [
            ("Accepted", accepted),
            ("Filtered", sum(&self.filtered)),
            ("Rejected", sum(&self.rejected)),
            ("Unstored", self.unstored),
            ("RecoveryDropped", self.recovery_dropped),
        ];
        // Accepted goes in the per-type directive when there is one type; otherwise it is always
        // here, even at 0, so that every document carries at least one metric.
        for (name, n) in totals {
            if n > 0 || (name == "Accepted" && single_type.is_none()) {
                first[name] = n.into();
                if !(name == "Accepted" && single_type.is_some()) {
                    plain.push(metric(name));
                }
            }
        }
        let mut directives = Vec::new();
        if !plain.is_empty() {
            directives.push(serde_json::json!({
                "Namespace": "Lookout", "Dimensions": [[]], "Metrics": plain
            }));
        }
        if let Some(t) = single_type {
            first["Type"] = t.into();
            directives.push(serde_json::json!({
                "Namespace": "Lookout", "Dimensions": [[], ["Type"]], "Metrics": [metric("Accepted")]
            }));
        } else if !self.accepted.is_empty() {
            first["accepted_by_type"] = serde_json::to_value(&self.accepted).unwrap_or_default();
        }
        if !self.filtered.is_empty() {
            first["filtered_by_reason"] = serde_json::to_value(&self.filtered).unwrap_or_default();
        }
        if !self.rejected.is_empty() {
            first["rejected_by_reason"] = serde_json::to_value(&self.rejected).unwrap_or_default();
        }
        first["_aws"]["CloudWatchMetrics"] = directives.into();
        let mut lines = vec![first.to_string()];
        if single_type.is_none() {
            for (t, n) in by_type {
                lines.push(
                    serde_json::json!({
                        "_aws": {
                            "Timestamp": at.millis(),
                            "CloudWatchMetrics": [{
                                "Namespace": "Lookout",
                                "Dimensions": [["Type"]],
                                "Metrics": [metric("Accepted")]
                            }]
                        },
                        "Type": t,
                        "Accepted": n,
                    })
                    .to_string(),
                );
            }
        }
        lines
    }
}

/// Logs a request refused as a whole.
pub fn rejected_request(site: Option<&str>, code: &str) {
    tracing::info!(target: "lookout::requests", site = site.unwrap_or("-"), rejected = code, "request refused");
}

/// The default bound on recovery lines: bytes per minute per process.
pub const DEFAULT_RECOVERY_BYTES_PER_MINUTE: u64 = 64 * 1024;

/// The recovery log budget: bytes of recovery lines one process may log per minute. When a
/// store fails under a flood, every unstored report would otherwise be a log line (billed per
/// byte ingested); past the budget, reports are still answered `503` (browsers re-send
/// Reporting API batches) and counted, but not logged one by one.
struct RecoveryBudget {
    bytes_per_minute: AtomicU64,
    window: Mutex<RecoveryWindow>,
}

#[derive(Default)]
struct RecoveryWindow {
    minute: i64,
    used: u64,
    dropped: u64,
}

static RECOVERY_BUDGET: RecoveryBudget = RecoveryBudget {
    bytes_per_minute: AtomicU64::new(DEFAULT_RECOVERY_BYTES_PER_MINUTE),
    window: Mutex::new(RecoveryWindow {
        minute: 0,
        used: 0,
        dropped: 0,
    }),
};

/// Sets the recovery log budget of this process, in bytes per minute (0: no recovery lines).
pub fn set_recovery_budget(bytes_per_minute: u64) {
    RECOVERY_BUDGET
        .bytes_per_minute
        .store(bytes_per_minute, Ordering::Relaxed);
}

impl RecoveryBudget {
    /// Whether a line of `bytes` may be logged now; counts it if so, or counts a drop.
    fn admit(&self, bytes: u64, now: Timestamp) -> bool {
        let limit = self.bytes_per_minute.load(Ordering::Relaxed);
        let minute = now.millis().div_euclid(60_000);
        let mut w = self.window.lock().unwrap_or_else(|p| p.into_inner());
        if w.minute != minute {
            if w.dropped > 0 {
                tracing::warn!(target: RECOVERY_TARGET, dropped = w.dropped, "recovery log budget was spent: reports answered 503 without a recovery line");
            }
            *w = RecoveryWindow {
                minute,
                ..RecoveryWindow::default()
            };
        }
        if w.used + bytes <= limit {
            w.used += bytes;
            true
        } else {
            if w.dropped == 0 {
                tracing::warn!(target: RECOVERY_TARGET, bytes_per_minute = limit, "recovery log budget spent for this minute: further unstored reports are answered 503 and counted, not logged");
            }
            w.dropped += 1;
            false
        }
    }
}

/// Logs every report that could not be stored, one line each, marked for recovery
/// (`recovery=true`, target `lookout::recovery`), with the whole normalized report as JSON,
/// within the process's recovery log budget. Returns how many were not logged (over budget).
pub fn recovery(reports: &[Report], error: &str) -> u64 {
    let now = Timestamp::now();
    let mut dropped = 0;
    for r in reports {
        let json = serde_json::to_string(r).unwrap_or_default();
        if RECOVERY_BUDGET.admit(json.len() as u64 + error.len() as u64, now) {
            tracing::error!(target: RECOVERY_TARGET, recovery = true, error = %error.escape_debug(), report = %json, "report not stored");
        } else {
            dropped += 1;
        }
    }
    dropped
}

/// Logs a request body that could not be decoded because of a defect, marked for recovery
/// like unstored reports (field `body`, the bytes as text).
pub fn recovery_body(site: Option<&str>, body: &[u8], error: &str) {
    let text = String::from_utf8_lossy(body);
    tracing::error!(target: RECOVERY_TARGET, recovery = true, site = site.unwrap_or("-"), error = %error.escape_debug(), body = %text.escape_debug(), "request not decoded");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{FilterReason, Filtered, Options, RequestMeta, decode};
    use tracing::Level;

    /// A request for `example.com` at a fixed time.
    fn meta() -> RequestMeta<'static> {
        RequestMeta {
            site: Some("example.com"),
            user_agent: None,
            received_at: Timestamp(1_795_305_600_000),
            endpoint: None,
            policy_version: None,
        }
    }

    #[test]
    fn the_recovery_budget_admits_lines_up_to_its_bytes_per_minute() {
        let budget = RecoveryBudget {
            bytes_per_minute: AtomicU64::new(2_500),
            window: Mutex::new(RecoveryWindow::default()),
        };
        let minute = Timestamp(60_000 * 29_000_000);
        let admitted = (0..5).filter(|_| budget.admit(1_000, minute)).count();
        assert_eq!(admitted, 2, "two 1,000-byte lines fit in 2,500 bytes");
        assert_eq!(budget.window.lock().unwrap().dropped, 3);
        let next = Timestamp(minute.millis() + 60_000);
        assert!(budget.admit(1_000, next), "a new minute, a new budget");
        assert_eq!(budget.window.lock().unwrap().dropped, 0);
    }

    #[test]
    fn a_failed_request_counts_unstored_reports_in_its_metrics() {
        let counts = RequestCounts {
            unstored: 7,
            recovery_dropped: 4,
            ..RequestCounts::default()
        };
        let doc: serde_json::Value =
            serde_json::from_str(&counts.emf_lines(Timestamp(0), None)[0]).unwrap();
        assert_eq!(doc["Unstored"], 7);
        assert_eq!(doc["RecoveryDropped"], 4);
        let names: Vec<&str> = doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap())
            .collect();
        assert!(names.contains(&"Unstored") && names.contains(&"RecoveryDropped"));
        let healthy: serde_json::Value =
            serde_json::from_str(&RequestCounts::default().emf_lines(Timestamp(0), None)[0])
                .unwrap();
        assert!(
            healthy.get("Unstored").is_none(),
            "no failure metric when none failed"
        );
    }

    #[test]
    fn log_filter_reads_rust_log_directives_and_falls_back_to_info() {
        let f = log_filter(Some("WARN"));
        assert!(f.would_enable("lookout", &Level::WARN));
        assert!(!f.would_enable("lookout", &Level::INFO));
        let f = log_filter(Some("lookout=debug,error"));
        assert!(f.would_enable("lookout::http", &Level::DEBUG));
        assert!(!f.would_enable("hyper", &Level::WARN));
        for unreadable in [None, Some("lookout=loud"), Some("")] {
            let f = log_filter(unreadable);
            assert!(f.would_enable("lookout", &Level::INFO), "{unreadable:?}");
            assert!(!f.would_enable("lookout", &Level::DEBUG), "{unreadable:?}");
        }
    }

    #[test]
    fn emf_lines_count_by_type_without_site_dimensions() {
        let meta = meta();
        let body = br#"[{"type":"deprecation","url":"https://example.com/","body":{"id":"a"}},
                        {"type":"deprecation","url":"https://example.com/","body":{"id":"b"}},
                        {"type":"x-invented","url":"https://example.com/","body":{}},
                        {"type":"x-other","url":"https://example.com/","body":{}},
                        7]"#;
        let mut batch = decode(body, &meta, &Options::default()).unwrap();
        batch.filtered.push(Filtered {
            report_type: ReportType::Crash,
            reason: FilterReason::Sampled,
        });
        let lines: Vec<serde_json::Value> = RequestCounts::of(&batch)
            .emf_lines(meta.received_at, Some("example.com"))
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 3);
        let total = &lines[0];
        assert_eq!(total["Accepted"], 4);
        assert_eq!(total["Filtered"], 1);
        assert_eq!(total["Rejected"], 1);
        assert_eq!(total["site"], "example.com", "the request's log line");
        assert_eq!(total["accepted_by_type"]["x-invented"], 1);
        assert_eq!(
            total["_aws"]["CloudWatchMetrics"][0]["Namespace"],
            "Lookout"
        );
        assert!(total.get("Type").is_none(), "several types: one line each");
        assert_eq!(total["_aws"]["Timestamp"], 1_795_305_600_000i64);
        assert_eq!(lines[1]["Type"], "deprecation");
        assert_eq!(lines[1]["Accepted"], 2);
        assert_eq!(lines[2]["Type"], "other", "invented types share one metric");
        assert_eq!(lines[2]["Accepted"], 2);
        // Sites are never dimensions: every dimension set is none, or the type alone.
        for directive in lines
            .iter()
            .flat_map(|l| l["_aws"]["CloudWatchMetrics"].as_array().unwrap())
        {
            for set in directive["Dimensions"].as_array().unwrap() {
                assert!(
                    *set == serde_json::json!([]) || *set == serde_json::json!(["Type"]),
                    "unexpected dimensions {set}"
                );
            }
        }
    }

    #[test]
    fn a_request_of_one_type_is_one_emf_line() {
        let meta = meta();
        let body = br#"{"csp-report":{"document-uri":"https://example.com/","blocked-uri":"https://x.example/","effective-directive":"img-src"}}"#;
        let batch = decode(body, &meta, &Options::default()).unwrap();
        let lines = RequestCounts::of(&batch).emf_lines(meta.received_at, Some("example.com"));
        assert_eq!(lines.len(), 1);
        let doc: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(doc["Type"], "csp-violation");
        assert_eq!(doc["Accepted"], 1);
        let directives = doc["_aws"]["CloudWatchMetrics"].as_array().unwrap();
        assert_eq!(directives.len(), 1, "{doc}");
        assert_eq!(
            directives[0]["Dimensions"],
            serde_json::json!([[], ["Type"]])
        );
        assert_eq!(
            directives[0]["Metrics"],
            serde_json::json!([{"Name": "Accepted"}])
        );
        assert!(doc.get("Filtered").is_none(), "no zero metrics: {doc}");
        assert!(
            lines[0].len() < 220,
            "{} bytes: {}",
            lines[0].len(),
            lines[0]
        );
    }
}
