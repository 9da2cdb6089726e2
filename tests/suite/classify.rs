//! CSP reports judged against their own policy, through both stores: the classification is
//! stored with each report and aggregate, keeps an impossible report apart from the real
//! problem, and filters `recent` and `top` alike on the embedded store and DynamoDB.

use lookout::report::{Classification, Report, Timestamp};
use lookout::store::{RecentQuery, ReportStore, TopQuery};
use serde_json::json;

use crate::emulator::{count_stream, store_with};
use crate::support::{TempStore, decode_json};

/// Three reports of the same blocked script under three policies: one blocks it, one allows it
/// (an extension's or a second policy's report), one decides by a nonce the report lacks.
fn three_kinds(now: i64) -> Vec<Report> {
    let report = |policy: &str| {
        json!({
            "type": "csp-violation", "age": 0, "url": "https://example.com/",
            "user_agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36",
            "body": {
                "blockedURL": "https://cdn.example.net/lib.js",
                "documentURL": "https://example.com/",
                "effectiveDirective": "script-src-elem",
                "originalPolicy": policy,
                "disposition": "report"
            }
        })
    };
    let body = json!([
        report("script-src 'self'"),
        report("script-src 'self' https://cdn.example.net"),
        report("script-src 'nonce-abc' 'strict-dynamic'"),
    ]);
    decode_json(&body, "example.com", Timestamp(now))
}

async fn check(store: &dyn ReportStore, reports: &[Report]) {
    let classes: Vec<Option<Classification>> = reports.iter().map(|r| r.classification).collect();
    assert_eq!(
        classes,
        [
            Some(Classification::Violation),
            Some(Classification::AllowedByPolicy),
            Some(Classification::Indeterminate)
        ]
    );
    let fingerprints: std::collections::HashSet<&str> =
        reports.iter().map(|r| r.fingerprint.as_str()).collect();
    assert_eq!(
        fingerprints.len(),
        3,
        "each classification is its own problem"
    );

    let since = Timestamp(reports[0].occurred_at.millis() - 60_000);
    let top = |classification| TopQuery {
        site: "example.com".into(),
        report_type: None,
        since,
        limit: 10,
        classification,
    };
    let all = store.top(&top(None)).await.unwrap();
    assert_eq!(all.len(), 3);
    let allowed = store
        .top(&top(Some(Classification::AllowedByPolicy)))
        .await
        .unwrap();
    assert_eq!(allowed.len(), 1);
    assert_eq!(
        allowed[0].classification,
        Some(Classification::AllowedByPolicy)
    );
    assert_eq!(allowed[0].fingerprint, reports[1].fingerprint);

    let recent = |classification, fingerprint| RecentQuery {
        site: "example.com".into(),
        report_type: None,
        since,
        limit: 10,
        classification,
        fingerprint,
    };
    let violations = store
        .recent(&recent(Some(Classification::Violation), None))
        .await
        .unwrap();
    assert_eq!(violations, vec![reports[0].clone()]);
    let one = store
        .recent(&recent(None, Some(reports[2].fingerprint.clone())))
        .await
        .unwrap();
    assert_eq!(one, vec![reports[2].clone()]);
}

#[tokio::test]
async fn the_embedded_store_keeps_and_filters_classifications() {
    let t = TempStore::new();
    let reports = three_kinds(Timestamp::now().millis());
    t.store.put(&reports).await.unwrap();
    check(t.store.as_ref(), &reports).await;
}

#[tokio::test]
async fn dynamo_keeps_and_filters_classifications() {
    let (store, _client, _table) = store_with(1).await;
    let reports = three_kinds(Timestamp::now().millis());
    store.put(&reports).await.unwrap();
    count_stream(&store).await;
    check(&store, &reports).await;
}
