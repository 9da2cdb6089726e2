//! Mutes, written by `lookout mute` with the operator's credentials (not the function's: its
//! role only reads them).

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};

use super::alerts::{UNTIL, mute_pk};
use super::item::{PK, SK, TTL};
use super::{DynamoStore, StoreError};
use crate::alert::{Mute, MuteTarget};

fn backend<E>(e: aws_sdk_dynamodb::error::SdkError<E>) -> StoreError
where
    E: std::error::Error + Send + Sync + 'static,
{
    StoreError::backend(e)
}

impl DynamoStore {
    /// Writes a mute (replacing one of the same target).
    pub(super) async fn put_mute(&self, mute: &Mute) -> Result<(), StoreError> {
        let mut put = self
            .client
            .put_item()
            .table_name(&self.settings.table)
            .item(PK, AttributeValue::S(mute_pk(&mute.site)))
            .item(SK, AttributeValue::S(mute.target.key()));
        if let Some(until) = mute.until {
            put = put
                .item(UNTIL, AttributeValue::N(until.millis().to_string()))
                .item(TTL, AttributeValue::N((until.millis() / 1000).to_string()));
        }
        put.send().await.map_err(backend)?;
        Ok(())
    }

    /// Deletes a mute; `true` if there was one.
    pub(super) async fn delete_mute(
        &self,
        site: &str,
        target: &MuteTarget,
    ) -> Result<bool, StoreError> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.settings.table)
            .key(PK, AttributeValue::S(mute_pk(site)))
            .key(SK, AttributeValue::S(target.key()))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(backend)?;
        Ok(out.attributes().is_some())
    }
}
