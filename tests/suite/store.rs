//! The embedded store: durability, duplicates, reads.

use lookout::report::{self, Options, ReportType, RequestMeta, Timestamp};
use lookout::store::embedded::EmbeddedStore;
use lookout::store::{RecentQuery, ReportStore};

fn reports_at(t: i64, body: &str) -> Vec<report::Report> {
    let meta = RequestMeta {
        site: Some("e.com"),
        user_agent: None,
        received_at: Timestamp(t),
        endpoint: None,
    };
    report::decode(body.as_bytes(), &meta, &Options::default())
        .unwrap()
        .reports
}

fn recent(site: &str, t: Option<ReportType>, since: i64, limit: usize) -> RecentQuery {
    RecentQuery {
        site: site.into(),
        report_type: t,
        since: Timestamp(since),
        limit,
    }
}

#[tokio::test]
async fn reports_survive_a_reopen_and_duplicates_are_stored_once() {
    let dir = tempfile::tempdir().unwrap();
    let batch = reports_at(
        1_000_000,
        r#"[{"type":"deprecation","age":10,"url":"https://e.com/","body":{"id":"a"}},
            {"type":"intervention","age":20,"url":"https://e.com/","body":{"id":"b"}}]"#,
    );
    {
        let store = EmbeddedStore::open(dir.path()).unwrap();
        store.put(&batch).await.unwrap();
        store.put(&batch).await.unwrap();
        assert_eq!(store.count().await.unwrap(), 2);
    }
    let store = EmbeddedStore::open(dir.path()).unwrap();
    assert_eq!(store.count().await.unwrap(), 2);
    let got = store.recent(&recent("e.com", None, 0, 10)).await.unwrap();
    assert_eq!(got.len(), 2);
    // Newest first: the deprecation is 10 ms old, the intervention 20 ms.
    assert_eq!(got[0].report_type, ReportType::Deprecation);
    assert_eq!(got[0], batch[0], "a report reads back exactly as stored");
}

#[tokio::test]
async fn reads_filter_by_type_time_and_limit() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    for i in 0..10 {
        let body =
            format!(r#"[{{"type":"deprecation","url":"https://e.com/","body":{{"id":"d{i}"}}}}]"#);
        store
            .put(&reports_at(1_000_000 + i * 1000, &body))
            .await
            .unwrap();
    }
    store
        .put(&reports_at(
            5_000_000,
            r#"[{"type":"crash","url":"https://e.com/","body":{}}]"#,
        ))
        .await
        .unwrap();
    let dep = store
        .recent(&recent(
            "e.com",
            Some(ReportType::Deprecation),
            1_005_000,
            100,
        ))
        .await
        .unwrap();
    assert_eq!(dep.len(), 5);
    assert!(dep.iter().all(|r| r.report_type == ReportType::Deprecation));
    let limited = store.recent(&recent("e.com", None, 0, 3)).await.unwrap();
    assert_eq!(limited.len(), 3);
    assert_eq!(limited[0].report_type, ReportType::Crash);
    assert!(
        store
            .recent(&recent("other.com", None, 0, 3))
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn concurrent_writers_are_committed_together_and_all_land() {
    let dir = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(EmbeddedStore::open(dir.path()).unwrap());
    let mut tasks = Vec::new();
    for i in 0..200 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let body = format!(
                r#"[{{"type":"deprecation","url":"https://e.com/","body":{{"id":"c{i}"}}}}]"#
            );
            store.put(&reports_at(1_000_000, &body)).await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(store.count().await.unwrap(), 200);
}
