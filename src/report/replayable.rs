//! What a report read back from a log must satisfy before it is stored again: a recovery file
//! is text anyone may have edited, so it passes the checks the endpoint applies to a request
//! (its site, its group, its sizes, its age), and what is derived is derived again.

use super::fingerprint::{MAX_GROUP_PART_BYTES, fingerprint};
use super::privacy::{SizeLimits, bound_body};
use super::{Report, Timestamp, browser_of, parse_endpoint_name, parse_site};

/// Most parts a group has (type, directive, blocked, document, sample, classification, version).
const MAX_GROUP_PARTS: usize = 8;
/// Longest User-Agent kept, as the endpoint keeps it.
const MAX_USER_AGENT_BYTES: usize = 512;
/// How far in the future a report may have been received: clocks drift, not by a day.
const MAX_FUTURE_MS: i64 = 86_400_000;

/// Why a logged report is not stored again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unreplayable {
    #[error("its site {0:?} is not a host name")]
    Site(String),
    #[error("its fingerprint does not match its group")]
    Fingerprint,
    #[error("its group is longer than any report's")]
    Group,
    #[error("its User-Agent is longer than any the endpoint keeps")]
    UserAgent,
    #[error("its endpoint name is not one the endpoint keeps")]
    EndpointName,
    #[error("it was received {0}, outside the retention window or in the future")]
    ReceivedAt(Timestamp),
    #[error("it is noise the endpoint filters ({0})")]
    Noise(&'static str),
}

impl Report {
    /// Checks a report read from a log, re-derives its browser and re-bounds its body; `now`
    /// and `retention_ms` say which receipt times are still kept.
    pub fn check_replayable(
        &mut self,
        now: Timestamp,
        retention_ms: i64,
    ) -> Result<(), Unreplayable> {
        if parse_site(&self.site).ok().as_deref() != Some(self.site.as_str()) {
            return Err(Unreplayable::Site(self.site.escape_default().to_string()));
        }
        if self.group.len() > MAX_GROUP_PARTS * (MAX_GROUP_PART_BYTES + 1) + 64 {
            return Err(Unreplayable::Group);
        }
        if fingerprint(&self.group) != self.fingerprint {
            return Err(Unreplayable::Fingerprint);
        }
        if self
            .user_agent
            .as_ref()
            .is_some_and(|ua| ua.len() > MAX_USER_AGENT_BYTES)
        {
            return Err(Unreplayable::UserAgent);
        }
        if self
            .endpoint
            .as_deref()
            .is_some_and(|name| parse_endpoint_name(name).is_none())
        {
            return Err(Unreplayable::EndpointName);
        }
        let received = self.received_at.millis();
        if received < now.millis().saturating_sub(retention_ms)
            || received > now.millis().saturating_add(MAX_FUTURE_MS)
        {
            return Err(Unreplayable::ReceivedAt(self.received_at));
        }
        let seen = super::Seen {
            report_type: &self.report_type,
            url: &self.url,
            user_agent: self.user_agent.as_deref(),
            body: &self.body,
        };
        // The default rules (extensions, injected code, about:blank); the endpoint's optional
        // lists are its own configuration, which a log does not carry.
        if let Some(reason) = super::noise(&seen, None, &super::Options::default()) {
            return Err(Unreplayable::Noise(reason.code()));
        }
        self.browser = self.user_agent.as_deref().and_then(browser_of);
        let mut cut = bound_body(&mut self.body, &SizeLimits::default());
        self.truncated.append(&mut cut);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Options, RequestMeta, decode};

    const DAY: i64 = 86_400_000;

    fn sample(now: Timestamp) -> Report {
        let body = br#"{"csp-report":{"document-uri":"https://example.com/","blocked-uri":"https://cdn.example.net/x.js","effective-directive":"script-src-elem"}}"#;
        let meta = RequestMeta {
            user_agent: Some("Mozilla/5.0 Firefox/149.0"),
            ..RequestMeta::new(Some("example.com"), now)
        };
        decode(body, &meta, &Options::default())
            .unwrap()
            .reports
            .remove(0)
    }

    #[test]
    fn a_logged_report_is_checked_as_a_request_would_be() {
        let now = Timestamp(1_795_305_600_000);
        let good = sample(now);
        let mut r = good.clone();
        assert_eq!(r.check_replayable(now, 30 * DAY), Ok(()));
        assert_eq!(r, good);

        let mut r = good.clone();
        r.site = "../../evil.example".into();
        assert!(matches!(
            r.check_replayable(now, 30 * DAY),
            Err(Unreplayable::Site(_))
        ));
        let mut r = good.clone();
        r.group.push_str(" forged");
        assert_eq!(
            r.check_replayable(now, 30 * DAY),
            Err(Unreplayable::Fingerprint)
        );
        let mut r = good.clone();
        r.received_at = Timestamp(1_262_304_000_000);
        assert!(matches!(
            r.check_replayable(now, 30 * DAY),
            Err(Unreplayable::ReceivedAt(_))
        ));
        let mut r = good.clone();
        r.endpoint = Some("<script>".into());
        assert_eq!(
            r.check_replayable(now, 30 * DAY),
            Err(Unreplayable::EndpointName)
        );
        let mut r = good.clone();
        r.body = serde_json::from_value(serde_json::json!({
            "blockedURL": "chrome-extension", "documentURL": "https://example.com/",
            "effectiveDirective": "script-src-elem"
        }))
        .unwrap();
        assert!(matches!(
            r.check_replayable(now, 30 * DAY),
            Err(Unreplayable::Noise(_))
        ));
        let mut r = good.clone();
        r.browser = Some(format!("Chrome {}", "9".repeat(430)));
        r.check_replayable(now, 30 * DAY).unwrap();
        assert_eq!(r.browser.as_deref(), Some("Firefox 149"), "derived again");
    }
}
