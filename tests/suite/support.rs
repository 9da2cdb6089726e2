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
use lookout::limits::Budget;
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

    /// The store's folder (`--data` for the command line).
    pub fn path(&self) -> &std::path::Path {
        self._dir.path()
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

    /// Plain-text log lines, as a terminal shows them.
    pub fn plain() -> Self {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let writer = BufWriter(buf.clone());
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(tracing::Level::DEBUG)
            .with_writer(move || writer.clone())
            .finish();
        let guard = tracing::subscriber::set_default(subscriber);
        Self { buf, _guard: guard }
    }

    /// Everything captured, as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.buf.lock().unwrap()).into_owned()
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

    async fn day_key(&self, day: &str) -> Result<lookout::report::visitor::DayKey, StoreError> {
        self.inner.day_key(day).await
    }

    async fn stored(&self, reports: &[Report]) -> Result<Vec<bool>, StoreError> {
        self.inner.stored(reports).await
    }
}

/// A plain HTTP/1.1 request over a socket (for servers started as processes).
/// Returns the status code and the body.
pub fn http_request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String) {
    use std::io::Read;
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// A `lookout` process, killed when dropped.
pub struct Process(pub std::process::Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `lookout serve` with `args` on a free port; returns the process and its base URL.
pub fn spawn_serve(args: &[&str]) -> (Process, String) {
    spawn_lookout("serve", args, "listening on ")
}

/// Starts `lookout {command}` with `args` on a free port (`--addr 127.0.0.1:0`); returns the
/// process and the URL it prints after `marker` on stderr (without a trailing `/`).
pub fn spawn_lookout(command: &str, args: &[&str], marker: &str) -> (Process, String) {
    use std::io::BufRead;
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_lookout"))
        .arg(command)
        .args(["--addr", "127.0.0.1:0"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let marker = marker.to_owned();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if let Some(rest) = line.split(marker.as_str()).nth(1) {
                let url = rest.split_whitespace().next().unwrap_or_default();
                let _ = tx.send(url.trim_end_matches('/').to_owned());
            }
        }
    });
    let url = rx
        .recv_timeout(Duration::from_secs(30))
        .unwrap_or_else(|_| panic!("lookout {command} prints where it listens"));
    (Process(child), url)
}

/// Runs `lookout` with `args`; returns (success, stdout, stderr).
pub fn run_lookout(args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_lookout"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A free port on 127.0.0.1 (for servers started as processes).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Where Debian installs Chromium; `LOOKOUT_CHROMIUM` overrides.
pub fn chromium_path() -> String {
    let path = std::env::var("LOOKOUT_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        std::path::Path::new(&path).exists(),
        "Chromium not found at {path}: run scripts/setup-test-tools (or set LOOKOUT_CHROMIUM)"
    );
    path
}

/// Headless Chromium with the profile `profile` (nothing else of the machine's), quiet: the
/// flags every browser test uses.
pub fn headless_chromium(profile: &std::path::Path) -> std::process::Command {
    let mut command = std::process::Command::new(chromium_path());
    command
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-quic",
            "--ignore-certificate-errors",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    command
}

/// Headless Chromium on `url` with a profile of its own (and `extra` flags); killed when the
/// process is dropped.
pub fn chromium(url: &str, extra: &[&str]) -> (Process, tempfile::TempDir) {
    let profile = tempfile::tempdir().unwrap();
    let child = headless_chromium(profile.path())
        .args(extra)
        .arg(url)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("chromium starts");
    (Process(child), profile)
}

/// The reports of a request body (JSON) for `site`, as received at `received_at`, with the
/// default options.
pub fn decode_json(
    body: &serde_json::Value,
    site: &str,
    received_at: lookout::report::Timestamp,
) -> Vec<Report> {
    let meta = lookout::report::RequestMeta {
        site: Some(site),
        user_agent: None,
        received_at,
        endpoint: None,
        policy_version: None,
    };
    lookout::report::decode(
        body.to_string().as_bytes(),
        &meta,
        &lookout::report::Options::default(),
    )
    .unwrap()
    .reports
}
