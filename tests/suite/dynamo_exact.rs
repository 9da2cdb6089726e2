//! Exactly once, on a real DynamoDB API (and the embedded store where it applies): every
//! accepted report stored once and counted once, whatever the browser re-sends and whatever
//! fails on the way; items that expire from when they were received.

use std::collections::HashSet;
use std::sync::Arc;

use axum::http::StatusCode;
use lookout::http::AppState;
use lookout::report::{self, Body, Options, Report, Timestamp, WINDOW_MS};
use lookout::store::dynamodb::item;
use lookout::store::{GroupSummary, RecentQuery, ReportStore, TopQuery};
use serde_json::{Value, json};

use crate::emulator::{self, FaultProxy, count_stream, store_with};
use crate::support::{LogCapture, TempStore, decode_json, post, report_items, scan_all, send};

/// A Reporting API batch of three reports (two problems), received at `received` with every
/// report's `age` grown by `extra_age` (as a browser re-sends a batch).
fn reports_sent_at(received: i64, base_age: i64, extra_age: i64) -> Vec<Report> {
    let age = base_age + extra_age;
    let body = json!([
        {"type": "csp-violation", "age": age, "url": "https://example.com/a",
         "user_agent": "Mozilla/5.0 Chrome/131.0 Safari/537.36",
         "body": {"effectiveDirective": "script-src-elem", "blockedURL": "https://cdn.example/x.js", "disposition": "report"}},
        {"type": "csp-violation", "age": age, "url": "https://example.com/b",
         "user_agent": "Mozilla/5.0 Chrome/131.0 Safari/537.36",
         "body": {"effectiveDirective": "script-src-elem", "blockedURL": "https://cdn.example/x.js", "disposition": "report"}},
        {"type": "deprecation", "age": age, "url": "https://example.com/a",
         "user_agent": "Mozilla/5.0 Firefox/149.0",
         "body": {"id": "SharedArrayBuffer"}},
    ]);
    decode_json(&body, "example.com", Timestamp(received))
}

/// A window edge a little in the past.
fn edge() -> i64 {
    (Timestamp::now().millis() / WINDOW_MS - 30) * WINDOW_MS
}

async fn top(store: &dyn ReportStore) -> Vec<GroupSummary> {
    store
        .top(&TopQuery {
            site: "example.com".into(),
            report_type: None,
            since: Timestamp(Timestamp::now().millis() - 7 * 86_400_000),
            limit: 100,
            classification: None,
        })
        .await
        .unwrap()
}

fn total(groups: &[GroupSummary]) -> u64 {
    groups.iter().map(|g| g.count).sum()
}

/// The deliveries of the jitter scenario: the first 20 ms before a window edge, then re-sent
/// 30.037 s later (its `received_at − age` 17 ms after the edge: across a second boundary
/// too), then twice more (0.2 s and 60 s later, with their ages grown to match).
fn redeliveries() -> Vec<Vec<Report>> {
    let e = edge();
    let first = e + 5_000;
    let base_age = 5_020;
    let d1 = reports_sent_at(first, base_age, 0);
    let d2 = reports_sent_at(first + 30_037, base_age, 30_000);
    let d3 = reports_sent_at(first + 30_237, base_age, 30_200);
    let d4 = reports_sent_at(first + 90_037, base_age, 90_000);
    assert!(d1[0].occurred_at.millis() < e && d2[0].occurred_at.millis() >= e);
    assert_ne!(
        d1[0].id, d2[0].id,
        "two windows: the neighbour check must find it"
    );
    vec![d1, d2, d3, d4]
}

/// The same problems occurring again a minute later: new reports.
fn a_minute_later() -> Vec<Report> {
    reports_sent_at(edge() + 65_000, 5_020, 0)
}

#[tokio::test]
async fn dynamo_a_redelivery_with_jitter_across_a_window_edge_is_one_item_counted_once() {
    let (store, client, table) = store_with(1).await;
    let mut log = Vec::new();
    for (i, delivery) in redeliveries().iter().enumerate() {
        store.put(delivery).await.unwrap();
        count_stream(&store).await;
        let items = report_items(&scan_all(&client, &table).await).len();
        let count = total(&top(&store).await);
        log.push((i + 1, items, count));
    }
    assert_eq!(
        log,
        [(1, 3, 3), (2, 3, 3), (3, 3, 3), (4, 3, 3)],
        "(delivery, items, count)"
    );
    store.put(&a_minute_later()).await.unwrap();
    count_stream(&store).await;
    assert_eq!(report_items(&scan_all(&client, &table).await).len(), 6);
    let groups = top(&store).await;
    assert_eq!(total(&groups), 6, "{groups:?}");
    assert_eq!(
        groups.len(),
        3,
        "three problems (two pages, two types): {groups:?}"
    );
}

