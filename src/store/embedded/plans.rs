//! Every read the embedded store makes uses a key or an index (SQLite's `EXPLAIN QUERY PLAN`):
//! none walks the reports, so none grows with the number of reports kept.

use rusqlite::Connection;

use super::aggregate::{DAYS_OF_SITE, HOUR_COUNT, SITES_SINCE};
use super::schema::prepare_schema;
use super::writer::IDENTITY_STORED;

/// The plan's lines (`SEARCH r USING INDEX ...`), joined.
fn plan(conn: &Connection, sql: &str) -> String {
    let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
    let unbound = vec![rusqlite::types::Null; stmt.parameter_count()];
    let lines = stmt
        .query_map(rusqlite::params_from_iter(unbound), |r| {
            r.get::<_, String>(3)
        })
        .unwrap()
        .collect::<rusqlite::Result<Vec<_>>>()
        .unwrap();
    lines.join("\n")
}

fn store() -> (tempfile::TempDir, Connection) {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = Connection::open(dir.path().join("plans.db")).unwrap();
    prepare_schema(&mut conn).unwrap();
    (dir, conn)
}

#[test]
fn reads_of_reports_use_an_index_in_time_order() {
    let (_dir, conn) = store();
    let by_problem = plan(&conn, &super::recent_sql(true));
    assert!(
        by_problem.contains("USING INDEX reports_by_problem (problem=? AND occurred_at>?)"),
        "{by_problem}"
    );
    let by_type = plan(&conn, &super::recent_sql(false));
    assert!(
        by_type.contains("USING INDEX reports_by_site_type (site_type=? AND occurred_at>?)"),
        "{by_type}"
    );
    for p in [&by_problem, &by_type] {
        // Only reports of the same time are sorted (by id), never the whole window.
        assert!(!p.contains("USE TEMP B-TREE FOR ORDER BY"), "{p}");
        assert!(!p.contains("SCAN r"), "{p}");
    }
    let identity = plan(&conn, IDENTITY_STORED);
    assert!(
        identity.contains("USING INDEX reports_by_window (<expr>=? AND id=?)"),
        "{identity}"
    );
}

#[test]
fn summaries_read_the_aggregates_by_key() {
    let (_dir, conn) = store();
    for sql in [DAYS_OF_SITE, SITES_SINCE] {
        let p = plan(&conn, sql);
        assert!(p.contains("SEARCH d USING PRIMARY KEY (day>?)"), "{p}");
        assert!(!p.contains("reports"), "{p}");
    }
    let hour = plan(&conn, HOUR_COUNT);
    assert!(
        hour.contains("SEARCH problem_hours USING PRIMARY KEY (hour=? AND problem=?)"),
        "{hour}"
    );
}
