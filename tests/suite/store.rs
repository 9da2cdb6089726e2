//! The embedded store: durability, duplicates, reads.

use lookout::report::{self, Options, ReportType, Timestamp};
use lookout::store::embedded::EmbeddedStore;
use lookout::store::{RecentQuery, ReportStore};

use crate::support::decode_with;

fn reports_at(t: i64, body: &str) -> Vec<report::Report> {
    decode_with(body, "e.com", Timestamp(t), &Options::default())
}

fn recent(site: &str, t: Option<ReportType>, since: i64, limit: usize) -> RecentQuery {
    RecentQuery {
        site: site.into(),
        report_type: t,
        since: Timestamp(since),
        limit,
        classification: None,
        fingerprint: None,
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
async fn an_enforced_and_a_report_only_report_of_one_problem_are_both_kept() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    let pair = reports_at(
        1_000_000,
        r#"[{"type":"coep","age":0,"url":"https://e.com/","body":{"type":"corp","blockedURL":"https://cdn.example/x.js","destination":"script","disposition":"enforce"}},
            {"type":"coep","age":0,"url":"https://e.com/","body":{"type":"corp","blockedURL":"https://cdn.example/x.js","destination":"script","disposition":"reporting"}}]"#,
    );
    store.put(&pair).await.unwrap();
    let got = store.recent(&recent("e.com", None, 0, 10)).await.unwrap();
    let mut dispositions: Vec<_> = got.iter().map(|r| r.disposition).collect();
    dispositions.sort_by_key(|d| d.map(|d| d.as_str()));
    assert_eq!(
        dispositions,
        [
            Some(report::Disposition::Enforce),
            Some(report::Disposition::Report)
        ]
    );
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

mod faults {
    //! The embedded store when its disk is full or read-only: what the client gets, what is
    //! stored, what is logged for recovery. Every report sent is stored or logged: zero lost.

    use std::collections::HashSet;
    use std::sync::Arc;

    use axum::http::StatusCode;
    use lookout::report::{Options, Timestamp};
    use lookout::store::embedded::{EmbeddedOptions, EmbeddedStore};
    use lookout::store::{RecentQuery, ReportStore};

    use crate::support::{LogCapture, batch, post, send, state_with};

    /// A CSP report of its own page and image, with a 2,000-byte policy.
    fn large_csp(i: usize) -> String {
        format!(
            r#"{{"type":"csp-violation","url":"https://example.com/p{i}","body":{{"effectiveDirective":"img-src","blockedURL":"https://t.example/{i}.gif","originalPolicy":"{}"}}}}"#,
            "x".repeat(2000)
        )
    }

    async fn stored_ids(store: &EmbeddedStore) -> HashSet<String> {
        store
            .recent(&RecentQuery {
                site: "example.com".into(),
                report_type: None,
                since: Timestamp(0),
                limit: 1_000_000,
                classification: None,
                fingerprint: None,
            })
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect()
    }

    #[tokio::test]
    async fn a_full_disk_answers_503_and_loses_nothing() {
        let logs = LogCapture::json();
        let dir = tempfile::tempdir().unwrap();
        let options = EmbeddedOptions {
            max_bytes: Some(256 * 1024),
            ..EmbeddedOptions::default()
        };
        let store = Arc::new(EmbeddedStore::open_with(dir.path(), options).unwrap());
        let state = state_with(store.clone(), Options::default());
        let (mut ok, mut refused, mut sent) = (0, 0, 0);
        for round in 0..20 {
            let (res, _) = send(
                &state,
                post(
                    "/r/example.com",
                    "application/reports+json",
                    batch(round * 20..(round + 1) * 20, large_csp),
                ),
            )
            .await;
            sent += 20;
            match res.status() {
                StatusCode::NO_CONTENT => ok += 1,
                StatusCode::SERVICE_UNAVAILABLE => refused += 1,
                other => panic!("unexpected {other}"),
            }
        }
        assert!(
            ok > 0 && refused > 0,
            "the disk filled up part way: {ok} ok, {refused} refused"
        );
        let stored = stored_ids(&store).await;
        let recovered: HashSet<String> = logs.recovered().into_iter().map(|r| r.id).collect();
        assert_eq!(stored.len() + recovered.len(), sent, "zero lost");
        assert!(stored.is_disjoint(&recovered));
    }

    #[tokio::test]
    async fn a_read_only_store_answers_503_and_logs_the_reports() {
        let logs = LogCapture::json();
        let dir = tempfile::tempdir().unwrap();
        drop(EmbeddedStore::open(dir.path()).unwrap());
        let options = EmbeddedOptions {
            read_only: true,
            ..EmbeddedOptions::default()
        };
        let store = Arc::new(EmbeddedStore::open_with(dir.path(), options).unwrap());
        let state = state_with(store.clone(), Options::default());
        let (res, _) = send(
            &state,
            post(
                "/r/example.com",
                "application/reports+json",
                batch(0..5, large_csp),
            ),
        )
        .await;
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(stored_ids(&store).await.is_empty());
        assert_eq!(logs.recovered().len(), 5);
    }
}

#[tokio::test]
async fn a_first_version_store_is_migrated_in_place_and_keeps_its_duplicate_check() {
    let dir = tempfile::tempdir().unwrap();
    let batch = reports_at(
        2_000_000,
        r#"[{"type":"deprecation","age":10,"url":"https://e.com/","body":{"id":"old"}}]"#,
    );
    let r = &batch[0];
    {
        // Version 1's layout, as `lookout serve` created it before the rowid table.
        let conn = rusqlite::Connection::open(dir.path().join("lookout.db")).unwrap();
        conn.execute_batch(
            "CREATE TABLE reports (id TEXT PRIMARY KEY, site TEXT NOT NULL, type TEXT NOT NULL,
                 occurred_at INTEGER NOT NULL, received_at INTEGER NOT NULL,
                 fingerprint TEXT NOT NULL, grp TEXT NOT NULL, browser TEXT, url TEXT NOT NULL,
                 disposition TEXT, report TEXT NOT NULL) WITHOUT ROWID;
             CREATE INDEX reports_by_site_type_time ON reports (site, type, occurred_at);
             CREATE INDEX reports_by_site_time ON reports (site, occurred_at);
             CREATE VIEW reports_readable AS SELECT site, type, report FROM reports;",
        )
        .unwrap();
        insert_old_row(&conn, r);
    }
    let store = EmbeddedStore::open(dir.path()).unwrap();
    assert_eq!(store.count().await.unwrap(), 1);
    store.put(&batch).await.unwrap();
    assert_eq!(
        store.count().await.unwrap(),
        1,
        "the migrated row still folds duplicates"
    );
    let got = store.recent(&recent("e.com", None, 0, 10)).await.unwrap();
    assert_eq!(got, batch);
    drop(store);
    let conn = rusqlite::Connection::open(dir.path().join("lookout.db")).unwrap();
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 4);
    let readable: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM reports_readable WHERE problem IS NOT NULL",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(readable, 1, "the view is the current one");
}

