//! Script authorizations, written by `lookout scripts authorize` and `revoke` with the
//! operator's credentials (not the function's: its role only reads them).

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};

use super::alerts::scripts::{AT, BY, HASH, REASON, auth_pk};
use super::item::{PK, SK};
use super::{DynamoStore, StoreError};
use crate::alert::scripts::Authorization;

impl DynamoStore {
    /// Writes an authorization (replacing the URL's previous one).
    pub(super) async fn put_authorization(&self, a: &Authorization) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.settings.table)
            .item(PK, AttributeValue::S(auth_pk(&a.site)))
            .item(SK, AttributeValue::S(a.url.clone()))
            .item(
                HASH,
                AttributeValue::S(a.hash.clone().unwrap_or_else(|| "-".into())),
            )
            .item(REASON, AttributeValue::S(a.reason.clone()))
            .item(BY, AttributeValue::S(a.by.clone()))
            .item(AT, AttributeValue::N(a.at.millis().to_string()))
            .send()
            .await
            .map_err(StoreError::backend)?;
        Ok(())
    }

    /// Deletes a URL's authorization; `true` if there was one.
    pub(super) async fn delete_authorization(
        &self,
        site: &str,
        url: &str,
    ) -> Result<bool, StoreError> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.settings.table)
            .key(PK, AttributeValue::S(auth_pk(site)))
            .key(SK, AttributeValue::S(url.to_owned()))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(StoreError::backend)?;
        Ok(out.attributes().is_some())
    }
}
