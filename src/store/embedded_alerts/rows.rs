//! The local stand-in for the table's stream: the reports stored since a row number, in the
//! order they were stored (`lookout serve` hands them to `crate::pipeline`).

use rusqlite::params;

use super::super::StoreError;
use super::EmbeddedAlertState;
use crate::report::Report;

impl EmbeddedAlertState {
    /// The last row number stored (0 for an empty store).
    pub async fn last_row(&self) -> Result<i64, StoreError> {
        self.with(|c| {
            c.query_row("SELECT COALESCE(MAX(seq), 0) FROM reports", [], |r| {
                r.get(0)
            })
        })
        .await
    }

    /// Up to `limit` reports stored after row `after`, with their row numbers, in order.
    pub async fn reports_after(
        &self,
        after: i64,
        limit: usize,
    ) -> Result<Vec<(i64, Report)>, StoreError> {
        let rows: Vec<(i64, String)> = self
            .with(move |c| {
                let mut stmt = c.prepare_cached(
                    "SELECT seq, report FROM reports WHERE seq > ?1 ORDER BY seq LIMIT ?2",
                )?;
                let rows =
                    stmt.query_map(params![after, limit as i64], |r| Ok((r.get(0)?, r.get(1)?)))?;
                rows.collect()
            })
            .await?;
        rows.into_iter()
            .map(|(seq, json)| {
                serde_json::from_str(&json)
                    .map(|r| (seq, r))
                    .map_err(StoreError::backend)
            })
            .collect()
    }
}
