//! Real browser, end to end: headless Chromium loads a page whose policies report to a
//! Lookout on another origin (so uploads are preflighted), and the reports must arrive, be
//! normalized and be stored under the right site and type.
//!
//! Needs Debian's `chromium` (`scripts/setup-test-tools` installs it); fails loudly without it.
//!
//! No test here waits for a `crash` report: headless Chromium 156 never kills a hung page (it
//! shows no "Page unresponsive" dialog to answer), so none is sent; tried with a page spinning
//! under `Document-Policy: include-js-call-stacks-in-crash-reports`, nothing arrived in 180 s.
//! Crash grouping is tested on payloads (`tests/fixtures/`).

use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::Request;
use axum::http::header;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use lookout::cli::serve::{self, self_signed};
use lookout::http::app;
use lookout::report::{Disposition, Report, ReportType, SourceFormat, Timestamp};
use lookout::store::{RecentQuery, ReportStore};

use crate::support::{TempStore, state};

/// The page: an enforced policy reporting through `report-uri` (legacy format) and a
/// report-only policy reporting through `report-to` (Reporting API), both to Lookout.
fn page_router(collector: String) -> Router {
    let endpoint = format!("{collector}/r/127.0.0.1");
    Router::new().route(
        "/",
        get(move || {
            let endpoint = endpoint.clone();
            let collector = collector.clone();
            async move {
                let html = format!(
                    r#"<!doctype html><html><head><title>lookout e2e</title></head><body>
<img src="{collector}/blocked.png" alt="">
<script>document.title = "inline ran";</script>
<script nonce="n0nce">try {{ eval("1 + 1"); }} catch (e) {{}}</script>
</body></html>"#
                );
                (
                    [
                        (
                            header::CONTENT_SECURITY_POLICY,
                            format!("img-src 'self'; report-uri {endpoint}"),
                        ),
                        (
                            header::CONTENT_SECURITY_POLICY_REPORT_ONLY,
                            "script-src 'self' 'nonce-n0nce'; report-to lookout".to_owned(),
                        ),
                        (
                            header::HeaderName::from_static("reporting-endpoints"),
                            format!("lookout=\"{endpoint}\""),
                        ),
                        (header::CONTENT_TYPE, "text/html; charset=utf-8".to_owned()),
                    ],
                    html,
                )
                    .into_response()
            }
        }),
    )
}

/// Records the method and path of every request the collector sees.
async fn record(seen: Arc<Mutex<Vec<String>>>, req: Request, next: Next) -> Response {
    seen.lock()
        .unwrap()
        .push(format!("{} {}", req.method(), req.uri().path()));
    next.run(req).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_reports_arrive_normalized() {
    let t = TempStore::new();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let recorder = seen.clone();
    let collector_app = app(state(t.store.clone())).layer(middleware::from_fn(move |req, next| {
        record(recorder.clone(), req, next)
    }));
    let collector = serve::start(
        TcpListener::bind("127.0.0.1:0").unwrap(),
        collector_app,
        Some(self_signed().unwrap()),
    )
    .await
    .unwrap();
    let collector_url = collector.url();
    let page = serve::start(
        TcpListener::bind("127.0.0.1:0").unwrap(),
        page_router(collector_url.clone()),
        Some(self_signed().unwrap()),
    )
    .await
    .unwrap();
    // Deliver Reporting API reports within a second instead of about a minute.
    let (_browser, _profile) =
        crate::support::chromium(&format!("{}/", page.url()), &["--short-reporting-delay"]);

    let deadline = Instant::now() + Duration::from_secs(90);
    let mut reports: Vec<Report> = Vec::new();
    let wanted = |rs: &[Report]| {
        let legacy = rs.iter().any(|r| r.format == SourceFormat::LegacyCsp);
        let inline = rs.iter().any(|r| r.body["blockedURL"] == "inline");
        let eval = rs.iter().any(|r| r.body["blockedURL"] == "eval");
        legacy && inline && eval
    };
    while Instant::now() < deadline {
        reports = t
            .store
            .recent(&RecentQuery {
                site: "127.0.0.1".into(),
                report_type: None,
                since: Timestamp(0),
                limit: 100,
                classification: None,
                fingerprint: None,
            })
            .await
            .unwrap();
        if wanted(&reports) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let seen = seen.lock().unwrap().clone();
    let summary: Vec<String> = reports
        .iter()
        .map(|r| {
            format!(
                "{:?} {} {:?}",
                r.format,
                r.report_type,
                r.body.get("blockedURL")
            )
        })
        .collect();
    assert!(
        wanted(&reports),
        "reports missing after 90 s; stored: {summary:?}; requests seen: {seen:?}"
    );

    // The enforced policy's legacy report: img-src, enforce, blocked URL on the collector.
    let legacy = reports
        .iter()
        .find(|r| r.format == SourceFormat::LegacyCsp)
        .unwrap();
    assert_eq!(legacy.report_type, ReportType::CspViolation);
    assert_eq!(legacy.site, "127.0.0.1");
    assert_eq!(legacy.disposition, Some(Disposition::Enforce));
    assert_eq!(legacy.body["effectiveDirective"], "img-src");
    assert!(
        legacy.body["blockedURL"]
            .as_str()
            .unwrap()
            .starts_with(&collector_url),
        "{legacy:?}"
    );
    assert!(
        legacy.browser.as_deref().unwrap_or("").contains("Chrome"),
        "{legacy:?}"
    );
    assert_eq!(legacy.url, format!("{}/", page.url()));

    // The report-only policy's Reporting API reports: inline and eval, report disposition.
    for blocked in ["inline", "eval"] {
        let r = reports
            .iter()
            .find(|r| r.body["blockedURL"] == blocked)
            .unwrap();
        assert_eq!(r.format, SourceFormat::ReportingApi, "{r:?}");
        assert_eq!(r.report_type, ReportType::CspViolation);
        assert_eq!(r.disposition, Some(Disposition::Report));
        assert!(
            r.body["effectiveDirective"]
                .as_str()
                .unwrap()
                .starts_with("script-src")
        );
        assert!(r.user_agent.is_some());
    }
    // Cross-origin uploads were preflighted, and the preflight was answered.
    assert!(
        seen.iter().any(|s| s == "OPTIONS /r/127.0.0.1"),
        "no preflight seen: {seen:?}"
    );
    collector.shutdown().await.unwrap();
    page.shutdown().await.unwrap();
}
