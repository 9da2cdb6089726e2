//! Script contents (what `alert::scripts` judges) and script authorizations.
//!
//! `script_contents` holds one row per site, script URL and hash (`-` for none): first and
//! last sighting and the visitors as a 256-bit map; rows last seen more than
//! [`SCRIPT_RECORD_DAYS`] ago are deleted by the next write. `script_sites` holds when each
//! site's first content was recorded.

use std::collections::BTreeSet;

use rusqlite::{OptionalExtension, params};

use super::super::StoreError;
use super::super::embedded::Visitors;
use super::{EmbeddedAlertState, write};
use crate::alert::DAY_MS;
use crate::alert::scripts::{
    Authorization, MAX_CONTENTS_READ, SCRIPT_RECORD_DAYS, ScriptContent, ScriptHistory, Sighting,
};
use crate::report::Timestamp;

/// The stored hash of a content reported without one.
const NO_HASH: &str = "-";

fn stored_hash(h: Option<&str>) -> String {
    h.unwrap_or(NO_HASH).to_owned()
}

fn read_hash(h: String) -> Option<String> {
    (h != NO_HASH).then_some(h)
}

impl EmbeddedAlertState {
    pub(super) async fn note_script_content(
        &self,
        s: &Sighting,
    ) -> Result<ScriptHistory, StoreError> {
        let (site, url, hash) = (
            s.site.clone(),
            s.script.url.clone(),
            stored_hash(s.script.hash.as_deref()),
        );
        let (first, last) = (s.first.millis(), s.last.millis());
        let mut seen = Visitors::default();
        for v in &s.visitors {
            seen.insert(*v);
        }
        let stale = Timestamp::now().millis() - SCRIPT_RECORD_DAYS * DAY_MS;
        self.with(move |c| {
            let tx = write(c)?;
            tx.execute(
                "DELETE FROM script_contents WHERE last_seen < ?1",
                params![stale],
            )?;
            tx.execute(
                "INSERT INTO script_sites (site, since) VALUES (?1, ?2) ON CONFLICT (site) DO NOTHING",
                params![site, first],
            )?;
            let stored: Option<Vec<u8>> = tx
                .query_row(
                    "SELECT visitors FROM script_contents WHERE site = ?1 AND url = ?2 AND hash = ?3",
                    params![site, url, hash],
                    |r| r.get(0),
                )
                .optional()?;
            let mut visitors = stored.as_deref().map(Visitors::from_blob).unwrap_or_default();
            visitors.union(&seen);
            tx.execute(
                "INSERT INTO script_contents (site, url, hash, first_seen, last_seen, visitors)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (site, url, hash) DO UPDATE SET
                   first_seen = min(first_seen, excluded.first_seen),
                   last_seen = max(last_seen, excluded.last_seen),
                   visitors = excluded.visitors",
                params![site, url, hash, first, last, visitors.0.as_slice()],
            )?;
            let since: i64 = tx.query_row(
                "SELECT since FROM script_sites WHERE site = ?1",
                params![site],
                |r| r.get(0),
            )?;
            let contents = {
                let mut stmt = tx.prepare_cached(
                    "SELECT hash, first_seen, last_seen, visitors FROM script_contents
                     WHERE site = ?1 AND url = ?2
                     ORDER BY hash = ?3 DESC, last_seen DESC LIMIT ?4",
                )?;
                // The sighting's own content first, whatever else the URL has.
                let limit = MAX_CONTENTS_READ as i64 + 1;
                let rows = stmt.query_map(params![site, url, hash, limit], |r| {
                    Ok(ScriptContent {
                        hash: read_hash(r.get(0)?),
                        first_seen: Timestamp(r.get(1)?),
                        last_seen: Timestamp(r.get(2)?),
                        visitors: Visitors::from_blob(&r.get::<_, Vec<u8>>(3)?)
                            .bytes()
                            .into_iter()
                            .collect::<BTreeSet<u8>>(),
                    })
                })?;
                rows.collect::<rusqlite::Result<Vec<_>>>()?
            };
            tx.commit()?;
            Ok(ScriptHistory {
                contents,
                site_since: Timestamp(since),
            })
        })
        .await
    }

    pub(super) async fn read_authorizations(
        &self,
        site: &str,
    ) -> Result<Vec<Authorization>, StoreError> {
        let site = site.to_owned();
        self.with(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT url, hash, reason, by, at FROM script_authorizations
                 WHERE site = ?1 ORDER BY url",
            )?;
            let rows = stmt.query_map(params![site], |r| {
                Ok(Authorization {
                    site: site.clone(),
                    url: r.get(0)?,
                    hash: r.get(1)?,
                    reason: r.get(2)?,
                    by: r.get(3)?,
                    at: Timestamp(r.get(4)?),
                })
            })?;
            rows.collect()
        })
        .await
    }

    pub(super) async fn put_authorization(&self, a: &Authorization) -> Result<(), StoreError> {
        let a = a.clone();
        self.with(move |c| {
            c.execute(
                "INSERT OR REPLACE INTO script_authorizations (site, url, hash, reason, by, at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![a.site, a.url, a.hash, a.reason, a.by, a.at.millis()],
            )
            .map(|_| ())
        })
        .await
    }

    pub(super) async fn delete_authorization(
        &self,
        site: &str,
        url: &str,
    ) -> Result<bool, StoreError> {
        let (site, url) = (site.to_owned(), url.to_owned());
        self.with(move |c| {
            c.execute(
                "DELETE FROM script_authorizations WHERE site = ?1 AND url = ?2",
                params![site, url],
            )
            .map(|n| n > 0)
        })
        .await
    }
}
