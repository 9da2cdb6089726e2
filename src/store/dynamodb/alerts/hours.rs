//! Hourly counts of each problem, which decide spikes: each takes a batch once (see
//! [`HourBatch`]).

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, Select};

use super::super::item::{self, Item, PK, SK, TTL, string_set};
use super::super::{DynamoStore, StoreError};
use super::{COUNT, DAY_S, EXACT_ATTEMPTS, conditional_failed, hour_pk};
use crate::alert::{HOUR_ITEM_DAYS, HOUR_MS, HourBatch, Problem};
use crate::report::Timestamp;

/// The attribute of an hourly count holding the keys of the batches it took.
const BATCHES: &str = "batches";
/// The keys it held before it was last full.
const OLD_BATCHES: &str = "batches_old";
/// Keys an hourly count holds before they move to [`OLD_BATCHES`]: with the old ones, a count
/// knows its last 64 to 128 batches (a few minutes of a busy problem's stream batches; Lambda
/// retries a failed batch before the shard goes on), in at most about 2 KB.
const MAX_BATCH_KEYS: usize = 64;

/// An item whose update kept failing its condition because others changed it meanwhile.
#[derive(Debug, thiserror::Error)]
#[error("alert item {0} kept changing during its update")]
struct Contended(String);

/// A count's value before and after adding `n`, from an update's new attributes.
fn before_and_after(attributes: Option<&Item>, n: u64) -> (u64, u64) {
    let after = attributes
        .and_then(|a| item::n(a, COUNT))
        .unwrap_or(n as i64)
        .max(0) as u64;
    (after.saturating_sub(n), after)
}

fn hour_sk(p: &Problem, hour: Timestamp) -> String {
    format!("{}#{}#{hour}", p.report_type.as_str(), p.fingerprint)
}

impl DynamoStore {
    /// One conditional update in the common case (the batch is new to the count and the count
    /// has room for its key); else the count's keys are read and the update is made from them
    /// under an optimistic condition on the count, as the aggregates do.
    pub(super) async fn add_to_hour_count(
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
                .expression_attribute_names("#count", COUNT)
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

    pub(super) async fn previous_day_count(
        &self,
        p: &Problem,
        hour: Timestamp,
    ) -> Result<u64, StoreError> {
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
                .expression_attribute_names("#count", COUNT)
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
                .filter_map(|i| item::n(i, COUNT))
                .map(|n| n.max(0) as u64)
                .sum::<u64>();
            match page.last_evaluated_key() {
                Some(k) => start = Some(k.clone()),
                None => break,
            }
        }
        Ok(total)
    }

    /// An hourly count's value and the keys of the batches it took, read consistently.
    pub(super) async fn hour_marks(
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
            .expression_attribute_names("#count", COUNT)
            .expression_attribute_names("#batches", BATCHES)
            .expression_attribute_names("#old", OLD_BATCHES)
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::backend)?;
        Ok(match out.item() {
            Some(it) => (
                item::n(it, COUNT).map(|n| n.max(0) as u64),
                string_set(it, BATCHES),
                string_set(it, OLD_BATCHES),
            ),
            None => (None, Vec::new(), Vec::new()),
        })
    }
}
