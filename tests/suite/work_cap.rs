//! The work one request may cause on DynamoDB, counted by the fault proxy in front of DynamoDB
//! Local: requests of distinct problems at and over the report cap, alone, concurrent, and while
//! DynamoDB throttles every write.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use lookout::http::AppState;
use lookout::report::Options;
use lookout::store::dynamodb::DynamoStore;
use serde_json::{Value, json};

use crate::emulator::{self, FaultProxy, calls, calls_since};
use crate::support::{LogCapture, batch, post, report_items, scan_all, send, unbounded_budget};

/// A Reporting API batch of `n` reports, each its own problem (its own blocked origin), all new
/// (`tag` goes into every page URL).
fn distinct_problems(n: usize, tag: &str) -> String {
    batch(0..n, |i| {
        json!({
            "type": "csp-violation", "age": 0,
            "url": format!("https://example.com/{tag}"),
            "user_agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36",
            "body": {
                "blockedURL": format!("https://cdn{i}.example.net/x.js"),
                "documentURL": format!("https://example.com/{tag}"),
                "effectiveDirective": "script-src-elem",
                "originalPolicy": "script-src 'self'; report-to lookout",
                "disposition": "report"
            }
        })
        .to_string()
    })
}

/// The app as deployed (default options and deadlines) over DynamoDB Local behind the proxy,
/// its recovery lines unbounded (the throttled test counts every one).
async fn deployed_app(
    proxy: &FaultProxy,
    opts: Options,
) -> (AppState, aws_sdk_dynamodb::Client, String) {
    let (store, client, table) = emulator::store_at(&proxy.url, 1).await;
    let store = Arc::new(DynamoStore::new(client.clone(), store.settings().clone()));
    let mut state = AppState::new(opts, store);
    state.budget = unbounded_budget();
    (state, client, table)
}

/// The same app with deadlines no loaded machine reaches: the tests that count calls on a
/// healthy store are about the work a request causes, not about how fast DynamoDB Local
/// answers beside the rest of the suite (the throttled test keeps the deployed deadlines).
async fn patient_app(
    proxy: &FaultProxy,
    opts: Options,
) -> (AppState, aws_sdk_dynamodb::Client, String) {
    let (store, client, table) = emulator::store_at(&proxy.url, 1).await;
    let mut settings = store.settings().clone();
    settings.write_deadline = std::time::Duration::from_secs(30);
    // The SDK's per-call timeouts too (2 s an attempt, 5 s a call as deployed).
    let patient = aws_sdk_dynamodb::Client::from_conf(
        client
            .config()
            .to_builder()
            .timeout_config(
                aws_sdk_dynamodb::config::timeout::TimeoutConfig::builder()
                    .connect_timeout(std::time::Duration::from_secs(5))
                    .operation_attempt_timeout(std::time::Duration::from_secs(30))
                    .operation_timeout(std::time::Duration::from_secs(60))
                    .build(),
            )
            .build(),
    );
    let mut state = AppState::new(opts, Arc::new(DynamoStore::new(patient.clone(), settings)));
    state.put_retry.timeout = std::time::Duration::from_secs(60);
    drop(client);
    (state, patient, table)
}

/// Asserts that `n` distinct problems cost one `BatchWriteItem` per 25 reports (more only when
/// a call is retried: 3 SDK attempts within each of the app's 3), at most one `BatchGetItem` per
/// 100 (the neighbour check, only for reports near a window's edge), and nothing else on the
/// request path (counting runs off it, from the table's stream).
fn assert_bounded(map: &serde_json::Map<String, Value>, n: u64, requests: u64) {
    let chunks = requests * n.div_ceil(25);
    let writes = calls(map, "BatchWriteItem");
    assert!((chunks..=chunks * 9).contains(&writes), "{map:?}");
    if writes > chunks {
        eprintln!(
            "{} write call(s) retried on a loaded machine: {map:?}",
            writes - chunks
        );
    }
    assert!(
        calls(map, "BatchGetItem") <= requests * n.div_ceil(100) * 9,
        "{map:?}"
    );
    let others: Vec<&String> = map
        .keys()
        .filter(|op| !matches!(op.as_str(), "BatchWriteItem" | "BatchGetItem"))
        .collect();
    assert!(
        others.is_empty(),
        "no other call on the request path: {map:?}"
    );
}

