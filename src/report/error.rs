//! Why a request body, or one report inside it, was refused.

use thiserror::Error;

/// The whole request body is unusable: nothing in it can be stored.
#[derive(Debug, Error)]
pub enum DecodeError {
    /// The body is empty or only white space.
    #[error("the body is empty")]
    Empty,
    /// The body is larger than the configured limit.
    #[error("the body is larger than {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The body is not JSON (or not UTF-8, or nested too deeply).
    #[error("the body is not valid JSON: {0}")]
    NotJson(#[source] serde_json::Error),
    /// The body is JSON but holds no report.
    #[error("the body holds no report: {0}")]
    NoReport(NoReport),
    /// The batch has more reports than the configured limit.
    #[error("the batch holds {count} reports, more than the limit of {limit}")]
    TooManyReports {
        /// Reports in the batch.
        count: usize,
        /// The limit.
        limit: usize,
    },
}

impl DecodeError {
    /// A short machine-readable code for API answers and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Empty => "empty_body",
            Self::TooLarge { .. } => "body_too_large",
            Self::NotJson(_) => "not_json",
            Self::NoReport(_) => "no_report",
            Self::TooManyReports { .. } => "too_many_reports",
        }
    }
}

/// Why a JSON body holds no report.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NoReport {
    /// `[]`.
    #[error("an empty array")]
    EmptyArray,
    /// A string, number, boolean or null.
    #[error("a JSON {0}, not an object or array")]
    NotAnObjectOrArray(&'static str),
    /// The one object is not a report.
    #[error("{0}")]
    NotAReport(RejectReason),
    /// No element of the array is a report; the first one's reason.
    #[error("no element of the array is a report (first: {0})")]
    NoElementIsAReport(RejectReason),
}

/// Why one element of a batch was not accepted as a report. The others are still kept.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RejectReason {
    /// The element is not a JSON object.
    #[error("not a JSON object")]
    NotAnObject,
    /// The object is none of the known report shapes.
    #[error("not a known report format")]
    UnknownShape,
    /// A Reporting API report without a string `type`.
    #[error("missing or non-string \"type\"")]
    MissingType,
    /// A `type` that cannot be a report type (too long, odd characters).
    #[error("invalid \"type\"")]
    InvalidType,
    /// A `body` that is present but not an object.
    #[error("\"body\" is not an object")]
    BodyNotObject,
    /// A certificate report wrapper whose content is not an object.
    #[error("report content is not an object")]
    ContentNotObject,
    /// No site could be derived from the report's URL.
    #[error("no site: the report's URL has no valid host name")]
    NoSite,
}

impl RejectReason {
    /// A short machine-readable code for metrics.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotAnObject => "not_an_object",
            Self::UnknownShape => "unknown_shape",
            Self::MissingType => "missing_type",
            Self::InvalidType => "invalid_type",
            Self::BodyNotObject => "body_not_object",
            Self::ContentNotObject => "content_not_object",
            Self::NoSite => "no_site",
        }
    }
}

/// A refused element of a batch, with its position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// Position in the batch (0 for a single report).
    pub index: usize,
    /// Why it was refused.
    pub reason: RejectReason,
}
