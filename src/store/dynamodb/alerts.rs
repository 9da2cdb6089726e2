//! The alert state in the reports table, written by the function (its calls are in its role):
//!
//! | item | `pk` | `sk` | attributes |
//! | --- | --- | --- | --- |
//! | new-problem claim | `ALERT#{site}` | `new#{type}#{fingerprint}` | `first_seen`, `claimed_at` (kept: "ever") |
//! | spike claim | `ALERT#{site}` | `spike#{type}#{fingerprint}#{day}` | `claimed_at`, TTL 3 days |
//! | hourly count | `HOUR#{site}` | `{type}#{fingerprint}#{hour}` | `count`, TTL 2 days |
//! | mute | `MUTE#{site}` | `fingerprint#{f}` or `type#{t}` | `until` (epoch ms), TTL at `until` |
//!
//! Mutes are written by `lookout mute` with the operator's credentials (`mute.rs`).

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, Select};

use super::item::{self, PK, SK, TTL};
use super::{DynamoStore, StoreError};
use crate::alert::{AlertState, HOUR_MS, Mute, MuteTarget, Problem};
use crate::report::Timestamp;

const DAY_S: i64 = 86_400;

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

fn conditional_failed<E>(e: &aws_sdk_dynamodb::error::SdkError<E>) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    use aws_sdk_dynamodb::error::ProvideErrorMetadata as _;
    e.code() == Some("ConditionalCheckFailedException")
}

impl DynamoStore {
    /// Writes `pk`/`sk` with `attributes` unless the item exists; `true` if written.
    async fn claim(
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
}

#[async_trait]
impl AlertState for DynamoStore {
    async fn claim_new(&self, p: &Problem, first_seen: Timestamp) -> Result<bool, StoreError> {
        self.claim(
            alert_pk(&p.site),
            p.new_claim(),
            vec![
                ("first_seen", AttributeValue::S(first_seen.to_string())),
                (
                    "claimed_at",
                    AttributeValue::S(Timestamp::now().to_string()),
                ),
            ],
        )
        .await
    }

    async fn claim_spike(&self, p: &Problem, day: &str) -> Result<bool, StoreError> {
        let expires = Timestamp::now().millis() / 1000 + 3 * DAY_S;
        self.claim(
            alert_pk(&p.site),
            p.spike_claim(day),
            vec![
                (
                    "claimed_at",
                    AttributeValue::S(Timestamp::now().to_string()),
                ),
                (TTL, AttributeValue::N(expires.to_string())),
            ],
        )
        .await
    }

    async fn add_to_hour(
        &self,
        p: &Problem,
        hour: Timestamp,
        n: u64,
    ) -> Result<(u64, u64), StoreError> {
        let expires = hour.millis() / 1000 + 2 * DAY_S;
        let out = self
            .client
            .update_item()
            .table_name(&self.settings.table)
            .key(PK, AttributeValue::S(hour_pk(&p.site)))
            .key(SK, AttributeValue::S(hour_sk(p, hour)))
            .update_expression("ADD #count :n SET #exp = :exp")
            .expression_attribute_names("#count", "count")
            .expression_attribute_names("#exp", TTL)
            .expression_attribute_values(":n", AttributeValue::N(n.to_string()))
            .expression_attribute_values(":exp", AttributeValue::N(expires.to_string()))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(StoreError::backend)?;
        let after = out
            .attributes()
            .and_then(|a| item::n(a, "count"))
            .unwrap_or(n as i64)
            .max(0) as u64;
        Ok((after.saturating_sub(n), after))
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
