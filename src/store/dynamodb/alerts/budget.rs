//! Each site's alert budget of a clock hour: messages taken from it atomically.

use aws_sdk_dynamodb::types::AttributeValue;

use super::super::item::{PK, SK, TTL};
use super::super::{DynamoStore, StoreError};
use super::{COUNT, EXACT_ATTEMPTS, conditional_failed, hour_pk, ttl_after};
use crate::alert::{HOUR_ITEM_DAYS, HOUR_MS};
use crate::report::Timestamp;

fn budget_sk(hour: Timestamp) -> String {
    format!("BUDGET#{hour}")
}

impl DynamoStore {
    /// One conditional `ADD` while the hour has room for all of `want`; else the count is read
    /// and what is left taken under an optimistic condition.
    pub(super) async fn take_alert_budget(
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
            .expression_attribute_names("#count", COUNT)
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
