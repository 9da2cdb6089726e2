//! `lookout serve`: the HTTP app on a local socket, plain or TLS, with the embedded store.

use std::net::SocketAddr;
use std::path::PathBuf;

use axum::Router;
use axum_server::Handle;
use axum_server::tls_rustls::RustlsConfig;

use super::CliResult as Result;
use super::StoreArgs;
pub use super::guard::ConnectionLimits;
use super::guard::Guard;
use crate::alert::engine::Alerter;
use crate::config::CollectArgs;
use crate::http::{AppState, app};
use crate::pipeline::{self, Batch, Pipeline};
use crate::store::ReportStore;
use crate::store::dynamodb::stream::Tailer;
use crate::store::embedded::EmbeddedStore;
use crate::store::embedded_alerts::EmbeddedAlertState;

/// Arguments of `lookout serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "LOOKOUT_ADDR", default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    #[command(flatten)]
    pub store: StoreArgs,
    /// Serve https with this certificate chain (PEM).
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Serve https with a certificate generated at start for localhost and 127.0.0.1.
    #[arg(long, conflicts_with_all = ["tls_cert", "tls_key"])]
    pub self_signed: bool,
    /// Whether this process counts the table's new reports from its stream: `auto` does when
    /// --endpoint-url names an emulator, where no Lambda function reads the stream, and leaves it
    /// to the deployed function on AWS (both counting would count twice).
    #[arg(long, value_enum, default_value_t = StreamCounts::Auto)]
    pub stream_counts: StreamCounts,
    /// Connections served at once; more are closed when accepted.
    #[arg(long, default_value_t = ConnectionLimits::DEFAULT.max_connections)]
    pub max_connections: usize,
    /// Close a connection that sends and reads nothing for this long.
    #[arg(long, default_value_t = ConnectionLimits::DEFAULT.idle.into())]
    pub idle_timeout: humantime::Duration,
    /// The time a client has to send a request's headers.
    #[arg(long, default_value_t = ConnectionLimits::DEFAULT.headers.into())]
    pub header_timeout: humantime::Duration,
    /// The time a client has to send a request's body (then 408).
    #[arg(long, default_value_t = crate::http::DEFAULT_BODY_TIMEOUT.into())]
    pub body_timeout: humantime::Duration,
    /// A reverse proxy in front of this server (its address, as the socket sees it;
    /// repeatable): only from it is `X-Forwarded-For` believed when counting visitors.
    #[arg(long = "trusted-proxy", value_name = "IP")]
    pub trusted_proxies: Vec<std::net::IpAddr>,
    #[command(flatten)]
    pub collect: CollectArgs,
    #[command(flatten)]
    pub alerts: crate::config::AlertArgs,
}

/// Who counts a table's new reports under `lookout serve --table`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StreamCounts {
    /// Here with --endpoint-url, else the deployed function.
    Auto,
    /// Here.
    On,
    /// Not here.
    Off,
}

/// A running server.
pub struct Server {
    /// Where it listens.
    pub addr: SocketAddr,
    /// `http` or `https`.
    pub scheme: &'static str,
    handle: Handle<SocketAddr>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Server {
    /// The base URL (`http://127.0.0.1:8080`).
    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }

    /// Stops accepting, lets requests in flight finish (up to 10 s), and waits.
    pub async fn shutdown(self) -> std::io::Result<()> {
        self.handle
            .graceful_shutdown(Some(std::time::Duration::from_secs(10)));
        self.wait().await
    }

    /// Waits until the server stops.
    pub async fn wait(self) -> std::io::Result<()> {
        self.task.await.map_err(std::io::Error::other)?
    }

    /// A handle that can stop the server from elsewhere (a signal handler).
    pub fn handle(&self) -> Handle<SocketAddr> {
        self.handle.clone()
    }
}

/// A TLS certificate and key, PEM-encoded.
pub struct Pem {
    /// The certificate chain.
    pub cert: Vec<u8>,
    /// The private key.
    pub key: Vec<u8>,
}

/// Generates a self-signed certificate for `localhost` and `127.0.0.1`.
pub fn self_signed() -> Result<Pem> {
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])?;
    Ok(Pem {
        cert: certified.cert.pem().into_bytes(),
        key: certified.signing_key.serialize_pem().into_bytes(),
    })
}

/// Starts serving `router` on `listener`, over TLS when `tls` is given, with the default
/// connection limits.
pub async fn start(
    listener: std::net::TcpListener,
    router: Router,
    tls: Option<Pem>,
) -> Result<Server> {
    start_with(listener, router, tls, ConnectionLimits::default()).await
}

