//! Claims: an alert is its claimer's alone (a conditional write that succeeds once), kept
//! pending with its alert until what became of it is recorded.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_dynamodb::types::AttributeValue;
use futures_util::StreamExt;
use futures_util::future::BoxFuture;

use super::super::expr::UpdateExpr;
use super::super::item::{self, PK, SK, TTL, string_set};
use super::super::{DynamoStore, StoreError};
use super::{alert_pk, conditional_failed};
use crate::alert::{Claim, Outcome, Outgoing, Settle, Ticket, stored_alert};
use crate::report::Timestamp;

/// Claim writes in flight at once.
const WRITES_IN_FLIGHT: usize = 8;

// A claim's attributes.
const STATE: &str = "state";
const ALERT: &str = "alert";
const ATTEMPTS: &str = "attempts";
const BUDGETED: &str = "budgeted";
const DELIVERED: &str = "delivered";
const QUEUED_AT: &str = "queued_at";
const NEXT_ATTEMPT: &str = "next_attempt";
const FIRST_SEEN: &str = "first_seen";
const CLAIMED_AT: &str = "claimed_at";
const SETTLED_AT: &str = "settled_at";
const PENDING: &str = "pending";

/// A claim as read from its item.
pub(super) enum Read {
    /// Pending, with its next attempt (epoch ms).
    Pending(Box<Outgoing>, i64),
    /// Pending, but its alert does not read.
    Unreadable,
    /// Settled, expired, or never written.
    Gone,
}

impl DynamoStore {
    /// The outbox entry first (due when the lease ends), then each claim by a conditional
    /// write; the entry is deleted at once when this caller won none.
    pub(super) async fn claim_alerts(
        &self,
        site: &str,
        claims: &[Claim],
        lease_until: Timestamp,
    ) -> Result<(Vec<bool>, Ticket), StoreError> {
        if claims.is_empty() {
            return Ok((Vec::new(), Ticket::default()));
        }
        let keys: Vec<String> = claims.iter().map(|c| c.key.clone()).collect();
        let entries = self.put_entries(site, lease_until, &keys).await?;
        let now = Timestamp::now();
        // Boxed first (as the aggregates' updates are): the stream of borrowing futures then
        // stays `Send` for the trait's boxed future.
        let writes: Vec<BoxFuture<'_, Result<bool, StoreError>>> = claims
            .iter()
            .map(|c| Box::pin(self.claim_one(site, c, now, lease_until)) as _)
            .collect();
        let results: Vec<Result<bool, StoreError>> = futures_util::stream::iter(writes)
            .buffered(WRITES_IN_FLIGHT)
            .collect()
            .await;
        let won = results
            .into_iter()
            .collect::<Result<Vec<bool>, StoreError>>()?;
        if !won.contains(&true) {
            for sk in &entries {
                self.delete_entry(sk).await?;
            }
            return Ok((won, Ticket::default()));
        }
        Ok((won, Ticket(entries)))
    }

    /// Alerts left pending get an entry at their next attempt first; then each outcome is
    /// recorded on its claim, and the ticket's entries are deleted.
    pub(super) async fn settle_alerts(
        &self,
        ticket: Ticket,
        outcomes: &[Outcome],
    ) -> Result<(), StoreError> {
        let mut retries: BTreeMap<(&str, Timestamp), Vec<String>> = BTreeMap::new();
        for o in outcomes {
            if let Settle::Retry { at, .. } = &o.settle {
                retries
                    .entry((o.site.as_str(), *at))
                    .or_default()
                    .push(o.key.clone());
            }
        }
        for ((site, at), keys) in &retries {
            self.put_entries(site, *at, keys).await?;
        }
        let writes: Vec<BoxFuture<'_, Result<(), StoreError>>> = outcomes
            .iter()
            .map(|o| Box::pin(self.record(o)) as _)
            .collect();
        let results: Vec<Result<(), StoreError>> = futures_util::stream::iter(writes)
            .buffer_unordered(WRITES_IN_FLIGHT)
            .collect()
            .await;
        results
            .into_iter()
            .collect::<Result<Vec<()>, StoreError>>()?;
        for sk in &ticket.0 {
            self.delete_entry(sk).await?;
        }
        Ok(())
    }

