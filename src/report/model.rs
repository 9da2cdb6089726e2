//! The normalized report: one shape for every format a browser sends.
//!
//! Adding a report type: a line in the `report_types!` list below (older names in `ALIASES`);
//! the compiler then asks for its fields (`schema::fields_of`) and its group
//! (`fingerprint::group_key`). Add a payload under `tests/fixtures/` with its expectation, and
//! the new names to `fuzz/decode.dict` (a test checks it).

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::body::Body;

/// Declares [`ReportType`] from one list of `Variant => "name"`: the enum (with
/// [`ReportType::Other`] last), [`ReportType::KNOWN`] in the list's order, and
/// [`ReportType::as_str`]. Every other `match` on a type is written out, without a wildcard.
macro_rules! report_types {
    ($($(#[$attr:meta])* $variant:ident => $name:literal,)+) => {
        /// The kind of a report, in the Reporting API's vocabulary.
        ///
        /// Older names (`csp`, `nel`, `integrity-policy-violation`) map to their current names;
        /// any other type is kept as [`ReportType::Other`] so that reports of types not yet
        /// invented are stored, never dropped.
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum ReportType {
            $($(#[$attr])* $variant,)+
            /// A type Lookout has no rules for; its body is kept as sent.
            Other(String),
        }

        impl ReportType {
            /// Every type Lookout has rules for (all but [`ReportType::Other`]).
            pub const KNOWN: [ReportType; [$($name),+].len()] = [$(Self::$variant),+];

            /// The name stored and shown for this type.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $name,)+
                    Self::Other(name) => name,
                }
            }
        }
    };
}

report_types! {
    CspViolation => "csp-violation",
    CspHash => "csp-hash",
    NetworkError => "network-error",
    Deprecation => "deprecation",
    Intervention => "intervention",
    Crash => "crash",
    Coep => "coep",
    Coop => "coop",
    PermissionsPolicyViolation => "permissions-policy-violation",
    PotentialPermissionsPolicyViolation => "potential-permissions-policy-violation",
    DocumentPolicyViolation => "document-policy-violation",
    IntegrityViolation => "integrity-violation",
    /// Document-Isolation-Policy: a `corp` body, as COEP sends.
    Dip => "dip",
    /// Connection-Allowlist (a Chrome origin trial): a connection the allowlist refused.
    ConnectionAllowlist => "connection-allowlist",
    Hpkp => "hpkp",
    ExpectCt => "expect-ct",
    ExpectStaple => "expect-staple",
}

/// Names browsers sent or specifications used before the current ones.
const ALIASES: [(&str, ReportType); 3] = [
    ("csp", ReportType::CspViolation),
    ("nel", ReportType::NetworkError),
    // Integrity-Policy's reports, as the specification first named them.
    ("integrity-policy-violation", ReportType::IntegrityViolation),
];

impl ReportType {
    /// Maps a type name as sent (current or older) to a type.
    ///
    /// Returns `None` for a name that is not a plausible type token (empty, too long, or with
    /// characters outside `[A-Za-z0-9._-]`), since the type becomes part of a storage key.
    pub fn from_name(name: &str) -> Option<Self> {
        if let Some(t) = Self::KNOWN.into_iter().find(|t| t.as_str() == name) {
            return Some(t);
        }
        if let Some((_, t)) = ALIASES.into_iter().find(|(alias, _)| *alias == name) {
            return Some(t);
        }
        let plausible = !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        plausible.then(|| Self::Other(name.to_ascii_lowercase()))
    }
}

impl fmt::Display for ReportType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ReportType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ReportType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        Self::from_name(&name).ok_or_else(|| serde::de::Error::custom("invalid report type"))
    }
}

/// Whether the policy behind a report was enforced or only reported.
///
/// Normalized from the three vocabularies browsers use: `enforce`/`report` (CSP, permissions and
/// document policy), `enforce`/`reporting` (COOP, COEP) and the boolean `reportOnly` (integrity).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Disposition {
    Enforce,
    Report,
}

impl Disposition {
    /// Parses any of the disposition words browsers send.
    pub fn from_word(word: &str) -> Option<Self> {
        let word = word.trim();
        let is = |w: &str| word.eq_ignore_ascii_case(w);
        if is("enforce") {
            Some(Self::Enforce)
        } else if is("report") || is("reporting") || is("report-only") {
            Some(Self::Report)
        } else {
            None
        }
    }

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enforce => "enforce",
            Self::Report => "report",
        }
    }
}

/// The wire format a report arrived in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceFormat {
    /// `{"csp-report": {...}}` sent to a CSP `report-uri`.
    LegacyCsp,
    /// An element of a Reporting API array (`application/reports+json`).
    ReportingApi,
    /// A single Reporting API object, not in an array (Safari).
    ReportingApiSingle,
    /// An HPKP violation report (RFC 7469).
    Hpkp,
    /// An Expect-CT report (RFC 9163).
    ExpectCt,
    /// An Expect-Staple report.
    ExpectStaple,
}

