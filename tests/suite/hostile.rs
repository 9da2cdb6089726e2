//! Hostile and odd input, table-driven: each case has its expected status and error code (or
//! how many reports it stores), never panics, never answers 5xx, and the app serves a good
//! request right after it.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use lookout::http::AppState;
use lookout::report::{Options, ReportType, Timestamp};
use lookout::store::{RecentQuery, ReportStore};

use crate::support::{LogCapture, TempStore, send, state_with};

const GOOD: &str = r#"{"csp-report":{"document-uri":"https://example.com/","effective-directive":"img-src","blocked-uri":"https://t.example/x.gif"}}"#;

/// What a case must produce.
enum Want {
    /// An error status with this code in the JSON body.
    Error(StatusCode, &'static str),
    /// 204, and this many reports stored.
    Stored(usize),
}

struct Case {
    name: &'static str,
    method: &'static str,
    path: String,
    content_type: Option<&'static str>,
    body: Vec<u8>,
    want: Want,
}

fn case(name: &'static str, body: impl Into<Vec<u8>>, want: Want) -> Case {
    Case {
        name,
        method: "POST",
        path: "/r/example.com".into(),
        content_type: Some("application/csp-report"),
        body: body.into(),
        want,
    }
}

fn cases() -> Vec<Case> {
    use Want::*;
    let bad = StatusCode::BAD_REQUEST;
    let large = StatusCode::PAYLOAD_TOO_LARGE;
    let report = |extra: &str| {
        format!(
            r#"{{"type":"deprecation","url":"https://example.com/","body":{{"id":"x"{extra}}}}}"#
        )
    };
    let mut v = vec![
        case("empty body", "", Error(bad, "empty_body")),
        case("white space", " \r\n\t ", Error(bad, "empty_body")),
        case("not JSON", "hello", Error(bad, "not_json")),
        case(
            "truncated JSON",
            r#"{"csp-report":{"document-uri":"https://exa"#,
            Error(bad, "not_json"),
        ),
        case(
            "invalid UTF-8",
            vec![b'{', b'"', 0xc3, 0x28, b'"', b':', b'1', b'}'],
            Error(bad, "not_json"),
        ),
        case(
            "NUL bytes",
            b"{\"csp-report\":\0{}}".to_vec(),
            Error(bad, "not_json"),
        ),
        case(
            "NUL byte inside a string",
            br#"{"csp-report":{"document-uri":"https://example.com/\u0000"}}"#.to_vec(),
            Stored(1),
        ),
        case("byte order mark", "\u{feff}{}", Error(bad, "not_json")),
        case(
            "trailing garbage",
            format!("{GOOD} xyz"),
            Error(bad, "not_json"),
        ),
        case("JSON number", "42", Error(bad, "no_report")),
        case("JSON string", r#""csp-report""#, Error(bad, "no_report")),
        case("JSON null", "null", Error(bad, "no_report")),
        case("JSON boolean", "true", Error(bad, "no_report")),
        case("empty object", "{}", Error(bad, "no_report")),
        case("empty array", "[]", Error(bad, "no_report")),
        case(
            "array of non-objects",
            "[1, \"a\", null, [], true]",
            Error(bad, "no_report"),
        ),
        case(
            "type of the wrong kind",
            r#"{"type": 5, "body": {}}"#,
            Error(bad, "no_report"),
        ),
        case(
            "body of the wrong kind",
            r#"{"type": "deprecation", "body": [1]}"#,
            Error(bad, "no_report"),
        ),
        case(
            "csp-report of the wrong kind",
            r#"{"csp-report": "x"}"#,
            Error(bad, "no_report"),
        ),
        case(
            "csp-report null",
            r#"{"csp-report": null}"#,
            Error(bad, "no_report"),
        ),
        case(
            "type with odd characters",
            r#"[{"type":"../../etc","url":"https://example.com/","body":{}}]"#,
            Error(bad, "no_report"),
        ),
        case(
            "fields of the wrong kind are kept aside",
            r#"{"csp-report":{"document-uri":["x"],"line-number":"abc","status-code":{"a":1},"effective-directive":"img-src"}}"#,
            Stored(1),
        ),
        case(
            "float that overflows",
            r#"[{"type":"deprecation","age":1e400,"url":"https://example.com/","body":{}}]"#,
            Error(bad, "not_json"),
        ),
        case(
            "integer that overflows",
            format!(
                r#"[{{"type":"deprecation","age":{},"url":"https://example.com/","body":{{"lineNumber":123456789012345678901234567890}}}}]"#,
                "9".repeat(40)
            ),
            Stored(1),
        ),
        case(
            "negative age",
            r#"[{"type":"deprecation","age":-5000,"url":"https://example.com/","body":{}}]"#,
            Stored(1),
        ),
        case(
            "duplicate keys",
            r#"{"csp-report":{"document-uri":"https://example.com/a","document-uri":"https://example.com/b","effective-directive":"img-src"}}"#,
            Stored(1),
        ),
        case(
            "deeply nested JSON",
            format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)),
            Error(bad, "not_json"),
        ),
        case(
            "deeply nested inside a report",
            format!(
                r#"[{{"type":"x","url":"https://example.com/","body":{{"a":{}{}}}}}]"#,
                "[".repeat(5000),
                "]".repeat(5000)
            ),
            Error(bad, "not_json"),
        ),
        case(
            "10 MB body",
            vec![b'['; 10 * 1024 * 1024],
            Error(large, "body_too_large"),
        ),
        case(
            "100,000 tiny reports",
            format!("[{}]", vec!["{}"; 100_000].join(",")),
            Error(large, "too_many_reports"),
        ),
        case(
            "one field of 1 MB is cut",
            format!(
                r#"{{"csp-report":{{"document-uri":"https://example.com/","effective-directive":"img-src","original-policy":"{}"}}}}"#,
                "p".repeat(1_000_000)
            ),
            Stored(1),
        ),
        case(
            "valid and invalid mixed",
            format!(
                "[{}, 7, {{\"type\":1}}, {}]",
                report(""),
                report(r#","n":1"#)
            ),
            Stored(2),
        ),
        case(
            "unknown report types are stored raw",
            r#"[{"type":"x-future-report","url":"https://example.com/","body":{"any":{"thing":[1,2]}}}]"#,
            Stored(1),
        ),
        case(
            "control characters and ANSI escapes",
            r#"{"csp-report":{"document-uri":"https://example.com/\u001b[31mred","effective-directive":"img-src\r\nInjected: yes","script-sample":"\u001b]0;title\u0007"}}"#,
            Stored(1),
        ),
        case(
            "HPKP with a bad date-time",
            r#"{"hostname":"example.com","known-pins":[],"date-time":"yesterday"}"#,
            Stored(1),
        ),
        case(
            "99 nulls around one report (the batch at its limit)",
            format!("[{}{}]", "null,".repeat(99), report("")),
            Stored(1),
        ),
        // Inputs that once made an invalid DynamoDB item, or a panic.
        case(
            "a date in the year 10000",
            r#"[{"type":"deprecation","url":"https://example.com/","body":{"id":"x","anticipatedRemoval":253402300800000}}]"#,
            Stored(1),
        ),
        case(
            "a date at i64::MAX",
            r#"[{"type":"deprecation","url":"https://example.com/","body":{"id":"x","anticipatedRemoval":9223372036854775807}}]"#,
            Stored(1),
        ),
        case(
            "a 500 KB deprecation id",
            format!(
                r#"[{{"type":"deprecation","url":"https://example.com/","body":{{"id":"{}"}}}}]"#,
                "d".repeat(500_000)
            ),
            Stored(1),
        ),
        case(
            "a body nested 40 levels deep",
            format!(
                r#"[{{"type":"x-deep","url":"https://example.com/","body":{{"d":{}1{}}}}}]"#,
                "[".repeat(40),
                "]".repeat(40)
            ),
            Stored(1),
        ),
        case(
            "numbers DynamoDB cannot hold",
            r#"[{"type":"x-num","url":"https://example.com/","body":{"big":1e300,"tiny":1e-200,"deep":{"n":-1e200}}}]"#,
            Stored(1),
        ),
        case(
            "an age of 10^15 ms",
            r#"[{"type":"deprecation","age":1000000000000000,"url":"https://example.com/","body":{"id":"x"}}]"#,
            Stored(1),
        ),
        case(
            "a certificate report dated 2014",
            r#"{"hostname":"example.com","port":443,"known-pins":[],"date-time":"2014-04-06T13:00:50Z"}"#,
            Stored(1),
        ),
    ];
    for (name, ct) in [
        ("wrong content type text/html", Some("text/html")),
        (
            "wrong content type multipart",
            Some("multipart/form-data; boundary=x"),
        ),
        ("missing content type", None),
        (
            "content type with parameters",
            Some("application/reports+json; charset=UTF-8"),
        ),
    ] {
        v.push(Case {
            content_type: ct,
            ..case(name, GOOD, Stored(1))
        });
    }
    for (name, path, want) in [
        ("site ../", "/r/..%2F", Error(bad, "invalid_site")),
        (
            "site with a space",
            "/r/a%20b.com",
            Error(bad, "invalid_site"),
        ),
        (
            "site of 300 characters",
            &*format!("/r/{}", "a".repeat(300)),
            Error(bad, "invalid_site"),
        ),
        (
            "unicode site",
            "/r/%C3%BCnicode.com",
            Error(bad, "invalid_site"),
        ),
        (
            "site with a port",
            "/r/example.com:8080",
            Error(bad, "invalid_site"),
        ),
        ("upper-case site", "/r/EXAMPLE.COM", Stored(1)),
        (
            "nested path",
            "/r/example.com/extra",
            Error(StatusCode::NOT_FOUND, "not_found"),
        ),
    ] {
        v.push(Case {
            path: path.to_owned(),
            ..case(name, GOOD, want)
        });
    }
    v.push(Case {
        path: "/".into(),
        ..case(
            "javascript: URL and no site in the path",
            r#"[{"type":"x","url":"javascript:alert(1)","body":{}}]"#,
            Error(bad, "no_report"),
        )
    });
    for method in ["GET", "PUT", "DELETE", "PATCH"] {
        v.push(Case {
            method,
            ..case(
                "wrong method",
                GOOD,
                Error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            )
        });
    }
    v
}

fn build(c: &Case) -> Request<Body> {
    let mut b = Request::builder()
        .method(c.method)
        .uri(&c.path)
        .header("host", "collector.test");
    if let Some(ct) = c.content_type {
        b = b.header("content-type", ct);
    }
    b.body(Body::from(c.body.clone())).unwrap()
}

async fn count(state: &AppState) -> usize {
    state
        .store
        .recent(&RecentQuery {
            site: "example.com".into(),
            report_type: None,
            since: Timestamp(0),
            limit: 100_000,
            classification: None,
            fingerprint: None,
        })
        .await
        .unwrap()
        .len()
}

/// A fresh store for one case, and how to count the reports it holds.
enum Fresh {
    Embedded(TempStore),
    Dynamo(aws_sdk_dynamodb::Client, String),
}

impl Fresh {
    async fn new(dynamo: bool) -> (Self, Arc<dyn ReportStore>) {
        if dynamo {
            let (store, client, table) = crate::emulator::store_with(1).await;
            (Self::Dynamo(client, table), Arc::new(store))
        } else {
            let t = TempStore::new();
            let store = t.store.clone();
            (Self::Embedded(t), store)
        }
    }

