//! What the suggestion leaves out, and why: one [`Reason`] per rule of the builder that a
//! problem can fail, each with advice for the owner.

use std::fmt;

use serde::Serialize;

/// Why a problem is left out of the suggestion.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    AllowedByPolicy,
    Indeterminate,
    TooFewReports,
    TooFewBrowsers,
    TooFewVisitors,
    ForeignDocument,
    NotAFetchDirective,
    NotASource,
    SchemeRunsCode,
    InlineCode,
    InlineAttribute,
    UnsafeInline,
    UnsafeEval,
    TrustedTypes,
    NotRestricted,
    TooLarge,
}

impl Reason {
    /// The reason as JSON spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AllowedByPolicy => "allowed_by_policy",
            Self::Indeterminate => "indeterminate",
            Self::TooFewReports => "too_few_reports",
            Self::TooFewBrowsers => "too_few_browsers",
            Self::TooFewVisitors => "too_few_visitors",
            Self::ForeignDocument => "foreign_document",
            Self::NotAFetchDirective => "not_a_fetch_directive",
            Self::NotASource => "not_a_source",
            Self::SchemeRunsCode => "scheme_runs_code",
            Self::InlineCode => "inline_code",
            Self::InlineAttribute => "inline_attribute",
            Self::UnsafeInline => "unsafe_inline",
            Self::UnsafeEval => "unsafe_eval",
            Self::TrustedTypes => "trusted_types",
            Self::NotRestricted => "not_restricted",
            Self::TooLarge => "too_large",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A problem the suggestion does not act on, and why.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct LeftOut {
    pub fingerprint: String,
    pub directive: String,
    pub blocked: String,
    pub document: String,
    pub reports: u64,
    pub reason: Reason,
    /// What it means and what to do.
    pub advice: String,
}

impl LeftOut {
    /// `o` left out for `reason`, with `advice`.
    pub(super) fn of(o: &super::Observation, reason: Reason, advice: String) -> Self {
        Self {
            fingerprint: o.fingerprint.clone(),
            directive: o.directive.clone(),
            blocked: o.blocked.clone(),
            document: o.document.clone(),
            reports: o.reports,
            reason,
            advice,
        }
    }
}

/// One line, as `lookout policy` and the dashboard list it:
/// `img-src https://a.example on https://example.com/ (1 report(s); too_few_visitors): ...`.
impl fmt::Display for LeftOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} on {} ({} report(s); {}): {}",
            self.directive, self.blocked, self.document, self.reports, self.reason, self.advice
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_left_out_problem_is_one_line_with_its_reason_and_advice() {
        let l = LeftOut {
            fingerprint: "0123456789abcdef".into(),
            directive: "img-src".into(),
            blocked: "https://a.example".into(),
            document: "https://example.com/".into(),
            reports: 3,
            reason: Reason::TooFewVisitors,
            advice: "1 visitor(s)".into(),
        };
        assert_eq!(
            l.to_string(),
            "img-src https://a.example on https://example.com/ (3 report(s); too_few_visitors): 1 visitor(s)"
        );
    }
}