/// A report as versions 1 to 3 stored it: the same columns, and its whole JSON.
fn insert_old_row(conn: &rusqlite::Connection, r: &report::Report) {
    conn.execute(
        "INSERT INTO reports (id, site, type, occurred_at, received_at, fingerprint, grp,
             browser, url, disposition, report)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        rusqlite::params![
            r.id,
            r.site,
            r.report_type.as_str(),
            r.occurred_at.millis(),
            r.received_at.millis(),
            r.fingerprint,
            r.group,
            r.browser,
            r.url,
            r.disposition.map(|d| d.as_str()),
            serde_json::to_string(r).unwrap()
        ],
    )
    .unwrap();
}

/// Every problem of `site` since the epoch, most frequent first.
fn top_all(site: &str) -> lookout::store::TopQuery {
    lookout::store::TopQuery {
        site: site.into(),
        report_type: None,
        since: Timestamp(0),
        limit: 100,
        classification: None,
    }
}

/// Version 3's layout, as `lookout serve` wrote it before the aggregates.
const V3_SCHEMA: &str = "
CREATE TABLE reports (seq INTEGER PRIMARY KEY, id TEXT NOT NULL, site TEXT NOT NULL,
    type TEXT NOT NULL, occurred_at INTEGER NOT NULL, received_at INTEGER NOT NULL,
    fingerprint TEXT NOT NULL, grp TEXT NOT NULL, browser TEXT, url TEXT NOT NULL,
    disposition TEXT, report TEXT NOT NULL);
