//! Hourly counts of each problem, which decide spikes: the store's hourly aggregates (kept in
//! the transaction that stores the reports), with the keys of the batches each hour took (see
//! [`HourBatch`]).

use rusqlite::params;

use super::super::StoreError;
use super::{EmbeddedAlertState, write};
use crate::alert::{DAY_MS, HOUR_ITEM_DAYS, HOUR_MS, HourBatch, Problem};
use crate::report::Timestamp;
use crate::store::embedded::received_between;

impl EmbeddedAlertState {
    pub(super) async fn add_to_hour_count(
        &self,
        p: &Problem,
        hour: Timestamp,
        batch: &HourBatch,
    ) -> Result<(u64, u64), StoreError> {
        // The reports are already in the table: the hour's count includes them. The batch's
        // mark says whether they were new to it (in the same transaction as the count).
        let (site, t, fp) = (
            p.site.clone(),
            p.report_type.as_str().to_owned(),
            p.fingerprint.clone(),
        );
        let mark = format!("{site}#{t}#{fp}#{}#{}", hour.millis(), batch.key);
        let (from, to) = (hour.millis(), hour.millis() + HOUR_MS);
        let expires = to + HOUR_ITEM_DAYS * DAY_MS;
        let now = Timestamp::now().millis();
        let n = batch.n;
        self.with(move |c| {
            let tx = write(c)?;
            tx.execute(
                "DELETE FROM alert_hour_batches WHERE expires_at < ?1",
                params![now],
            )?;
            let new = tx.execute(
                "INSERT OR IGNORE INTO alert_hour_batches (mark, expires_at) VALUES (?1, ?2)",
                params![mark, expires],
            )? == 1;
            let after = received_between(&tx, &site, &t, &fp, from, to)?;
            tx.commit()?;
            Ok(if new {
                (after.saturating_sub(n), after)
            } else {
                (after, after)
            })
        })
        .await
    }

    pub(super) async fn previous_day_count(
        &self,
        p: &Problem,
        hour: Timestamp,
    ) -> Result<u64, StoreError> {
        self.count(p, hour.millis() - 24 * HOUR_MS, hour.millis())
            .await
    }

    async fn count(&self, p: &Problem, from: i64, to: i64) -> Result<u64, StoreError> {
        let (site, t, fp) = (
            p.site.clone(),
            p.report_type.as_str().to_owned(),
            p.fingerprint.clone(),
        );
        self.with(move |c| received_between(c, &site, &t, &fp, from, to))
            .await
    }
}
