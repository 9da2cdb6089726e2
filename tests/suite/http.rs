//! The HTTP app through its router: routes, status codes, CORS, limits, store faults.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use lookout::http::AppState;
use lookout::report::{Options, ReportType, SiteList, Timestamp};
use lookout::store::{RecentQuery, ReportStore, TopQuery};
use serde_json::Value;

use crate::support::{
    Fault, FaultyStore, LogCapture, TempStore, batch, post, send, state, state_with,
};

const LEGACY: &str = r#"{"csp-report":{"document-uri":"https://example.com/page","referrer":"","violated-directive":"img-src","effective-directive":"img-src","original-policy":"default-src 'self'","disposition":"report","blocked-uri":"https://tracker.example.net/p.gif","status-code":200}}"#;

/// A deprecation report of its own page and feature.
fn deprecation(i: usize) -> String {
    format!(
        r#"{{"type":"deprecation","age":{i},"url":"https://example.com/p{i}","user_agent":"Mozilla/5.0 Chrome/120.0 Safari/537.36","body":{{"id":"feature-{i}"}}}}"#
    )
}

async fn stored(state: &AppState, site: &str) -> Vec<lookout::report::Report> {
    state
        .store
        .recent(&RecentQuery {
            site: site.into(),
            report_type: None,
            since: Timestamp(0),
            limit: 10_000,
            classification: None,
            fingerprint: None,
        })
        .await
        .unwrap()
}

fn error_of(body: &[u8]) -> (String, String) {
    let v: Value = serde_json::from_slice(body).expect("error bodies are JSON");
    (
        v["error"].as_str().unwrap().to_owned(),
        v["detail"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn a_legacy_csp_report_is_stored_under_its_site() {
    let t = TempStore::new();
    let s = state(t.store.clone());
    let (res, body) = send(&s, post("/r/example.com", "application/csp-report", LEGACY)).await;
    assert_eq!(
        res.status(),
        StatusCode::NO_CONTENT,
        "{}",
        String::from_utf8_lossy(&body)
    );
    assert_eq!(res.headers()["access-control-allow-origin"], "*");
    let reports = stored(&s, "example.com").await;
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].report_type, ReportType::CspViolation);
    assert_eq!(
        reports[0].body["blockedURL"],
        "https://tracker.example.net/p.gif"
    );
}

#[tokio::test]
async fn content_type_does_not_decide_and_parameters_are_fine() {
    let t = TempStore::new();
    let s = state(t.store.clone());
    for ct in [
        "application/csp-report",
        "application/json",
        "Application/CSP-Report; charset=utf-8",
        "application/reports+json",
        "text/plain",
    ] {
        let (res, _) = send(&s, post("/r/example.com", ct, LEGACY)).await;
        assert_eq!(res.status(), StatusCode::NO_CONTENT, "{ct}");
    }
    let req = Request::post("/r/example.com")
        .body(Body::from(LEGACY))
        .unwrap();
    let (res, _) = send(&s, req).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT, "no content type");
    // Identical reports inside one 10-second identity window are one; the deliveries above
    // take well under a second, so they straddle at most one window edge (a second item
    // only when the later ones land more than 2 s past that edge, beyond the neighbour check).
    let n = stored(&s, "example.com").await.len();
    assert!((1..=2).contains(&n), "{n}");
}

#[tokio::test]
async fn root_derives_the_site_from_each_report() {
    let t = TempStore::new();
    let s = state(t.store.clone());
    let body = r#"[{"type":"deprecation","url":"https://a.example/","body":{"id":"x"}},
                   {"type":"deprecation","url":"https://b.example/","body":{"id":"x"}}]"#;
    let (res, _) = send(&s, post("/", "application/reports+json", body)).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(stored(&s, "a.example").await.len(), 1);
    assert_eq!(stored(&s, "b.example").await.len(), 1);
}

#[tokio::test]
async fn preflight_is_answered_and_origin_echoed() {
    let t = TempStore::new();
    let s = state(t.store.clone());
    for path in ["/r/example.com", "/"] {
        let req = Request::options(path)
            .header("origin", "https://example.com")
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .body(Body::empty())
            .unwrap();
        let (res, body) = send(&s, req).await;
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
        assert!(body.is_empty());
        let h = res.headers();
        assert_eq!(h["access-control-allow-origin"], "https://example.com");
        assert_eq!(h["access-control-allow-methods"], "POST, OPTIONS");
        assert_eq!(h["access-control-allow-headers"], "content-type");
        assert!(h.contains_key("access-control-max-age"));
    }
    let mut req = post("/r/example.com", "application/csp-report", LEGACY);
    req.headers_mut()
        .insert("origin", "https://example.com".parse().unwrap());
    let (res, _) = send(&s, req).await;
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "https://example.com"
    );
}