#[tokio::test]
async fn the_embedded_store_applies_the_same_identity_rule() {
    let t = TempStore::new();
    for delivery in redeliveries() {
        t.store.put(&delivery).await.unwrap();
        assert_eq!(t.store.count().await.unwrap(), 3);
    }
    t.store.put(&a_minute_later()).await.unwrap();
    assert_eq!(t.store.count().await.unwrap(), 6);
    assert_eq!(total(&top(&*t.store).await), 6);
}

#[tokio::test]
async fn dynamo_duplicates_within_one_request_are_one_item_and_one_count() {
    let (store, client, table) = store_with(2).await;
    let mut reports = redeliveries().concat(); // all four deliveries in one request
    reports.extend(reports_sent_at(edge() + 5_000, 5_020, 0));
    store.put(&reports).await.unwrap();
    assert_eq!(report_items(&scan_all(&client, &table).await).len(), 3);
    count_stream(&store).await;
    count_stream(&store).await; // the stream read twice, as after a Lambda retry
    assert_eq!(total(&top(&store).await), 3);
}

#[tokio::test]
async fn dynamo_a_partial_failure_is_counted_exactly_after_the_apps_retry() {
    let proxy = FaultProxy::start();
    let (store, client, table) = emulator::store_at(&proxy.url, 1).await;
    let mut state = AppState::new(Options::default(), Arc::new(store.clone()));
    state.put_retry.timeout = std::time::Duration::from_secs(8);
    let body = serde_json::to_string(&json!((0..50).map(|i| json!({
        "type": "deprecation", "age": 100, "url": "https://example.com/", "body": {"id": format!("d{}", i % 20)},
        "user_agent": format!("Mozilla/5.0 Chrome/{}.0 Safari/537.36", 100 + i)
    })).collect::<Vec<_>>()))
    .unwrap();
    // Two chunks of 25 in flight; five 500s in a row exhaust one chunk's three attempts,
    // so the store reports it unwritten and the app writes it again.
    proxy.arm(json!({"error500": 5, "op": "BatchWriteItem"}));
    let (res, _) = send(
        &state,
        post("/r/example.com", "application/reports+json", body.clone()),
    )
    .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(proxy.counters()["injected"], 5);
    assert_eq!(report_items(&scan_all(&client, &table).await).len(), 50);
    count_stream(&store).await;
    let groups = top(&store).await;
    assert_eq!(total(&groups), 50);
    assert_eq!(groups.len(), 20);
    // Delivered again (the browser never saw the 204): nothing changes.
    let (res, _) = send(
        &state,
        post("/r/example.com", "application/reports+json", body),
    )
    .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    count_stream(&store).await;
    assert_eq!(total(&top(&store).await), 50);
    assert_eq!(report_items(&scan_all(&client, &table).await).len(), 50);
}

#[tokio::test]
async fn dynamo_first_and_last_seen_are_a_minimum_and_a_maximum_whatever_the_order() {
    let (store, _client, _table) = store_with(1).await;
    // Three reports of one problem, in one UTC day, arriving newest, oldest, middle.
    let day = Timestamp::now().millis() / 86_400_000 * 86_400_000 - 86_400_000;
    let at = |h: i64, page: &str| {
        decode_json(
            &json!([{"type": "deprecation", "url": format!("https://example.com/{page}"), "body": {"id": "old-api"}}]),
            "example.com",
            Timestamp(day + h * 3_600_000),
        )
    };
    for (reports, want_first, want_last) in [
        (at(12, "a"), 12, 12),
        (at(6, "b"), 6, 12),
        (at(9, "c"), 6, 12),
        (at(20, "d"), 6, 20),
    ] {
        store.put(&reports).await.unwrap();
        count_stream(&store).await;
        let groups = store
            .top(&TopQuery {
                site: "example.com".into(),
                report_type: None,
                since: Timestamp(day),
                limit: 10,
                classification: None,
            })
            .await
            .unwrap();
        assert_eq!(groups.len(), 1, "{groups:?}");
        let g = &groups[0];
        assert_eq!(g.first_seen, Timestamp(day + want_first * 3_600_000));
        assert_eq!(g.last_seen, Timestamp(day + want_last * 3_600_000));
    }
    assert_eq!(total(&top(&store).await), 4);
}

