//! The alert state in the reports table, written by the function (its calls are in its role):
//!
//! | item | `pk` | `sk` | attributes |
//! | --- | --- | --- | --- |
//! | new-problem claim | `ALERT#{site}` | `new#{type}#{fingerprint}` | the claim's (below), TTL 90 days |
//! | spike claim | `ALERT#{site}` | `spike#{type}#{fingerprint}#{day}` | the claim's, TTL 3 days |
//! | digest | `ALERT#{site}` | `digest#{time}#{random}` | the claim's, TTL 2 days |
//! | outbox entry | `OUTBOX` | `{due, epoch ms, 13 digits}#{site}#{random}` | `site`, `keys` (claim keys), TTL 2 days after due |
//! | hourly count | `HOUR#{site}` | `{type}#{fingerprint}#{hour}` | `count`, `batches` and `batches_old` (keys of the batches counted), TTL 2 days |
//! | alert budget | `HOUR#{site}` | `BUDGET#{hour}` | `count` (messages sent in the hour), TTL 2 days |
//! | mute | `MUTE#{site}` | `fingerprint#{f}` or `type#{t}` | `until` (epoch ms), TTL at `until` |
//!
//! A claim holds `state` (`pending`, `sent`, `digested`, `suppressed`, `given_up`),
//! `first_seen`, `claimed_at`, `queued_at` (epoch ms) and, while pending, `alert` (its JSON),
//! `attempts`, `budgeted`, `delivered` (sinks that took it) and `next_attempt` (epoch ms).
//! Claims written before the outbox have no state and no TTL: they count as settled.
//!
//! The outbox entries index pending claims by due time, so that finding what is due reads
//! only that (`OUTBOX` with `sk` below now). An entry is written *before* the claim (or the
//! claim's next attempt) it points to, so a claim whose caller stops is always found again; an
//! entry can be stale (its claim settled, or due later through another entry), and is then
//! dropped when read. The claims' own `next_attempt` is the truth, and the lease: a caller
//! takes a due claim by moving its `next_attempt` conditionally.
//!
//! Budget items sort with uppercase `BUDGET#`, never a type (types are lowercase), so no range
//! of hourly counts reads them.
//!
//! Mutes are written by `lookout mute` with the operator's credentials (`mute.rs`).

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, Select};
use futures_util::StreamExt;
use futures_util::future::BoxFuture;

use super::item::{self, Item, PK, SK, TTL};
use super::{DynamoStore, StoreError};
use crate::alert::{
    AlertState, Claim, HOUR_ITEM_DAYS, HOUR_MS, HourBatch, Mute, MuteTarget, Outcome, Outgoing,
    Problem, Settle, Ticket, stored_alert,
};
use crate::report::Timestamp;

const DAY_S: i64 = 86_400;

/// The partition of the outbox entries.
const OUTBOX_PK: &str = "OUTBOX";
/// Claim keys one outbox entry holds, at most (an entry stays far below 400 KB).
const ENTRY_KEYS: usize = 400;
/// Outbox entries read per call, at most.
const ENTRIES_PER_CALL: i32 = 10;
/// Claim writes in flight at once.
const WRITES_IN_FLIGHT: usize = 8;
/// Days an outbox entry is kept after it is due: past the 24 hours after which a pending
/// alert is given up.
const ENTRY_DAYS: i64 = 2;

// A claim's attributes.
const STATE: &str = "state";
const ALERT: &str = "alert";
const ATTEMPTS: &str = "attempts";
const BUDGETED: &str = "budgeted";
const DELIVERED: &str = "delivered";
const QUEUED_AT: &str = "queued_at";
const NEXT_ATTEMPT: &str = "next_attempt";
const PENDING: &str = "pending";
/// An outbox entry's claim keys.
const KEYS: &str = "keys";

