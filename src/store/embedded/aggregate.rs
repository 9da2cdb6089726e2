//! The embedded store's aggregates: each problem's figures per UTC day of occurrence
//! (`problem_days`) and its count per clock hour of receipt (`problem_hours`), added to in the
//! transaction that stores the reports they count, so a report counts once however often it
//! is delivered (a report already stored is not inserted, and is not counted).

use rusqlite::{Connection, OptionalExtension, params};

use super::row::Row;
use crate::report::Timestamp;
use crate::store::MAX_BROWSERS;
use crate::store::summary::DayAggregate;

/// A day, in milliseconds.
pub(super) const DAY_MS: i64 = 86_400_000;
/// An hour, in milliseconds.
pub(super) const HOUR_MS: i64 = 3_600_000;

/// A set of visitor bytes: a 256-bit map, as `problem_days.visitors` keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Visitors(pub(crate) [u8; 32]);

impl Visitors {
    pub(crate) fn insert(&mut self, v: u8) {
        self.0[usize::from(v / 8)] |= 1 << (v % 8);
    }

    pub(crate) fn union(&mut self, other: &Self) {
        for (a, b) in self.0.iter_mut().zip(other.0) {
            *a |= b;
        }
    }

    pub(crate) fn from_blob(b: &[u8]) -> Self {
        let mut out = Self::default();
        for (a, b) in out.0.iter_mut().zip(b) {
            *a = *b;
        }
        out
    }

    /// The bytes in the set, ascending.
    pub(crate) fn bytes(&self) -> Vec<u8> {
        (0..=255u8)
            .filter(|v| self.0[usize::from(v / 8)] & (1 << (v % 8)) != 0)
            .collect()
    }
}

/// What a commit adds to one problem's day.
#[derive(Debug, Default)]
pub(super) struct DayCount {
    count: i64,
    first_seen: Option<i64>,
    last_seen: Option<i64>,
    /// In the order first seen.
    browsers: Vec<String>,
    dispositions: Vec<String>,
    visitors: Visitors,
}

impl DayCount {
    pub(super) fn add(&mut self, r: &Row) {
        self.count += 1;
        self.first_seen = Some(
            self.first_seen
                .map_or(r.occurred_at, |f| f.min(r.occurred_at)),
        );
        self.last_seen = Some(
            self.last_seen
                .map_or(r.occurred_at, |l| l.max(r.occurred_at)),
        );
        if let Some(b) = &r.browser {
            add_capped(&mut self.browsers, b);
        }
        if let Some(d) = r.disposition
            && !self.dispositions.iter().any(|x| x == d)
        {
            self.dispositions.push(d.to_owned());
        }
        if let Some(v) = r.visitor {
            self.visitors.insert(v);
        }
    }

    /// Adds this count to the problem's stored day (read, merged, written back).
    pub(super) fn add_to(self, tx: &Connection, day: i64, problem: i64) -> rusqlite::Result<()> {
        let stored = tx
            .prepare_cached(
                "SELECT count, first_seen, last_seen, browsers, dispositions, visitors
                 FROM problem_days WHERE day = ?1 AND problem = ?2",
            )?
            .query_row(params![day, problem], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, Vec<u8>>(5)?,
                ))
            })
            .optional()?;
        let (first, last) = (
            self.first_seen.unwrap_or_default(),
            self.last_seen.unwrap_or_default(),
        );
        let (count, first, last, mut browsers, mut dispositions, mut visitors) = match stored {
            Some((n, f, l, b, d, v)) => (
                n + self.count,
                f.min(first),
                l.max(last),
                list_of(&b),
                list_of(&d),
                Visitors::from_blob(&v),
            ),
            None => (
                self.count,
                first,
                last,
                Vec::new(),
                Vec::new(),
                Visitors::default(),
            ),
        };
        for b in &self.browsers {
            add_capped(&mut browsers, b);
        }
        for d in self.dispositions {
            if !dispositions.contains(&d) {
                dispositions.push(d);
            }
        }
        visitors.union(&self.visitors);
        tx.prepare_cached(
            "INSERT OR REPLACE INTO problem_days
                 (day, problem, count, first_seen, last_seen, browsers, dispositions, visitors)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?
        .execute(params![
            day,
            problem,
            count,
            first,
            last,
            text_of(&browsers),
            text_of(&dispositions),
            visitors.0.as_slice()
        ])?;
        Ok(())
    }
}

/// Adds `b` unless it is there or the day already keeps [`MAX_BROWSERS`] (the first ones seen
/// are kept, as on DynamoDB).
fn add_capped(browsers: &mut Vec<String>, b: &str) {
    if browsers.len() < MAX_BROWSERS && !browsers.iter().any(|x| x == b) {
        browsers.push(b.to_owned());
    }
}

/// A stored list (a JSON array of strings); a damaged one reads as empty.
fn list_of(text: &str) -> Vec<String> {
    serde_json::from_str(text).unwrap_or_default()
}

fn text_of(list: &[String]) -> String {
    serde_json::to_string(list).unwrap_or_else(|_| "[]".to_owned())
}

/// The day aggregates of a site from a day: a range of `problem_days`' key, whatever the
/// number of reports.
pub(super) const DAYS_OF_SITE: &str =
    "SELECT p.type, p.fingerprint, p.grp, p.classification, p.policy_version, d.day,
            d.count, d.first_seen, d.last_seen, d.browsers, d.dispositions, d.visitors
     FROM problem_days d JOIN problems p ON p.id = d.problem
     WHERE d.day >= ?1 AND d.last_seen >= ?2 AND p.site = ?3
       AND (?4 IS NULL OR p.type = ?4)";

