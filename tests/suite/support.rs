//! Shared test helpers: an app on a temporary embedded store, requests through the router, a
//! log capture, and store doubles that fail on purpose.

use std::io::Write;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use axum::body::Body;
use axum::http::{Request, Response};
use http_body_util::BodyExt;
use lookout::http::{AppState, app};
use lookout::report::{Options, Report};
use lookout::store::embedded::EmbeddedStore;
use lookout::store::{GroupSummary, PutError, RecentQuery, ReportStore, StoreError, TopQuery};
use tower::ServiceExt;

/// A temporary embedded store that lives as long as the value.
pub struct TempStore {
    pub store: Arc<EmbeddedStore>,
    _dir: tempfile::TempDir,
}

impl TempStore {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
        Self { store, _dir: dir }
    }
}

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

pub fn state_with(store: Arc<dyn ReportStore>, opts: Options) -> AppState {
    let mut s = AppState::new(opts, store);
    s.store_timeout = Duration::from_secs(2);
    s
}

/// Captures log output of the current thread while alive.
pub struct LogCapture {
    buf: Arc<Mutex<Vec<u8>>>,
    _guard: tracing::subscriber::DefaultGuard,
}

#[derive(Clone)]
struct BufWriter(Arc<Mutex<Vec<u8>>>);

impl Write for BufWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl LogCapture {
    /// JSON log lines, as Lambda writes them.
    pub fn json() -> Self {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let writer = BufWriter(buf.clone());
        let subscriber = tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_max_level(tracing::Level::INFO)
            .with_writer(move || writer.clone())
            .finish();
        let guard = tracing::subscriber::set_default(subscriber);
        Self { buf, _guard: guard }
    }

    /// The captured lines, parsed.
    pub fn lines(&self) -> Vec<serde_json::Value> {
        let text = String::from_utf8(self.buf.lock().unwrap().clone()).unwrap();
        text.lines()
            .map(|l| serde_json::from_str(l).expect("each log line is JSON"))
            .collect()
    }

    /// The reports logged for recovery.
    pub fn recovered(&self) -> Vec<Report> {
        self.lines()
            .into_iter()
            .filter(|l| l["recovery"] == true)
            .map(|l| serde_json::from_str(l["report"].as_str().unwrap()).unwrap())
            .collect()
    }
}

/// How a [`FaultyStore`] misbehaves.
#[derive(Clone, Copy, Debug)]
pub enum Fault {
    /// Every put fails.
    Down,
    /// The first `n` puts fail.
    FailFirst(u32),
    /// Every put fails for the second half of its batch (the first half is stored).
    HalfBatch,
    /// Every put hangs.
    Hang,
}

/// A store that wraps a real one and fails as told.
pub struct FaultyStore {
    pub inner: Arc<EmbeddedStore>,
    pub fault: Fault,
    pub calls: AtomicU32,
}

impl FaultyStore {
    pub fn new(inner: Arc<EmbeddedStore>, fault: Fault) -> Self {
        Self {
            inner,
            fault,
            calls: AtomicU32::new(0),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("injected fault")]
struct Injected;

#[async_trait]
impl ReportStore for FaultyStore {
    async fn put(&self, reports: &[Report]) -> Result<(), PutError> {
        let call = self.calls.fetch_add(1, Ordering::SeqCst);
        match self.fault {
            Fault::Down => Err(PutError::all(reports.len(), StoreError::backend(Injected))),
            Fault::FailFirst(n) if call < n => {
                Err(PutError::all(reports.len(), StoreError::backend(Injected)))
            }
            Fault::FailFirst(_) => self.inner.put(reports).await,
            Fault::HalfBatch => {
                let half = reports.len() / 2;
                self.inner.put(&reports[..half]).await?;
                Err(PutError {
                    unwritten: (half..reports.len()).collect(),
                    source: StoreError::backend(Injected),
                })
            }
            Fault::Hang => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Ok(())
            }
        }
    }

    async fn recent(&self, q: &RecentQuery) -> Result<Vec<Report>, StoreError> {
        self.inner.recent(q).await
    }

    async fn top(&self, q: &TopQuery) -> Result<Vec<GroupSummary>, StoreError> {
        self.inner.top(q).await
    }
}
