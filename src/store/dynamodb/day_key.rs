//! The day's visitor key (see `report::visitor`) in the table: one item a day, created by the
//! first caller (a conditional put), read by every function instance, and removed by the
//! table's TTL two days later, after which the day's visitor bytes cannot be traced back.

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::AttributeValue;

use super::DynamoStore;
use super::item::{PK, SK, TTL};
use crate::report::visitor::DayKey;
use crate::store::StoreError;

/// The partition of day keys (no site can be named so: a site has no `#`).
const KEY_PK: &str = "KEY#visitor";
/// Seconds a key is kept after its day starts: the day, and one more for late writers.
const KEPT_S: i64 = 2 * 86_400;

impl DynamoStore {
    /// The visitor key of `day` (`YYYY-MM-DD`), made and stored if this is its first use.
    pub(super) async fn visitor_key(&self, day: &str) -> Result<DayKey, StoreError> {
        if let Some(key) = self.read_key(day).await? {
            return Ok(key);
        }
        let fresh = DayKey::generate().map_err(|_| StoreError::backend(NoRandom))?;
        let expires = crate::report::Timestamp::now().millis() / 1000 + KEPT_S;
        let put = self
            .client
            .put_item()
            .table_name(&self.settings.table)
            .item(PK, AttributeValue::S(KEY_PK.into()))
            .item(SK, AttributeValue::S(day.to_owned()))
            .item("key", AttributeValue::B(fresh.bytes().to_vec().into()))
            .item(TTL, AttributeValue::N(expires.to_string()))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", PK)
            .send()
            .await;
        match put {
            Ok(_) => Ok(fresh),
            // Another instance made it first: everyone uses the stored one.
            Err(e) if e.code() == Some("ConditionalCheckFailedException") => self
                .read_key(day)
                .await?
                .ok_or_else(|| StoreError::backend(NoRandom)),
            Err(e) => Err(StoreError::backend(e)),
        }
    }

    async fn read_key(&self, day: &str) -> Result<Option<DayKey>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.settings.table)
            .key(PK, AttributeValue::S(KEY_PK.into()))
            .key(SK, AttributeValue::S(day.to_owned()))
            .projection_expression("#key")
            .expression_attribute_names("#key", "key")
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::backend)?;
        Ok(out
            .item()
            .and_then(|it| it.get("key"))
            .and_then(|v| v.as_b().ok())
            .and_then(|b| DayKey::from_bytes(b.as_ref())))
    }
}

/// No key could be made or read back.
#[derive(Debug, thiserror::Error)]
#[error(
    "no visitor key for the day (the system's random source failed, or the stored key vanished)"
)]
struct NoRandom;
