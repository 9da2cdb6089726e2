//! The same reports show the same figures on both stores: the embedded store's aggregates
//! (written with the reports) and DynamoDB's (counted from the table's stream), for every
//! summary and drill-down the dashboard, `top` and `policy` read.

use lookout::report::{Classification, Report, ReportType, Timestamp};
use lookout::store::embedded::EmbeddedStore;
use lookout::store::{RecentQuery, ReportStore, TopQuery};
use serde_json::json;

use crate::emulator::{count_stream, store_with};
use crate::support::decode_json;

const DAY: i64 = 86_400_000;
const CHROME: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36";
const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0";

/// Three days of reports for two sites: CSP problems seen and blocked, in two browsers, from
/// several networks, enforced and report-only; deprecations; a type Lookout has no rules for.
fn reports(now: i64) -> Vec<Report> {
    let mut all = Vec::new();
    for day in 0..3i64 {
        for i in 0..12i64 {
            let ua = if i % 3 == 0 { FIREFOX } else { CHROME };
            let disposition = if i % 4 == 0 { "enforce" } else { "report" };
            let body = json!([
                {"type": "csp-violation", "age": 0, "url": "https://shop.example/cart", "user_agent": ua,
                 "body": {"blockedURL": format!("https://cdn{}.example/x.js", i % 3),
                          "effectiveDirective": "script-src-elem", "disposition": disposition,
                          "originalPolicy": "script-src 'self'; report-to l", "lineNumber": i}},
                {"type": "csp-violation", "age": 0, "url": "https://shop.example/cart", "user_agent": ua,
                 "body": {"blockedURL": "https://shop.example/app.js",
                          "effectiveDirective": "script-src-elem", "disposition": "report",
                          "originalPolicy": "script-src 'self'; report-to l", "lineNumber": i}},
                {"type": "deprecation", "age": 0, "url": "https://shop.example/", "user_agent": ua,
                 "body": {"id": format!("d{}", i % 2), "message": "old", "lineNumber": i}},
                {"type": "x-future", "age": 0, "url": "https://blog.example/", "user_agent": ua,
                 "body": {"n": i}}
            ]);
            let site = if day == 1 && i == 0 {
                "blog.example"
            } else {
                "shop.example"
            };
            let at = now - (2 - day) * DAY - i * 60_000;
            for (k, mut r) in decode_json(&body, site, Timestamp(at))
                .into_iter()
                .enumerate()
            {
                r.visitor = Some(((i + k as i64) % 5) as u8);
                all.push(r);
            }
        }
    }
    all
}

#[tokio::test]
async fn dynamo_and_the_embedded_store_show_the_same_figures() {
    let now = Timestamp::now().millis();
    let all = reports(now);
    let data = tempfile::tempdir().unwrap();
    let embedded = EmbeddedStore::open(data.path()).unwrap();
    let (dynamo, _client, _table) = store_with(1).await;
    // Each store takes every batch twice: a re-delivery counts once on both.
    for store in [&embedded as &dyn ReportStore, &dynamo] {
        for batch in all.chunks(16) {
            store.put(batch).await.unwrap();
            store.put(batch).await.unwrap();
        }
    }
    count_stream(&dynamo).await;

    let since = Timestamp(now - 3 * DAY);
    let top = |site: &str, t: Option<ReportType>, c: Option<Classification>| TopQuery {
        site: site.into(),
        report_type: t,
        since,
        limit: 100,
        classification: c,
    };
    let queries = [
        top("shop.example", None, None),
        top("shop.example", Some(ReportType::CspViolation), None),
        top("shop.example", None, Some(Classification::Violation)),
        top("blog.example", None, None),
        TopQuery {
            since: Timestamp(now - DAY / 2),
            ..top("shop.example", None, None)
        },
    ];
    for q in &queries {
        let (a, b) = (embedded.top(q).await.unwrap(), dynamo.top(q).await.unwrap());
        assert!(!a.is_empty(), "{q:?}");
        assert_eq!(a, b, "{q:?}");
    }
    let shop = embedded.top(&queries[0]).await.unwrap();
    let csp_reports = all
        .iter()
        .filter(|r| r.site == "shop.example" && r.report_type == ReportType::CspViolation)
        .count() as u64;
    assert_eq!(
        shop.iter()
            .filter(|g| g.report_type == ReportType::CspViolation)
            .map(|g| g.count)
            .sum::<u64>(),
        csp_reports,
        "each report counted once"
    );
    assert!(
        shop.iter()
            .any(|g| g.days.len() == 3 && g.browsers.len() == 2)
    );
    assert!(shop.iter().any(|g| g.dispositions.len() == 2));
    assert!(shop.iter().all(|g| g.visitors > 0));

    assert_eq!(
        embedded.sites(since).await.unwrap(),
        dynamo.sites(since).await.unwrap()
    );
    for g in &shop {
        let q = RecentQuery {
            site: "shop.example".into(),
            report_type: Some(g.report_type.clone()),
            since,
            limit: 5,
            classification: None,
            fingerprint: Some(g.fingerprint.clone()),
        };
        let (a, b) = (
            embedded.recent(&q).await.unwrap(),
            dynamo.recent(&q).await.unwrap(),
        );
        assert_eq!(a.len(), (g.count as usize).min(5));
        assert!(a.iter().all(|r| r.fingerprint == g.fingerprint));
        assert_eq!(a, b, "{}", g.group);
    }
    let everything = RecentQuery {
        site: "shop.example".into(),
        report_type: None,
        since,
        limit: 1000,
        classification: None,
        fingerprint: None,
    };
    let (a, b) = (
        embedded.recent(&everything).await.unwrap(),
        dynamo.recent(&everything).await.unwrap(),
    );
    assert_eq!(
        a.len(),
        all.iter().filter(|r| r.site == "shop.example").count()
    );
    assert_eq!(a, b);
}
