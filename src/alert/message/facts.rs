//! An alert as facts: a headline, then one labelled line per fact, each value marked with
//! where it comes from (Lookout, a report, a command), which decides how it is shown.

use serde_json::Value;

use super::text::{code_span, cut, flatten, single_line, slack_escape};
use super::{Alert, AlertKind, Content, Digest, ScriptFacts};

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
    /// One line: what happened, where.
    pub fn headline(&self) -> String {
        match self.kind {
            AlertKind::NewProblem => format!("New {} problem on {}", self.report_type, self.site),
            AlertKind::Spike => format!(
                "Spike of {} on {}: {} reports this hour",
                self.report_type, self.site, self.count
            ),
            AlertKind::NewScript => format!("New script on {}", self.site),
            AlertKind::ScriptChanged => format!("Script changed on {}", self.site),
            AlertKind::ScriptDivergent => {
                format!("Script served with two contents on {}", self.site)
            }
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
        if let Some(s) = &self.script {
            return self.script_facts(s);
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
                AlertKind::NewScript => "New script".to_owned(),
                AlertKind::ScriptChanged => "Script changed".to_owned(),
                AlertKind::ScriptDivergent => "Script served with two contents".to_owned(),
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

    fn script_facts(&self, s: &ScriptFacts) -> Vec<Fact> {
        let content = |c: &Content| {
            format!(
                "{} (first seen {}, last seen {}, {} visitors{})",
                c.hash.as_deref().unwrap_or("no hash"),
                c.first_seen,
                c.last_seen,
                c.visitors,
                if c.authorized { ", authorized" } else { "" }
            )
        };
        let mut facts = vec![
            Fact::reported("Script", &s.url),
            Fact::reported(
                "Content (SHA-256 of its bytes)",
                s.hash
                    .as_deref()
                    .unwrap_or("no hash: loaded cross-origin without CORS"),
            ),
            Fact::own("First seen", self.first_seen.to_string()),
            Fact::own("Visitors (distinct networks)", self.visitors.to_string()),
        ];
        let label = match self.kind {
            AlertKind::ScriptDivergent => "Also served",
            _ => "Seen before",
        };
        for c in &s.previous {
            facts.push(Fact::reported(label, content(c)));
        }
        facts.push(Fact::own(
            "Authorization",
            match &s.authorized_hash {
                Some(h) if s.hash.as_deref() == Some(h) => "this content is authorized".to_owned(),
                Some(_) => "the URL is authorized with another content".to_owned(),
                None => "none".to_owned(),
            },
        ));
        if !self.browsers.is_empty() {
            facts.push(Fact::reported("Browsers", self.browsers.join(", ")));
        }
        facts.push(Fact::reported("Page", &self.sample.url));
        facts.push(Fact::command("See more", &self.command));
        facts
    }

    /// The facts, as lines of plain text: each one line, reported values cut short.
    pub fn lines(&self) -> Vec<String> {
        self.facts().iter().map(Fact::plain).collect()
    }
}
