//! `lookout ui`: the dashboard, a read-only web page over either store, on loopback.
//!
//! Each view reads the site's aggregates (`top`) and, for an opened problem, that problem's
//! reports only; the policy view reads what `lookout policy` reads. Nothing here writes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::CliResult as Result;
use super::StoreArgs;
use super::serve::{ConnectionLimits, start_with};
use crate::policy::builder::{self, Rules};
use crate::policy::suggest::{Suggested, suggest_for_site};
use crate::report::{Classification, ReportType, Timestamp, parse_site};
use crate::store::{GroupSummary, RecentQuery, ReportStore, TopQuery};
use crate::ui::hosts::{AllowedHost, Hosts};
use crate::ui::page::{self, Context, FilterError, Filters, MAX_PAGE, PAGE_SIZE, PolicyView};
use crate::ui::shell::shell_quote;

/// Arguments of `lookout ui`.
#[derive(Debug, clap::Args)]
pub struct UiArgs {
    /// Address to listen on (loopback unless you mean to share the page).
    #[arg(long, default_value = "127.0.0.1:8081")]
    addr: SocketAddr,
    /// The site shown first.
    #[arg(long, default_value = "")]
    site: String,
    /// Your policy, as your site sends it: the policy page's suggestion starts from it (never
    /// from a policy a report carries: anyone can send a report).
    #[arg(long)]
    policy: Option<String>,
    /// Another name the page answers for, as the address bar has it: `NAME` (on any port) or
    /// `NAME:PORT`; repeatable. Without it the page answers only for its own address, and
    /// `localhost`, `127.0.0.1` and `[::1]` on its port: a page on another site cannot read it
    /// by pointing a name of its own at this machine (DNS rebinding).
    #[arg(long = "allowed-host", value_name = "NAME[:PORT]", value_parser = AllowedHost::parse)]
    allowed_hosts: Vec<AllowedHost>,
    #[command(flatten)]
    store: StoreArgs,
}

struct Ui {
    store: Arc<dyn ReportStore>,
    site: String,
    /// The owner's policy, the base of suggestions.
    policy: Option<String>,
    /// `--table ...` for the command-line equivalents the pages show, values shell-quoted.
    store_args: String,
    /// The names the page answers for.
    hosts: Hosts,
}

/// The dashboard's connections, served as `lookout serve` serves its own (`serve::start_with`:
/// a connection limit, hyper's header-read timeout, an idle timeout on reads and writes): few
/// connections, since one person reads the page, and an idle minute, since a view over a large
/// table may read for a while before it writes a byte (the idle timeout runs meanwhile).
const LIMITS: ConnectionLimits = ConnectionLimits {
    max_connections: 64,
    idle: Duration::from_secs(60),
    ..ConnectionLimits::DEFAULT
};

/// Runs `lookout ui` until interrupted.
pub async fn run(args: UiArgs) -> Result<()> {
    let store = args.store.open_for_reading().await?;
    let mut store_args = String::new();
    if let Some(t) = &args.store.dynamodb.table {
        store_args.push_str(&format!(" --table {}", shell_quote(t)));
        if let Some(url) = &args.store.dynamodb.endpoint_url {
            store_args.push_str(&format!(" --endpoint-url {}", shell_quote(url)));
        }
    } else if args.store.data.as_os_str() != super::DEFAULT_DATA {
        let data = args.store.data.to_string_lossy();
        store_args.push_str(&format!(" --data {}", shell_quote(&data)));
    }
    let listener = std::net::TcpListener::bind(args.addr)?;
    let ui = Arc::new(Ui {
        store,
        site: args.site,
        policy: args.policy,
        store_args,
        hosts: Hosts::new(listener.local_addr()?, &args.allowed_hosts),
    });
    let server = start_with(listener, router(ui), None, LIMITS).await?;
    eprintln!(
        "lookout ui: {}/ over {} (read-only; Ctrl-C to stop)",
        server.url(),
        args.store.describe()
    );
    let handle = server.handle();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        handle.graceful_shutdown(Some(Duration::from_secs(10)));
    });
    server.wait().await?;
    Ok(())
}

fn router(ui: Arc<Ui>) -> Router {
    Router::new()
        .route("/", get(problems))
        .route("/problem", get(problem))
        .route("/policy", get(policy))
        .fallback(|| async { html(StatusCode::NOT_FOUND, page::error("No such page.")) })
        .with_state(ui.clone())
        .layer(from_fn_with_state(ui, only_own_hosts))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(panicked))
}

/// In front of every view: a request is answered only when each host it names (its `Host`
/// header, HTTP/2's `:authority`) is one the page serves ([`Hosts`]), else 421, and when no
/// other site sent it (`Sec-Fetch-Site: cross-site`, or an `Origin` that is not the page's
/// own), else 403. A page on another site that points a name of its own at this machine (DNS
/// rebinding) reads nothing but the refusal.
async fn only_own_hosts(State(ui): State<Arc<Ui>>, request: Request, next: Next) -> Response {
    let refused = refusal(&ui.hosts, request.uri(), request.headers());
    if let Some(refused) = refused {
        return refused.into_response();
    }
    next.run(request).await
}

