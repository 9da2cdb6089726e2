//! What an alert says. The JSON document is the webhook's payload (schema version 1, below);
//! Slack gets the same facts as a message, SNS (e-mail) as a subject and a text.
//!
//! Schema version 1: `{schema_version: 1, kind: "new_problem" | "spike" | "digest", site, type,
//! fingerprint, group, classification?, policy_version?, first_seen, browsers, count,
//! previous_day_hourly_average?, sample: {url, disposition?, fields}, command, digest?,
//! script?}`. A
//! digest stands for the alerts of a site past its hourly budget: its `count` is how many,
//! `digest` is `{more, new_problems, named: [{kind, type, fingerprint, label}], paused_until}`,
//! and its `type`, `fingerprint`, `group` and `sample` are empty. The script kinds
//! (`new_script`, `script_changed`, `script_divergent`, about `csp-hash` reports) add `script:
//! {url, destination, hash, previous: [{hash, first_seen, last_seen, visitors, authorized}],
//! authorized_hash}`. Later versions only add
//! fields (and kinds).
//!
//! Report text is anyone's to write. In Slack and e-mail every value taken from a report is
//! made one line (control characters become spaces), cut to [`MAX_VALUE_CHARS`] and labelled
//! as reported; Slack also gets it inside a code span, so that mrkdwn (`*`, `_`, `~`), links,
//! mentions and bare URLs in it stay text and no report can start a line of its own. The JSON
//! payload carries the values as they were stored: its reader decides how to show them.
//!
//! Split: this file is the alert as a document (what it says, the JSON payload); `facts`
//! turns it into labelled facts and a headline; `render` makes those a Slack message or an
//! e-mail; `text` keeps reported text on one line, short and escaped.

mod facts;
mod render;
mod text;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use self::facts::{Fact, Origin};
use self::text::cut;
pub use self::text::{
    MAX_SUBJECT_CHARS, MAX_VALUE_CHARS, code_span, flatten, single_line, sns_subject,
};
use crate::report::{Classification, Report, Timestamp};

/// The payload's schema version.
pub const SCHEMA_VERSION: u32 = 1;

/// How many of the alerts it stands for a digest names.
pub const DIGEST_NAMED: usize = 5;

/// The most characters of a digest's label for one alert.
const DIGEST_LABEL_CHARS: usize = 80;

/// Why an alert is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// The first report ever of a problem.
    NewProblem,
    /// A problem's hourly count far over its previous day's.
    Spike,
    /// The alerts of a site past its hourly budget, in one message.
    Digest,
    /// A script URL new to the site.
    NewScript,
    /// A new content (hash) of a script URL that had another.
    ScriptChanged,
    /// Two contents of one script URL served side by side, to different visitors.
    ScriptDivergent,
}

impl AlertKind {
    /// Whether it is about a script (`csp-hash` reports).
    pub fn is_script(self) -> bool {
        matches!(
            self,
            AlertKind::NewScript | AlertKind::ScriptChanged | AlertKind::ScriptDivergent
        )
    }
}

/// One alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    /// Distinct visitors (senders' networks, see `report::visitor`) among the reports that
    /// raised it: what a forger on one network cannot inflate.
    #[serde(default)]
    pub visitors: u64,
    /// New problem: its reports in the batch that raised it; spike: its reports this hour;
    /// digest: the alerts it stands for.
    pub count: u64,
    /// Spike: the previous 24 hours' count divided by 24.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_day_hourly_average: Option<f64>,
    pub sample: Sample,
    /// The command that shows the problem's reports (a digest: the site's problems).
    pub command: String,
    /// Digest: what it stands for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<Digest>,
    /// A script alert: the script and its contents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script: Option<ScriptFacts>,
}

/// What a script alert says of its script.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScriptFacts {
    /// Origin and path.
    pub url: String,
    pub destination: String,
    /// The content that raised it (`sha256-...`); `None`: reported without a hash.
    pub hash: Option<String>,
    /// Script changed: the URL's contents seen before it, oldest first (at most
    /// [`MAX_PREVIOUS`]); script divergent: the other content being served.
    pub previous: Vec<Content>,
    /// The content the URL is authorized with, if it is.
    pub authorized_hash: Option<String>,
}

/// One content of a script, as an alert names it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Content {
    pub hash: Option<String>,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    /// Distinct visitors that reported it.
    pub visitors: u64,
    /// Whether it is the content the URL is authorized with.
    pub authorized: bool,
}

/// The most earlier contents a script alert names.
pub const MAX_PREVIOUS: usize = 10;

/// A sample report's key fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    pub url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disposition: Option<String>,
    /// The body fields that say what happened, where the report has them.
    pub fields: Map<String, Value>,
}

