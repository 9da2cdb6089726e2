//! The DynamoDB store against a real DynamoDB-API server (DynamoDB Local or moto), with a
//! fault-injecting proxy for throttling, 5xx and `UnprocessedItems`; the Lambda app fed with
//! the API Gateway events in `events/`; the CLI on a table.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use axum::http::StatusCode;
use lookout::http::{AppState, app};
use lookout::report::{Options, Report, ReportType, Timestamp};
use lookout::store::dynamodb::DynamoStore;
use lookout::store::dynamodb::item::{self, PK, SK, TTL};
use lookout::store::{RecentQuery, ReportStore, TopQuery};
use serde_json::json;
use tower::ServiceExt;

use crate::emulator::{self, FaultProxy, emulator, store_with};
use crate::support::{
    LogCapture, batch, decode_with, post, report_items, run_lookout, scan_all, send,
    unbounded_budget,
};

fn reports(n: usize, site: &str, t0: i64) -> Vec<Report> {
    let body = batch(0..n, |i| {
        format!(
            r#"{{"type":"{}","age":{},"url":"https://{site}/p{}","user_agent":"Mozilla/5.0 Chrome/12{}.0 Safari/537.36","body":{{"id":"f{}","featureId":"f{}"}}}}"#,
            if i % 2 == 0 {
                "deprecation"
            } else {
                "permissions-policy-violation"
            },
            i * 10,
            i,
            i % 3,
            i % 5,
            i % 5
        )
    });
    let opts = Options {
        max_reports: 1000,
        ..Options::default()
    };
    decode_with(&body, site, Timestamp(t0), &opts)
}

fn now_ms() -> i64 {
    Timestamp::now().millis()
}

#[tokio::test]
async fn writes_items_with_readable_attributes_ttl_and_aggregates() {
    let (store, client, table) = store_with(1).await;
    let batch = reports(60, "example.com", now_ms());
    store.put(&batch).await.unwrap();
    let items = scan_all(&client, &table).await;
    let stored = report_items(&items);
    assert_eq!(stored.len(), 60, "60 reports over 3 BatchWriteItem calls");
    let one = stored[0];
    for attr in [
        "received_at",
        "url",
        "user_agent",
        "browser",
        "fingerprint",
        "group",
        TTL,
    ] {
        assert!(one.contains_key(attr), "missing {attr}");
    }
    // What the keys hold is not repeated; reading restores it.
    for attr in ["site", "type", "id"] {
        assert!(!one.contains_key(attr), "{attr} is in the keys");
    }
    let back = item::report_of(one).unwrap();
    assert!(batch.contains(&back), "an item reads back as its report");
    assert!(matches!(one.get("body"), Some(AttributeValue::M(_))));
    let ttl = item::n(one, TTL).unwrap();
    assert_eq!(ttl, back.received_at.millis() / 1000 + 30 * 86_400);
    // TTL is enabled on the table, as the template says.
    let ttl_desc = client
        .describe_time_to_live()
        .table_name(&table)
        .send()
        .await
        .unwrap();
    let spec = ttl_desc.time_to_live_description().unwrap();
    assert_eq!(spec.attribute_name(), Some(TTL));

    assert_eq!(emulator::count_stream(&store).await, 60);
    let top = store
        .top(&TopQuery {
            site: "example.com".into(),
            report_type: None,
            since: Timestamp(now_ms() - 3_600_000),
            limit: 100,
            classification: None,
        })
        .await
        .unwrap();
    assert_eq!(top.iter().map(|g| g.count).sum::<u64>(), 60);
    assert_eq!(
        top.len(),
        10,
        "5 deprecation ids x 2 types, with odd/even split: {top:?}"
    );
    assert!(top.iter().all(|g| !g.browsers.is_empty()));
    let only = store
        .top(&TopQuery {
            site: "example.com".into(),
            report_type: Some(ReportType::Deprecation),
            since: Timestamp(now_ms() - 3_600_000),
            limit: 100,
            classification: None,
        })
        .await
        .unwrap();
    assert!(
        only.iter()
            .all(|g| g.report_type == ReportType::Deprecation)
    );
    assert_eq!(only.iter().map(|g| g.count).sum::<u64>(), 30);
}

