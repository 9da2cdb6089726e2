//! The HTTP app: one axum `Router` that the local server and the Lambda function both run.
//!
//! Routes: `POST /r/{site}` and `POST /` (site from each report's URL), `OPTIONS` on both for
//! the CORS preflight, `GET /health`. Every answer is decided in [`respond`].

mod respond;
pub mod sender;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{Extensions, HeaderMap, StatusCode, Uri, header};
use axum::response::Response;
use axum::routing::{get, post};
use http_body_util::BodyExt;

use self::sender::Senders;
use crate::limits::Budget;
use crate::recovery;
use crate::report::{self, Endpoint, Options, RequestMeta, Timestamp};
use crate::store::ReportStore;
use crate::store::retry::{PutRetry, put_with_retries};
use crate::telemetry::{self, RequestCounts};
pub use respond::ApiError;

/// How long a client may take to send a request's body unless told otherwise.
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// What every request needs; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// Decoding options.
    pub opts: Arc<Options>,
    /// Where reports go.
    pub store: Arc<dyn ReportStore>,
    /// How storing one request's reports is retried, and for how long.
    pub put_retry: PutRetry,
    /// Also print per-request counts as CloudWatch Embedded Metric Format lines (Lambda).
    pub emf: bool,
    /// Per-minute budgets: reports stored, and bytes of recovery lines.
    pub budget: Arc<Budget>,
    /// How long a client may take to send a request's body (then 408).
    pub body_timeout: Duration,
    /// Senders' addresses to visitor bytes.
    pub senders: Arc<Senders>,
}

impl AppState {
    /// State with the request's retry ([`PutRetry::REQUEST`]).
    pub fn new(opts: Options, store: Arc<dyn ReportStore>) -> Self {
        Self {
            opts: Arc::new(opts),
            store,
            put_retry: PutRetry::REQUEST,
            emf: false,
            budget: Arc::new(Budget::default()),
            body_timeout: DEFAULT_BODY_TIMEOUT,
            senders: Arc::new(Senders::default()),
        }
    }
}

/// Builds the app.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/", post(collect_any).options(respond::preflight))
        .route("/r/{site}", post(collect_site).options(respond::preflight))
        .route("/health", get(health))
        .method_not_allowed_fallback(respond::method_not_allowed)
        .fallback(respond::not_found)
        .with_state(state)
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            respond::panicked,
        ))
}

async fn health() -> Response {
    respond::json(StatusCode::OK, &serde_json::json!({"status": "ok"}))
}

async fn collect_site(
    State(state): State<AppState>,
    Path(site): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    extensions: Extensions,
    body: Body,
) -> Response {
    let site = match report::parse_site(&site) {
        Ok(site) => site,
        Err(e) => return respond::error(&headers, ApiError::InvalidSite(e)),
    };
    if !state.opts.allowed_sites.allows(&site) {
        return respond::error(&headers, ApiError::SiteNotAllowed);
    }
    let sender = state.senders.address(&extensions, &headers);
    collect(state, Some(site), uri, headers, sender, body).await
}

async fn collect_any(
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    extensions: Extensions,
    body: Body,
) -> Response {
    let sender = state.senders.address(&extensions, &headers);
    collect(state, None, uri, headers, sender, body).await
}

/// Reads, decodes, filters and stores one request's reports.
async fn collect(
    state: AppState,
    site: Option<String>,
    uri: Uri,
    headers: HeaderMap,
    sender: Option<IpAddr>,
    body: Body,
) -> Response {
    let received_at = Timestamp::now();
    let bytes = match read_body(&state, &headers, body).await {
        Ok(b) => b,
        Err(e) => return respond::error(&headers, e),
    };
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    let host = request_host(&uri, &headers);
    let policy_version = match query_param(&uri, "v") {
        None => None,
        Some(v) => match report::parse_policy_version(v) {
            Some(v) => Some(v),
            None => return respond::error(&headers, ApiError::InvalidPolicyVersion),
        },
    };
    let meta = RequestMeta {
        site: site.as_deref(),
        user_agent,
        received_at,
        endpoint: host.as_deref().map(|host| Endpoint {
            host,
            path: uri.path(),
        }),
        policy_version,
    };
    // Decoding is pure code over a sender's bytes: if it panics (a defect), the request is
    // answered 500 and its body logged for recovery instead of dropping the connection.
    let decoded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        report::decode(&bytes, &meta, &state.opts)
    }));
    let mut batch = match decoded {
        Ok(Ok(batch)) => batch,
        Err(_) => {
            recovery::log_undecoded(site.as_deref(), &bytes, "decoding panicked");
            return respond::error(&headers, ApiError::Internal);
        }
        Ok(Err(e)) => {
            telemetry::rejected_request(site.as_deref(), e.code());
            return respond::error(&headers, ApiError::Decode(e));
        }
    };
    apply_budget(&state.budget, &mut batch, received_at);
    mark_visitors(&state, &mut batch.reports, received_at, sender).await;
    let mut counts = RequestCounts::of(&batch);
    let response = if batch.reports.is_empty()
        && batch
            .filtered
            .iter()
            .all(|f| f.reason == report::FilterReason::SiteNotAllowed)
    {
        respond::error(&headers, ApiError::SiteNotAllowed)
    } else if let Err(unstored) = store_with_retries(&state, &batch.reports).await {
        counts.unstored = unstored.reports;
        counts.recovery_dropped = unstored.not_logged;
        respond::error(&headers, ApiError::StoreUnavailable)
    } else {
        respond::accepted(&headers)
    };
    if state.emf {
        counts.emit_emf(received_at, site.as_deref());
    } else {
        counts.log(site.as_deref());
    }
    response
}

