//! The outbox: entries that index pending claims by the time they are due, and the reading of
//! what is due.

use std::collections::BTreeSet;

use aws_sdk_dynamodb::types::{AttributeValue, Select};

use super::super::item::{self, PK, SK, TTL, string_set};
use super::super::{DynamoStore, StoreError};
use super::claims::Read;
use super::{conditional_failed, ttl_after};
use crate::alert::{Outcome, Outgoing, Settle, Ticket};
use crate::report::Timestamp;

/// The partition of the outbox entries.
const OUTBOX_PK: &str = "OUTBOX";
/// Claim keys one outbox entry holds, at most (an entry stays far below 400 KB).
const ENTRY_KEYS: usize = 400;
/// Outbox entries read per call, at most.
const ENTRIES_PER_CALL: i32 = 10;
/// Days an outbox entry is kept after it is due: past the 24 hours after which a pending
/// alert is given up.
const ENTRY_DAYS: i64 = 2;
/// An outbox entry's claim keys.
const KEYS: &str = "keys";
/// An outbox entry's site.
const SITE: &str = "site";

/// An outbox entry's sort key: due first, so that what is due is a key range.
fn entry_sk(site: &str, due: Timestamp) -> String {
    format!(
        "{:013}#{site}#{:016x}",
        due.millis().max(0),
        fastrand::u64(..)
    )
}

impl DynamoStore {
    /// Reads the due outbox entries (a key range), then each of their claims: those pending and
    /// due are leased (a new entry at the lease's end first), the others dropped from the
    /// entry; an entry with nothing left is deleted.
    pub(super) async fn due_alerts(
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
            .expression_attribute_names("#site", SITE)
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
            let (Some(sk), Some(site)) = (item::s(entry, SK), item::s(entry, SITE)) else {
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
            self.settle_alerts(Ticket::default(), &unreadable).await?;
        }
        Ok((due, ticket))
    }

    /// Writes outbox entries of `site` due at `due` for `keys` (in entries of at most
    /// [`ENTRY_KEYS`]); returns their sort keys.
    pub(super) async fn put_entries(
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
                .expression_attribute_names("#site", SITE)
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
    pub(super) async fn delete_entry(&self, sk: &str) -> Result<(), StoreError> {
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
}