CREATE UNIQUE INDEX reports_by_window ON reports (occurred_at / 10000, id);
CREATE INDEX reports_by_site_type_time ON reports (site, type, occurred_at);
CREATE INDEX reports_by_site_time ON reports (site, occurred_at);
CREATE TABLE day_keys (day TEXT PRIMARY KEY, key BLOB NOT NULL);
CREATE VIEW reports_readable AS SELECT site, type, grp AS problem, report FROM reports;
PRAGMA user_version = 3;
";

#[tokio::test]
async fn a_version_3_store_is_migrated_with_its_aggregates_and_reads_as_a_new_one() {
    // Reports of two days, several problems, some repeated: 60 requests of 3 reports.
    let mut all = Vec::new();
    for i in 0..60i64 {
        let body = format!(
            r#"[{{"type":"csp-violation","age":0,"url":"https://e.com/p","user_agent":"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36","body":{{"blockedURL":"https://cdn{}.example/x.js","effectiveDirective":"script-src-elem","originalPolicy":"script-src 'self'; report-to l","disposition":"report","lineNumber":{i}}}}},
                {{"type":"deprecation","age":0,"url":"https://e.com/","body":{{"id":"d{}","lineNumber":{i}}}}},
                {{"type":"network-error","age":0,"url":"https://e.com/api","body":{{"type":"tcp.timed_out","phase":"connection","elapsed_time":{i}}}}}]"#,
            i % 4,
            i % 3,
        );
        all.extend(reports_at(1_700_000_000_000 + i * 2_000_000, &body));
    }
    let old = tempfile::tempdir().unwrap();
    {
        let conn = rusqlite::Connection::open(old.path().join("lookout.db")).unwrap();
        conn.execute_batch(V3_SCHEMA).unwrap();
        for r in &all {
            insert_old_row(&conn, r);
        }
    }
    // Opened read-only first, as `lookout top` opens it: migrated all the same.
    let migrated = EmbeddedStore::open_with(
        old.path(),
        lookout::store::embedded::EmbeddedOptions {
            read_only: true,
            ..Default::default()
        },
    )
    .unwrap();
    let fresh_dir = tempfile::tempdir().unwrap();
    let fresh = EmbeddedStore::open(fresh_dir.path()).unwrap();
    fresh.put(&all).await.unwrap();
    assert_eq!(migrated.count().await.unwrap(), all.len() as u64);
    let (a, b) = (
        migrated.top(&top_all("e.com")).await.unwrap(),
        fresh.top(&top_all("e.com")).await.unwrap(),
    );
    assert!(
        a.len() >= 8,
        "every problem (4 CSP, 3 deprecation, 1 NEL): {}",
        a.len()
    );
    assert_eq!(a.iter().map(|g| g.count).sum::<u64>(), all.len() as u64);
    assert_eq!(
        a, b,
        "the same figures as a store that took the reports new"
    );
    let (ra, rb) = (
        migrated
            .recent(&recent("e.com", None, 0, 500))
            .await
            .unwrap(),
        fresh.recent(&recent("e.com", None, 0, 500)).await.unwrap(),
    );
    assert_eq!(ra.len(), all.len());
    assert_eq!(ra, rb, "every report reads back as it was");
    drop(migrated);
    let conn = rusqlite::Connection::open(old.path().join("lookout.db")).unwrap();
    let old_tables: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE name = 'reports_v3'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        old_tables, 0,
        "the old rows were moved, then their table dropped"
    );
}

#[tokio::test]
async fn retention_removes_old_reports_and_their_aggregates_in_small_steps() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    let day = 86_400_000i64;
    let (old, new) = (1_700_000_000_000i64, 1_700_000_000_000i64 + 40 * day);
    for (t, n) in [(old, 30), (new, 5)] {
        for i in 0..n {
            let body = format!(
                r#"[{{"type":"deprecation","age":0,"url":"https://e.com/","body":{{"id":"at{t}","lineNumber":{i}}}}}]"#
            );
            store.put(&reports_at(t + i, &body)).await.unwrap();
        }
    }
    let cutoff = Timestamp(new - day);
    let mut steps = 0;
    while store.remove_before(cutoff, 7).await.unwrap() > 0 {
        steps += 1;
        assert!(steps < 20, "retention ends");
    }
    assert!(steps >= 5, "30 old reports in steps of 7: {steps}");
    assert_eq!(store.count().await.unwrap(), 5, "the new reports stay");
    let top = store.top(&top_all("e.com")).await.unwrap();
    assert_eq!(
        top.iter().map(|g| g.count).sum::<u64>(),
        5,
        "the old days' aggregates are gone too"
    );
}