/// The attribute of an hourly count holding the keys of the batches it took.
const BATCHES: &str = "batches";
/// The keys it held before it was last full.
const OLD_BATCHES: &str = "batches_old";
/// Keys an hourly count holds before they move to [`OLD_BATCHES`]: with the old ones, a count
/// knows its last 64 to 128 batches (a few minutes of a busy problem's stream batches; Lambda
/// retries a failed batch before the shard goes on), in at most about 2 KB.
const MAX_BATCH_KEYS: usize = 64;

/// Attempts at a read-then-conditional-write update before giving up.
const EXACT_ATTEMPTS: u32 = 5;

/// An item whose update kept failing its condition because others changed it meanwhile.
#[derive(Debug, thiserror::Error)]
#[error("alert item {0} kept changing during its update")]
struct Contended(String);

/// A string set attribute (empty when absent).
fn string_set(item: &Item, key: &str) -> Vec<String> {
    match item.get(key) {
        Some(AttributeValue::Ss(v)) => v.clone(),
        _ => Vec::new(),
    }
}

/// A count's value before and after adding `n`, from an update's new attributes.
fn before_and_after(attributes: Option<&Item>, n: u64) -> (u64, u64) {
    let after = attributes
        .and_then(|a| item::n(a, "count"))
        .unwrap_or(n as i64)
        .max(0) as u64;
    (after.saturating_sub(n), after)
}

pub(super) fn alert_pk(site: &str) -> String {
    format!("ALERT#{site}")
}

pub(super) fn hour_pk(site: &str) -> String {
    format!("HOUR#{site}")
}

pub(super) fn mute_pk(site: &str) -> String {
    format!("MUTE#{site}")
}

fn hour_sk(p: &Problem, hour: Timestamp) -> String {
    format!("{}#{}#{hour}", p.report_type.as_str(), p.fingerprint)
}

fn budget_sk(hour: Timestamp) -> String {
    format!("BUDGET#{hour}")
}

/// An outbox entry's sort key: due first, so that what is due is a key range.
fn entry_sk(site: &str, due: Timestamp) -> String {
    format!(
        "{:013}#{site}#{:016x}",
        due.millis().max(0),
        fastrand::u64(..)
    )
}

/// Epoch seconds (a TTL) `days` days after `t`.
fn ttl_after(t: Timestamp, days: i64) -> i64 {
    t.millis() / 1000 + days * DAY_S
}

/// A claim as read from its item.
enum Read {
    /// Pending, with its next attempt (epoch ms).
    Pending(Box<Outgoing>, i64),
    /// Pending, but its alert does not read.
    Unreadable,
    /// Settled, expired, or never written.
    Gone,
}

fn conditional_failed<E>(e: &aws_sdk_dynamodb::error::SdkError<E>) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    use aws_sdk_dynamodb::error::ProvideErrorMetadata as _;
    e.code() == Some("ConditionalCheckFailedException")
}