    async fn count(&self, state: &AppState) -> usize {
        match self {
            Self::Embedded(t) => {
                let n = t.store.count().await.unwrap() as usize;
                assert_eq!(n, count(state).await, "every stored report reads back");
                n
            }
            Self::Dynamo(client, table) => {
                let items = crate::support::scan_all(client, table).await;
                crate::support::report_items(&items).len()
            }
        }
    }
}

/// Every case on a fresh store of the kind, then a good request on the same store.
async fn every_case_on(dynamo: bool) {
    let logs = LogCapture::plain();
    let cases = cases();
    assert!(cases.len() >= 47, "{} cases", cases.len());
    let mut failures = Vec::new();
    for (i, c) in cases.iter().enumerate() {
        // A fresh store per case, so that the stored count is this case's alone.
        let (fresh, store) = Fresh::new(dynamo).await;
        let state = state_with(store, Options::default());
        let (res, body) = send(&state, build(c)).await;
        let status = res.status();
        let ok = match &c.want {
            Want::Error(want, code) => {
                let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                status == *want && v["error"] == *code && v["detail"].is_string()
            }
            Want::Stored(n) => status == StatusCode::NO_CONTENT && fresh.count(&state).await == *n,
        };
        if !ok || status.is_server_error() {
            failures.push(format!(
                "{}: {} {}",
                c.name,
                status,
                String::from_utf8_lossy(&body)
            ));
        }
        // Another report (not a re-delivery of the case's own, which would be stored once).
        let before = fresh.count(&state).await;
        let next_report = GOOD.replace("x.gif", &format!("next-{i}.gif"));
        let (next, _) = send(
            &state,
            crate::support::post("/r/example.com", "application/csp-report", next_report),
        )
        .await;
        assert_eq!(next.status(), StatusCode::NO_CONTENT, "after {}", c.name);
        assert_eq!(fresh.count(&state).await, before + 1, "after {}", c.name);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let text = logs.text();
    assert!(
        !text.contains('\u{1b}'),
        "an escape character reached the log"
    );
    assert!(
        !text.contains("Injected: yes"),
        "a report field reached the log raw"
    );
    assert!(
        !text.contains("report not stored") && !text.contains("refused by DynamoDB"),
        "every stored case was stored whole, none refused: {text}"
    );
}

#[tokio::test]
async fn every_hostile_case_gets_its_answer_and_the_next_request_is_served() {
    every_case_on(false).await;
}

#[tokio::test]
async fn every_hostile_case_gets_its_answer_on_dynamodb_too() {
    every_case_on(true).await;
}

#[tokio::test]
async fn a_long_field_is_cut_with_a_marker_and_stays_under_the_item_limit() {
    let t = TempStore::new();
    let state = state_with(t.store.clone(), Options::default());
    let body = format!(
        r#"{{"csp-report":{{"document-uri":"https://example.com/","effective-directive":"img-src","original-policy":"{}"}}}}"#,
        "p".repeat(1_000_000)
    );
    let (res, _) = send(
        &state,
        crate::support::post("/r/example.com", "application/csp-report", body),
    )
    .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let stored = t
        .store
        .recent(&RecentQuery {
            site: "example.com".into(),
            report_type: Some(ReportType::CspViolation),
            since: Timestamp(0),
            limit: 1,
            classification: None,
            fingerprint: None,
        })
        .await
        .unwrap();
    assert_eq!(stored[0].truncated, vec!["body.originalPolicy"]);
    assert!(serde_json::to_vec(&stored[0]).unwrap().len() < 20 * 1024);
}

#[tokio::test]
async fn strict_mode_drops_other_sites_reports() {
    let t = TempStore::new();
    let opts = Options {
        strict_site: true,
        ..Options::default()
    };
    let state = state_with(t.store.clone(), opts);
    let body = r#"[{"type":"x","url":"https://evil.test/","body":{}},{"type":"x","url":"https://www.example.com/","body":{}}]"#;
    let (res, _) = send(
        &state,
        crate::support::post("/r/example.com", "application/reports+json", body),
    )
    .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(count(&state).await, 1);
}

#[tokio::test]
async fn sampling_and_budgets_drop_reports_but_still_answer_204() {
    let t = TempStore::new();
    let mut opts = Options::default();
    opts.sample_rates.insert("network-error".into(), 0.0);
    let mut state = state_with(t.store.clone(), opts);
    state.budget = Arc::new(lookout::limits::Budget::new(5, 0));
    let items: Vec<String> = (0..10)
        .map(|i| format!(r#"{{"type":"deprecation","url":"https://example.com/","body":{{"id":"d{i}"}}}}"#))
        .chain((0..10).map(|i| format!(r#"{{"type":"network-error","url":"https://example.com/{i}","body":{{"type":"tcp.refused"}}}}"#)))
        .collect();
    let body = format!("[{}]", items.join(","));
    let (res, _) = send(
        &state,
        crate::support::post("/r/example.com", "application/reports+json", body.clone()),
    )
    .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        count(&state).await,
        5,
        "network errors sampled out, deprecations capped at 5"
    );
    let (res, _) = send(
        &state,
        crate::support::post("/r/example.com", "application/reports+json", body),
    )
    .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        count(&state).await,
        5,
        "the site's budget for this minute is spent"
    );
}
