//! The domain: decoding, normalizing, filtering and fingerprinting browser reports.
//!
//! Pure and synchronous: bytes and request metadata in, normalized [`Report`]s out. Nothing
//! here knows about HTTP, Lambda or storage.

mod body;
mod browser;
mod classify;
mod error;
mod fields;
pub mod filter;
mod fingerprint;
mod id;
pub mod injected;
mod model;
mod node;
pub mod privacy;
mod replayable;
pub mod schema;
pub mod script;
mod shape;
pub mod site;
mod stack;
pub mod visitor;
pub(crate) mod weburl;

use std::collections::BTreeMap;

use fingerprint::group_key;
use node::Node;

pub use body::{Body, Key};
pub use browser::browser_of;
pub use classify::{Classification, classify};
pub use error::{DecodeError, NoReport, RejectReason, Rejection};
pub use filter::{InvalidPattern, NoiseFilter, SourcePattern};
pub use fingerprint::{CspGroup, SAMPLE_PREFIX_CHARS, fingerprint, parse_csp_group, sample_prefix};
pub use id::{GRACE_MS, Identity, WINDOW_MS, identity_of_together, window_of};
pub use model::{Disposition, Report, ReportType, SourceFormat, Timestamp};
pub use privacy::SizeLimits;
pub use replayable::Unreplayable;
pub use site::{InvalidSite, SiteList, host_of, parse_site};

use shape::Draft;

/// The largest request body accepted by default, in bytes (`MaxBodyBytes`, `--max-body-bytes`).
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
/// The most reports accepted in one request by default (`MaxReports`, `--max-reports`):
/// Chromium queues at most 100 reports.
pub const DEFAULT_MAX_REPORTS: usize = 100;

/// How reports are decoded and what is kept. Built once from configuration.
#[derive(Debug, Clone)]
pub struct Options {
    /// Remove query strings and fragments from every URL (on by default).
    pub strip_query: bool,
    /// The noise filter (default list on by default).
    pub noise: NoiseFilter,
    /// Sites reports may be collected for; empty allows all.
    pub allowed_sites: SiteList,
    /// Treat a report whose URL's host is not the site (or a subdomain) as noise.
    pub strict_site: bool,
    /// The largest body accepted, in bytes.
    pub max_body_bytes: usize,
    /// The most reports accepted in one request.
    pub max_reports: usize,
    /// Bounds on one stored report.
    pub size: SizeLimits,
    /// Share of reports kept, per type name (`network-error` → 0.1); unlisted types keep all.
    /// The decision follows the report's id, so a re-delivered report gets the same one.
    pub sample_rates: BTreeMap<String, f64>,
    /// Treat reports from in-app browsers (Facebook, Instagram, LINE: see
    /// [`filter::in_app_browser`]) as noise; off by default.
    pub ignore_in_app_browsers: bool,
    /// Treat reports about pages seen through Google Translate's proxy (`*.translate.goog`)
    /// as noise; off by default.
    pub ignore_translate_proxies: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            strip_query: true,
            noise: NoiseFilter::defaults(),
            allowed_sites: SiteList::default(),
            strict_site: false,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_reports: DEFAULT_MAX_REPORTS,
            size: SizeLimits::default(),
            sample_rates: BTreeMap::new(),
            ignore_in_app_browsers: false,
            ignore_translate_proxies: false,
        }
    }
}

/// The collector's own report endpoint, to recognise NEL reports about report uploads.
#[derive(Debug, Clone, Copy)]
pub struct Endpoint<'a> {
    /// Host the request was sent to (no port).
    pub host: &'a str,
    /// Path the request was sent to.
    pub path: &'a str,
}

/// What the transport knows about one request.
#[derive(Debug, Clone, Copy)]
pub struct RequestMeta<'a> {
    /// The site named by the request (`/r/{site}`), already validated; `None` derives the site
    /// from each report's URL.
    pub site: Option<&'a str>,
    /// The request's User-Agent, used when a report carries none.
    pub user_agent: Option<&'a str>,
    /// When the request arrived.
    pub received_at: Timestamp,
    /// Where the request was sent.
    pub endpoint: Option<Endpoint<'a>>,
    /// The policy version the endpoint URL names (`/r/{site}?v=3`), already validated with
    /// [`parse_policy_version`].
    pub policy_version: Option<&'a str>,
}

impl<'a> RequestMeta<'a> {
    /// A request for `site` (`None`: for the sites its reports name) received at
    /// `received_at`, with nothing else known of it: no User-Agent, endpoint or policy version.
    pub fn new(site: Option<&'a str>, received_at: Timestamp) -> Self {
        Self {
            site,
            user_agent: None,
            received_at,
            endpoint: None,
            policy_version: None,
        }
    }
}