/// Starts serving `router` on `listener`, over TLS when `tls` is given, within `limits`.
pub async fn start_with(
    listener: std::net::TcpListener,
    router: Router,
    tls: Option<Pem>,
    limits: ConnectionLimits,
) -> Result<Server> {
    install_crypto_provider();
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let handle = Handle::new();
    // The peer's address reaches the handlers (`ConnectInfo`): it is the sender's network,
    // counted as a visitor.
    let service = router.into_make_service_with_connect_info::<SocketAddr>();
    let guard = Guard::new(&limits);
    let mut server = axum_server::from_tcp(listener)?.handle(handle.clone());
    let http = server.http_builder();
    http.http1()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(limits.headers)
        .max_buf_size(64 * 1024);
    http.http2()
        .timer(hyper_util::rt::TokioTimer::new())
        .max_concurrent_streams(32)
        .max_header_list_size(32 * 1024)
        .initial_stream_window_size(64 * 1024)
        .initial_connection_window_size(256 * 1024);
    let (scheme, task) = match tls {
        Some(pem) => {
            let config = RustlsConfig::from_pem(pem.cert, pem.key).await?;
            let acceptor = axum_server::tls_rustls::RustlsAcceptor::new(config).acceptor(guard);
            let server = server.acceptor(acceptor);
            ("https", tokio::spawn(server.serve(service)))
        }
        None => {
            let server = server.acceptor(guard);
            ("http", tokio::spawn(server.serve(service)))
        }
    };
    Ok(Server {
        addr,
        scheme,
        handle,
        task,
    })
}

/// Uses ring for TLS (the provider the DynamoDB client uses too).
fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The embedded store's stand-in for the table's stream: every [`TAIL_POLL`], the reports
/// stored after row `last` go through the pipeline (alerts only: the embedded store counts when it
/// reads); with none, alerts whose delivery failed are retried when due.
async fn tail_embedded(state: EmbeddedAlertState, alerter: Alerter, mut last: i64) {
    loop {
        match state.reports_after(last, 1000).await {
            Ok(rows) => {
                let more = !rows.is_empty();
                last = rows.last().map_or(last, |(seq, _)| *seq);
                let batch = Batch::Stored(rows.into_iter().map(|(_, r)| r).collect());
                // Only counting fails a batch, and the embedded store's are not counted here.
                if let Err(e) = pipeline::on_new_reports(None, Some(&alerter), batch).await {
                    tracing::error!(error = %e, "new reports not taken");
                }
                if more {
                    continue;
                }
            }
            Err(e) => tracing::warn!(error = %e, "reading new reports for alerts failed"),
        }
        tokio::time::sleep(TAIL_POLL).await;
    }
}

/// How often the embedded store's tail looks for new reports: an empty look is one lookup of
/// the last row number, so a batch's alerts leave within a fraction of a second.
const TAIL_POLL: std::time::Duration = std::time::Duration::from_millis(200);

/// Reports removed from the embedded store in one step of retention.
const RETENTION_STEP: usize = 2_000;

/// The embedded store's retention: every minute, reports received more than `days` ago are
/// removed, [`RETENTION_STEP`] at a time with a pause between steps, so ingest never waits
/// long; the store then stays bounded instead of filling up and refusing every report.
async fn retain(store: std::sync::Arc<EmbeddedStore>, days: u32) {
    let kept = std::time::Duration::from_secs(u64::from(days.max(1)) * 86_400);
    loop {
        let before = crate::report::Timestamp(
            crate::report::Timestamp::now().millis() - kept.as_millis() as i64,
        );
        let mut removed = 0;
        loop {
            match store.remove_before(before, RETENTION_STEP).await {
                Ok(n) => {
                    removed += n;
                    if n < RETENTION_STEP {
                        break;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "removing old reports failed");
                    break;
                }
            }
        }
        if removed > 0 {
            tracing::info!(removed, days, "reports past retention removed");
        }
        tokio::time::sleep(std::time::Duration::from_secs(60)).await;
    }
}

/// The store: the table with --table, else the embedded store, whose reports past retention
/// are removed in the background.
async fn open_store(args: &ServeArgs) -> Result<std::sync::Arc<dyn ReportStore>> {
    if args.store.dynamodb.table.is_some() {
        return args.store.open().await;
    }
    let embedded = args.store.open_embedded()?;
    tokio::spawn(retain(embedded.clone(), args.store.kept.retention_days));
    Ok(embedded)
}