/// The day aggregates of `site` from `since`'s day whose last occurrence is at or after
/// `since` (the rule DynamoDB's `top` applies to its day items), of one type or all.
pub(super) fn days_of_site(
    conn: &Connection,
    site: &str,
    report_type: Option<&str>,
    since: Timestamp,
) -> rusqlite::Result<Vec<DayAggregate>> {
    let mut stmt = conn.prepare_cached(DAYS_OF_SITE)?;
    let rows = stmt.query_map(
        params![
            since.millis().div_euclid(DAY_MS),
            since.millis(),
            site,
            report_type
        ],
        |r| {
            let day: i64 = r.get(5)?;
            Ok(DayAggregate {
                report_type: r.get(0)?,
                fingerprint: r.get(1)?,
                group: r.get(2)?,
                classification: r
                    .get::<_, Option<String>>(3)?
                    .as_deref()
                    .and_then(crate::report::Classification::from_name),
                policy_version: r.get(4)?,
                day: Some(Timestamp(day * DAY_MS).day()),
                count: r.get::<_, i64>(6)?.max(0) as u64,
                first_seen: Timestamp(r.get(7)?),
                last_seen: Timestamp(r.get(8)?),
                browsers: list_of(&r.get::<_, String>(9)?),
                dispositions: list_of(&r.get::<_, String>(10)?),
                visitors: Visitors::from_blob(&r.get::<_, Vec<u8>>(11)?).bytes(),
            })
        },
    )?;
    rows.collect()
}

/// Each site's figures from a day, from `problem_days`.
pub(super) const SITES_SINCE: &str =
    "SELECT p.site, SUM(d.count), COUNT(DISTINCT d.problem), MAX(d.last_seen)
     FROM problem_days d JOIN problems p ON p.id = d.problem
     WHERE d.day >= ?1 AND d.last_seen >= ?2
     GROUP BY p.site ORDER BY SUM(d.count) DESC, p.site LIMIT ?3";

/// The sites with problem days from `since`'s day whose last occurrence is at or after
/// `since`: (site, reports, problems, last seen), busiest first, at most `limit`.
pub(super) fn sites_since(
    conn: &Connection,
    since: Timestamp,
    limit: usize,
) -> rusqlite::Result<Vec<(String, i64, i64, i64)>> {
    let mut stmt = conn.prepare_cached(SITES_SINCE)?;
    let rows = stmt.query_map(
        params![
            since.millis().div_euclid(DAY_MS),
            since.millis(),
            limit as i64
        ],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )?;
    rows.collect()
}

/// The reports of a problem received in `[from, to)`, both on hour boundaries, from its hourly
/// counts: one key lookup per hour.
pub(in crate::store) fn received_between(
    conn: &Connection,
    site: &str,
    report_type: &str,
    fingerprint: &str,
    from: i64,
    to: i64,
) -> rusqlite::Result<u64> {
    let problem: Option<i64> = conn
        .prepare_cached(PROBLEM_ID)?
        .query_row(params![site, report_type, fingerprint], |r| r.get(0))
        .optional()?;
    let Some(problem) = problem else {
        return Ok(0);
    };
    let mut hour_count = conn.prepare_cached(HOUR_COUNT)?;
    let mut n = 0i64;
    for hour in from.div_euclid(HOUR_MS)..to.div_euclid(HOUR_MS) {
        n += hour_count
            .query_row(params![hour, problem], |r| r.get::<_, i64>(0))
            .optional()?
            .unwrap_or(0);
    }
    Ok(n.max(0) as u64)
}

/// A problem's id, by site, type and fingerprint.
pub(super) const PROBLEM_ID: &str =
    "SELECT id FROM problems WHERE site = ?1 AND type = ?2 AND fingerprint = ?3";

/// A problem's count in one hour.
pub(super) const HOUR_COUNT: &str =
    "SELECT count FROM problem_hours WHERE hour = ?1 AND problem = ?2";

/// Removes the aggregates of days and hours before `before`, at most `limit` rows of each;
/// returns how many.
pub(super) fn remove_before(
    conn: &Connection,
    before: Timestamp,
    limit: usize,
) -> rusqlite::Result<usize> {
    let days = conn.execute(
        "DELETE FROM problem_days WHERE (day, problem) IN
             (SELECT day, problem FROM problem_days WHERE day < ?1 ORDER BY day LIMIT ?2)",
        params![before.millis().div_euclid(DAY_MS), limit as i64],
    )?;
    let hours = conn.execute(
        "DELETE FROM problem_hours WHERE (hour, problem) IN
             (SELECT hour, problem FROM problem_hours WHERE hour < ?1 ORDER BY hour LIMIT ?2)",
        params![before.millis().div_euclid(HOUR_MS), limit as i64],
    )?;
    Ok(days + hours)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visitors_are_a_set_of_bytes() {
        let mut v = Visitors::default();
        for b in [0, 7, 8, 255, 7] {
            v.insert(b);
        }
        let mut w = Visitors::default();
        w.insert(128);
        v.union(&w);
        assert_eq!(v.bytes(), vec![0, 7, 8, 128, 255]);
        assert_eq!(Visitors::from_blob(&v.0).bytes(), v.bytes());
    }
}
