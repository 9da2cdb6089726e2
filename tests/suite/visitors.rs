//! Distinct visitors: a forger on one network counts once, on both stores, however many
//! reports, User-Agents and requests it sends; senders on many networks count as many (a lower
//! bound: two networks may share a visitor byte).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::ConnectInfo;
use axum::http::StatusCode;
use lookout::report::{ReportType, Timestamp};
use lookout::store::{GroupSummary, ReportStore, TopQuery};

use crate::emulator::{count_stream, store_with};
use crate::support::{TempStore, batch, post, send, state};

/// A report of the one forged problem, with a User-Agent of its own (what a forger varies).
fn forged(i: usize) -> String {
    format!(
        r#"{{"type":"csp-violation","age":0,"url":"https://example.com/","user_agent":"Mozilla/5.0 Chrome/{v}.0 Safari/537.36","body":{{"blockedURL":"https://evil.example/x.js?{i}","documentURL":"https://example.com/","effectiveDirective":"script-src-elem","disposition":"report"}}}}"#,
        v = 100 + i
    )
}

async fn post_from(store: Arc<dyn ReportStore>, peer: &str, body: String) {
    let mut req = post("/r/example.com", "application/reports+json", body);
    let peer: SocketAddr = peer.parse().unwrap();
    // What `lookout serve` puts on every request (`into_make_service_with_connect_info`).
    req.extensions_mut().insert(ConnectInfo(peer));
    let (res, _) = send(&state(store), req).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
}

async fn problem(store: &dyn ReportStore) -> GroupSummary {
    let groups = store
        .top(&TopQuery {
            site: "example.com".into(),
            report_type: Some(ReportType::CspViolation),
            since: Timestamp(0),
            limit: 10,
            classification: None,
        })
        .await
        .unwrap();
    assert_eq!(groups.len(), 1, "{groups:?}");
    groups.into_iter().next().unwrap()
}

/// 1,000 reports from one /24 in 10 requests, then 100 from 20 other networks.
async fn send_flood_and_crowd(store: Arc<dyn ReportStore>) {
    for i in 0..10 {
        let peer = format!("192.0.2.{}:4000", 10 + i);
        post_from(store.clone(), &peer, batch(i * 100..(i + 1) * 100, forged)).await;
    }
}

async fn send_crowd(store: Arc<dyn ReportStore>) {
    for i in 0..20 {
        let peer = format!("198.51.{i}.7:4000");
        post_from(
            store.clone(),
            &peer,
            batch(5000 + i * 5..5000 + (i + 1) * 5, forged),
        )
        .await;
    }
}

fn assert_crowd(g: &GroupSummary) {
    // 21 networks over 256 values: collisions make it a little less, never more.
    assert!(
        (15..=21).contains(&g.visitors),
        "one network plus twenty: {}",
        g.visitors
    );
}

#[tokio::test]
async fn a_thousand_forged_reports_from_one_network_are_one_visitor_on_the_embedded_store() {
    let t = TempStore::new();
    let store: Arc<dyn ReportStore> = t.store.clone();
    send_flood_and_crowd(store.clone()).await;
    let g = problem(store.as_ref()).await;
    assert_eq!(g.count, 1000);
    assert_eq!(
        g.visitors, 1,
        "1,000 reports, 1,000 User-Agents, one network"
    );
    assert!(g.browsers.len() <= lookout::store::MAX_BROWSERS);
    send_crowd(store.clone()).await;
    assert_crowd(&problem(store.as_ref()).await);
}

#[tokio::test]
async fn dynamo_a_thousand_forged_reports_from_one_network_are_one_visitor() {
    let (store, client, table) = store_with(2).await;
    let shared: Arc<dyn ReportStore> = Arc::new(store.clone());
    send_flood_and_crowd(shared.clone()).await;
    count_stream(&store).await;
    let g = problem(&store).await;
    assert_eq!(g.count, 1000);
    assert_eq!(g.visitors, 1, "one network, over both write shards");
    assert_eq!(
        g.browsers.len(),
        lookout::store::MAX_BROWSERS,
        "1,000 forged browsers, the set capped"
    );
    send_crowd(shared).await;
    count_stream(&store).await;
    assert_crowd(&problem(&store).await);
    // What a forger can grow an aggregate to: 32 browsers and a visitor set of bytes.
    use lookout::store::dynamodb::item;
    let items = crate::support::scan_all(&client, &table).await;
    let largest = items
        .iter()
        .filter(|i| item::s(i, item::PK).is_some_and(|pk| pk.starts_with("AGG#")))
        .map(item::item_size)
        .max()
        .unwrap();
    eprintln!("largest aggregate item: {largest} bytes");
    assert!(largest < 2048, "{largest}");
}
