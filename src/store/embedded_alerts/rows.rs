//! The local stand-in for the table's stream: the reports stored since a row number, in the
//! order they were stored (`lookout serve` hands them to `crate::pipeline`).

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
        let conn = std::sync::Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            let conn = conn.lock().unwrap_or_else(|p| p.into_inner());
            crate::store::embedded::reports_after(&conn, after, limit)
        })
        .await
        .map_err(StoreError::backend)?
    }
}