/// Why [`only_own_hosts`] refuses a request, if it does.
fn refusal(hosts: &Hosts, uri: &Uri, headers: &HeaderMap) -> Option<Refusal> {
    let authority = uri.authority().map(|a| a.as_str().as_bytes());
    let named: Vec<&[u8]> = authority
        .into_iter()
        .chain(
            headers
                .get_all(header::HOST)
                .into_iter()
                .map(HeaderValue::as_bytes),
        )
        .collect();
    if named.is_empty() {
        return Some(misdirected(None));
    }
    for name in named {
        // The dashboard speaks plain HTTP: a host without a port is on port 80.
        if !std::str::from_utf8(name).is_ok_and(|n| hosts.admits(n, 80)) {
            return Some(misdirected(Some(&*String::from_utf8_lossy(name))));
        }
    }
    let cross_site = headers
        .get_all("sec-fetch-site")
        .into_iter()
        .any(|v| v.as_bytes().eq_ignore_ascii_case(b"cross-site"));
    if cross_site {
        return Some(Refusal(
            StatusCode::FORBIDDEN,
            "The dashboard does not answer requests that another site starts (Sec-Fetch-Site: cross-site): open it from the address bar or a bookmark.".to_owned(),
        ));
    }
    for origin in headers.get_all(header::ORIGIN) {
        if !origin.to_str().is_ok_and(|o| hosts.admits_origin(o)) {
            let origin = excerpt(&String::from_utf8_lossy(origin.as_bytes()));
            return Some(Refusal(
                StatusCode::FORBIDDEN,
                format!(
                    "The dashboard does not answer requests from {origin}, a page that is not its own. If it is, start lookout ui with --allowed-host NAME[:PORT] for that name."
                ),
            ));
        }
    }
    None
}

/// 421 for a request sent to a name the dashboard does not serve (`name`, as the request
/// gave it), saying which flag admits it.
fn misdirected(name: Option<&str>) -> Refusal {
    let message = match name {
        Some(name) => {
            let name = excerpt(name);
            format!(
                "The dashboard does not answer for the host {name}: a page on another site can point a name of its own at this machine. If you opened it by that name, start it with: lookout ui --allowed-host {}",
                shell_quote(&name)
            )
        }
        None => "The request names no host. The dashboard answers for its own address, localhost, 127.0.0.1 and [::1] on its port, and the names given with --allowed-host.".to_owned(),
    };
    Refusal(StatusCode::MISDIRECTED_REQUEST, message)
}

/// A value from a request as a refusal quotes it: its first 100 characters.
fn excerpt(value: &str) -> String {
    value.chars().take(100).collect()
}

/// The page for a view that panicked (none should): the process goes on serving.
fn panicked(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a dashboard view panicked");
    html(
        StatusCode::INTERNAL_SERVER_ERROR,
        page::error("This page could not be made."),
    )
}

/// A page with the headers that keep it inert: no script, no framing, no referrer.
fn html(status: StatusCode, body: String) -> Response {
    let mut res = (status, body).into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// A page saying why a view cannot be shown.
struct Refusal(StatusCode, String);

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        html(self.0, page::error(&self.1))
    }
}

/// A view's filters, checked.
struct View {
    filters: Filters,
    report_type: Option<ReportType>,
    class: Option<Classification>,
    now: Timestamp,
}

impl View {
    fn read(ui: &Ui, query: Option<String>) -> std::result::Result<Self, Refusal> {
        let bad = |m: String| Refusal(StatusCode::BAD_REQUEST, m);
        let mut filters = Filters::from_query(query.as_deref().unwrap_or(""), &ui.site)
            .map_err(|e| bad(e.to_string()))?;
        if !filters.site.is_empty() {
            filters.site = parse_site(&filters.site).map_err(|e| bad(e.to_string()))?;
        }
        let report_type = match filters.report_type.as_str() {
            "" => None,
            t => Some(
                ReportType::from_name(t)
                    .ok_or_else(|| bad(format!("invalid report type {t:?}")))?,
            ),
        };
        let class = match filters.class.as_str() {
            "" => None,
            c => Some(Classification::from_name(c).ok_or_else(|| {
                bad("class is one of violation, allowed-by-policy, indeterminate".to_owned())
            })?),
        };
        Ok(Self {
            filters,
            report_type,
            class,
            now: Timestamp::now(),
        })
    }

    fn since(&self) -> Timestamp {
        self.filters.window.since(self.now)
    }

    async fn groups(&self, ui: &Ui) -> std::result::Result<Vec<GroupSummary>, Refusal> {
        let groups = ui
            .store
            .top(&TopQuery {
                site: self.filters.site.clone(),
                report_type: self.report_type.clone(),
                since: self.since(),
                limit: usize::MAX,
                classification: self.class,
            })
            .await
            .map_err(store_failed)?;
        Ok(groups
            .into_iter()
            .filter(|g| self.filters.keeps(g))
            .collect())
    }
}

