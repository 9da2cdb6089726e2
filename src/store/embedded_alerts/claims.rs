//! Claims, which are also the outbox: a pending claim holds its alert until what became of it
//! is recorded, and is handed out again when its next attempt is due.

use rusqlite::params;

use super::super::StoreError;
use super::{EmbeddedAlertState, write};
use crate::alert::{Claim, Outcome, Outgoing, Settle, Ticket, stored_alert};
use crate::report::Timestamp;

/// A pending claim as read for the outbox.
struct PendingRow {
    key: String,
    site: Option<String>,
    alert: Option<String>,
    attempts: i64,
    budgeted: bool,
    delivered: Option<String>,
    claimed_at: i64,
}

impl EmbeddedAlertState {
    pub(super) async fn claim_alerts(
        &self,
        site: &str,
        claims: &[Claim],
        lease_until: Timestamp,
    ) -> Result<(Vec<bool>, Ticket), StoreError> {
        if claims.is_empty() {
            return Ok((Vec::new(), Ticket::default()));
        }
        let rows = claims
            .iter()
            .map(
                |c| -> Result<(String, String, bool, i64), serde_json::Error> {
                    Ok((
                        format!("{site}#{}", c.key),
                        serde_json::to_string(&c.alert)?,
                        c.budgeted,
                        c.expires.millis(),
                    ))
                },
            )
            .collect::<Result<Vec<(String, String, bool, i64)>, serde_json::Error>>()
            .map_err(StoreError::backend)?;
        let site = site.to_owned();
        let now = Timestamp::now().millis();
        let lease = lease_until.millis();
        let won = self
            .with(move |c| {
                let tx = write(c)?;
                tx.execute(
                    "DELETE FROM alert_claims WHERE expires_at < ?1",
                    params![now],
                )?;
                let mut won = Vec::with_capacity(rows.len());
                {
                    let mut insert = tx.prepare_cached(
                        "INSERT OR IGNORE INTO alert_claims
                           (key, claimed_at, site, state, alert, attempts, budgeted, delivered,
                            next_attempt, expires_at)
                         VALUES (?1, ?2, ?3, 'pending', ?4, 0, ?5, NULL, ?6, ?7)",
                    )?;
                    for (key, alert, budgeted, expires) in &rows {
                        let n = insert
                            .execute(params![key, now, site, alert, budgeted, lease, expires])?;
                        won.push(n == 1);
                    }
                }
                tx.commit()?;
                Ok(won)
            })
            .await?;
        Ok((won, Ticket::default()))
    }

    pub(super) async fn due_alerts(
        &self,
        now: Timestamp,
        limit: usize,
        lease_until: Timestamp,
    ) -> Result<(Vec<Outgoing>, Ticket), StoreError> {
        let rows = self.take_due(now, limit, lease_until).await?;
        let mut due = Vec::with_capacity(rows.len());
        let mut unreadable = Vec::new();
        for row in rows {
            let site = row.site.unwrap_or_default();
            let key = row
                .key
                .strip_prefix(&format!("{site}#"))
                .unwrap_or(&row.key)
                .to_owned();
            match row
                .alert
                .as_deref()
                .and_then(|a| stored_alert(&site, &key, a))
            {
                Some(alert) => due.push(Outgoing {
                    site,
                    key,
                    alert,
                    queued_at: Timestamp(row.claimed_at),
                    attempts: u32::try_from(row.attempts.max(0)).unwrap_or(u32::MAX),
                    budgeted: row.budgeted,
                    delivered: row
                        .delivered
                        .and_then(|d| serde_json::from_str(&d).ok())
                        .unwrap_or_default(),
                }),
                None => unreadable.push(Outcome {
                    site,
                    key,
                    settle: Settle::GivenUp,
                }),
            }
        }
        if !unreadable.is_empty() {
            self.settle_alerts(&unreadable).await?;
        }
        Ok((due, Ticket::default()))
    }

    /// Up to `limit` pending claims due at `now`, the longest due first, each leased until
    /// `lease_until` in the same transaction.
    async fn take_due(
        &self,
        now: Timestamp,
        limit: usize,
        lease_until: Timestamp,
    ) -> Result<Vec<PendingRow>, StoreError> {
        let (now, lease) = (now.millis(), lease_until.millis());
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.with(move |c| {
            let tx = write(c)?;
            let rows = {
                let mut select = tx.prepare_cached(
                    "SELECT key, site, alert, attempts, budgeted, delivered, claimed_at
                           FROM alert_claims
                          WHERE state = 'pending' AND next_attempt <= ?1
                          ORDER BY next_attempt LIMIT ?2",
                )?;
                let rows = select.query_map(params![now, limit], |r| {
                    Ok(PendingRow {
                        key: r.get(0)?,
                        site: r.get(1)?,
                        alert: r.get(2)?,
                        attempts: r.get(3)?,
                        budgeted: r.get(4)?,
                        delivered: r.get(5)?,
                        claimed_at: r.get(6)?,
                    })
                })?;
                rows.collect::<rusqlite::Result<Vec<PendingRow>>>()?
            };
            {
                let mut take =
                    tx.prepare_cached("UPDATE alert_claims SET next_attempt = ?2 WHERE key = ?1")?;
                for row in &rows {
                    take.execute(params![row.key, lease])?;
                }
            }
            tx.commit()?;
            Ok(rows)
        })
        .await
    }

    pub(super) async fn settle_alerts(&self, outcomes: &[Outcome]) -> Result<(), StoreError> {
        if outcomes.is_empty() {
            return Ok(());
        }
        let rows: Vec<SettleRow> = outcomes
            .iter()
            .map(|o| {
                let key = format!("{}#{}", o.site, o.key);
                match &o.settle {
                    Settle::Retry {
                        at,
                        attempts,
                        delivered,
                    } => (
                        key,
                        o.settle.state(),
                        Some((
                            at.millis(),
                            i64::from(*attempts),
                            serde_json::to_string(delivered).unwrap_or_default(),
                        )),
                    ),
                    other => (key, other.state(), None),
                }
            })
            .collect();
        self.with(move |c| {
            let tx = write(c)?;
            {
                let mut retry = tx.prepare_cached(
                    "UPDATE alert_claims
                        SET next_attempt = ?2, attempts = ?3, delivered = ?4, budgeted = 1
                      WHERE key = ?1 AND state = 'pending'",
                )?;
                let mut done = tx.prepare_cached(
                    "UPDATE alert_claims SET state = ?2, alert = NULL, next_attempt = NULL
                      WHERE key = ?1 AND state = 'pending'",
                )?;
                for (key, state, retry_with) in &rows {
                    match retry_with {
                        Some((at, attempts, delivered)) => {
                            retry.execute(params![key, at, attempts, delivered])?
                        }
                        None => done.execute(params![key, state])?,
                    };
                }
            }
            tx.commit()
        })
        .await
    }
}

/// A claim's settlement as written: its key, its state and, for a retry, the next attempt
/// (epoch ms), the attempts so far and the sinks that took it (JSON).
type SettleRow = (String, &'static str, Option<(i64, i64, String)>);