#[tokio::test]
async fn recent_reads_back_exactly_newest_first() {
    let (store, _client, _table) = store_with(1).await;
    let batch = reports(30, "example.com", now_ms());
    store.put(&batch).await.unwrap();
    emulator::count_stream(&store).await; // the types seen come from the aggregates
    let got = store
        .recent(&RecentQuery {
            site: "example.com".into(),
            report_type: None,
            since: Timestamp(now_ms() - 3_600_000),
            limit: 1000,
            classification: None,
            fingerprint: None,
        })
        .await
        .unwrap();
    assert_eq!(got.len(), 30);
    assert!(got.windows(2).all(|w| w[0].occurred_at >= w[1].occurred_at));
    let by_id: std::collections::HashMap<_, _> = batch.iter().map(|r| (r.id.clone(), r)).collect();
    for r in &got {
        assert_eq!(
            &r,
            by_id.get(&r.id).unwrap(),
            "a report reads back as it was written"
        );
    }
    let limited = store
        .recent(&RecentQuery {
            site: "example.com".into(),
            report_type: Some(ReportType::PermissionsPolicyViolation),
            since: Timestamp(0),
            limit: 4,
            classification: None,
            fingerprint: None,
        })
        .await
        .unwrap();
    assert_eq!(limited.len(), 4);
    assert!(
        limited
            .iter()
            .all(|r| r.report_type == ReportType::PermissionsPolicyViolation)
    );
}

#[tokio::test]
async fn sharded_writes_spread_and_reads_fan_out() {
    let (store, client, table) = store_with(8).await;
    let batch = reports(200, "busy.example", now_ms());
    store.put(&batch).await.unwrap();
    let items = scan_all(&client, &table).await;
    let pks: HashSet<String> = report_items(&items)
        .iter()
        .map(|i| item::s(i, PK).unwrap())
        .collect();
    assert!(
        pks.len() >= 12,
        "200 reports of 2 types over 8 shards use many partitions: {pks:?}"
    );
    assert_eq!(emulator::count_stream(&store).await, 200);
    let got = store
        .recent(&RecentQuery {
            site: "busy.example".into(),
            report_type: None,
            since: Timestamp(0),
            limit: 10_000,
            classification: None,
            fingerprint: None,
        })
        .await
        .unwrap();
    assert_eq!(got.len(), 200);
    let top = store
        .top(&TopQuery {
            site: "busy.example".into(),
            report_type: None,
            since: Timestamp(0),
            limit: 100,
            classification: None,
        })
        .await
        .unwrap();
    assert_eq!(top.iter().map(|g| g.count).sum::<u64>(), 200);
    // Each aggregate names one of its reports by key, whatever shard that report is on.
    let keys: HashSet<(String, String)> = report_items(&items)
        .iter()
        .map(|i| (item::s(i, PK).unwrap(), item::s(i, SK).unwrap()))
        .collect();
    let items = scan_all(&client, &table).await;
    let aggregates: Vec<_> = items
        .iter()
        .filter(|i| item::s(i, PK).unwrap().starts_with("AGG#"))
        .collect();
    assert!(!aggregates.is_empty());
    for agg in aggregates {
        let Some(AttributeValue::M(sample)) = agg.get("sample") else {
            panic!("no sample key: {agg:?}");
        };
        let key = (item::s(sample, PK).unwrap(), item::s(sample, SK).unwrap());
        assert!(keys.contains(&key), "sample {key:?} is not a stored report");
        assert!(
            item::item_size(agg) < 1024,
            "an aggregate is one write unit"
        );
    }
}

#[tokio::test]
async fn a_redelivered_report_is_one_item_and_duplicates_in_a_batch_are_fine() {
    let (store, client, table) = store_with(1).await;
    let mut batch = reports(10, "example.com", now_ms());
    batch.extend(batch.clone()); // the same reports twice in one request
    store.put(&batch).await.unwrap();
    store.put(&batch[..10]).await.unwrap(); // and delivered again
    let items = scan_all(&client, &table).await;
    assert_eq!(report_items(&items).len(), 10);
}