/// The longest endpoint name kept (WebKit's `destination`).
pub const MAX_ENDPOINT_NAME_LEN: usize = 64;

/// An endpoint name as a report may tell it: 1 to 64 of `A-Z a-z 0-9 . _ - *` (the
/// characters of a `Reporting-Endpoints` key, either case).
pub fn parse_endpoint_name(s: &str) -> Option<&str> {
    let ok = !s.is_empty()
        && s.len() <= MAX_ENDPOINT_NAME_LEN
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'*'));
    ok.then_some(s)
}

/// The longest policy version accepted in an endpoint URL.
pub const MAX_POLICY_VERSION_LEN: usize = 32;

/// A policy version as an endpoint URL may name it: 1 to 32 of `A-Z a-z 0-9 . _ -`.
pub fn parse_policy_version(s: &str) -> Option<&str> {
    let ok = !s.is_empty()
        && s.len() <= MAX_POLICY_VERSION_LEN
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    ok.then_some(s)
}

/// Why a valid report was not stored. Filtered reports are still answered as accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilterReason {
    /// A `blockedURL` or `sourceFile` matched a noise pattern.
    Noise(String),
    /// An inline or eval report whose sample starts like code an extension or security
    /// software injects (see [`injected`]); names the injector.
    InjectedSample(&'static str),
    /// The document is `about:blank`.
    AboutBlank,
    /// The User-Agent is an in-app browser's (`ignore_in_app_browsers`); names the app.
    InAppBrowser(&'static str),
    /// The document was seen through Google Translate's proxy (`ignore_translate_proxies`).
    TranslateProxy,
    /// A NEL report about an upload to this collector.
    OwnEndpoint,
    /// Strict mode: the report's URL belongs to another site.
    ForeignSite,
    /// The site is not in the allowlist.
    SiteNotAllowed,
    /// Left out by the type's sample rate.
    Sampled,
    /// Over the site's or the collector's per-minute budget.
    OverBudget,
}

impl FilterReason {
    /// A short machine-readable code for metrics.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Noise(_) => "noise",
            Self::InjectedSample(_) => "injected_sample",
            Self::AboutBlank => "about_blank",
            Self::InAppBrowser(_) => "in_app_browser",
            Self::TranslateProxy => "translate_proxy",
            Self::OwnEndpoint => "own_endpoint",
            Self::ForeignSite => "foreign_site",
            Self::SiteNotAllowed => "site_not_allowed",
            Self::Sampled => "sampled",
            Self::OverBudget => "over_budget",
        }
    }
}

/// A valid report that was filtered out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filtered {
    /// Its type.
    pub report_type: ReportType,
    /// Why.
    pub reason: FilterReason,
}

/// The outcome of decoding one request body.
#[derive(Debug, Default)]
pub struct Batch {
    /// Reports to store.
    pub reports: Vec<Report>,
    /// Valid reports dropped by a filter.
    pub filtered: Vec<Filtered>,
    /// Elements that were not reports.
    pub rejected: Vec<Rejection>,
}

/// Decodes a request body into normalized reports.
///
/// The body's shape decides the format: `{"csp-report": ...}`, a Reporting API array or single
/// object, HPKP, Expect-CT or Expect-Staple. One bad element of a batch is rejected on its own;
/// the good ones beside it are kept. Errors are for bodies with no usable report at all.
pub fn decode(body: &[u8], meta: &RequestMeta<'_>, opts: &Options) -> Result<Batch, DecodeError> {
    if body.len() > opts.max_body_bytes {
        return Err(DecodeError::TooLarge {
            limit: opts.max_body_bytes,
        });
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(DecodeError::Empty);
    }
    // One UTF-8 check of the whole body, so that strings are not checked one by one; a body
    // that fails it is no JSON, and the slice parser names where.
    let value: Node<'_> = match std::str::from_utf8(body) {
        Ok(text) => serde_json::from_str(text),
        Err(_) => serde_json::from_slice(body),
    }
    .map_err(DecodeError::NotJson)?;
    let mut batch = Batch::default();
    let mut take = |index, item, in_array| match shape::recognise(item, in_array)
        .and_then(|d| finish(d, meta, opts))
    {
        Ok(Ok(report)) => batch.reports.push(report),
        Ok(Err(filtered)) => batch.filtered.push(filtered),
        Err(reason) => batch.rejected.push(Rejection { index, reason }),
    };
    let in_array = match value {
        Node::Array(items) => {
            if items.is_empty() {
                return Err(DecodeError::NoReport(NoReport::EmptyArray));
            }
            if items.len() > opts.max_reports {
                return Err(DecodeError::TooManyReports {
                    count: items.len(),
                    limit: opts.max_reports,
                });
            }
            for (index, item) in items.into_iter().enumerate() {
                take(index, item, true);
            }
            true
        }
        obj @ Node::Object(_) => {
            take(0, obj, false);
            false
        }
        other => {
            return Err(DecodeError::NoReport(NoReport::NotAnObjectOrArray(
                json_kind(&other),
            )));
        }
    };
    if batch.reports.is_empty()
        && batch.filtered.is_empty()
        && let Some(first) = batch.rejected.first()
    {
        let reason = first.reason.clone();
        return Err(DecodeError::NoReport(if in_array {
            NoReport::NoElementIsAReport(reason)
        } else {
            NoReport::NotAReport(reason)
        }));
    }
    Ok(batch)
}

