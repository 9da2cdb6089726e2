//! The round trip a site owner makes, in a real headless Chromium: a page under a deliberately
//! too-tight report-only policy reports what it loads; `lookout policy` suggests a policy from
//! those reports; the same page under the suggested policy reports nothing more, except what
//! the suggestion deliberately left out (an inline script whose sample is cut, so its hash is
//! unknown).
//!
//! The policy version in the report URL (`?v=1`, `?v=2`) tells the two rounds apart.

use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use lookout::cli::serve::{self, self_signed};
use lookout::http::app;
use lookout::report::{Report, ReportType, Timestamp};
use lookout::store::embedded::EmbeddedStore;
use lookout::store::{RecentQuery, ReportStore};

use crate::support::{chromium, run_lookout, state};

/// The long inline script: more than the 40 characters a sample holds.
const LONG_INLINE: &str = "window.longInlineScriptWithoutAFullSample = 1 + 2 + 3;";

fn page(cdn: &str) -> String {
    format!(
        r#"<!doctype html><html><head><title>policy round trip</title>
<link rel="stylesheet" href="{cdn}/style.css">
<style>body{{color:red}}</style>
</head><body>
<img src="{cdn}/pixel.png" alt="">
<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" alt="">
<script src="{cdn}/lib.js"></script>
<script>document.title="ok"</script>
<script>{LONG_INLINE}</script>
<script src="/app.js"></script>
</body></html>"#
    )
}

/// The site: `/` under the current policy, `/app.js` (same origin) fetching from the CDN.
fn site_router(cdn: String, policy: Arc<Mutex<String>>) -> Router {
    let app_js = format!("fetch({:?}).catch(function () {{}});", format!("{cdn}/api"));
    Router::new()
        .route(
            "/",
            get(move || {
                let html = page(&cdn);
                let policy = policy.lock().unwrap().clone();
                async move {
                    (
                        [
                            (header::CONTENT_SECURITY_POLICY_REPORT_ONLY, policy),
                            (header::CONTENT_TYPE, "text/html; charset=utf-8".to_owned()),
                        ],
                        html,
                    )
                        .into_response()
                }
            }),
        )
        .route(
            "/app.js",
            get(move || {
                let js = app_js.clone();
                async move { ([(header::CONTENT_TYPE, "text/javascript")], js).into_response() }
            }),
        )
}

/// Another origin with a script, a stylesheet, an image and an API.
fn cdn_router() -> Router {
    Router::new()
        .route(
            "/lib.js",
            get(|| async { ([(header::CONTENT_TYPE, "text/javascript")], "void 0;") }),
        )
        .route(
            "/style.css",
            get(|| async { ([(header::CONTENT_TYPE, "text/css")], "p{margin:0}") }),
        )
        .route(
            "/pixel.png",
            get(|| async { ([(header::CONTENT_TYPE, "image/png")], "") }),
        )
        .route("/api", get(|| async { "{}" }))
}

async fn reports_of_version(store: &EmbeddedStore, version: &str) -> Vec<Report> {
    store
        .recent(&RecentQuery {
            site: "127.0.0.1".into(),
            report_type: Some(ReportType::CspViolation),
            since: Timestamp(0),
            limit: 1000,
            classification: None,
            fingerprint: None,
        })
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.policy_version.as_deref() == Some(version))
        .collect()
}

fn is_long_inline(r: &Report) -> bool {
    r.body["blockedURL"] == "inline"
        && r.body["sample"]
            .as_str()
            .is_some_and(|s| s.starts_with("window.longInline"))
}