impl DynamoStore {
    /// An hourly count's value and the keys of the batches it took, read consistently.
    async fn hour_marks(
        &self,
        pk: &str,
        sk: &str,
    ) -> Result<(Option<u64>, Vec<String>, Vec<String>), StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.settings.table)
            .key(PK, AttributeValue::S(pk.to_owned()))
            .key(SK, AttributeValue::S(sk.to_owned()))
            .projection_expression("#count, #batches, #old")
            .expression_attribute_names("#count", "count")
            .expression_attribute_names("#batches", BATCHES)
            .expression_attribute_names("#old", OLD_BATCHES)
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::backend)?;
        Ok(match out.item() {
            Some(it) => (
                item::n(it, "count").map(|n| n.max(0) as u64),
                string_set(it, BATCHES),
                string_set(it, OLD_BATCHES),
            ),
            None => (None, Vec::new(), Vec::new()),
        })
    }

    /// Writes `pk`/`sk` with `attributes` unless the item exists; `true` if written.
    async fn claim_item(
        &self,
        pk: String,
        sk: String,
        attributes: Vec<(&str, AttributeValue)>,
    ) -> Result<bool, StoreError> {
        let mut names = Vec::new();
        let mut update = self
            .client
            .update_item()
            .table_name(&self.settings.table)
            .key(PK, AttributeValue::S(pk))
            .key(SK, AttributeValue::S(sk))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", PK);
        for (i, (name, value)) in attributes.into_iter().enumerate() {
            names.push(format!("#a{i} = :a{i}"));
            update = update
                .expression_attribute_names(format!("#a{i}"), name)
                .expression_attribute_values(format!(":a{i}"), value);
        }
        match update
            .update_expression(format!("SET {}", names.join(", ")))
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if conditional_failed(&e) => Ok(false),
            Err(e) => Err(StoreError::backend(e)),
        }
    }

    /// Writes outbox entries of `site` due at `due` for `keys` (in entries of at most
    /// [`ENTRY_KEYS`]); returns their sort keys.
    async fn put_entries(
        &self,
        site: &str,
        due: Timestamp,
        keys: &[String],
    ) -> Result<Vec<String>, StoreError> {
        let keys: Vec<String> = keys
            .iter()
            .cloned()
            .collect::<BTreeSet<String>>()
            .into_iter()
            .collect();
        let mut written = Vec::new();
        for chunk in keys.chunks(ENTRY_KEYS) {
            let sk = entry_sk(site, due);
            self.client
                .update_item()
                .table_name(&self.settings.table)
                .key(PK, AttributeValue::S(OUTBOX_PK.to_owned()))
                .key(SK, AttributeValue::S(sk.clone()))
                .update_expression("SET #site = :site, #keys = :keys, #exp = :exp")
                .expression_attribute_names("#site", "site")
                .expression_attribute_names("#keys", KEYS)
                .expression_attribute_names("#exp", TTL)
                .expression_attribute_values(":site", AttributeValue::S(site.to_owned()))
                .expression_attribute_values(":keys", AttributeValue::Ss(chunk.to_vec()))
                .expression_attribute_values(
                    ":exp",
                    AttributeValue::N(ttl_after(due, ENTRY_DAYS).to_string()),
                )
                .send()
                .await
                .map_err(StoreError::backend)?;
            written.push(sk);
        }
        Ok(written)
    }

    /// Deletes the outbox entry `sk`.
    async fn delete_entry(&self, sk: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.settings.table)
            .key(PK, AttributeValue::S(OUTBOX_PK.to_owned()))
            .key(SK, AttributeValue::S(sk.to_owned()))
            .send()
            .await
            .map_err(StoreError::backend)?;
        Ok(())
    }

    /// Leaves only `keys` in the outbox entry `sk`, if it is still there; `false` if not.
    async fn keep_in_entry(&self, sk: &str, keys: &[String]) -> Result<bool, StoreError> {
        let keys: Vec<String> = keys
            .iter()
            .cloned()
            .collect::<BTreeSet<String>>()
            .into_iter()
            .collect();
        match self
            .client
            .update_item()
            .table_name(&self.settings.table)
            .key(PK, AttributeValue::S(OUTBOX_PK.to_owned()))
            .key(SK, AttributeValue::S(sk.to_owned()))
            .update_expression("SET #keys = :keys")
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#keys", KEYS)
            .expression_attribute_values(":keys", AttributeValue::Ss(keys))
            .send()
            .await
        {
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
                    "first_seen",
                    AttributeValue::S(c.alert.first_seen.to_string()),
                ),
                ("claimed_at", AttributeValue::S(now.to_string())),
                (
                    TTL,
                    AttributeValue::N((c.expires.millis() / 1000).to_string()),
                ),
            ],
        )
        .await
    }

    /// The claim `key` of `site`, read consistently.
    async fn read_claim(&self, site: &str, key: &str) -> Result<Read, StoreError> {
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
    async fn lease(
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
                .expression_attribute_names("#settled", "settled_at")
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

    /// Adds `n` to the budget item `pk`/`sk`, if its count leaves `room` (the common case), or
    /// else if its count is still `was` as read (`None`: no item); `false` if not.
    async fn add_to_budget(
        &self,
        pk: &str,
        sk: &str,
        n: u32,
        expires: i64,
        was: Option<u64>,
        room: Option<u32>,
    ) -> Result<bool, StoreError> {
        let mut update = self
            .client
            .update_item()
            .table_name(&self.settings.table)
            .key(PK, AttributeValue::S(pk.to_owned()))
            .key(SK, AttributeValue::S(sk.to_owned()))
            .update_expression("ADD #count :n SET #exp = :exp")
            .expression_attribute_names("#count", "count")
            .expression_attribute_names("#exp", TTL)
            .expression_attribute_values(":n", AttributeValue::N(n.to_string()))
            .expression_attribute_values(":exp", AttributeValue::N(expires.to_string()));
        update = match (room, was) {
            (Some(room), _) => update
                .condition_expression("attribute_not_exists(#count) OR #count <= :room")
                .expression_attribute_values(":room", AttributeValue::N(room.to_string())),
            (None, Some(was)) => update
                .condition_expression("#count = :was")
                .expression_attribute_values(":was", AttributeValue::N(was.to_string())),
            (None, None) => update.condition_expression("attribute_not_exists(#count)"),
        };
        match update.send().await {
            Ok(_) => Ok(true),
            Err(e) if conditional_failed(&e) => Ok(false),
            Err(e) => Err(StoreError::backend(e)),
        }
    }
}

#[async_trait]
impl AlertState for DynamoStore {
    /// The outbox entry first (due when the lease ends), then each claim by a conditional
    /// write; the entry is deleted at once when this caller won none.
    async fn claim(
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

    /// Reads the due outbox entries (a key range), then each of their claims: those pending and
    /// due are leased (a new entry at the lease's end first), the others dropped from the
    /// entry; an entry with nothing left is deleted.
    async fn due(
        &self,
        now: Timestamp,
        limit: usize,
        lease_until: Timestamp,
    ) -> Result<(Vec<Outgoing>, Ticket), StoreError> {
        let page = self
            .client
            .query()
            .table_name(&self.settings.table)
            .key_condition_expression("#pk = :pk AND #sk < :upper")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#sk", SK)
            .expression_attribute_names("#site", "site")
            .expression_attribute_names("#keys", KEYS)
            .expression_attribute_values(":pk", AttributeValue::S(OUTBOX_PK.to_owned()))
            .expression_attribute_values(
                ":upper",
                AttributeValue::S(format!("{:013}", now.millis().max(0) + 1)),
            )
            .select(Select::SpecificAttributes)
            .projection_expression("#sk, #site, #keys")
            .limit(ENTRIES_PER_CALL)
            .send()
            .await
            .map_err(StoreError::backend)?;
        let mut due = Vec::new();
        let mut ticket = Ticket::default();
        let mut unreadable = Vec::new();
        for entry in page.items() {
            if due.len() >= limit {
                break;
            }
            let (Some(sk), Some(site)) = (item::s(entry, SK), item::s(entry, "site")) else {
                continue;
            };
            let mut ready: Vec<(Outgoing, i64)> = Vec::new();
            let mut rest: Vec<String> = Vec::new();
            for key in string_set(entry, KEYS) {
                if due.len() + ready.len() >= limit {
                    rest.push(key);
                    continue;
                }
                match self.read_claim(&site, &key).await? {
                    Read::Pending(o, next) if next <= now.millis() => ready.push((*o, next)),
                    Read::Unreadable => unreadable.push(Outcome {
                        site: site.clone(),
                        key,
                        settle: Settle::GivenUp,
                    }),
                    // Settled, or due later: the entry written before its next attempt was set
                    // stands for it.
                    Read::Pending(..) | Read::Gone => {}
                }
            }
            if !ready.is_empty() {
                let keys: Vec<String> = ready.iter().map(|(o, _)| o.key.clone()).collect();
                ticket.merge(Ticket(self.put_entries(&site, lease_until, &keys).await?));
                for (o, was) in ready {
                    if self.lease(&site, &o.key, was, lease_until).await? {
                        due.push(o);
                    }
                }
            }
            if rest.is_empty() {
                self.delete_entry(&sk).await?;
            } else if !self.keep_in_entry(&sk, &rest).await? {
                // Another caller deleted it meanwhile: the keys not looked at get an entry.
                self.put_entries(&site, now, &rest).await?;
            }
        }
        if !unreadable.is_empty() {
            self.settle(Ticket::default(), &unreadable).await?;
        }
        Ok((due, ticket))
    }

    /// Alerts left pending get an entry at their next attempt first; then each outcome is
    /// recorded on its claim, and the ticket's entries are deleted.
    async fn settle(&self, ticket: Ticket, outcomes: &[Outcome]) -> Result<(), StoreError> {
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

    /// One conditional `ADD` while the hour has room for all of `want`; else the count is read
    /// and what is left taken under an optimistic condition.
    async fn take_budget(
        &self,
        site: &str,
        hour: Timestamp,
        want: u32,
        limit: u32,
    ) -> Result<u32, StoreError> {
        let want = want.min(limit);
        if want == 0 {
            return Ok(0);
        }
        let (pk, sk) = (hour_pk(site), budget_sk(hour));
        let expires = ttl_after(Timestamp(hour.millis() + HOUR_MS), HOUR_ITEM_DAYS);
        if self
            .add_to_budget(&pk, &sk, want, expires, None, Some(limit - want))
            .await?
        {
            return Ok(want);
        }
        for _ in 0..EXACT_ATTEMPTS {
            let (used, _, _) = self.hour_marks(&pk, &sk).await?;
            let left = u64::from(limit).saturating_sub(used.unwrap_or(0));
            if left == 0 {
                return Ok(0);
            }
            let grant = u32::try_from(u64::from(want).min(left)).unwrap_or(0);
            if self
                .add_to_budget(&pk, &sk, grant, expires, used, None)
                .await?
            {
                return Ok(grant);
            }
        }
        tracing::warn!(
            site,
            "the alert budget kept changing while taken from: none taken"
        );
        Ok(0)
    }

    /// One conditional update in the common case (the batch is new to the count and the count
    /// has room for its key); else the count's keys are read and the update is made from them
    /// under an optimistic condition on the count, as the aggregates do.
    async fn add_to_hour(
        &self,
        p: &Problem,
        hour: Timestamp,
        batch: &HourBatch,
    ) -> Result<(u64, u64), StoreError> {
        let (pk, sk) = (hour_pk(&p.site), hour_sk(p, hour));
        let expires = hour.millis() / 1000 + HOUR_ITEM_DAYS * DAY_S;
        let update = || {
            self.client
                .update_item()
                .table_name(&self.settings.table)
                .key(PK, AttributeValue::S(pk.clone()))
                .key(SK, AttributeValue::S(sk.clone()))
                .expression_attribute_names("#count", "count")
                .expression_attribute_names("#batches", BATCHES)
                .expression_attribute_names("#exp", TTL)
                .expression_attribute_values(":n", AttributeValue::N(batch.n.to_string()))
                .expression_attribute_values(":batch", AttributeValue::Ss(vec![batch.key.clone()]))
                .expression_attribute_values(":exp", AttributeValue::N(expires.to_string()))
                .return_values(ReturnValue::UpdatedNew)
        };
        let fast = update()
            .update_expression("ADD #count :n, #batches :batch SET #exp = :exp")
            .condition_expression(
                "(attribute_not_exists(#batches) \
                   OR (NOT contains(#batches, :key) AND size(#batches) < :max)) \
                 AND (attribute_not_exists(#old) OR NOT contains(#old, :key))",
            )
            .expression_attribute_names("#old", OLD_BATCHES)
            .expression_attribute_values(":key", AttributeValue::S(batch.key.clone()))
            .expression_attribute_values(":max", AttributeValue::N(MAX_BATCH_KEYS.to_string()))
            .send()
            .await;
        match fast {
            Ok(out) => return Ok(before_and_after(out.attributes(), batch.n)),
            Err(e) if conditional_failed(&e) => {}
            Err(e) => return Err(StoreError::backend(e)),
        }
        for _ in 0..EXACT_ATTEMPTS {
            let (count, batches, old) = self.hour_marks(&pk, &sk).await?;
            if batches.contains(&batch.key) || old.contains(&batch.key) {
                // Counted before: a batch delivered again.
                let count = count.unwrap_or(0);
                return Ok((count, count));
            }
            let mut exact = if batches.len() < MAX_BATCH_KEYS {
                update().update_expression("ADD #count :n, #batches :batch SET #exp = :exp")
            } else {
                update()
                    .update_expression(
                        "ADD #count :n SET #batches = :batch, #old = :was_batches, #exp = :exp",
                    )
                    .expression_attribute_names("#old", OLD_BATCHES)
                    .expression_attribute_values(":was_batches", AttributeValue::Ss(batches))
            };
            exact = match count {
                Some(c) => exact
                    .condition_expression("#count = :was")
                    .expression_attribute_values(":was", AttributeValue::N(c.to_string())),
                None => exact.condition_expression("attribute_not_exists(#count)"),
            };
            match exact.send().await {
                Ok(out) => return Ok(before_and_after(out.attributes(), batch.n)),
                Err(e) if conditional_failed(&e) => continue,
                Err(e) => return Err(StoreError::backend(e)),
            }
        }
        Err(StoreError::backend(Contended(sk)))
    }

    async fn previous_day(&self, p: &Problem, hour: Timestamp) -> Result<u64, StoreError> {
        let from = hour_sk(p, Timestamp(hour.millis() - 24 * HOUR_MS));
        let to = hour_sk(p, Timestamp(hour.millis() - HOUR_MS));
        let mut total = 0u64;
        let mut start = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.settings.table)
                .key_condition_expression("#pk = :pk AND #sk BETWEEN :from AND :to")
                .expression_attribute_names("#pk", PK)
                .expression_attribute_names("#sk", SK)
                .expression_attribute_names("#count", "count")
                .expression_attribute_values(":pk", AttributeValue::S(hour_pk(&p.site)))
                .expression_attribute_values(":from", AttributeValue::S(from.clone()))
                .expression_attribute_values(":to", AttributeValue::S(to.clone()))
                .select(Select::SpecificAttributes)
                .projection_expression("#count")
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(StoreError::backend)?;
            total += page
                .items()
                .iter()
                .filter_map(|i| item::n(i, "count"))
                .map(|n| n.max(0) as u64)
                .sum::<u64>();
            match page.last_evaluated_key() {
                Some(k) => start = Some(k.clone()),
                None => break,
            }
        }
        Ok(total)
    }

    async fn mutes(&self, site: &str) -> Result<Vec<Mute>, StoreError> {
        let page = self
            .client
            .query()
            .table_name(&self.settings.table)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#sk", SK)
            .expression_attribute_names("#until", "until")
            .expression_attribute_values(":pk", AttributeValue::S(mute_pk(site)))
            .select(Select::SpecificAttributes)
            .projection_expression("#sk, #until")
            .send()
            .await
            .map_err(StoreError::backend)?;
        Ok(page
            .items()
            .iter()
            .filter_map(|i| {
                let target = MuteTarget::from_key(&item::s(i, SK)?)?;
                Some(Mute {
                    site: site.to_owned(),
                    target,
                    until: item::n(i, "until").map(Timestamp),
                })
            })
            .collect())
    }

    async fn mute(&self, mute: &Mute) -> Result<(), StoreError> {
        self.put_mute(mute).await
    }

    async fn unmute(&self, site: &str, target: &MuteTarget) -> Result<bool, StoreError> {
        self.delete_mute(site, target).await
    }
}