fn json_kind(v: &Node<'_>) -> &'static str {
    match v {
        Node::Null => "null",
        Node::Bool(_) => "boolean",
        Node::Num(_) => "number",
        Node::Str(_) => "string",
        Node::Array(_) => "array",
        Node::Object(_) => "object",
    }
}

/// Turns a recognised draft into a stored report, or says why it is filtered or rejected.
fn finish(
    mut d: Draft,
    meta: &RequestMeta<'_>,
    opts: &Options,
) -> Result<Result<Report, Filtered>, RejectReason> {
    let filtered = |reason| {
        Ok(Err(Filtered {
            report_type: d.report_type.clone(),
            reason,
        }))
    };
    let seen = Seen {
        report_type: &d.report_type,
        url: &d.url,
        user_agent: d.user_agent.as_deref().or(meta.user_agent),
        body: &d.body,
    };
    if let Some(reason) = noise(&seen, meta.endpoint, opts) {
        return filtered(reason);
    }
    let site = match site_of(&d.url, meta, opts)? {
        Ok(site) => site,
        Err(reason) => return filtered(reason),
    };

    if opts.strip_query {
        privacy::strip_query(&mut d.url);
        privacy::strip_body_urls(&mut d.body, schema::url_fields_of(&d.report_type));
    }
    let (classification, group) = grouping(&d, meta.policy_version);
    let truncated = privacy::bound_body(&mut d.body, &opts.size);

    let received_at = meta.received_at;
    let (occurred_at, age_ms, time_untrusted) = occurrence(received_at, &d);
    let user_agent = d
        .user_agent
        .or_else(|| meta.user_agent.map(str::to_owned))
        .map(|mut ua| {
            privacy::cut(&mut ua, 512);
            ua
        });
    let mut report = Report {
        id: String::new(),
        site,
        browser: user_agent.as_deref().and_then(browser_of),
        report_type: d.report_type,
        url: d.url,
        user_agent,
        received_at,
        occurred_at,
        age_ms,
        time_untrusted,
        disposition: d.disposition,
        classification,
        policy_version: meta.policy_version.map(str::to_owned),
        endpoint: d.endpoint,
        format: d.format,
        fingerprint: fingerprint(&group),
        group,
        body: d.body,
        truncated,
        // Set by the endpoint, which knows the sender's address; not part of the identity.
        visitor: None,
    };
    privacy::cut(&mut report.url, opts.size.max_string_bytes);
    report.id = id::report_id(&report);
    if let Some(&rate) = opts.sample_rates.get(report.report_type.as_str())
        && !sampled_in(&report.id, rate)
    {
        return Ok(Err(Filtered {
            report_type: report.report_type,
            reason: FilterReason::Sampled,
        }));
    }
    Ok(Ok(report))
}

/// The site a report is for: the one the request names, else its URL's host; or why it is
/// filtered (a site not allowed, a URL outside the named site with `strict_site`).
fn site_of(
    url: &str,
    meta: &RequestMeta<'_>,
    opts: &Options,
) -> Result<Result<String, FilterReason>, RejectReason> {
    let site = match meta.site {
        Some(s) => s.to_owned(),
        None => host_of(url).ok_or(RejectReason::NoSite)?,
    };
    if !opts.allowed_sites.allows(&site) {
        return Ok(Err(FilterReason::SiteNotAllowed));
    }
    if opts.strict_site
        && meta.site.is_some()
        && !host_of(url).is_some_and(|h| site::is_same_or_subdomain(&h, &site))
    {
        return Ok(Err(FilterReason::ForeignSite));
    }
    Ok(Ok(site))
}

/// A CSP report's classification by its own policy, and the report's grouping key (a new
/// policy version starts fresh problems).
fn grouping(d: &Draft, policy_version: Option<&str>) -> (Option<Classification>, String) {
    let classification = match d.report_type {
        ReportType::CspViolation => classify(&d.body, &d.url),
        _ => None,
    };
    let mut group = group_key(
        &d.report_type,
        &d.url,
        &d.body,
        classification,
        d.disposition,
    );
    if let Some(v) = policy_version {
        group.push_str(" v=");
        group.push_str(v);
    }
    (classification, group)
}

/// The largest `age` trusted: 30 minutes. Chromium drops a queued report 15 minutes after
/// it was queued (`max_report_age`), but sweeps its queue only every 5 minutes and tries
/// delivery once a minute, so a report can still leave about 21 minutes old; Firefox retries
/// for seconds and Safari sends at once (`age: 0`). The rest is slack for a slow upload and
/// an engine that queues longer. A larger `age` is stale or forged: trusted, it would let a
/// sender file reports (and counts) under an earlier hour or day.
pub const MAX_AGE_MS: u64 = 30 * 60_000;

/// The longest a certificate report's stated time (`date-time`, from the sender's clock,
/// which may be off) may reach into the past: 7 days. An older time would file the report
/// (and counts) under any past day, and out of the retention's reach.
pub const MAX_STATED_AGE_MS: u64 = 7 * 86_400_000;

/// When a report occurred, its age in milliseconds, and whether the sender's time was set
/// aside: a stated time (certificate reports) is used when it is at most
/// [`MAX_STATED_AGE_MS`] before receipt, an `age` when it is at most [`MAX_AGE_MS`];
/// otherwise the occurrence is the receipt.
fn occurrence(received_at: Timestamp, d: &Draft) -> (Timestamp, u64, bool) {
    let (age, bound) = match d.stated_time {
        Some(t) if t <= received_at => (
            Some((received_at.millis() - t.millis()) as u64),
            MAX_STATED_AGE_MS,
        ),
        Some(_) => (None, MAX_STATED_AGE_MS),
        None => (Some(d.age_ms), MAX_AGE_MS),
    };
    match age {
        Some(age) if age <= bound => (received_at.minus_millis(age), age, false),
        Some(age) => (received_at, age, true),
        None => (received_at, 0, true),
    }
}

/// Noise rules: extension and adware sources, `about:blank` documents, the optional in-app
/// browser and translate proxy lists, and NEL reports about the collector's own endpoint.
/// What the noise rules read of a report: a draft being decoded, or a stored report read back
/// (`lookout replay` applies the same rules).
pub(crate) struct Seen<'a> {
    pub report_type: &'a ReportType,
    pub url: &'a str,
    /// The report's User-Agent, else the request's.
    pub user_agent: Option<&'a str>,
    pub body: &'a Body,
}