    /// Writes `pk`/`sk` with `attributes` unless the item exists; `true` if written.
    async fn claim_item(
        &self,
        pk: String,
        sk: String,
        attributes: Vec<(&str, AttributeValue)>,
    ) -> Result<bool, StoreError> {
        let mut expr = UpdateExpr::default();
        for (name, value) in attributes {
            expr.set(name, value);
        }
        let key = expr.name(PK);
        expr.condition(format!("attribute_not_exists({key})"));
        let update = self
            .client
            .update_item()
            .table_name(&self.settings.table)
            .key(PK, AttributeValue::S(pk))
            .key(SK, AttributeValue::S(sk));
        match expr.apply(update).send().await {
            Ok(_) => Ok(true),
            Err(e) if conditional_failed(&e) => Ok(false),
            Err(e) => Err(StoreError::backend(e)),
        }
    }

    /// Claims `c` of `site`, pending until `lease_until`; `true` if this caller won it.
    async fn claim_one(
        &self,
        site: &str,
        c: &Claim,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<bool, StoreError> {
        let alert = serde_json::to_string(&c.alert).map_err(StoreError::backend)?;
        self.claim_item(
            alert_pk(site),
            c.key.clone(),
            vec![
                (STATE, AttributeValue::S(PENDING.to_owned())),
                (ALERT, AttributeValue::S(alert)),
                (ATTEMPTS, AttributeValue::N("0".to_owned())),
                (BUDGETED, AttributeValue::Bool(c.budgeted)),
                (QUEUED_AT, AttributeValue::N(now.millis().to_string())),
                (
                    NEXT_ATTEMPT,
                    AttributeValue::N(lease_until.millis().to_string()),
                ),
                (
                    FIRST_SEEN,
                    AttributeValue::S(c.alert.first_seen.to_string()),
                ),
                (CLAIMED_AT, AttributeValue::S(now.to_string())),
                (
                    TTL,
                    AttributeValue::N((c.expires.millis() / 1000).to_string()),
                ),
            ],
        )
        .await
    }

    /// The claim `key` of `site`, read consistently.
    pub(super) async fn read_claim(&self, site: &str, key: &str) -> Result<Read, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.settings.table)
            .key(PK, AttributeValue::S(alert_pk(site)))
            .key(SK, AttributeValue::S(key.to_owned()))
            .projection_expression(
                "#state, #alert, #attempts, #budgeted, #delivered, #queued, #next",
            )
            .expression_attribute_names("#state", STATE)
            .expression_attribute_names("#alert", ALERT)
            .expression_attribute_names("#attempts", ATTEMPTS)
            .expression_attribute_names("#budgeted", BUDGETED)
            .expression_attribute_names("#delivered", DELIVERED)
            .expression_attribute_names("#queued", QUEUED_AT)
            .expression_attribute_names("#next", NEXT_ATTEMPT)
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::backend)?;
        let Some(it) = out.item() else {
            return Ok(Read::Gone);
        };
        if item::s(it, STATE).as_deref() != Some(PENDING) {
            return Ok(Read::Gone);
        }
        let Some(alert) = item::s(it, ALERT).and_then(|a| stored_alert(site, key, &a)) else {
            return Ok(Read::Unreadable);
        };
        let next = item::n(it, NEXT_ATTEMPT).unwrap_or(0);
        Ok(Read::Pending(
            Box::new(Outgoing {
                site: site.to_owned(),
                key: key.to_owned(),
                alert,
                queued_at: Timestamp(item::n(it, QUEUED_AT).unwrap_or(0)),
                attempts: u32::try_from(item::n(it, ATTEMPTS).unwrap_or(0).max(0))
                    .unwrap_or(u32::MAX),
                budgeted: matches!(it.get(BUDGETED), Some(AttributeValue::Bool(true))),
                delivered: string_set(it, DELIVERED),
            }),
            next,
        ))
    }

    /// Takes a pending claim whose next attempt is `was` until `until`; `false` if another
    /// caller took or settled it first.
    pub(super) async fn lease(
        &self,
        site: &str,
        key: &str,
        was: i64,
        until: Timestamp,
    ) -> Result<bool, StoreError> {
        match self
            .client
            .update_item()
            .table_name(&self.settings.table)
            .key(PK, AttributeValue::S(alert_pk(site)))
            .key(SK, AttributeValue::S(key.to_owned()))
            .update_expression("SET #next = :until")
            .condition_expression("#state = :pending AND #next = :was")
            .expression_attribute_names("#state", STATE)
            .expression_attribute_names("#next", NEXT_ATTEMPT)
            .expression_attribute_values(":pending", AttributeValue::S(PENDING.to_owned()))
            .expression_attribute_values(":was", AttributeValue::N(was.to_string()))
            .expression_attribute_values(":until", AttributeValue::N(until.millis().to_string()))
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if conditional_failed(&e) => Ok(false),
            Err(e) => Err(StoreError::backend(e)),
        }
    }

    /// Records one outcome on its claim, if the claim is still pending.
    async fn record(&self, o: &Outcome) -> Result<(), StoreError> {
        let update = self
            .client
            .update_item()
            .table_name(&self.settings.table)
            .key(PK, AttributeValue::S(alert_pk(&o.site)))
            .key(SK, AttributeValue::S(o.key.clone()))
            .condition_expression("#state = :pending")
            .expression_attribute_names("#state", STATE)
            .expression_attribute_names("#next", NEXT_ATTEMPT)
            .expression_attribute_values(":pending", AttributeValue::S(PENDING.to_owned()));
        let update = match &o.settle {
            Settle::Retry {
                at,
                attempts,
                delivered,
            } => {
                let update = update
                    .expression_attribute_names("#attempts", ATTEMPTS)
                    .expression_attribute_names("#budgeted", BUDGETED)
                    .expression_attribute_values(
                        ":next",
                        AttributeValue::N(at.millis().to_string()),
                    )
                    .expression_attribute_values(
                        ":attempts",
                        AttributeValue::N(attempts.to_string()),
                    )
                    .expression_attribute_values(":true", AttributeValue::Bool(true));
                if delivered.is_empty() {
                    update.update_expression(
                        "SET #next = :next, #attempts = :attempts, #budgeted = :true",
                    )
                } else {
                    let sinks: BTreeSet<String> = delivered.iter().cloned().collect();
                    update
                        .update_expression(
                            "SET #next = :next, #attempts = :attempts, #budgeted = :true, \
                             #delivered = :delivered",
                        )
                        .expression_attribute_names("#delivered", DELIVERED)
                        .expression_attribute_values(
                            ":delivered",
                            AttributeValue::Ss(sinks.into_iter().collect()),
                        )
                }
            }
            settled => update
                .update_expression("SET #state = :state, #settled = :now REMOVE #alert, #next")
                .expression_attribute_names("#settled", SETTLED_AT)
                .expression_attribute_names("#alert", ALERT)
                .expression_attribute_values(
                    ":state",
                    AttributeValue::S(settled.state().to_owned()),
                )
                .expression_attribute_values(
                    ":now",
                    AttributeValue::S(Timestamp::now().to_string()),
                ),
        };
        match update.send().await {
            Ok(_) => Ok(()),
            // Settled by another caller (its lease had passed), or gone.
            Err(e) if conditional_failed(&e) => Ok(()),
            Err(e) => Err(StoreError::backend(e)),
        }
    }
}