fn store_failed(e: impl std::fmt::Display) -> Refusal {
    tracing::warn!(error = %e, "the store could not be read");
    Refusal(
        StatusCode::BAD_GATEWAY,
        format!("The store could not be read: {e}"),
    )
}

async fn problems(State(ui): State<Arc<Ui>>, RawQuery(query): RawQuery) -> Response {
    let view = match View::read(&ui, query) {
        Ok(v) => v,
        Err(refusal) => return refusal.into_response(),
    };
    let types: Vec<String> = ReportType::KNOWN.iter().map(|t| t.to_string()).collect();
    let days = page::days_between(view.since(), view.now);
    if view.filters.site.is_empty() {
        let sites = match ui.store.sites(view.since()).await {
            Ok(s) => s,
            Err(e) => return store_failed(e).into_response(),
        };
        let c = Context {
            filters: &view.filters,
            store_args: &ui.store_args,
            days: &days,
            types: &types,
            families: &[],
        };
        return html(StatusCode::OK, page::sites(&c, &sites));
    }
    let groups = match view.groups(&ui).await {
        Ok(g) => g,
        Err(refusal) => return refusal.into_response(),
    };
    let families = page::families(&groups);
    let c = Context {
        filters: &view.filters,
        store_args: &ui.store_args,
        days: &days,
        types: &types,
        families: &families,
    };
    html(StatusCode::OK, page::problems(&c, &groups))
}

async fn problem(State(ui): State<Arc<Ui>>, RawQuery(query): RawQuery) -> Response {
    let view = match View::read(&ui, query) {
        Ok(v) => v,
        Err(refusal) => return refusal.into_response(),
    };
    let (Some(report_type), false, false) = (
        view.report_type.clone(),
        view.filters.fingerprint.is_empty(),
        view.filters.site.is_empty(),
    ) else {
        return html(
            StatusCode::BAD_REQUEST,
            page::error("A problem is named by site, type and fingerprint."),
        );
    };
    let Some((skip, upto)) = reports_of_page(view.filters.page) else {
        return Refusal(StatusCode::BAD_REQUEST, FilterError::Page.to_string()).into_response();
    };
    let groups = match view.groups(&ui).await {
        Ok(g) => g,
        Err(refusal) => return refusal.into_response(),
    };
    let group = groups
        .iter()
        .find(|g| g.fingerprint == view.filters.fingerprint);
    let reports = match ui
        .store
        .recent(&RecentQuery {
            site: view.filters.site.clone(),
            report_type: Some(report_type),
            since: view.since(),
            limit: upto + 1,
            classification: None,
            fingerprint: Some(view.filters.fingerprint.clone()),
        })
        .await
    {
        Ok(r) => r,
        Err(e) => return store_failed(e).into_response(),
    };
    let more = reports.len() > upto;
    let shown: Vec<_> = reports.into_iter().skip(skip).take(PAGE_SIZE).collect();
    html(
        StatusCode::OK,
        page::problem(&view.filters, &ui.store_args, group, &shown, more),
    )
}

/// The reports before page `page` of a problem, and those up to its end: `None` past
/// [`MAX_PAGE`], so one request reads at most `(MAX_PAGE + 1) * PAGE_SIZE + 1` reports (the
/// one more tells whether an older page exists).
fn reports_of_page(page: usize) -> Option<(usize, usize)> {
    if page > MAX_PAGE {
        return None;
    }
    let skip = page.checked_mul(PAGE_SIZE)?;
    Some((skip, skip.checked_add(PAGE_SIZE)?))
}

async fn policy(State(ui): State<Arc<Ui>>, RawQuery(query): RawQuery) -> Response {
    let view = match View::read(&ui, query) {
        Ok(v) => v,
        Err(refusal) => return refusal.into_response(),
    };
    if view.filters.site.is_empty() {
        return html(StatusCode::BAD_REQUEST, page::error("Name a site."));
    }
    let Some(from_policy) = ui.policy.as_deref() else {
        let reason = "Start lookout ui with --policy \"<your policy>\" (the policy your site sends): suggestions start from your policy, never from one a report carries.";
        return html(
            StatusCode::OK,
            page::policy(&view.filters, &ui.store_args, Err(reason)),
        );
    };
    let rules = Rules::default();
    let outcome = suggest_for_site(
        ui.store.as_ref(),
        &view.filters.site,
        view.since(),
        from_policy,
        rules,
    )
    .await;
    let body = match outcome {
        Ok(Suggested {
            problems,
            reported,
            suggestion: s,
        }) => {
            let v = PolicyView {
                problems,
                note: reported.summary(),
                policy: s.policy.to_string(),
                diff: builder::diff(&s.base, &s.policy),
                left_out: s.left_out.iter().map(ToString::to_string).collect(),
            };
            page::policy(&view.filters, &ui.store_args, Ok(&v))
        }
        Err(e) => page::policy(&view.filters, &ui.store_args, Err(&e.to_string())),
    };
    html(StatusCode::OK, body)
}