#[tokio::test]
async fn refusals_have_the_right_status_and_a_json_reason() {
    let t = TempStore::new();
    let opts = Options {
        max_body_bytes: 2048,
        max_reports: 5,
        allowed_sites: SiteList::new(["example.com"]).unwrap(),
        ..Options::default()
    };
    let s = state_with(t.store.clone(), opts);
    let cases: Vec<(Request<Body>, StatusCode, &str)> = vec![
        (
            post("/r/example.com", "application/csp-report", "not json"),
            StatusCode::BAD_REQUEST,
            "not_json",
        ),
        (
            post("/r/example.com", "application/csp-report", ""),
            StatusCode::BAD_REQUEST,
            "empty_body",
        ),
        (
            post("/r/example.com", "application/json", "{}"),
            StatusCode::BAD_REQUEST,
            "no_report",
        ),
        (
            post("/r/example.com", "application/json", "x".repeat(4096)),
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
        ),
        (
            post(
                "/r/example.com",
                "application/reports+json",
                batch(0..6, deprecation),
            ),
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_many_reports",
        ),
        (
            post("/r/evil.test", "application/csp-report", LEGACY),
            StatusCode::FORBIDDEN,
            "site_not_allowed",
        ),
        (
            post("/r/bad_site!", "application/csp-report", LEGACY),
            StatusCode::BAD_REQUEST,
            "invalid_site",
        ),
        (
            post(
                &format!("/r/{}", "a".repeat(300)),
                "application/csp-report",
                LEGACY,
            ),
            StatusCode::BAD_REQUEST,
            "invalid_site",
        ),
        (
            post(
                "/",
                "application/reports+json",
                r#"[{"type":"x","url":"https://evil.test/","body":{}}]"#,
            ),
            StatusCode::FORBIDDEN,
            "site_not_allowed",
        ),
        (
            Request::get("/r/example.com").body(Body::empty()).unwrap(),
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        (
            Request::put("/").body(Body::empty()).unwrap(),
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        (
            Request::get("/nothing-here").body(Body::empty()).unwrap(),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
    ];
    for (req, status, code) in cases {
        let what = format!("{} {}", req.method(), req.uri());
        let (res, body) = send(&s, req).await;
        assert_eq!(
            res.status(),
            status,
            "{what}: {}",
            String::from_utf8_lossy(&body)
        );
        assert_eq!(res.headers()["content-type"], "application/json", "{what}");
        let (error, detail) = error_of(&body);
        assert_eq!(error, code, "{what}");
        assert!(!detail.is_empty());
    }
    assert!(stored(&s, "example.com").await.is_empty());
}

#[tokio::test]
async fn an_oversized_body_is_refused_before_it_is_buffered() {
    let t = TempStore::new();
    let s = state_with(
        t.store.clone(),
        Options {
            max_body_bytes: 1024,
            ..Options::default()
        },
    );
    // A streamed body without Content-Length: the limit applies while reading.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..1000).map(|_| Ok(vec![b' '; 1024])).collect();
    let stream = Body::from_stream(futures_util::stream::iter(chunks));
    let req = Request::post("/r/example.com").body(stream).unwrap();
    let (res, _) = send(&s, req).await;
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // Declared too large: refused without reading.
    let req = Request::post("/r/example.com")
        .header("content-length", "10000000")
        .body(Body::from("{}"))
        .unwrap();
    let (res, _) = send(&s, req).await;
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn filtered_reports_are_accepted_but_not_stored() {
    let t = TempStore::new();
    let s = state(t.store.clone());
    let body = r#"[{"type":"csp-violation","url":"https://example.com/","body":{"blockedURL":"chrome-extension://x/y.js"}}]"#;
    let (res, _) = send(&s, post("/r/example.com", "application/reports+json", body)).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert!(stored(&s, "example.com").await.is_empty());
}

/// The extension noise browsers send now, one fixture per form, with the value that makes it
/// noise: bare schemes (Chromium, Firefox) in the legacy names and in the Reporting API's, and
/// Safari's masked URL.
const EXTENSION_NOISE: [(&str, &str); 6] = [
    (
        "peers/csp-useful__chrome-extension-blocked-uri.json",
        "chrome-extension",
    ),
    (
        "lookout/nelmio-390-chrome-extension-source-file-reconstructed.json",
        "chrome-extension",
    ),
    (
        "peers/csp-useful__moz-extension-blocked-uri.json",
        "moz-extension",
    ),
    (
        "peers/csp-useful__moz-extension-source-file-wrapped.json",
        "moz-extension",
    ),
    (
        "lookout/safari-masked-extension-reconstructed.json",
        "webkit-masked-url://hidden/",
    ),
    (
        "lookout/chromium-bare-extension-scheme-reconstructed.json",
        "chrome-extension",
    ),
];

#[tokio::test]
async fn todays_extension_noise_is_accepted_counted_and_not_stored() {
    let logs = LogCapture::json();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    for (fixture, value) in EXTENSION_NOISE {
        let t = TempStore::new();
        let s = state(t.store.clone());
        let body = std::fs::read_to_string(root.join(fixture)).unwrap();
        let quoted = format!("\"{value}\"");
        let n = body.matches(&quoted).count();
        assert!(n >= 1, "{fixture}");
        let (res, _) = send(
            &s,
            post("/r/example.com", "application/csp-report", body.clone()),
        )
        .await;
        assert_eq!(res.status(), StatusCode::NO_CONTENT, "{fixture}");
        assert!(
            stored(&s, "example.com").await.is_empty(),
            "{fixture}: noise is not stored"
        );
        // The same reports with a real script's URL instead are stored: the value is the noise.
        let real = body.replace(&quoted, "\"https://cdn.example.net/app.js\"");
        let (res, _) = send(&s, post("/r/example.com", "application/csp-report", real)).await;
        assert_eq!(res.status(), StatusCode::NO_CONTENT, "{fixture}");
        assert_eq!(stored(&s, "example.com").await.len(), n, "{fixture}");
    }
    // Each noisy request logged its reports as filtered noise.
    let noise: Vec<u64> = logs
        .lines()
        .into_iter()
        .filter_map(|l| {
            let counts: Value = serde_json::from_str(l["counts"].as_str()?).ok()?;
            counts["filtered"]["noise"].as_u64()
        })
        .collect();
    assert_eq!(noise, [1, 1, 1, 1, 1, 2]);
}

#[tokio::test]
async fn health() {
    let t = TempStore::new();
    let s = state(t.store.clone());
    let (res, body) = send(&s, Request::get("/health").body(Body::empty()).unwrap()).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap()["status"],
        "ok"
    );
}

#[tokio::test]
async fn a_failing_store_is_retried() {
    let t = TempStore::new();
    let faulty = Arc::new(FaultyStore::new(t.store.clone(), Fault::FailFirst(2)));
    let s = state(faulty.clone());
    let (res, _) = send(
        &s,
        post(
            "/r/example.com",
            "application/reports+json",
            batch(0..5, deprecation),
        ),
    )
    .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(faulty.calls.load(Ordering::SeqCst), 3);
    assert_eq!(stored(&s, "example.com").await.len(), 5);
}

#[tokio::test]
async fn a_store_that_stays_down_gives_503_and_logs_every_report_for_recovery() {
    let logs = LogCapture::json();
    let t = TempStore::new();
    let faulty = Arc::new(FaultyStore::new(t.store.clone(), Fault::Down));
    let s = state(faulty.clone());
    let (res, body) = send(
        &s,
        post(
            "/r/example.com",
            "application/reports+json",
            batch(0..7, deprecation),
        ),
    )
    .await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(res.headers().contains_key("retry-after"));
    assert_eq!(res.headers()["access-control-allow-origin"], "*");
    let (code, detail) = error_of(&body);
    assert_eq!(code, "store_unavailable");
    assert!(
        !detail.contains("injected"),
        "internal errors are not echoed: {detail}"
    );
    let recovered = logs.recovered();
    assert_eq!(recovered.len(), 7);
    let mut ids: Vec<_> = recovered.iter().map(|r| r.id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 7, "each report logged once, in full");
}

#[tokio::test]
async fn half_a_batch_failing_loses_nothing() {
    let logs = LogCapture::json();
    let t = TempStore::new();
    let faulty = Arc::new(FaultyStore::new(t.store.clone(), Fault::HalfBatch));
    let s = state(faulty);
    let (res, _) = send(
        &s,
        post(
            "/r/example.com",
            "application/reports+json",
            batch(0..20, deprecation),
        ),
    )
    .await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let stored_ids: Vec<String> = stored(&s, "example.com")
        .await
        .into_iter()
        .map(|r| r.id)
        .collect();
    let recovered_ids: Vec<String> = logs.recovered().into_iter().map(|r| r.id).collect();
    assert!(!stored_ids.is_empty() && !recovered_ids.is_empty());
    let mut all: Vec<String> = stored_ids.iter().chain(&recovered_ids).cloned().collect();
    all.sort();
    all.dedup();
    assert_eq!(
        all.len(),
        20,
        "every report is stored or in the recovery log"
    );
}

#[tokio::test]
async fn a_hanging_store_times_out_with_503() {
    let logs = LogCapture::json();
    let t = TempStore::new();
    let faulty = Arc::new(FaultyStore::new(t.store.clone(), Fault::Hang));
    let mut s = state(faulty);
    s.put_retry.timeout = std::time::Duration::from_millis(300);
    let started = std::time::Instant::now();
    let (res, _) = send(&s, post("/r/example.com", "application/csp-report", LEGACY)).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    assert_eq!(logs.recovered().len(), 1);
}

#[tokio::test]
async fn top_groups_identical_problems() {
    let t = TempStore::new();
    let s = state(t.store.clone());
    for i in 0..3 {
        let body = format!(
            r#"{{"csp-report":{{"document-uri":"https://example.com/page?i={i}","effective-directive":"img-src","blocked-uri":"https://tracker.example.net/p{i}.gif"}}}}"#
        );
        let mut req = post("/r/example.com", "application/csp-report", body);
        req.headers_mut().insert(
            "user-agent",
            format!("Mozilla/5.0 Chrome/12{i}.0 Safari/537.36")
                .parse()
                .unwrap(),
        );
        send(&s, req).await;
    }
    let inline = r#"{"csp-report":{"document-uri":"https://example.com/","effective-directive":"script-src","blocked-uri":"inline"}}"#;
    send(&s, post("/r/example.com", "application/csp-report", inline)).await;
    let top = t
        .store
        .top(&TopQuery {
            site: "example.com".into(),
            report_type: None,
            since: Timestamp(0),
            limit: 10,
            classification: None,
        })
        .await
        .unwrap();
    assert_eq!(top.len(), 2);
    assert_eq!(top[0].count, 3);
    assert_eq!(
        top[0].group,
        "csp-violation img-src https://tracker.example.net https://example.com/page"
    );
    assert_eq!(
        top[0].browsers,
        vec!["Chrome 120", "Chrome 121", "Chrome 122"]
    );
    assert_eq!(top[1].count, 1);
    assert_eq!(
        top[1].group,
        "csp-violation script-src 'unsafe-inline' https://example.com/"
    );
}

#[tokio::test]
async fn a_policy_version_in_the_endpoint_url_starts_fresh_problems() {
    let t = TempStore::new();
    let s = state(t.store.clone());
    // One problem (a deprecation's id), reported from two pages: before and after the change.
    for (path, page) in [("/r/example.com", "a"), ("/r/example.com?v=2026-12.1", "b")] {
        let body = format!(
            r#"[{{"type":"deprecation","age":0,"url":"https://example.com/{page}","body":{{"id":"websql"}}}}]"#
        );
        let (res, _) = send(&s, post(path, "application/reports+json", body)).await;
        assert_eq!(res.status(), StatusCode::NO_CONTENT, "{path}");
    }
    let reports = stored(&s, "example.com").await;
    let versions: Vec<Option<&str>> = reports
        .iter()
        .map(|r| r.policy_version.as_deref())
        .collect();
    assert!(versions.contains(&Some("2026-12.1")) && versions.contains(&None));
    let versioned = reports.iter().find(|r| r.policy_version.is_some()).unwrap();
    assert!(
        versioned.group.ends_with(" v=2026-12.1"),
        "{}",
        versioned.group
    );
    let top = t
        .store
        .top(&TopQuery {
            site: "example.com".into(),
            report_type: None,
            since: Timestamp(0),
            limit: 10,
            classification: None,
        })
        .await
        .unwrap();
    assert_eq!(
        top.len(),
        2,
        "the same report under two versions: two problems"
    );
    assert!(
        top.iter()
            .any(|g| g.policy_version.as_deref() == Some("2026-12.1"))
    );

    for bad in [
        "v=",
        "v=a%20b",
        "v=%3Cscript%3E",
        &format!("v={}", "9".repeat(33)),
    ] {
        let (res, body) = send(
            &s,
            post(
                &format!("/r/example.com?{bad}"),
                "application/reports+json",
                batch(0..1, deprecation),
            ),
        )
        .await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(error_of(&body).0, "invalid_policy_version");
    }
}
