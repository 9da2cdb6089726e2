//! The app through its router, without a socket: requests, answers, and app state.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, Response};
use http_body_util::BodyExt;
use lookout::http::{AppState, app};
use lookout::limits::Budget;
use lookout::report::Options;
use lookout::store::ReportStore;
use tower::ServiceExt;

/// Sends one request through the app (no socket) and returns status, headers and body.
pub async fn send(state: &AppState, req: Request<Body>) -> (Response<()>, Vec<u8>) {
    let res = app(state.clone()).oneshot(req).await.unwrap();
    let (parts, body) = res.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes().to_vec();
    (Response::from_parts(parts, ()), bytes)
}

/// A POST with a content type.
pub fn post(path: &str, content_type: &str, body: impl Into<Body>) -> Request<Body> {
    Request::post(path)
        .header("content-type", content_type)
        .header("host", "collector.test")
        .body(body.into())
        .unwrap()
}

/// App state over `store` with default options and quick retries.
pub fn state(store: Arc<dyn ReportStore>) -> AppState {
    state_with(store, Options::default())
}

/// App state over `store` with `opts`, quick retries and [`unbounded_budget`].
pub fn state_with(store: Arc<dyn ReportStore>, opts: Options) -> AppState {
    let mut s = AppState::new(opts, store);
    s.put_retry.timeout = Duration::from_secs(2);
    s.budget = unbounded_budget();
    s
}

/// Budgets with no report cap and recovery lines not bounded either: tests that read recovery
/// lines count every one (the recovery budget has its own tests).
pub fn unbounded_budget() -> Arc<Budget> {
    Arc::new(Budget::default().with_recovery_bytes_per_minute(u64::MAX))
}
