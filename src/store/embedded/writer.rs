//! The embedded store's one writer: a thread that owns the write connection and commits the
//! queued requests' reports in groups (one commit, one fsync, for many requests).

use std::sync::{Arc, mpsc};

use rusqlite::{Connection, params};
use tokio::sync::oneshot;

use crate::report::Report;

/// Requests committed together at most.
pub(super) const MAX_GROUP: usize = 256;

pub(super) type Reply = oneshot::Sender<Result<(), WriteFailed>>;

pub(super) struct WriteJob {
    pub(super) rows: Vec<Row>,
    pub(super) reply: Reply,
}

/// One report, ready to insert.
pub(super) struct Row {
    id: String,
    site: String,
    report_type: String,
    occurred_at: i64,
    received_at: i64,
    fingerprint: String,
    group: String,
    browser: Option<String>,
    url: String,
    disposition: Option<&'static str>,
    json: String,
    /// The window start and id of the report's neighbour, when it has one.
    neighbour: Option<(i64, String)>,
}

impl Row {
    pub(super) fn of(r: &Report) -> Result<Self, serde_json::Error> {
        Ok(Self {
            id: r.id.clone(),
            site: r.site.clone(),
            report_type: r.report_type.as_str().to_owned(),
            occurred_at: r.occurred_at.millis(),
            received_at: r.received_at.millis(),
            fingerprint: r.fingerprint.clone(),
            group: r.group.clone(),
            browser: r.browser.clone(),
            url: r.url.clone(),
            disposition: r.disposition.map(|d| d.as_str()),
            json: serde_json::to_string(r)?,
            neighbour: r.neighbour().map(|n| (n.window.millis(), n.id)),
        })
    }
}

/// Commits queued jobs in groups. If a group fails, each job is retried alone, so one bad
/// job cannot fail the others.
pub(super) fn writer_loop(mut conn: Connection, rx: mpsc::Receiver<WriteJob>) {
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![first];
        while jobs.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        let all: Vec<&Row> = jobs.iter().flat_map(|j| &j.rows).collect();
        match insert(&mut conn, &all) {
            Ok(()) => {
                for job in jobs {
                    let _ = job.reply.send(Ok(()));
                }
            }
            Err(_) if jobs.len() > 1 => {
                for job in jobs {
                    let rows: Vec<&Row> = job.rows.iter().collect();
                    let result = insert(&mut conn, &rows).map_err(|e| WriteFailed(Arc::new(e)));
                    let _ = job.reply.send(result);
                }
            }
            Err(e) => {
                let e = WriteFailed(Arc::new(e));
                for job in jobs {
                    let _ = job.reply.send(Err(e.clone()));
                }
            }
        }
    }
}

/// Whether a report is stored under an identity (window start in ms, id): the test `put` makes
/// before inserting a report near its window's edge, and `stored` makes for `replay`.
pub(super) const IDENTITY_STORED: &str =
    "SELECT EXISTS (SELECT 1 FROM reports WHERE occurred_at / 10000 = ?1 / 10000 AND id = ?2)";

fn insert(conn: &mut Connection, rows: &[&Row]) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    {
        let mut stmt = tx.prepare_cached(
            "INSERT OR IGNORE INTO reports (id, site, type, occurred_at, received_at, fingerprint,
                 grp, browser, url, disposition, report)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )?;
        let mut neighbour_stored = tx.prepare_cached(IDENTITY_STORED)?;
        for r in rows {
            if let Some((window, id)) = &r.neighbour
                && neighbour_stored.query_row(params![window, id], |row| row.get::<_, bool>(0))?
            {
                continue;
            }
            stmt.execute(params![
                r.id,
                r.site,
                r.report_type,
                r.occurred_at,
                r.received_at,
                r.fingerprint,
                r.group,
                r.browser,
                r.url,
                r.disposition,
                r.json
            ])?;
        }
    }
    tx.commit()
}

/// A failure to write, as the writer thread reports it (shared by the jobs of a group).
#[derive(Debug, Clone, thiserror::Error)]
#[error("the embedded store's write failed")]
pub(super) struct WriteFailed(#[source] Arc<rusqlite::Error>);