/// Starts what follows storing (`crate::pipeline`) in the background: for a table whose
/// stream this process counts, a reader of the stream (counts, then alerts); for the embedded
/// store with alerts on, a tail of its new rows (alerts). Alerts of a deployed table are the
/// deployed function's.
async fn spawn_pipeline(args: &ServeArgs) -> Result<()> {
    let counts_here = match args.stream_counts {
        StreamCounts::Auto => args.store.dynamodb.endpoint_url.is_some(),
        StreamCounts::On => true,
        StreamCounts::Off => false,
    };
    let sinks = args.alerts.sinks().await?;
    if let Some(dynamo) = args.store.dynamo().await {
        if counts_here {
            // As Lambda does for the deployed stack: the table's stream counts new reports,
            // and raises their alerts.
            let streams = args.store.dynamodb.endpoint().streams().await;
            let tailer = Tailer::new(streams, &dynamo).await?;
            let alerter = (!sinks.is_empty()).then(|| {
                std::sync::Arc::new(
                    Alerter::new(
                        std::sync::Arc::new(dynamo.clone()),
                        sinks,
                        args.alerts.rule(),
                    )
                    .with_script_min_visitors(args.alerts.script_min_visitors),
                )
            });
            let steps = Pipeline {
                counter: dynamo,
                alerter,
            };
            tokio::spawn(tailer.run(steps, std::time::Duration::from_secs(1)));
        } else if !sinks.is_empty() {
            return Err("with a deployed table, alerts come from the deployed function (the AlertWebhookParameter and AlertEmail parameters)".into());
        }
    } else if !sinks.is_empty() {
        let state = EmbeddedAlertState::open(&args.store.data)?;
        // Where the tail starts is read before the server accepts a report: none is missed.
        let last = state.last_row().await?;
        let alerter = Alerter::new(
            std::sync::Arc::new(state.clone()),
            sinks,
            args.alerts.rule(),
        )
        .with_script_min_visitors(args.alerts.script_min_visitors);
        tokio::spawn(tail_embedded(state, alerter, last));
    }
    Ok(())
}

/// The certificate to serve https with: generated for localhost (and written beside the
/// store, for clients to trust), or read from --tls-cert and --tls-key; none for http.
fn certificate(args: &ServeArgs) -> Result<Option<Pem>> {
    if args.self_signed {
        let pem = self_signed()?;
        std::fs::create_dir_all(&args.store.data)?;
        let cert_path = args.store.data.join("self-signed-cert.pem");
        std::fs::write(&cert_path, &pem.cert)?;
        eprintln!("self-signed certificate: {}", cert_path.display());
        Ok(Some(pem))
    } else if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        Ok(Some(Pem {
            cert: std::fs::read(cert)?,
            key: std::fs::read(key)?,
        }))
    } else {
        Ok(None)
    }
}

/// Where to send reports, and the first headers to paste.
fn print_banner(url: &str, db: &str) {
    eprintln!("Lookout is listening on {url} (store: {db})");
    eprintln!("Send reports to {url}/r/<your-site> ; headers to paste:\n");
    if let Ok(report_url) = crate::policy::snippet::Endpoint::for_site(url, Some("example.com")) {
        let starter = crate::policy::snippet::HeaderSet {
            report_url,
            policy: "default-src 'self'".into(),
            enforce: false,
            crash_stacks: false,
            script_hashes: false,
        };
        let raw = starter
            .headers()
            .and_then(|headers| {
                crate::policy::snippet::render(crate::policy::snippet::Server::Raw, &headers[..2])
            })
            .unwrap_or_default();
        eprintln!("{raw}");
    }
    eprintln!("(`lookout headers --endpoint {url} --site <your-site>` prints them all.)");
}

/// Runs `lookout serve` until Ctrl-C or SIGTERM.
pub async fn run(args: ServeArgs) -> Result<()> {
    let opts = args.collect.options()?;
    let store = open_store(&args).await?;
    let db = args.store.describe();
    spawn_pipeline(&args).await?;
    let mut state = AppState::new(opts, store);
    state.budget = std::sync::Arc::new(args.collect.budget());
    state.body_timeout = args.body_timeout.into();
    state.senders = std::sync::Arc::new(crate::http::sender::Senders::new(
        args.trusted_proxies.clone(),
    ));
    let limits = ConnectionLimits {
        max_connections: args.max_connections,
        idle: args.idle_timeout.into(),
        headers: args.header_timeout.into(),
    };
    let tls = certificate(&args)?;
    let listener = std::net::TcpListener::bind(args.addr)?;
    let server = start_with(listener, app(state), tls, limits).await?;
    print_banner(&server.url(), &db);
    let handle = server.handle();
    tokio::spawn(async move {
        shutdown_signal().await;
        eprintln!("shutting down");
        handle.graceful_shutdown(Some(std::time::Duration::from_secs(10)));
    });
    server.wait().await?;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