/// What a digest stands for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Digest {
    /// How many alerts it stands for.
    pub more: u64,
    /// How many of them are new problems (the others are spikes).
    pub new_problems: u64,
    /// The first [`DIGEST_NAMED`] of them.
    pub named: Vec<Named>,
    /// The site's alerts are paused until then: the next clock hour, when its budget is new.
    pub paused_until: Timestamp,
}

/// One alert a digest names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Named {
    pub kind: AlertKind,
    #[serde(rename = "type")]
    pub report_type: String,
    pub fingerprint: String,
    /// Its problem's group, on one line and cut short (reported text).
    pub label: String,
}

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
            visitors: u64::from(report.visitor.is_some()),
            count,
            previous_day_hourly_average: None,
            sample: Sample {
                url: report.url.clone(),
                disposition: report.disposition.map(|d| d.as_str().to_owned()),
                fields,
            },
            // The type lets a table read the problem's own index; type names are letters,
            // digits, `-`, `_` and `.` by their grammar (`ReportType::from_name`).
            command: format!(
                "lookout query --site {} --type {} --fingerprint {} --since 7d",
                report.site,
                report.report_type.as_str(),
                report.fingerprint
            ),
            digest: None,
            script: None,
        }
    }

    /// A script alert about `report`'s script (`facts`), from the reports of a batch.
    pub fn script(
        kind: AlertKind,
        report: &Report,
        browsers: Vec<String>,
        count: u64,
        facts: ScriptFacts,
    ) -> Self {
        let mut alert = Self::of(kind, report, browsers, count);
        alert.command = format!("lookout scripts --site {}", report.site);
        alert.script = Some(facts);
        alert
    }

    /// One message for the alerts `covered` of `site`, which its hourly budget does not
    /// cover: how many, the first [`DIGEST_NAMED`] of them, and that the site's alerts are
    /// paused until `paused_until`.
    pub fn digest(site: &str, covered: &[&Alert], paused_until: Timestamp) -> Self {
        let named = covered
            .iter()
            .take(DIGEST_NAMED)
            .map(|a| Named {
                kind: a.kind,
                report_type: a.report_type.clone(),
                fingerprint: a.fingerprint.clone(),
                label: cut(&single_line(&a.group), DIGEST_LABEL_CHARS),
            })
            .collect();
        let new_problems = covered
            .iter()
            .filter(|a| a.kind == AlertKind::NewProblem)
            .count() as u64;
        let first_seen = covered
            .iter()
            .map(|a| a.first_seen)
            .min()
            .unwrap_or(paused_until);
        Self {
            schema_version: SCHEMA_VERSION,
            kind: AlertKind::Digest,
            site: site.to_owned(),
            report_type: String::new(),
            fingerprint: String::new(),
            group: String::new(),
            classification: None,
            policy_version: None,
            first_seen,
            browsers: Vec::new(),
            visitors: 0,
            count: covered.len() as u64,
            previous_day_hourly_average: None,
            sample: Sample {
                url: String::new(),
                disposition: None,
                fields: Map::new(),
            },
            command: format!("lookout top --site {site} --since 1h"),
            digest: Some(Digest {
                more: covered.len() as u64,
                new_problems,
                named,
                paused_until,
            }),
            script: None,
        }
    }

    /// Whether every alert a digest stands for is a new problem (else some are spikes).
    fn digest_of_new_problems(&self) -> bool {
        self.digest
            .as_ref()
            .is_none_or(|d| d.new_problems == d.more)
    }

    /// The webhook payload (generic JSON).
    pub fn json(&self) -> Value {
        serde_json::to_value(self).unwrap_or_default()
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Options, RequestMeta, decode};

    pub(super) fn decoded(body: &[u8]) -> Report {
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

    pub(super) fn report() -> Report {
        decoded(
            br#"{"csp-report":{"document-uri":"https://example.com/","blocked-uri":"https://evil.example/<!channel>.js","effective-directive":"script-src-elem","original-policy":"script-src 'self'","disposition":"enforce"}}"#,
        )
    }

    #[test]
    fn an_alert_reads_back_from_its_payload() {
        let mut a = Alert::of(AlertKind::Spike, &report(), vec!["Chrome 156".into()], 60);
        a.previous_day_hourly_average = Some(1.5);
        let back: Alert = serde_json::from_value(a.json()).unwrap();
        assert_eq!(back, a);
        let d = Alert::digest("example.com", &[&a], Timestamp(1_796_000_000_000));
        let back: Alert = serde_json::from_str(&serde_json::to_string(&d).unwrap()).unwrap();
        assert_eq!(back, d);
    }
}