#[tokio::test]
async fn throttling_and_5xx_are_retried() {
    let proxy = FaultProxy::start();
    let (store, client, table) = emulator::store_at(&proxy.url, 1).await;
    proxy.arm(json!({"throttle": 2, "op": "BatchWriteItem"}));
    store
        .put(&reports(5, "example.com", now_ms()))
        .await
        .unwrap();
    proxy.arm(json!({"error500": 2, "op": "BatchWriteItem"}));
    store
        .put(&reports(5, "other.example", now_ms()))
        .await
        .unwrap();
    assert_eq!(proxy.counters()["injected"], 4);
    assert_eq!(report_items(&scan_all(&client, &table).await).len(), 10);
}

#[tokio::test]
async fn unprocessed_items_are_resent_until_written() {
    let proxy = FaultProxy::start();
    let (store, client, table) = emulator::store_at(&proxy.url, 1).await;
    proxy.arm(json!({"unprocessed": 3, "op": "BatchWriteItem"}));
    store
        .put(&reports(25, "example.com", now_ms()))
        .await
        .unwrap();
    assert_eq!(proxy.counters()["injected"], 3);
    assert_eq!(report_items(&scan_all(&client, &table).await).len(), 25);
}

#[tokio::test]
async fn a_store_that_keeps_failing_answers_503_and_logs_every_report() {
    let logs = LogCapture::json();
    let proxy = FaultProxy::start();
    let (store, client, table) = emulator::store_at(&proxy.url, 1).await;
    let mut settings = store.settings().clone();
    settings.write_deadline = Duration::from_millis(500);
    let store = Arc::new(DynamoStore::new(client.clone(), settings));
    // The first call stores half its items; every later one stores nothing: some reports
    // land, the others never do.
    proxy.arm(json!({"unprocessed": 1, "unprocessed_all": 100000, "op": "BatchWriteItem"}));
    let mut state = AppState::new(Options::default(), store);
    state.put_retry.timeout = Duration::from_secs(10);
    state.budget = unbounded_budget();
    let body = serde_json::to_string(&json!((0..40).map(|i| json!({
        "type": "deprecation", "age": i, "url": "https://example.com/", "body": {"id": format!("d{i}")}
    })).collect::<Vec<_>>())).unwrap();
    let (res, _) = send(
        &state,
        post("/r/example.com", "application/reports+json", body),
    )
    .await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(res.headers().contains_key("retry-after"));
    let stored: HashSet<String> = report_items(&scan_all(&client, &table).await)
        .iter()
        .map(|i| item::report_of(i).unwrap().id)
        .collect();
    let recovered: HashSet<String> = logs.recovered().into_iter().map(|r| r.id).collect();
    assert!(!recovered.is_empty(), "some reports could not be written");
    let all: HashSet<&String> = stored.iter().chain(&recovered).collect();
    assert_eq!(
        all.len(),
        40,
        "every report is stored or in the recovery log"
    );
}

/// Every event in `events/` (the HTTP API's, and a function URL's as `url-*`) through
/// lambda_http's own conversion into the app, on DynamoDB.
#[tokio::test]
async fn api_gateway_events_give_the_right_answers() {
    let (store, client, table) = store_with(1).await;
    let state = AppState::new(Options::default(), Arc::new(store));
    let expected: &[(&str, StatusCode, usize)] = &[
        ("legacy-csp.json", StatusCode::NO_CONTENT, 1),
        ("chrome-batch.json", StatusCode::NO_CONTENT, 7),
        ("safari-single.json", StatusCode::NO_CONTENT, 1),
        ("nel.json", StatusCode::NO_CONTENT, 2),
        ("hpkp.json", StatusCode::NO_CONTENT, 1),
        ("expect-ct.json", StatusCode::NO_CONTENT, 1),
        ("preflight.json", StatusCode::NO_CONTENT, 0),
        ("bad-body.json", StatusCode::BAD_REQUEST, 0),
        ("oversized-body.json", StatusCode::PAYLOAD_TOO_LARGE, 0),
        ("wrong-method.json", StatusCode::METHOD_NOT_ALLOWED, 0),
        ("health.json", StatusCode::OK, 0),
        // The same requests through a function URL (payload format 2.0 too: another host,
        // `accountId` anonymous, and bodies that are not text or JSON base64-encoded).
        ("url-legacy-csp.json", StatusCode::NO_CONTENT, 1),
        ("url-chrome-batch.json", StatusCode::NO_CONTENT, 7),
        ("url-preflight.json", StatusCode::NO_CONTENT, 0),
        ("url-bad-body.json", StatusCode::BAD_REQUEST, 0),
        ("url-health.json", StatusCode::OK, 0),
    ];
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("events");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    files.sort();
    let mut listed: Vec<String> = expected.iter().map(|(n, _, _)| n.to_string()).collect();
    listed.sort();
    assert_eq!(files, listed, "every event has an expectation");
    for (name, status, stored) in expected {
        let text = std::fs::read_to_string(dir.join(name)).unwrap();
        let req = lambda_http::request::from_str(&text).unwrap();
        let before = report_items(&scan_all(&client, &table).await).len();
        let res = app(state.clone()).oneshot(req).await.unwrap();
        assert_eq!(res.status(), *status, "{name}");
        let after = report_items(&scan_all(&client, &table).await).len();
        assert_eq!(after - before, *stored, "{name}");
        if *status != StatusCode::OK && *status != StatusCode::NO_CONTENT {
            let body = axum::body::to_bytes(res.into_body(), 1 << 20)
                .await
                .unwrap();
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert!(v["error"].is_string(), "{name}: {v}");
        }
    }
}