#[tokio::test]
async fn dynamo_items_expire_from_receipt_whatever_time_the_sender_states() {
    let (store, client, table) = store_with(1).await;
    let state = AppState::new(Options::default(), Arc::new(store.clone()));
    let hpkp = r#"{"date-time":"2014-04-06T13:00:50Z","hostname":"www.example.com","port":443,"effective-expiration-date":"2014-05-01T12:40:50Z","include-subdomains":false,"known-pins":[]}"#;
    let old_age = r#"[{"type":"deprecation","age":1000000000000000,"url":"https://example.com/","body":{"id":"x"}}]"#;
    let before = Timestamp::now().millis() / 1000;
    for (ct, body) in [
        ("application/json", hpkp),
        ("application/reports+json", old_age),
    ] {
        let (res, _) = send(&state, post("/r/example.com", ct, body)).await;
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
    }
    let after = Timestamp::now().millis() / 1000;
    let items = scan_all(&client, &table).await;
    let reports = report_items(&items);
    assert_eq!(reports.len(), 2);
    let retention = 30 * 86_400;
    for it in reports {
        let ttl = item::n(it, item::TTL).unwrap();
        assert!(
            (before + retention..=after + retention).contains(&ttl),
            "expires {ttl}, received in [{before}, {after}]"
        );
        let r = item::report_of(it).unwrap();
        assert!(r.time_untrusted, "{r:?}");
        assert_eq!(r.occurred_at, r.received_at);
    }
    count_stream(&store).await;
    let today = Timestamp::now().day();
    let aggregates: Vec<_> = scan_all(&client, &table)
        .await
        .into_iter()
        .filter(|i| item::s(i, item::PK).unwrap().starts_with("AGG#"))
        .collect();
    assert_eq!(aggregates.len(), 2);
    for a in &aggregates {
        assert_eq!(item::s(a, "day").unwrap(), today, "counted under today");
        let ttl = item::n(a, item::TTL).unwrap();
        assert!((before + retention..=after + retention).contains(&ttl));
    }
}

#[tokio::test]
async fn dynamo_a_batch_with_one_report_of_each_invalid_kind_stores_all_25() {
    let (store, client, table) = store_with(1).await;
    let state = AppState::new(Options::default(), Arc::new(store.clone()));
    let mut reports: Vec<Value> = (0..21)
        .map(|i| json!({"type": "deprecation", "url": "https://example.com/", "body": {"id": format!("ok-{i}")}}))
        .collect();
    let mut deep = json!(1);
    for _ in 0..40 {
        deep = json!([deep]);
    }
    reports.extend([
        json!({"type": "deprecation", "url": "https://example.com/", "body": {"id": "d".repeat(500_000)}}),
        json!({"type": "x-deep", "url": "https://example.com/", "body": {"d": deep}}),
        json!({"type": "x-num", "url": "https://example.com/", "body": {"n": 1e300}}),
        json!({"type": "x-num", "url": "https://example.com/", "body": {"n": 1e-200}}),
    ]);
    let (res, _) = send(
        &state,
        post(
            "/r/example.com",
            "application/reports+json",
            Value::Array(reports).to_string(),
        ),
    )
    .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let items = scan_all(&client, &table).await;
    let stored = report_items(&items);
    assert_eq!(stored.len(), 25);
    for it in &stored {
        assert!(item::item_size(it) < 100 * 1024, "{}", item::item_size(it));
    }
    count_stream(&store).await;
    assert_eq!(total(&top(&store).await), 25);
}

#[tokio::test]
async fn dynamo_an_item_refused_as_invalid_is_isolated_and_logged_for_recovery() {
    let logs = LogCapture::json();
    let (store, client, table) = store_with(1).await;
    let mut reports = decode_json(
        &Value::Array(
            (0..25)
                .map(|i| json!({"type": "deprecation", "url": "https://example.com/", "body": {"id": format!("r{i}")}}))
                .collect(),
        ),
        "example.com",
        Timestamp::now(),
    );
    // Built past the decoder's bounds, as only a defect could: an item over 400 KB.
    let mut body = Body::default();
    body.insert("id", Value::String("x".repeat(500_000)));
    reports[13].body = body;
    store.put(&reports).await.unwrap();
    let stored: HashSet<String> = report_items(&scan_all(&client, &table).await)
        .iter()
        .map(|i| item::report_of(i).unwrap().id)
        .collect();
    assert_eq!(stored.len(), 24);
    assert!(!stored.contains(&reports[13].id));
    let recovered = logs.recovered();
    assert_eq!(recovered.len(), 1);
    assert_eq!(recovered[0].id, reports[13].id);
}

#[tokio::test]
async fn dynamo_recent_reads_reports_whose_window_starts_before_since() {
    let (store, _client, _table) = store_with(1).await;
    let e = edge();
    let reports = decode_json(
        &json!([{"type": "deprecation", "url": "https://example.com/", "body": {"id": "x"}}]),
        "example.com",
        Timestamp(e + 9_000),
    );
    store.put(&reports).await.unwrap();
    let got = store
        .recent(&RecentQuery {
            site: "example.com".into(),
            report_type: Some(report::ReportType::Deprecation),
            since: Timestamp(e + 5_000),
            limit: 10,
            classification: None,
            fingerprint: None,
        })
        .await
        .unwrap();
    assert_eq!(got, reports);
}