#[tokio::test]
async fn dynamo_a_request_at_the_cap_makes_a_bounded_number_of_calls_and_one_over_makes_none() {
    let proxy = FaultProxy::start();
    let (state, client, table) = patient_app(&proxy, Options::default()).await;

    let before = proxy.counters();
    let (res, body) = send(
        &state,
        post(
            "/r/example.com",
            "application/reports+json",
            distinct_problems(1000, "over"),
        ),
    )
    .await;
    assert_eq!(
        res.status(),
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        String::from_utf8_lossy(&body)
    );
    assert!(
        calls_since(&proxy, &before).is_empty(),
        "refused before any DynamoDB call"
    );

    let before = proxy.counters();
    let (res, _) = send(
        &state,
        post(
            "/r/example.com",
            "application/reports+json",
            distinct_problems(100, "at"),
        ),
    )
    .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_bounded(&calls_since(&proxy, &before), 100, 1);
    assert_eq!(report_items(&scan_all(&client, &table).await).len(), 100);
}

#[tokio::test]
async fn dynamo_the_template_ceiling_of_1000_problems_costs_40_writes_and_no_more() {
    let proxy = FaultProxy::start();
    let opts = Options {
        max_reports: 1000,
        ..Options::default()
    };
    let (state, client, table) = patient_app(&proxy, opts).await;
    let before = proxy.counters();
    let (res, _) = send(
        &state,
        post(
            "/r/example.com",
            "application/reports+json",
            distinct_problems(1000, "max"),
        ),
    )
    .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_bounded(&calls_since(&proxy, &before), 1000, 1);
    assert_eq!(report_items(&scan_all(&client, &table).await).len(), 1000);
}

#[tokio::test]
async fn dynamo_concurrent_requests_at_the_cap_each_cost_the_same() {
    let proxy = FaultProxy::start();
    let (state, client, table) = patient_app(&proxy, Options::default()).await;
    let before = proxy.counters();
    let requests: Vec<_> = (0..16)
        .map(|r| {
            let state = state.clone();
            tokio::spawn(async move {
                let body = distinct_problems(100, &format!("load{r}"));
                send(
                    &state,
                    post("/r/example.com", "application/reports+json", body),
                )
                .await
                .0
                .status()
            })
        })
        .collect();
    for r in requests {
        assert_eq!(r.await.unwrap(), StatusCode::NO_CONTENT);
    }
    assert_bounded(&calls_since(&proxy, &before), 100, 16);
    assert_eq!(report_items(&scan_all(&client, &table).await).len(), 1600);
}

#[tokio::test]
async fn dynamo_while_every_write_is_throttled_the_answer_comes_by_the_deadline() {
    let logs = LogCapture::json();
    let proxy = FaultProxy::start();
    let (state, _client, _table) = deployed_app(&proxy, Options::default()).await;
    proxy.arm(json!({"throttle": 1_000_000, "op": "BatchWriteItem"}));
    let before = proxy.counters();
    let started = Instant::now();
    let (res, _) = send(
        &state,
        post(
            "/r/example.com",
            "application/reports+json",
            distinct_problems(100, "throttled"),
        ),
    )
    .await;
    let took = started.elapsed();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(res.headers().contains_key("retry-after"));
    // The store gives up at its write deadline (3 s) and the request at its own (5 s); a
    // second's margin for a loaded machine.
    let deadline = state.put_retry.timeout + Duration::from_secs(1);
    assert!(took < deadline, "answered after {took:?}");
    let map = calls_since(&proxy, &before);
    let writes = calls(&map, "BatchWriteItem");
    // 4 chunks of 25, each tried by the SDK (3 attempts) inside each of the app's attempts,
    // which also repeat the neighbour check (one BatchGetItem at most).
    let attempts = u64::from(state.put_retry.attempts);
    let most = 4 * 3 * attempts;
    assert!(
        (4..=most).contains(&writes),
        "every chunk tried, retries bounded ({most} calls at most): {map:?}"
    );
    assert!(calls(&map, "BatchGetItem") <= attempts, "{map:?}");
    assert_eq!(
        map.len() - usize::from(map.contains_key("BatchGetItem")),
        1,
        "{map:?}"
    );
    eprintln!("throttled request: {map:?} in {took:?}");
    assert_eq!(
        logs.recovered().len(),
        100,
        "every report logged for recovery"
    );
}