#[test]
fn the_cli_creates_the_table_and_reads_it() {
    let em = emulator();
    let table = emulator::table_name();
    let (ok, _, err) = run_lookout(&["create-table", "--table", &table, "--endpoint-url", &em.url]);
    assert!(ok, "{err}");
    let (server, url) =
        crate::support::spawn_serve(&["--table", &table, "--endpoint-url", &em.url]);
    let addr = url.trim_start_matches("http://");
    let body = br#"[{"type":"network-error","age":100,"url":"https://example.com/api","user_agent":"Mozilla/5.0 Firefox/149.0","body":{"type":"dns.name_not_resolved","phase":"dns"}},
                    {"type":"csp-violation","url":"https://example.com/","body":{"effectiveDirective":"img-src","blockedURL":"https://x.example/a.png","documentURL":"https://example.com/"}}]"#;
    let (status, _) = crate::support::http_request(
        addr,
        "POST",
        "/r/example.com",
        &[("Content-Type", "application/reports+json")],
        body,
    );
    assert_eq!(status, 204);
    let args = [
        "--site",
        "example.com",
        "--table",
        &table,
        "--endpoint-url",
        &em.url,
    ];
    // Listed as soon as stored, before the stream has counted them.
    let (ok, out, err) = run_lookout(&[&["query", "--json"][..], &args[..]].concat());
    assert!(ok, "{err}");
    let types: HashSet<String> = out
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        types,
        HashSet::from(["network-error".to_owned(), "csp-violation".to_owned()])
    );
    // The server counts new reports from the table's stream, about once a second.
    let counted = Instant::now();
    while !run_lookout(&[&["top"][..], &args[..]].concat())
        .1
        .contains("Firefox 149")
    {
        assert!(
            counted.elapsed() < Duration::from_secs(20),
            "serve counts the stream"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    drop(server);
    let (ok, out, err) = run_lookout(&[&["top"][..], &args[..]].concat());
    assert!(ok, "{err}");
    assert!(
        out.contains("dns.name_not_resolved dns example.com"),
        "{out}"
    );
    assert!(out.contains("Firefox 149"), "{out}");
}

/// `n` reports of one type (deprecation) for `site` over two problems: `occurrences` of them
/// problem B's (every `n / occurrences`-th), the rest problem A's; each its own report (its
/// URL), 10 ms apart. Returns them and B's fingerprint.
fn two_problems(n: usize, occurrences: usize, site: &str) -> (Vec<Report>, String) {
    let every = n / occurrences;
    let body = batch(0..n, |i| {
        let problem = if i % every == every / 2 { "b" } else { "a" };
        format!(
            r#"{{"type":"deprecation","age":{age},"url":"https://{site}/p{i}","user_agent":"Mozilla/5.0 Chrome/120.0 Safari/537.36","body":{{"id":"problem-{problem}","message":"m"}}}}"#,
            age = i * 10,
        )
    });
    let opts = Options {
        max_reports: n,
        ..Options::default()
    };
    let stored = decode_with(&body, site, Timestamp(now_ms()), &opts);
    assert_eq!(stored.len(), n);
    let b = stored[every / 2].fingerprint.clone();
    let a = stored[0].fingerprint.clone();
    assert_ne!(a, b);
    assert!(
        stored
            .iter()
            .all(|r| r.fingerprint == a || r.fingerprint == b),
        "two problems"
    );
    (stored, b)
}

/// `reports` of one problem, in the order `recent` lists them.
fn newest_first(reports: &[Report], fingerprint: &str) -> Vec<Report> {
    let mut of_problem: Vec<Report> = reports
        .iter()
        .filter(|r| r.fingerprint == fingerprint)
        .cloned()
        .collect();
    of_problem.sort_by(|a, b| b.occurred_at.cmp(&a.occurred_at).then(a.id.cmp(&b.id)));
    of_problem
}

fn of_problem(since: Timestamp, limit: usize, fingerprint: Option<&str>) -> RecentQuery {
    RecentQuery {
        site: "example.com".into(),
        report_type: Some(ReportType::Deprecation),
        since,
        limit,
        classification: None,
        fingerprint: fingerprint.map(str::to_owned),
    }
}

/// Opening a rare problem reads its page from the index `by_problem` (its reports alone),
/// not every report of its type filtered by fingerprint.
#[tokio::test]
async fn dynamo_a_problem_page_reads_its_own_reports_not_its_types() {
    let (store, _client, _table) = store_with(1).await;
    let (stored, b) = two_problems(1000, 20, "example.com");
    for chunk in stored.chunks(100) {
        store.put(chunk).await.unwrap();
    }
    let since = Timestamp(now_ms() - 3_600_000);

    let before = store.read_units();
    let got = store
        .recent(&of_problem(since, 25, Some(b.as_str())))
        .await
        .unwrap();
    let page_units = store.read_units() - before;
    assert_eq!(
        got,
        newest_first(&stored, &b),
        "B's 20 reports, newest first, as they were stored"
    );
    // DynamoDB Local bills as DynamoDB does (0.5 unit per 4 KB, eventually consistent);
    // moto reports a flat 1.0 per Query call. Either way, a nonzero figure.
    assert!(page_units > 0.0, "the server reports consumed capacity");
    assert!(
        page_units < 10.0,
        "a page of 20 small items costs a few units, not the type's 1,000 reports: \
         {page_units}"
    );

    // The same question answered by reading the type: every report of it (only DynamoDB
    // Local bills by size; moto's 1.0 a call would say nothing).
    if emulator().kind == "local" {
        let before = store.read_units();
        let all = store.recent(&of_problem(since, 1000, None)).await.unwrap();
        let type_units = store.read_units() - before;
        assert_eq!(all.len(), 1000);
        assert!(
            type_units > 10.0 * page_units,
            "the type's reports cost {type_units} units, the problem's page {page_units}"
        );
    }
}

/// A problem's index partitions are its reports' write shards: a page gathers them all,
/// newest first, and each item's `pp` names the shard of its `pk`.
#[tokio::test]
async fn dynamo_a_problem_spread_over_shards_reads_back_whole() {
    let (store, client, table) = store_with(4).await;
    let (stored, b) = two_problems(200, 50, "example.com");
    store.put(&stored).await.unwrap();
    let since = Timestamp(now_ms() - 3_600_000);
    let expected = newest_first(&stored, &b);
    assert_eq!(expected.len(), 50);
    let page = store
        .recent(&of_problem(since, 26, Some(b.as_str())))
        .await
        .unwrap();
    assert_eq!(
        page,
        expected[..26],
        "the dashboard's first page and one more"
    );
    let whole = store
        .recent(&of_problem(since, 1000, Some(b.as_str())))
        .await
        .unwrap();
    assert_eq!(whole, expected);
    let items = scan_all(&client, &table).await;
    let reports = report_items(&items);
    assert_eq!(reports.len(), 200);
    let mut shards = HashSet::new();
    for it in reports {
        let pk = item::s(it, PK).unwrap();
        let pp = item::s(it, item::PROBLEM_KEY).unwrap();
        let (_, shard) = pk.rsplit_once('#').unwrap();
        let fingerprint = item::report_of(it).unwrap().fingerprint;
        assert_eq!(pp, format!("example.com#deprecation#{fingerprint}#{shard}"));
        shards.insert(shard.to_owned());
    }
    assert!(shards.len() > 1, "spread over the write shards: {shards:?}");
}