/// Marks `reports` with their sender's visitor byte, when the sender's address is known.
async fn mark_visitors(
    state: &AppState,
    reports: &mut [report::Report],
    received_at: Timestamp,
    sender: Option<IpAddr>,
) {
    let Some(address) = sender.filter(|_| !reports.is_empty()) else {
        return;
    };
    let visitor = state
        .senders
        .visitor(state.store.as_ref(), received_at.day(), address)
        .await;
    for r in reports {
        r.visitor = visitor;
    }
}

/// The raw value of a query parameter of the request URL.
fn query_param<'u>(uri: &'u Uri, name: &str) -> Option<&'u str> {
    uri.query()?
        .split('&')
        .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Drops the reports over the per-minute budgets (counted as filtered).
fn apply_budget(budget: &Budget, batch: &mut report::Batch, now: Timestamp) {
    if !budget.is_limited() || batch.reports.is_empty() {
        return;
    }
    let mut per_site: std::collections::BTreeMap<String, u64> = Default::default();
    for r in &batch.reports {
        *per_site.entry(r.site.clone()).or_default() += 1;
    }
    let mut allowed: std::collections::BTreeMap<String, u64> = per_site
        .into_iter()
        .map(|(site, n)| {
            let ok = budget.admit(&site, n, now);
            (site, ok)
        })
        .collect();
    let reports = std::mem::take(&mut batch.reports);
    for r in reports {
        match allowed.get_mut(&r.site) {
            Some(left) if *left > 0 => {
                *left -= 1;
                batch.reports.push(r);
            }
            _ => batch.filtered.push(report::Filtered {
                report_type: r.report_type,
                reason: report::FilterReason::OverBudget,
            }),
        }
    }
}

/// Bytes of an over-limit body read and discarded before answering 413, so that a client
/// that sends its whole body before reading (as simple HTTP clients do) reads the answer
/// instead of a reset.
const DRAIN_BYTES: usize = 4 * 1024 * 1024;

/// How long draining an over-limit body may take.
const DRAIN_TIME: Duration = Duration::from_secs(2);

/// Reads the body, refusing it as soon as it passes the limit (before buffering it whole),
/// within the body timeout.
async fn read_body(state: &AppState, headers: &HeaderMap, body: Body) -> Result<Vec<u8>, ApiError> {
    let limit = state.opts.max_body_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        drain(body).await;
        return Err(ApiError::TooLarge { limit });
    }
    let mut body = body;
    let mut bytes = Vec::new();
    let read = async {
        while let Some(frame) = body.frame().await {
            let Ok(data) = frame?.into_data() else {
                continue;
            };
            if bytes.len() + data.len() > limit {
                return Ok(false);
            }
            bytes.extend_from_slice(&data);
        }
        Ok::<bool, axum::Error>(true)
    };
    match tokio::time::timeout(state.body_timeout, read).await {
        Err(_) => Err(ApiError::BodyTimeout),
        Ok(Ok(true)) => Ok(bytes),
        Ok(Ok(false)) => {
            drain(body).await;
            Err(ApiError::TooLarge { limit })
        }
        Ok(Err(_)) => Err(ApiError::BodyUnreadable),
    }
}

/// Reads and discards up to [`DRAIN_BYTES`] of a body, for at most [`DRAIN_TIME`].
async fn drain(mut body: Body) {
    let discard = async {
        let mut seen = 0;
        while seen < DRAIN_BYTES {
            match body.frame().await {
                Some(Ok(frame)) => seen += frame.data_ref().map_or(0, |d| d.len()),
                _ => break,
            }
        }
    };
    let _ = tokio::time::timeout(DRAIN_TIME, discard).await;
}

/// The host the request was sent to (without port), from the URI or the Host header.
fn request_host(uri: &Uri, headers: &HeaderMap) -> Option<String> {
    let authority = uri.authority().map(|a| a.host().to_owned()).or_else(|| {
        let h = headers.get(header::HOST)?.to_str().ok()?;
        Some(crate::report::weburl::Authority::read(h).host.to_owned())
    })?;
    Some(authority.to_ascii_lowercase())
}

/// Reports a request could not store.
struct Unstored {
    /// How many.
    reports: u64,
    /// Of those, how many were not logged for recovery (the budget was spent).
    not_logged: u64,
}

/// Stores reports with the app's retry ([`PutRetry`]). What still fails is logged in full,
/// one recovery line per report (within the recovery log budget), and the request is
/// answered with 503.
async fn store_with_retries(state: &AppState, reports: &[report::Report]) -> Result<(), Unstored> {
    let Err(left) = put_with_retries(state.store.as_ref(), reports, state.put_retry).await else {
        return Ok(());
    };
    let not_logged =
        recovery::log_unstored(&state.budget, &left.reports, &left.failure.to_string());
    Err(Unstored {
        reports: left.reports.len() as u64,
        not_logged,
    })
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("put_retry", &self.put_retry)
            .finish_non_exhaustive()
    }
}
