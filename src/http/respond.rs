//! Every answer the app gives, decided in one place: status codes, the JSON error shape
//! (`{"error": code, "detail": text}`) and CORS headers.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde::Serialize;
use thiserror::Error;

use crate::report::{DecodeError, InvalidSite};

/// How long browsers may cache a preflight answer, in seconds.
const PREFLIGHT_MAX_AGE: &str = "86400";
/// When to come back after a 503, in seconds.
const RETRY_AFTER: &str = "30";

/// Why a request was not accepted.
#[derive(Debug, Error)]
pub enum ApiError {
    /// The body holds no usable report.
    #[error(transparent)]
    Decode(DecodeError),
    /// The body is over the limit (checked before buffering it).
    #[error("the body is larger than {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The body could not be read from the connection.
    #[error("the body could not be read")]
    BodyUnreadable,
    /// The body did not arrive in time.
    #[error("the body did not arrive in time")]
    BodyTimeout,
    /// The site in the path is not a host name.
    #[error("invalid site: {0}")]
    InvalidSite(InvalidSite),
    /// The endpoint URL's `v` is not a policy version.
    #[error("invalid policy version (v): 1 to 32 of A-Z a-z 0-9 . _ -")]
    InvalidPolicyVersion,
    /// The site is not in the allowlist.
    #[error("this collector does not accept reports for that site")]
    SiteNotAllowed,
    /// Storing failed after retries; the reports were logged for recovery.
    #[error("reports could not be stored; try again later")]
    StoreUnavailable,
    /// A defect in Lookout (a panic) while handling the request; its body was logged for
    /// recovery.
    #[error("the request could not be processed; it was logged")]
    Internal,
}

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            Self::Decode(DecodeError::TooLarge { .. } | DecodeError::TooManyReports { .. })
            | Self::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Decode(_)
            | Self::BodyUnreadable
            | Self::InvalidSite(_)
            | Self::InvalidPolicyVersion => StatusCode::BAD_REQUEST,
            Self::SiteNotAllowed => StatusCode::FORBIDDEN,
            Self::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::StoreUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::Decode(e) => e.code(),
            Self::TooLarge { .. } => "body_too_large",
            Self::BodyUnreadable => "body_unreadable",
            Self::BodyTimeout => "body_timeout",
            Self::InvalidSite(_) => "invalid_site",
            Self::InvalidPolicyVersion => "invalid_policy_version",
            Self::SiteNotAllowed => "site_not_allowed",
            Self::StoreUnavailable => "store_unavailable",
            Self::Internal => "internal_error",
        }
    }

    /// The client-facing detail: never an internal error's text.
    fn detail(&self) -> String {
        match self {
            // serde_json's message names a line and column, which helps a sender and leaks
            // nothing of ours.
            Self::Decode(e) => e.to_string(),
            other => other.to_string(),
        }
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    detail: &'a str,
}

/// A JSON answer.
pub fn json<T: Serialize>(status: StatusCode, body: &T) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut res = Response::new(bytes.into());
    *res.status_mut() = status;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    res
}

/// The answer for a refused request, with CORS headers so that a browser sees it.
pub fn error(request: &HeaderMap, e: ApiError) -> Response {
    let status = e.status();
    let detail = e.detail();
    let mut res = json(
        status,
        &ErrorBody {
            error: e.code(),
            detail: &detail,
        },
    );
    if status == StatusCode::SERVICE_UNAVAILABLE {
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER));
    }
    if matches!(e, ApiError::TooLarge { .. } | ApiError::BodyTimeout) {
        // The rest of the body may still be on its way: this connection ends with the answer.
        res.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    allow_origin(request, res.headers_mut());
    res
}

/// The last guard: the answer to a request whose handler panicked outside the guarded decode
/// and store steps (which log what they hold for recovery themselves).
pub fn panicked(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request's handler panicked");
    json(
        StatusCode::INTERNAL_SERVER_ERROR,
        &ErrorBody {
            error: ApiError::Internal.code(),
            detail: "the request could not be processed",
        },
    )
}

/// 204 for accepted reports (also when all were filtered: browsers retry anything else).
pub fn accepted(request: &HeaderMap) -> Response {
    let mut res = Response::new(axum::body::Body::empty());
    *res.status_mut() = StatusCode::NO_CONTENT;
    allow_origin(request, res.headers_mut());
    res
}

/// The CORS preflight answer: cheap, no body.
pub async fn preflight(request: HeaderMap) -> Response {
    let mut res = accepted(&request);
    let h = res.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("POST, OPTIONS"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("content-type"),
    );
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static(PREFLIGHT_MAX_AGE),
    );
    res
}

/// 405 for a known path with another method.
pub async fn method_not_allowed(request: HeaderMap) -> Response {
    let mut res = json(
        StatusCode::METHOD_NOT_ALLOWED,
        &ErrorBody {
            error: "method_not_allowed",
            detail: "use POST to send reports",
        },
    );
    res.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("POST, OPTIONS"));
    allow_origin(&request, res.headers_mut());
    res
}

/// 404 for any other path.
pub async fn not_found() -> Response {
    json(
        StatusCode::NOT_FOUND,
        &ErrorBody {
            error: "not_found",
            detail: "send reports to /r/{site} or /",
        },
    )
}

/// `Access-Control-Allow-Origin`: the request's Origin when it sent one, else `*`.
/// Reports carry no credentials, so echoing the origin grants nothing `*` would not.
fn allow_origin(request: &HeaderMap, h: &mut HeaderMap) {
    let origin = request
        .get(header::ORIGIN)
        .filter(|o| o.as_bytes() != b"null")
        .cloned()
        .unwrap_or(HeaderValue::from_static("*"));
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    h.insert(header::VARY, HeaderValue::from_static("Origin"));
}