/// A point in time, in milliseconds since the Unix epoch; serialized as RFC 3339 in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// The latest time Lookout represents: 9999-12-31T23:59:59.999Z (RFC 3339 has four-digit
    /// years). Later times are shown as this one.
    pub const MAX: Self = Self(253_402_300_799_999);

    /// The current time.
    pub fn now() -> Self {
        Self::from_system_time(SystemTime::now())
    }

    /// Converts a `SystemTime`, clamping times before 1970 to the epoch.
    pub fn from_system_time(t: SystemTime) -> Self {
        let ms = t
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis().min(i64::MAX as u128) as i64)
            .unwrap_or(0);
        Self(ms)
    }

    /// Milliseconds since the Unix epoch.
    pub fn millis(self) -> i64 {
        self.0
    }

    /// This time minus `ms` milliseconds, never before the epoch.
    pub fn minus_millis(self, ms: u64) -> Self {
        Self(self.0.saturating_sub(ms.min(i64::MAX as u64) as i64).max(0))
    }

    /// Parses an RFC 3339 date-time (`2014-04-06T13:00:50Z`).
    pub fn parse_rfc3339(s: &str) -> Option<Self> {
        humantime::parse_rfc3339_weak(s.trim())
            .ok()
            .map(Self::from_system_time)
    }

    /// The UTC day, `YYYY-MM-DD`.
    pub fn day(self) -> String {
        let mut s = self.to_string();
        s.truncate(10);
        s
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = UNIX_EPOCH + Duration::from_millis(self.0.clamp(0, Self::MAX.0) as u64);
        write!(f, "{}", humantime::format_rfc3339_millis(t))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse_rfc3339(&s).ok_or_else(|| serde::de::Error::custom("invalid RFC 3339 time"))
    }
}

/// One normalized report, as stored.
///
/// Every format becomes this shape: the Reporting API's envelope (`type`, `url`, `user_agent`,
/// `body`) plus what Lookout derives (site, times, disposition, grouping keys).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Stable identity: the same report delivered twice gets the same id.
    pub id: String,
    /// The host name the report belongs to.
    pub site: String,
    /// The report type.
    #[serde(rename = "type")]
    pub report_type: ReportType,
    /// The document (or, for NEL, the request) the report is about.
    pub url: String,
    /// The browser's User-Agent, from the report or else from the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// Browser family and major version derived from `user_agent` (`Chrome 120`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub browser: Option<String>,
    /// When Lookout received the report.
    pub received_at: Timestamp,
    /// When the browser saw the problem: `received_at` minus the report's `age`.
    pub occurred_at: Timestamp,
    /// The report's age in milliseconds when it was delivered.
    pub age_ms: u64,
    /// Set when the sender's time was not used because it put the occurrence too far in the
    /// past or in the future (an `age` over [`crate::report::MAX_AGE_MS`], a certificate
    /// report's `date-time` over [`crate::report::MAX_STATED_AGE_MS`] old or ahead of receipt):
    /// `occurred_at` is then `received_at`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub time_untrusted: bool,
    /// Enforced or report-only, where the format says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disposition: Option<Disposition>,
    /// For a CSP report carrying its policy: whether that policy really blocks what the
    /// report names (see [`crate::report::classify`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classification: Option<super::Classification>,
    /// The policy version named by the endpoint URL (`/r/{site}?v=3`); part of the group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_version: Option<String>,
    /// The Reporting API endpoint name the sender delivered to, when it says (WebKit's
    /// `destination`): which header's `report-to` fired. Not part of the identity or group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// The wire format it arrived in.
    pub format: SourceFormat,
    /// A short hash of `group`: reports with the same fingerprint are the same problem.
    pub fingerprint: String,
    /// The readable grouping key behind `fingerprint`.
    pub group: String,
    /// The report body: known fields typed, unknown fields kept as sent.
    pub body: Body,
    /// Paths of fields that were cut to keep the item small; empty when nothing was cut.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub truncated: Vec<String>,
    /// The sender's network as one byte under the day's key (see [`super::visitor`]); `None`
    /// when the sender's address was not known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visitor: Option<u8>,
}

#[cfg(test)]
mod tests {
    use super::ReportType;

    #[test]
    fn the_known_types_are_every_named_type_once() {
        let mut names: Vec<&str> = ReportType::KNOWN.iter().map(ReportType::as_str).collect();
        for t in &ReportType::KNOWN {
            assert_eq!(ReportType::from_name(t.as_str()).as_ref(), Some(t));
        }
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ReportType::KNOWN.len());
        assert!(
            !ReportType::KNOWN
                .iter()
                .any(|t| matches!(t, ReportType::Other(_)))
        );
    }

    #[test]
    fn older_names_are_aliases_and_other_names_are_kept() {
        for (alias, t) in super::ALIASES {
            assert_eq!(ReportType::from_name(alias), Some(t.clone()), "{alias}");
            assert!(!ReportType::KNOWN.iter().any(|k| k.as_str() == alias));
            assert_ne!(t.as_str(), alias);
        }
        assert_eq!(
            ReportType::from_name("integrity-policy-violation")
                .unwrap()
                .as_str(),
            "integrity-violation"
        );
        assert_eq!(
            ReportType::from_name("X-Future"),
            Some(ReportType::Other("x-future".into()))
        );
        assert_eq!(ReportType::from_name("a b"), None);
        assert_eq!(ReportType::from_name(""), None);
    }

    /// Alerts print `lookout query --type NAME ...` for an operator to paste: a type name
    /// from a report can carry nothing a shell would act on.
    #[test]
    fn a_type_name_holds_nothing_a_shell_would_act_on() {
        for name in [
            "x;rm -rf ~",
            "$(id)",
            "`id`",
            "x'y",
            "x\"y",
            "x|y",
            "x&&y",
            "x>y",
            "x\ny",
            "x*",
            "~x",
            "x$HOME",
            &"a".repeat(65),
        ] {
            assert_eq!(ReportType::from_name(name), None, "{name:?}");
        }
        assert!(ReportType::from_name(&"a".repeat(64)).is_some());
    }
}
