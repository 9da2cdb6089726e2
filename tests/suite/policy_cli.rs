//! `lookout policy` over both stores: the same reports give the same suggestion from the
//! embedded store and from DynamoDB (its aggregates counted from the table's stream).

use lookout::report::{Report, Timestamp};
use lookout::store::ReportStore;
use lookout::store::embedded::EmbeddedStore;
use serde_json::{Value, json};

use crate::emulator::{count_stream, emulator, store_with};
use crate::support::{decode_json, run_lookout};

/// The owner's policy, which the reports also carry.
const POLICY: &str = "default-src 'self'; script-src 'self' 'report-sample'; report-uri https://c.example/r/example.com";

fn reports() -> Vec<Report> {
    let policy = POLICY;
    let csp = |directive: &str, blocked: &str, sample: Option<&str>, ua: &str| {
        let mut body = json!({
            "blockedURL": blocked, "documentURL": "https://example.com/shop",
            "effectiveDirective": directive, "originalPolicy": policy, "disposition": "report"
        });
        if let Some(s) = sample {
            body["sample"] = json!(s);
        }
        json!({"type": "csp-violation", "age": 0, "url": "https://example.com/shop",
               "user_agent": ua, "body": body})
    };
    let chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36";
    let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0";
    let body = json!([
        csp(
            "script-src-elem",
            "https://cdn.example.net/a.js",
            None,
            chrome
        ),
        csp(
            "script-src-elem",
            "https://cdn.example.net/b.js",
            None,
            firefox
        ),
        csp("img-src", "https://img.example.org/x.png", None, chrome),
        csp("script-src-elem", "inline", Some("track()"), chrome),
        csp("script-src-elem", "eval", None, firefox),
    ]);
    let mut reports = decode_json(&body, "example.com", Timestamp::now());
    // Each from a network of its own, as the endpoint marks them: the CDN's two scripts are
    // two visitors, everything else one.
    for (i, r) in reports.iter_mut().enumerate() {
        r.visitor = Some(i as u8);
    }
    reports
}

/// `lookout policy --site example.com --data DIR --from-policy POLICY` with `extra`.
fn policy_on(dir: &str, extra: &[&str]) -> (bool, String, String) {
    crate::support::run_policy(dir, POLICY, extra)
}

fn policy(store_args: &[&str], extra: &[&str]) -> Value {
    let mut args = vec![
        "policy",
        "--site",
        "example.com",
        "--from-policy",
        POLICY,
        "--min-visitors",
        "1",
        "--json",
    ];
    args.extend_from_slice(store_args);
    args.extend_from_slice(extra);
    let (ok, out, err) = run_lookout(&args);
    assert!(ok, "lookout policy: {err}");
    serde_json::from_str(out.trim()).unwrap()
}

#[tokio::test]
async fn dynamo_and_the_embedded_store_suggest_the_same_policy() {
    let reports = reports();
    let data = tempfile::tempdir().unwrap();
    EmbeddedStore::open(data.path())
        .unwrap()
        .put(&reports)
        .await
        .unwrap();
    let (store, _client, table) = store_with(1).await;
    store.put(&reports).await.unwrap();
    count_stream(&store).await;

    let dir = data.path().to_str().unwrap();
    let embedded = policy(&["--data", dir], &["--hash-samples"]);
    let dynamo = policy(
        &["--table", &table, "--endpoint-url", &emulator().url],
        &["--hash-samples"],
    );
    assert_eq!(embedded, dynamo);
    assert_eq!(
        embedded["policy"],
        "default-src 'self'; script-src 'self' 'report-sample' https://cdn.example.net 'sha256-lwtL9T8CD1M13qGmRSPkrfH0qWLKZiXHpFuuZAdSmkQ='; report-uri https://c.example/r/example.com; img-src 'self' https://img.example.org"
    );
    assert_eq!(embedded["left_out"][0]["reason"], "unsafe_eval");
    assert_eq!(embedded["reported_policies"]["differing"], 0);
    // Without --hash-samples, the inline sample is shown, not allowed.
    let unhashed = policy(&["--data", dir], &[]);
    assert!(
        !unhashed["policy"].as_str().unwrap().contains("'sha256-"),
        "{unhashed}"
    );

    // The default threshold against forgers: two visitors; only the CDN was seen from two.
    let (ok, out, err) = policy_on(dir, &["--json"]);
    assert!(ok, "{err}");
    let guarded: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        guarded["policy"],
        "default-src 'self'; script-src 'self' 'report-sample' https://cdn.example.net; report-uri https://c.example/r/example.com"
    );
    assert!(
        guarded["left_out"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["reason"] == "too_few_visitors"),
        "{guarded}"
    );

    // The thresholds: the CDN was seen from two browsers, the image host from one.
    let strict = policy(&["--data", dir], &["--min-browsers", "2"]);
    assert_eq!(
        strict["policy"],
        "default-src 'self'; script-src 'self' 'report-sample' https://cdn.example.net; report-uri https://c.example/r/example.com"
    );

    // As a header for a server: only with the endpoint the owner gives.
    let (ok, _, err) = policy_on(dir, &["--format", "nginx"]);
    assert!(!ok, "--format without --endpoint: {err}");
    let (ok, nginx, err) = policy_on(
        dir,
        &[
            "--format",
            "nginx",
            "--endpoint",
            "https://c.example/r/example.com",
        ],
    );
    assert!(ok, "{err}");
    assert!(nginx.contains("add_header Content-Security-Policy-Report-Only \"default-src 'self'; script-src 'self' 'report-sample' https://cdn.example.net"), "{nginx}");
    assert!(
        nginx.contains("report-uri https://c.example/r/example.com; report-to lookout\" always;"),
        "{nginx}"
    );
    let (ok, raw, err) = policy_on(
        dir,
        &[
            "--format",
            "header",
            "--endpoint",
            "https://c.example/r/example.com",
            "--enforce",
        ],
    );
    assert!(ok, "{err}");
    assert!(
        raw.lines()
            .any(|l| l.starts_with("Content-Security-Policy: default-src 'self'; script-src")),
        "{raw}"
    );
}
