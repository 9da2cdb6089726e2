//! Each site's alert budget of a clock hour: messages taken from it in one transaction.

use rusqlite::{OptionalExtension, params};

use super::super::StoreError;
use super::{EmbeddedAlertState, write};
use crate::alert::{DAY_MS, HOUR_ITEM_DAYS, HOUR_MS};
use crate::report::Timestamp;

impl EmbeddedAlertState {
    pub(super) async fn take_alert_budget(
        &self,
        site: &str,
        hour: Timestamp,
        want: u32,
        limit: u32,
    ) -> Result<u32, StoreError> {
        let site = site.to_owned();
        let hour = hour.millis();
        let expires = hour + HOUR_MS + HOUR_ITEM_DAYS * DAY_MS;
        let now = Timestamp::now().millis();
        self.with(move |c| {
            let tx = write(c)?;
            tx.execute(
                "DELETE FROM alert_budget WHERE expires_at < ?1",
                params![now],
            )?;
            let used: i64 = tx
                .query_row(
                    "SELECT used FROM alert_budget WHERE site = ?1 AND hour = ?2",
                    params![site, hour],
                    |r| r.get(0),
                )
                .optional()?
                .unwrap_or(0);
            let granted = i64::from(want).min((i64::from(limit) - used).max(0));
            if granted > 0 {
                tx.execute(
                    "INSERT INTO alert_budget (site, hour, used, expires_at)
                     VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (site, hour) DO UPDATE SET used = used + excluded.used",
                    params![site, hour, granted, expires],
                )?;
            }
            tx.commit()?;
            Ok(u32::try_from(granted).unwrap_or(0))
        })
        .await
    }
}
