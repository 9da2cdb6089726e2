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
//! | script content, authorization | `SCRIPT#{site}`, `AUTH#{site}` | see `scripts` | |
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
//!
//! Split by item: `claims` (claims, and what became of them), `outbox` (the entries, and what
//! is due), `hours` (hourly counts), `budget` (each site's hourly budget); mutes are read here.
//! Each file's `DynamoStore` methods are what the [`AlertState`] implementation below calls.

mod budget;
mod claims;
mod hours;
mod outbox;
pub(super) mod scripts;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, Select};

use super::item::{self, PK, SK};
use super::{DynamoStore, StoreError};
use crate::alert::scripts::{Authorization, ScriptHistory, Sighting};
use crate::alert::{
    AlertState, Claim, HourBatch, Mute, MuteTarget, Outcome, Outgoing, Problem, StateError, Ticket,
};
use crate::report::Timestamp;

const DAY_S: i64 = 86_400;

/// The attribute of an hourly count or a budget holding its count.
const COUNT: &str = "count";
/// The attribute of a mute holding when it ends (epoch ms).
pub(super) const UNTIL: &str = "until";

/// Attempts at a read-then-conditional-write update before giving up.
const EXACT_ATTEMPTS: u32 = 5;

pub(super) fn alert_pk(site: &str) -> String {
    format!("ALERT#{site}")
}

pub(super) fn hour_pk(site: &str) -> String {
    format!("HOUR#{site}")
}

pub(super) fn mute_pk(site: &str) -> String {
    format!("MUTE#{site}")
}

/// Epoch seconds (a TTL) `days` days after `t`.
fn ttl_after(t: Timestamp, days: i64) -> i64 {
    t.millis() / 1000 + days * DAY_S
}

fn conditional_failed<E>(e: &aws_sdk_dynamodb::error::SdkError<E>) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    use aws_sdk_dynamodb::error::ProvideErrorMetadata as _;
    e.code() == Some("ConditionalCheckFailedException")
}

impl DynamoStore {
    async fn read_mutes(&self, site: &str) -> Result<Vec<Mute>, StoreError> {
        let page = self
            .client
            .query()
            .table_name(&self.settings.table)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#sk", SK)
            .expression_attribute_names("#until", UNTIL)
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
                    until: item::n(i, UNTIL).map(Timestamp),
                })
            })
            .collect())
    }
}

#[async_trait]
impl AlertState for DynamoStore {
    async fn claim(
        &self,
        site: &str,
        claims: &[Claim],
        lease_until: Timestamp,
    ) -> Result<(Vec<bool>, Ticket), StateError> {
        self.claim_alerts(site, claims, lease_until)
            .await
            .map_err(StateError::from)
    }

    async fn due(
        &self,
        now: Timestamp,
        limit: usize,
        lease_until: Timestamp,
    ) -> Result<(Vec<Outgoing>, Ticket), StateError> {
        self.due_alerts(now, limit, lease_until)
            .await
            .map_err(StateError::from)
    }

    async fn settle(&self, ticket: Ticket, outcomes: &[Outcome]) -> Result<(), StateError> {
        self.settle_alerts(ticket, outcomes)
            .await
            .map_err(StateError::from)
    }

    async fn take_budget(
        &self,
        site: &str,
        hour: Timestamp,
        want: u32,
        limit: u32,
    ) -> Result<u32, StateError> {
        self.take_alert_budget(site, hour, want, limit)
            .await
            .map_err(StateError::from)
    }

    async fn add_to_hour(
        &self,
        p: &Problem,
        hour: Timestamp,
        batch: &HourBatch,
    ) -> Result<(u64, u64), StateError> {
        self.add_to_hour_count(p, hour, batch)
            .await
            .map_err(StateError::from)
    }

    async fn previous_day(&self, p: &Problem, hour: Timestamp) -> Result<u64, StateError> {
        self.previous_day_count(p, hour)
            .await
            .map_err(StateError::from)
    }

    async fn mutes(&self, site: &str) -> Result<Vec<Mute>, StateError> {
        self.read_mutes(site).await.map_err(StateError::from)
    }

    async fn mute(&self, mute: &Mute) -> Result<(), StateError> {
        self.put_mute(mute).await.map_err(StateError::from)
    }

    async fn unmute(&self, site: &str, target: &MuteTarget) -> Result<bool, StateError> {
        self.delete_mute(site, target)
            .await
            .map_err(StateError::from)
    }

    async fn note_script(&self, sighting: &Sighting) -> Result<ScriptHistory, StateError> {
        self.note_script_content(sighting)
            .await
            .map_err(StateError::from)
    }

    async fn authorizations(&self, site: &str) -> Result<Vec<Authorization>, StateError> {
        self.read_authorizations(site)
            .await
            .map_err(StateError::from)
    }

    async fn authorize(&self, authorization: &Authorization) -> Result<(), StateError> {
        self.put_authorization(authorization)
            .await
            .map_err(StateError::from)
    }

    async fn revoke(&self, site: &str, url: &str) -> Result<bool, StateError> {
        self.delete_authorization(site, url)
            .await
            .map_err(StateError::from)
    }
}
