//! Logging: set-up for the terminal and for Lambda, and what each request logs (its counts,
//! as a line or as CloudWatch metrics).
//!
//! Logs carry counts and types, never report bodies; recovery lines, which carry whole reports,
//! are written by [`crate::recovery`].

use std::collections::BTreeMap;

use serde::Serialize;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::limits::Budget;
use crate::report::{Batch, Report, ReportType, Timestamp};

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
        let by_type = self.accepted_by_known_type();
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
            lines.extend(by_type.into_iter().map(|(t, n)| accepted_line(at, t, n)));
        }
        lines
    }

    /// Accepted reports by type, the types Lookout does not know counted as `other` (anyone
    /// can invent a type, and each dimension value is a billed metric).
    fn accepted_by_known_type(&self) -> BTreeMap<&str, u64> {
        let mut by_type: BTreeMap<&str, u64> = BTreeMap::new();
        for (t, n) in &self.accepted {
            let known =
                ReportType::from_name(t).is_some_and(|t| !matches!(t, ReportType::Other(_)));
            *by_type
                .entry(if known { t.as_str() } else { "other" })
                .or_default() += n;
        }
        by_type
    }
}

/// One type's metric document when a request held several types.
fn accepted_line(at: Timestamp, report_type: &str, n: u64) -> String {
    serde_json::json!({
        "_aws": {
            "Timestamp": at.millis(),
            "CloudWatchMetrics": [{
                "Namespace": "Lookout",
                "Dimensions": [["Type"]],
                "Metrics": [{"Name": "Accepted"}]
            }]
        },
        "Type": report_type,
        "Accepted": n,
    })
    .to_string()
}

/// Logs a request refused as a whole.
pub fn rejected_request(site: Option<&str>, code: &str) {
    tracing::info!(target: "lookout::requests", site = site.unwrap_or("-"), rejected = code, "request refused");
}

/// Logs for recovery the reports of code that holds no [`Budget`]: the DynamoDB store, for the
/// items it refuses as invalid (only a defect makes one: the decoder bounds every report),
/// which it tells no caller of. Not bounded; returns how many were not logged (none).
// Stays until the store hands those reports back to its caller, to log within its budget.
pub fn recovery(reports: &[Report], error: &str) -> u64 {
    let unbounded = Budget::default().with_recovery_bytes_per_minute(u64::MAX);
    crate::recovery::log_unstored(&unbounded, reports, error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{FilterReason, Filtered, Options, RequestMeta, decode};
    use tracing::Level;

    /// A request for `example.com` at a fixed time.
    fn meta() -> RequestMeta<'static> {
        RequestMeta::new(Some("example.com"), Timestamp(1_795_305_600_000))
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