fn summary(reports: &[Report]) -> Vec<String> {
    reports
        .iter()
        .map(|r| format!("{} {}", r.body["effectiveDirective"], r.body["blockedURL"]))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_suggested_policy_silences_the_reports_it_was_built_from() {
    let data = tempfile::tempdir().unwrap();
    let store = Arc::new(EmbeddedStore::open(data.path()).unwrap());
    let collector = serve::start(
        TcpListener::bind("127.0.0.1:0").unwrap(),
        app(state(store.clone())),
        Some(self_signed().unwrap()),
    )
    .await
    .unwrap();
    let cdn = serve::start(
        TcpListener::bind("127.0.0.1:0").unwrap(),
        cdn_router(),
        Some(self_signed().unwrap()),
    )
    .await
    .unwrap();
    let report_uri = |v: u32| format!("report-uri {}/r/127.0.0.1?v={v}", collector.url());
    let tight = format!(
        "default-src 'self'; script-src 'self' 'report-sample'; style-src 'self' 'report-sample'; {}",
        report_uri(1)
    );
    let policy = Arc::new(Mutex::new(tight.clone()));
    let site = serve::start(
        TcpListener::bind("127.0.0.1:0").unwrap(),
        site_router(cdn.url(), policy.clone()),
        Some(self_signed().unwrap()),
    )
    .await
    .unwrap();
    let page_url = format!("{}/", site.url());

    // Round 1: everything the page loads from elsewhere, and its inline code, is reported.
    let expected_problems = 8;
    let (browser, _profile) = chromium(&page_url, &[]);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut first = Vec::new();
    while Instant::now() < deadline {
        first = reports_of_version(&store, "1").await;
        let groups: std::collections::HashSet<&str> =
            first.iter().map(|r| r.fingerprint.as_str()).collect();
        if groups.len() >= expected_problems {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    drop(browser);
    let groups: std::collections::HashSet<&str> =
        first.iter().map(|r| r.fingerprint.as_str()).collect();
    assert_eq!(
        groups.len(),
        expected_problems,
        "round 1 reports: {:?}",
        summary(&first)
    );

    let dir = data.path().to_str().unwrap();
    // The short inline script and style are the page's own: the owner recognises their samples
    // and lets the builder hash them.
    let (ok, out, err) = run_lookout(&[
        "policy",
        "--site",
        "127.0.0.1",
        "--data",
        dir,
        "--from-policy",
        &tight,
        "--hash-samples",
        // One machine is one network: one visitor.
        "--min-visitors",
        "1",
        "--json",
    ]);
    assert!(ok, "lookout policy: {err}");
    let suggestion: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let suggested = suggestion["policy"].as_str().unwrap().to_owned();
    let left_out: Vec<&str> = suggestion["left_out"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["reason"].as_str().unwrap())
        .collect();
    assert_eq!(left_out, ["unsafe_inline"], "{suggestion:#}");
    assert!(!suggested.contains("'unsafe-inline'"), "{suggested}");
    assert_eq!(
        suggested.matches("'sha256-").count(),
        2,
        "the short inline script and style, by hash: {suggested}"
    );
    let cdn_origin = cdn.url();
    for directive in ["script-src", "style-src", "img-src", "connect-src"] {
        let d = suggested
            .split("; ")
            .find(|d| d.starts_with(&format!("{directive} ")))
            .unwrap_or_else(|| panic!("no {directive} in {suggested}"));
        assert!(d.contains(&cdn_origin), "{d}");
    }
    assert!(
        suggested.contains("img-src 'self' "),
        "seeded from default-src: {suggested}"
    );
    assert!(suggested.contains("data:"), "{suggested}");

    // Round 2: the suggested policy on the same page; only what was left out comes back.
    let without_reporting: Vec<&str> = suggested
        .split("; ")
        .filter(|d| !d.starts_with("report-uri") && !d.starts_with("report-to"))
        .collect();
    *policy.lock().unwrap() = format!("{}; {}", without_reporting.join("; "), report_uri(2));
    let (browser, _profile) = chromium(&page_url, &[]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline
        && !reports_of_version(&store, "2")
            .await
            .iter()
            .any(is_long_inline)
    {
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // Whatever else the page would report arrives with the page load; give stragglers time.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let second = reports_of_version(&store, "2").await;
    drop(browser);
    eprintln!(
        "round 1: {:?}\nsuggested: {suggested}\nround 2: {:?}",
        summary(&first),
        summary(&second)
    );
    assert!(
        second.iter().any(is_long_inline),
        "the left-out inline script is still reported: {:?}",
        summary(&second)
    );
    let others: Vec<&Report> = second.iter().filter(|r| !is_long_inline(r)).collect();
    assert!(
        others.is_empty(),
        "under the suggested policy {:?}, reported: {:?}",
        policy.lock().unwrap(),
        others
            .iter()
            .map(|r| format!("{} {}", r.body["effectiveDirective"], r.body["blockedURL"]))
            .collect::<Vec<_>>()
    );
    collector.shutdown().await.unwrap();
    cdn.shutdown().await.unwrap();
    site.shutdown().await.unwrap();
}