pub(crate) fn noise(
    d: &Seen<'_>,
    endpoint: Option<Endpoint<'_>>,
    opts: &Options,
) -> Option<FilterReason> {
    for key in ["blockedURL", "sourceFile"] {
        if let Some(v) = d.body.str_of(key)
            && let Some(p) = opts.noise.matching(v)
        {
            return Some(FilterReason::Noise(p.as_str().to_owned()));
        }
    }
    if *d.report_type == ReportType::CspViolation
        && fingerprint::is_code(d.body.str_of("blockedURL").unwrap_or_default())
        && let Some(who) = d.body.str_of("sample").and_then(injected::injected_by)
    {
        return Some(FilterReason::InjectedSample(who));
    }
    let document = d.body.str_of("documentURL").unwrap_or(d.url);
    if document == "about:blank" {
        return Some(FilterReason::AboutBlank);
    }
    if opts.ignore_translate_proxies
        && (filter::is_translate_proxy(document) || filter::is_translate_proxy(d.url))
    {
        return Some(FilterReason::TranslateProxy);
    }
    if opts.ignore_in_app_browsers
        && let Some(app) = d.user_agent.and_then(filter::in_app_browser)
    {
        return Some(FilterReason::InAppBrowser(app));
    }
    if *d.report_type == ReportType::NetworkError
        && let Some(ep) = endpoint
        && let Some(u) = weburl::WebUrl::parse(d.url)
        && u.host.eq_ignore_ascii_case(ep.host)
        && (u.path == ep.path || u.path.starts_with("/r/"))
    {
        return Some(FilterReason::OwnEndpoint);
    }
    None
}

/// Whether a report with this id is kept at `rate` (0.0 keeps none, 1.0 all).
fn sampled_in(id: &str, rate: f64) -> bool {
    if rate >= 1.0 {
        return true;
    }
    let x = id
        .get(..8)
        .and_then(|h| u32::from_str_radix(h, 16).ok())
        .unwrap_or(0);
    f64::from(x) < rate * f64::from(u32::MAX)
}
