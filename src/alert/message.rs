//! What an alert says. The JSON document is the webhook's payload (schema version 1, below);
//! Slack gets the same facts as a message, SNS (e-mail) as a subject and a text.
//!
//! Schema version 1: `{schema_version: 1, kind: "new_problem" | "spike", site, type,
//! fingerprint, group, classification?, policy_version?, first_seen, browsers, count,
//! previous_day_hourly_average?, sample: {url, disposition?, fields}, command}`. Later versions
//! only add fields.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::report::{Classification, Report, Timestamp};

/// The payload's schema version.
pub const SCHEMA_VERSION: u32 = 1;

/// Why an alert is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// The first report ever of a problem.
    NewProblem,
    /// A problem's hourly count far over its previous day's.
    Spike,
}

/// One alert.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    pub schema_version: u32,
    pub kind: AlertKind,
    pub site: String,
    #[serde(rename = "type")]
    pub report_type: String,
    pub fingerprint: String,
    /// The readable grouping key.
    pub group: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub classification: Option<Classification>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy_version: Option<String>,
    pub first_seen: Timestamp,
    /// Browsers among the reports that raised it.
    pub browsers: Vec<String>,
    /// New problem: its reports in the batch that raised it; spike: its reports this hour.
    pub count: u64,
    /// Spike: the previous 24 hours' count divided by 24.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_day_hourly_average: Option<f64>,
    pub sample: Sample,
    /// The command that shows the problem's reports.
    pub command: String,
}

/// A sample report's key fields.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sample {
    pub url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disposition: Option<String>,
    /// The body fields that say what happened, where the report has them.
    pub fields: Map<String, Value>,
}

/// Body fields worth showing in an alert, in this order.
const KEY_FIELDS: [&str; 14] = [
    "effectiveDirective",
    "blockedURL",
    "sample",
    "sourceFile",
    "lineNumber",
    "type",
    "phase",
    "status_code",
    "id",
    "featureId",
    "message",
    "reason",
    "hostname",
    "destination",
];

impl Alert {
    /// An alert about `report`'s problem.
    pub fn of(kind: AlertKind, report: &Report, browsers: Vec<String>, count: u64) -> Self {
        let mut fields = Map::new();
        for k in KEY_FIELDS {
            if let Some(v) = report.body.get(k) {
                fields.insert(k.to_owned(), v.clone());
            }
        }
        Self {
            schema_version: SCHEMA_VERSION,
            kind,
            site: report.site.clone(),
            report_type: report.report_type.as_str().to_owned(),
            fingerprint: report.fingerprint.clone(),
            group: report.group.clone(),
            classification: report.classification,
            policy_version: report.policy_version.clone(),
            first_seen: report.occurred_at,
            browsers,
            count,
            previous_day_hourly_average: None,
            sample: Sample {
                url: report.url.clone(),
                disposition: report.disposition.map(|d| d.as_str().to_owned()),
                fields,
            },
            command: format!(
                "lookout query --site {} --fingerprint {} --since 7d",
                report.site, report.fingerprint
            ),
        }
    }

    /// One line: what happened, where.
    pub fn headline(&self) -> String {
        match self.kind {
            AlertKind::NewProblem => format!("New {} problem on {}", self.report_type, self.site),
            AlertKind::Spike => format!(
                "Spike of {} on {}: {} reports this hour",
                self.report_type, self.site, self.count
            ),
        }
    }

    /// The facts, as lines of plain text.
    pub fn lines(&self) -> Vec<String> {
        let mut lines = vec![
            format!("Problem: {}", self.group),
            format!("First seen: {}", self.first_seen),
        ];
        if let Some(avg) = self.previous_day_hourly_average {
            lines.push(format!(
                "This hour: {} reports; the previous day: {avg:.1} an hour",
                self.count
            ));
        } else {
            lines.push(format!("Reports so far: {}", self.count));
        }
        if !self.browsers.is_empty() {
            lines.push(format!("Browsers: {}", self.browsers.join(", ")));
        }
        if let Some(c) = self.classification {
            lines.push(format!("Classification: {}", c.as_str()));
        }
        lines.push(format!("Page: {}", self.sample.url));
        for (k, v) in &self.sample.fields {
            let v = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            lines.push(format!("{k}: {v}"));
        }
        lines.push(format!("See more: {}", self.command));
        lines
    }

    /// The webhook payload (generic JSON).
    pub fn json(&self) -> Value {
        serde_json::to_value(self).unwrap_or_default()
    }

    /// A Slack incoming-webhook message: the headline and the facts, report text escaped
    /// (Slack reads `<...>` as links and mentions, so a report could otherwise ping a channel).
    pub fn slack(&self) -> Value {
        let facts: Vec<String> = self
            .lines()
            .iter()
            .map(|l| match l.split_once(": ") {
                Some((k, v)) => format!("*{}:* {}", slack_escape(k), slack_escape(v)),
                None => slack_escape(l),
            })
            .collect();
        serde_json::json!({
            "text": slack_escape(&self.headline()),
            "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": cut(&self.headline(), 150)}},
                {"type": "section", "text": {"type": "mrkdwn", "text": cut(&facts.join("\n"), 3000)}},
            ],
        })
    }

    /// An e-mail's subject (SNS allows 100 characters, no line breaks) and text.
    pub fn email(&self) -> (String, String) {
        let subject: String = format!("Lookout: {}", self.headline())
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        (cut(&subject, 100), self.lines().join("\n") + "\n")
    }
}

/// Slack's three escapes.
fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// `s` cut to `max` characters, with an ellipsis when cut.
fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Options, RequestMeta, decode};

    fn report() -> Report {
        let body = br#"{"csp-report":{"document-uri":"https://example.com/","blocked-uri":"https://evil.example/<!channel>.js","effective-directive":"script-src-elem","original-policy":"script-src 'self'","disposition":"enforce"}}"#;
        let meta = RequestMeta {
            site: Some("example.com"),
            user_agent: Some(
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36",
            ),
            received_at: Timestamp(1_796_000_000_000),
            endpoint: None,
            policy_version: None,
        };
        decode(body, &meta, &Options::default())
            .unwrap()
            .reports
            .remove(0)
    }

    #[test]
    fn the_payload_is_versioned_and_slack_text_is_escaped() {
        let a = Alert::of(
            AlertKind::NewProblem,
            &report(),
            vec!["Chrome 156".into()],
            1,
        );
        let json = a.json();
        assert_eq!(json["schema_version"], 1);
        assert_eq!(json["kind"], "new_problem");
        assert_eq!(
            json["sample"]["fields"]["effectiveDirective"],
            "script-src-elem"
        );
        assert!(json["command"].as_str().unwrap().contains("--fingerprint"));
        let slack = a.slack().to_string();
        assert!(!slack.contains("<!channel>"), "{slack}");
        assert!(slack.contains("&lt;!channel&gt;"));
        let (subject, text) = a.email();
        assert_eq!(subject, "Lookout: New csp-violation problem on example.com");
        assert!(text.contains("See more: lookout query --site example.com --fingerprint"));
    }
}
