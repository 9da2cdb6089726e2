//! The embedded store's one writer: a thread that owns the write connection and commits the
//! queued requests' reports in groups (one commit, one fsync, for many requests).

use std::collections::HashMap;
use std::sync::{Arc, mpsc};

use rusqlite::{Connection, params};
use tokio::sync::oneshot;

use super::aggregate::{DAY_MS, DayCount, HOUR_MS, PROBLEM_ID};
use super::row::{ProblemKey, Row};

/// Requests committed together at most.
pub(super) const MAX_GROUP: usize = 256;

pub(super) type Reply = oneshot::Sender<Result<(), WriteFailed>>;

pub(super) struct WriteJob {
    pub(super) rows: Vec<Row>,
    pub(super) reply: Reply,
}

/// Commits queued jobs in groups. If a group fails, each job is retried alone, so one bad
/// job cannot fail the others.
pub(super) fn writer_loop(mut conn: Connection, mut writer: Writer, rx: mpsc::Receiver<WriteJob>) {
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![first];
        while jobs.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        let all: Vec<&Row> = jobs.iter().flat_map(|j| &j.rows).collect();
        match commit(&mut conn, &mut writer, &all) {
            Ok(()) => {
                for job in jobs {
                    let _ = job.reply.send(Ok(()));
                }
            }
            Err(_) if jobs.len() > 1 => {
                for job in jobs {
                    let rows: Vec<&Row> = job.rows.iter().collect();
                    let result =
                        commit(&mut conn, &mut writer, &rows).map_err(|e| WriteFailed(Arc::new(e)));
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

/// Whether a report is stored under an identity (window start in ms, stored id): the test
/// `put` makes before inserting a report near its window's edge, and `stored` makes for
/// `replay`.
pub(super) const IDENTITY_STORED: &str =
    "SELECT EXISTS (SELECT 1 FROM reports WHERE occurred_at / 10000 = ?1 / 10000 AND id = ?2)";

/// Ids of the small tables a writer keeps in memory at most (each cache is emptied when full:
/// a flood of made-up problems costs lookups, never memory).
const MAX_CACHED: usize = 50_000;

/// Inserts rows and counts the new ones into the aggregates, in the caller's transaction. It
/// remembers the ids of problems, site and type pairs and texts it has seen.
#[derive(Default)]
pub(super) struct Writer {
    /// Site, then type.
    site_types: Ids<Ids<i64>>,
    /// Site, then type, then fingerprint.
    problems: Ids<Ids<Ids<i64>>>,
    texts: Ids<i64>,
    /// Ids remembered, all caches together.
    remembered: usize,
}

/// Ids by name, looked up by `&str` without a copy of the name.
type Ids<T> = HashMap<String, T>;

/// One group's transaction. It takes the write lock at once (`IMMEDIATE`): a transaction that
/// read first (the neighbour check) and another connection wrote in between (the alert state)
/// would fail at its first write instead of waiting its turn.
fn commit(conn: &mut Connection, writer: &mut Writer, rows: &[&Row]) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    writer.insert(&tx, rows)?;
    tx.commit().inspect_err(|_| writer.forget())
}

impl Writer {
    /// Forgets the ids it remembers: after a rolled-back transaction, those it made are gone.
    pub(super) fn forget(&mut self) {
        *self = Self::default();
    }

    /// Inserts `rows` (those already stored, or whose neighbour is, are left out) and adds the
    /// new ones to their problems' day and hour. On error the transaction must be rolled back
    /// (and [`Writer::forget`] called, which this does).
    pub(super) fn insert(&mut self, tx: &Connection, rows: &[&Row]) -> rusqlite::Result<()> {
        self.insert_rows(tx, rows).inspect_err(|_| self.forget())
    }

    fn insert_rows(&mut self, tx: &Connection, rows: &[&Row]) -> rusqlite::Result<()> {
        let mut days: HashMap<(i64, i64), DayCount> = HashMap::new();
        let mut hours: HashMap<(i64, i64), i64> = HashMap::new();
        {
            let mut stmt = tx.prepare_cached(
                "INSERT OR IGNORE INTO reports (seq, id, site_type, problem, occurred_at,
                     received_at, policy, agent, report)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?;
            let mut neighbour_stored = tx.prepare_cached(IDENTITY_STORED)?;
            for r in rows {
                if let Some((window, id)) = &r.neighbour
                    && neighbour_stored
                        .query_row(params![window, id], |row| row.get::<_, bool>(0))?
                {
                    continue;
                }
                let site_type = self.site_type(tx, &r.problem)?;
                let problem = self.problem(tx, &r.problem)?;
                let policy = r.policy.as_deref().map(|p| self.text(tx, p)).transpose()?;
                let agent = r.agent.as_deref().map(|a| self.text(tx, a)).transpose()?;
                let added = stmt.execute(params![
                    r.seq,
                    r.id,
                    site_type,
                    problem,
                    r.occurred_at,
                    r.received_at,
                    policy,
                    agent,
                    r.json
                ])?;
                if added == 1 {
                    days.entry((r.occurred_at.div_euclid(DAY_MS), problem))
                        .or_default()
                        .add(r);
                    *hours
                        .entry((r.received_at.div_euclid(HOUR_MS), problem))
                        .or_default() += 1;
                }
            }
        }
        let mut days: Vec<_> = days.into_iter().collect();
        days.sort_by_key(|(key, _)| *key);
        for ((day, problem), count) in days {
            count.add_to(tx, day, problem)?;
        }
        let mut add_hour = tx.prepare_cached(
            "INSERT INTO problem_hours (hour, problem, count) VALUES (?1, ?2, ?3)
             ON CONFLICT (hour, problem) DO UPDATE SET count = count + excluded.count",
        )?;
        let mut hours: Vec<_> = hours.into_iter().collect();
        hours.sort_unstable();
        for ((hour, problem), n) in hours {
            add_hour.execute(params![hour, problem, n])?;
        }
        Ok(())
    }

    fn site_type(&mut self, tx: &Connection, p: &ProblemKey) -> rusqlite::Result<i64> {
        if let Some(id) = self
            .site_types
            .get(&p.site)
            .and_then(|types| types.get(&p.report_type))
        {
            return Ok(*id);
        }
        tx.prepare_cached("INSERT OR IGNORE INTO site_types (site, type) VALUES (?1, ?2)")?
            .execute(params![p.site, p.report_type])?;
        let id = tx
            .prepare_cached("SELECT id FROM site_types WHERE site = ?1 AND type = ?2")?
            .query_row(params![p.site, p.report_type], |r| r.get(0))?;
        self.make_room();
        self.site_types
            .entry(p.site.clone())
            .or_default()
            .insert(p.report_type.clone(), id);
        Ok(id)
    }

    fn problem(&mut self, tx: &Connection, p: &ProblemKey) -> rusqlite::Result<i64> {
        if let Some(id) = self
            .problems
            .get(&p.site)
            .and_then(|types| types.get(&p.report_type))
            .and_then(|fps| fps.get(&p.fingerprint))
        {
            return Ok(*id);
        }
        tx.prepare_cached(
            "INSERT OR IGNORE INTO problems (site, type, fingerprint, grp, classification,
                 policy_version)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![
            p.site,
            p.report_type,
            p.fingerprint,
            p.group,
            p.classification,
            p.policy_version
        ])?;
        let id = tx
            .prepare_cached(PROBLEM_ID)?
            .query_row(params![p.site, p.report_type, p.fingerprint], |r| r.get(0))?;
        self.make_room();
        self.problems
            .entry(p.site.clone())
            .or_default()
            .entry(p.report_type.clone())
            .or_default()
            .insert(p.fingerprint.clone(), id);
        Ok(id)
    }

    fn text(&mut self, tx: &Connection, text: &str) -> rusqlite::Result<i64> {
        if let Some(id) = self.texts.get(text) {
            return Ok(*id);
        }
        tx.prepare_cached("INSERT OR IGNORE INTO texts (text) VALUES (?1)")?
            .execute([text])?;
        let id = tx
            .prepare_cached("SELECT id FROM texts WHERE text = ?1")?
            .query_row([text], |r| r.get(0))?;
        self.make_room();
        self.texts.insert(text.to_owned(), id);
        Ok(id)
    }

    /// Empties the caches when they hold [`MAX_CACHED`] ids.
    fn make_room(&mut self) {
        if self.remembered >= MAX_CACHED {
            self.forget();
        }
        self.remembered += 1;
    }
}

/// A failure to write, as the writer thread reports it (shared by the jobs of a group).
#[derive(Debug, Clone, thiserror::Error)]
#[error("the embedded store's write failed")]
pub(super) struct WriteFailed(#[source] Arc<rusqlite::Error>);
