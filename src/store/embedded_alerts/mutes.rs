//! Mutes.

use rusqlite::params;

use super::super::StoreError;
use super::EmbeddedAlertState;
use crate::alert::{Mute, MuteTarget};
use crate::report::Timestamp;

impl EmbeddedAlertState {
    pub(super) async fn read_mutes(&self, site: &str) -> Result<Vec<Mute>, StoreError> {
        let site = site.to_owned();
        let rows: Vec<(String, Option<i64>)> = {
            let site = site.clone();
            self.with(move |c| {
                let mut stmt =
                    c.prepare_cached("SELECT target, until FROM mutes WHERE site = ?1")?;
                let rows = stmt.query_map(params![site], |r| Ok((r.get(0)?, r.get(1)?)))?;
                rows.collect()
            })
            .await?
        };
        Ok(rows
            .into_iter()
            .filter_map(|(target, until)| {
                Some(Mute {
                    site: site.clone(),
                    target: MuteTarget::from_key(&target)?,
                    until: until.map(Timestamp),
                })
            })
            .collect())
    }

    pub(super) async fn put_mute(&self, mute: &Mute) -> Result<(), StoreError> {
        let (site, target, until) = (
            mute.site.clone(),
            mute.target.key(),
            mute.until.map(|u| u.millis()),
        );
        self.with(move |c| {
            c.execute(
                "INSERT OR REPLACE INTO mutes (site, target, until) VALUES (?1, ?2, ?3)",
                params![site, target, until],
            )
            .map(|_| ())
        })
        .await
    }

    pub(super) async fn delete_mute(
        &self,
        site: &str,
        target: &MuteTarget,
    ) -> Result<bool, StoreError> {
        let (site, target) = (site.to_owned(), target.key());
        self.with(move |c| {
            c.execute(
                "DELETE FROM mutes WHERE site = ?1 AND target = ?2",
                params![site, target],
            )
            .map(|n| n > 0)
        })
        .await
    }
}
