//! The dashboard's router and views: each reads its filters once ([`Filters`]), reads the
//! store, and renders a page. Nothing here writes.
//!
//! Each view reads the site's aggregates (`top`) and, for an opened problem, that problem's
//! reports only; the policy view reads what `lookout policy` reads, the scripts view what
//! `lookout scripts` reads (the authorizations from the alert state, never written here).

use std::sync::Arc;

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::filters::{FilterError, Filters};
use super::guard::only_own_hosts;
use super::hosts::Hosts;
use super::page::{self, Context, MAX_PAGE, PAGE_SIZE, PolicyView};
use super::response::{Refusal, html, panicked};
use crate::alert::AlertState;
use crate::policy::builder::{self, Rules};
use crate::policy::suggest::{Suggested, suggest_for_site};
use crate::report::{ReportType, Timestamp};
use crate::store::{GroupSummary, RecentQuery, ReportStore, TopQuery};

/// What the views read: the store, and what `lookout ui` was started with.
pub struct Dashboard {
    /// The store, only read.
    pub store: Arc<dyn ReportStore>,
    /// The site shown first (`--site`; checked with each view's filters).
    pub site: String,
    /// The owner's policy, the base of suggestions.
    pub policy: Option<String>,
    /// `--table ...` for the command-line equivalents the pages show, values shell-quoted.
    pub store_args: String,
    /// The names the page answers for.
    pub hosts: Hosts,
    /// Where the scripts' authorizations are kept, only read; `None` when it could not be
    /// opened (the scripts view then shows the scripts without them).
    pub alert_state: Option<Arc<dyn AlertState>>,
}

/// The views, behind the host guard (`guard.rs`); a view that panics gets an error page.
pub fn router(dashboard: Dashboard) -> Router {
    let ui = Arc::new(dashboard);
    Router::new()
        .route("/", get(problems))
        .route("/problem", get(problem))
        .route("/policy", get(policy))
        .route("/scripts", get(scripts))
        .fallback(|| async { html(StatusCode::NOT_FOUND, page::error("No such page.")) })
        .with_state(ui.clone())
        .layer(from_fn_with_state(ui, only_own_hosts))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(panicked))
}

/// A view's filters, read, and the time the view reads at.
struct View {
    filters: Filters,
    now: Timestamp,
}

impl View {
    fn read(ui: &Dashboard, query: Option<String>) -> Result<Self, Refusal> {
        let filters = Filters::from_query(query.as_deref().unwrap_or(""), &ui.site)
            .map_err(|e| Refusal(StatusCode::BAD_REQUEST, e.to_string()))?;
        Ok(Self {
            filters,
            now: Timestamp::now(),
        })
    }

    fn since(&self) -> Timestamp {
        self.filters.window.since(self.now)
    }

    async fn groups(&self, ui: &Dashboard) -> Result<Vec<GroupSummary>, Refusal> {
        let groups = ui
            .store
            .top(&TopQuery {
                site: self.filters.site.clone(),
                report_type: self.filters.report_type.clone(),
                since: self.since(),
                limit: usize::MAX,
                classification: self.filters.class,
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

async fn problems(State(ui): State<Arc<Dashboard>>, RawQuery(query): RawQuery) -> Response {
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

async fn problem(State(ui): State<Arc<Dashboard>>, RawQuery(query): RawQuery) -> Response {
    let view = match View::read(&ui, query) {
        Ok(v) => v,
        Err(refusal) => return refusal.into_response(),
    };
    let f = &view.filters;
    let Some((report_type, fingerprint)) = f.opened().filter(|_| !f.site.is_empty()) else {
        return html(
            StatusCode::BAD_REQUEST,
            page::error("A problem is named by site, type and fingerprint."),
        );
    };
    let Some((skip, upto)) = reports_of_page(f.page) else {
        return Refusal(StatusCode::BAD_REQUEST, FilterError::Page.to_string()).into_response();
    };
    let groups = match view.groups(&ui).await {
        Ok(g) => g,
        Err(refusal) => return refusal.into_response(),
    };
    let group = groups
        .iter()
        .find(|g| g.fingerprint == fingerprint.as_str());
    let reports = match ui
        .store
        .recent(&RecentQuery {
            site: f.site.clone(),
            report_type: Some(report_type.clone()),
            since: view.since(),
            limit: upto + 1,
            classification: None,
            fingerprint: Some(fingerprint.to_string()),
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
        page::problem(f, fingerprint, &ui.store_args, group, &shown, more),
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

/// The view of a page about one site: its filters read, and a site named (else a 400).
fn site_view(ui: &Dashboard, query: Option<String>) -> Result<View, Refusal> {
    let view = View::read(ui, query)?;
    if view.filters.site.is_empty() {
        return Err(Refusal(StatusCode::BAD_REQUEST, "Name a site.".into()));
    }
    Ok(view)
}

async fn policy(State(ui): State<Arc<Dashboard>>, RawQuery(query): RawQuery) -> Response {
    let view = match site_view(&ui, query) {
        Ok(v) => v,
        Err(refusal) => return refusal.into_response(),
    };
    let f = &view.filters;
    let Some(from_policy) = ui.policy.as_deref() else {
        let reason = "Start lookout ui with --policy \"<your policy>\" (the policy your site sends): suggestions start from your policy, never from one a report carries.";
        return html(StatusCode::OK, page::policy(f, &ui.store_args, Err(reason)));
    };
    let outcome = suggest_for_site(
        ui.store.as_ref(),
        &f.site,
        view.since(),
        from_policy,
        Rules::default(),
    )
    .await;
    let body = match outcome {
        Ok(suggested) => page::policy(f, &ui.store_args, Ok(&policy_view(suggested))),
        Err(e) => page::policy(f, &ui.store_args, Err(&e.to_string())),
    };
    html(StatusCode::OK, body)
}

/// A suggestion as the policy page shows it.
fn policy_view(suggested: Suggested) -> PolicyView {
    let s = suggested.suggestion;
    PolicyView {
        problems: suggested.problems,
        note: suggested.reported.summary(),
        policy: s.policy.to_string(),
        diff: builder::diff(&s.base, &s.policy),
        left_out: s.left_out.iter().map(ToString::to_string).collect(),
    }
}

/// Said on the scripts view when `lookout ui` started without the alert state.
const NO_ALERT_STATE: &str = "The authorizations could not be read (the alert state did not open when lookout ui started; its log says why): every script shows as unreviewed.";

async fn scripts(State(ui): State<Arc<Dashboard>>, RawQuery(query): RawQuery) -> Response {
    let view = match site_view(&ui, query) {
        Ok(v) => v,
        Err(refusal) => return refusal.into_response(),
    };
    let f = &view.filters;
    let (authorizations, unread) = match ui.alert_state.as_deref() {
        Some(state) => match state.authorizations(&f.site).await {
            Ok(a) => (a, None),
            Err(e) => {
                tracing::warn!(error = %e, "the authorizations could not be read");
                let reason = format!(
                    "The authorizations could not be read ({e}): every script shows as unreviewed."
                );
                (Vec::new(), Some(reason))
            }
        },
        None => (Vec::new(), Some(NO_ALERT_STATE.to_owned())),
    };
    let since = view.since();
    let inventory =
        match crate::scripts::gather_with(ui.store.as_ref(), &f.site, since, &authorizations).await
        {
            Ok(i) => i,
            Err(e) => return store_failed(e).into_response(),
        };
    html(
        StatusCode::OK,
        page::scripts(f, &ui.store_args, &inventory, unread.as_deref()),
    )
}
