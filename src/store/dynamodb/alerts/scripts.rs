//! Script contents (what `alert::scripts` judges), written by the function, and script
//! authorizations, read by it (`lookout scripts authorize` writes them with the operator's
//! credentials: `authorize.rs`).
//!
//! | item | `pk` | `sk` | attributes |
//! | --- | --- | --- | --- |
//! | content | `SCRIPT#{site}` | `{url id}#{hash}` (`-`: none) | `url`, `hash`, `first_seen`, `last_seen`, `visitors` (NS), TTL 90 days after last seen |
//! | site's first content | `SCRIPT#{site}` | `since` | `first_seen` |
//! | authorization | `AUTH#{site}` | the URL | `hash`, `reason`, `by`, `at` |
//!
//! A content's update merges: `first_seen` is set once, `last_seen` only moves forward (a
//! condition; an older sighting updates the rest without it), `visitors` is a set union.
//! Recording the same sighting twice changes nothing.

use std::collections::BTreeSet;

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, Select};

use super::super::item::{self, Item, PK, SK, TTL};
use super::super::{DynamoStore, StoreError};
use super::{DAY_S, conditional_failed};
use crate::alert::scripts::{
    Authorization, MAX_CONTENTS_READ, SCRIPT_RECORD_DAYS, ScriptContent, ScriptHistory, Sighting,
};
use crate::report::Timestamp;
use crate::report::script::url_id;

pub(in crate::store::dynamodb) const URL: &str = "url";
pub(in crate::store::dynamodb) const HASH: &str = "hash";
pub(in crate::store::dynamodb) const REASON: &str = "reason";
pub(in crate::store::dynamodb) const BY: &str = "by";
pub(in crate::store::dynamodb) const AT: &str = "at";
const FIRST_SEEN: &str = "first_seen";
const LAST_SEEN: &str = "last_seen";
const VISITORS: &str = "visitors";
/// The sort key of a site's first-content item.
const SINCE: &str = "since";
/// The stored hash of a content reported without one.
const NO_HASH: &str = "-";

pub(in crate::store::dynamodb) fn script_pk(site: &str) -> String {
    format!("SCRIPT#{site}")
}

pub(in crate::store::dynamodb) fn auth_pk(site: &str) -> String {
    format!("AUTH#{site}")
}

fn content_of(i: &Item) -> Option<ScriptContent> {
    let visitors: BTreeSet<u8> = match i.get(VISITORS) {
        Some(AttributeValue::Ns(v)) => v.iter().filter_map(|n| n.parse().ok()).collect(),
        _ => BTreeSet::new(),
    };
    Some(ScriptContent {
        hash: item::s(i, HASH).filter(|h| h != NO_HASH),
        first_seen: Timestamp(item::n(i, FIRST_SEEN)?),
        last_seen: Timestamp(item::n(i, LAST_SEEN)?),
        visitors,
    })
}

impl DynamoStore {
    pub(super) async fn note_script_content(
        &self,
        s: &Sighting,
    ) -> Result<ScriptHistory, StoreError> {
        let pk = script_pk(&s.site);
        let since = self.script_site_since(&pk, s).await?;
        let id = url_id(&s.script.url);
        let hash = s.script.hash.as_deref().unwrap_or(NO_HASH);
        let expires = Timestamp::now().millis() / 1000 + SCRIPT_RECORD_DAYS * DAY_S;
        let visitors: Vec<String> = s.visitors.iter().map(u8::to_string).collect();
        let update = |with_last: bool| {
            let mut set = "SET #url = :url, #hash = :hash, #f = if_not_exists(#f, :f), #ttl = :ttl"
                .to_owned();
            if with_last {
                set.push_str(", #l = :l");
            } else {
                set.push_str(", #l = if_not_exists(#l, :l)");
            }
            let mut u = self
                .client
                .update_item()
                .table_name(&self.settings.table)
                .key(PK, AttributeValue::S(pk.clone()))
                .key(SK, AttributeValue::S(format!("{id}#{hash}")))
                .expression_attribute_names("#url", URL)
                .expression_attribute_names("#hash", HASH)
                .expression_attribute_names("#f", FIRST_SEEN)
                .expression_attribute_names("#l", LAST_SEEN)
                .expression_attribute_names("#ttl", TTL)
                .expression_attribute_values(":url", AttributeValue::S(s.script.url.clone()))
                .expression_attribute_values(":hash", AttributeValue::S(hash.to_owned()))
                .expression_attribute_values(":f", AttributeValue::N(s.first.millis().to_string()))
                .expression_attribute_values(":l", AttributeValue::N(s.last.millis().to_string()))
                .expression_attribute_values(":ttl", AttributeValue::N(expires.to_string()))
                .return_values(ReturnValue::AllNew);
            if !visitors.is_empty() {
                set.push_str(" ADD #v :v");
                u = u
                    .expression_attribute_names("#v", VISITORS)
                    .expression_attribute_values(":v", AttributeValue::Ns(visitors.clone()));
            }
            if with_last {
                u = u.condition_expression("attribute_not_exists(#l) OR #l < :l");
            }
            u.update_expression(set)
        };
        let out = match update(true).send().await {
            Ok(out) => out,
            // A sighting older than the last one: everything but the last sighting.
            Err(e) if conditional_failed(&e) => {
                update(false).send().await.map_err(StoreError::backend)?
            }
            Err(e) => return Err(StoreError::backend(e)),
        };
        let this = out.attributes().and_then(content_of);
        let page = self
            .client
            .query()
            .table_name(&self.settings.table)
            .key_condition_expression("#pk = :pk AND begins_with(#sk, :url)")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#sk", SK)
            .expression_attribute_values(":pk", AttributeValue::S(pk))
            .expression_attribute_values(":url", AttributeValue::S(format!("{id}#")))
            .expression_attribute_names("#hash", HASH)
            .expression_attribute_names("#f", FIRST_SEEN)
            .expression_attribute_names("#l", LAST_SEEN)
            .expression_attribute_names("#v", VISITORS)
            .select(Select::SpecificAttributes)
            .projection_expression("#hash, #f, #l, #v")
            .limit(MAX_CONTENTS_READ as i32)
            .send()
            .await
            .map_err(StoreError::backend)?;
        let mut contents: Vec<ScriptContent> = page
            .items()
            .iter()
            .filter_map(content_of)
            .filter(|c| c.hash != s.script.hash)
            .collect();
        contents.extend(this);
        Ok(ScriptHistory {
            contents,
            site_since: since,
        })
    }

    /// When the site's first script content was recorded: set by the first sighting, then
    /// known to this process without a call (it never changes).
    async fn script_site_since(&self, pk: &str, s: &Sighting) -> Result<Timestamp, StoreError> {
        let known = self
            .script_sites
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&s.site)
            .copied();
        if let Some(since) = known {
            return Ok(since);
        }
        let out = self
            .client
            .update_item()
            .table_name(&self.settings.table)
            .key(PK, AttributeValue::S(pk.to_owned()))
            .key(SK, AttributeValue::S(SINCE.to_owned()))
            .update_expression("SET #f = if_not_exists(#f, :f)")
            .expression_attribute_names("#f", FIRST_SEEN)
            .expression_attribute_values(":f", AttributeValue::N(s.first.millis().to_string()))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(StoreError::backend)?;
        let since = out
            .attributes()
            .and_then(|a| item::n(a, FIRST_SEEN))
            .map_or(s.first, Timestamp);
        let mut sites = self.script_sites.lock().unwrap_or_else(|e| e.into_inner());
        if sites.len() >= 10_000 {
            sites.clear();
        }
        sites.insert(s.site.clone(), since);
        Ok(since)
    }

    pub(super) async fn read_authorizations(
        &self,
        site: &str,
    ) -> Result<Vec<Authorization>, StoreError> {
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.settings.table)
                .key_condition_expression("#pk = :pk")
                .expression_attribute_names("#pk", PK)
                .expression_attribute_values(":pk", AttributeValue::S(auth_pk(site)))
                .expression_attribute_names("#sk", SK)
                .expression_attribute_names("#hash", HASH)
                .expression_attribute_names("#reason", REASON)
                .expression_attribute_names("#by", BY)
                .expression_attribute_names("#at", AT)
                .select(Select::SpecificAttributes)
                .projection_expression("#sk, #hash, #reason, #by, #at")
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(StoreError::backend)?;
            out.extend(page.items().iter().filter_map(|i| {
                Some(Authorization {
                    site: site.to_owned(),
                    url: item::s(i, SK)?,
                    hash: item::s(i, HASH).filter(|h| h != NO_HASH),
                    reason: item::s(i, REASON).unwrap_or_default(),
                    by: item::s(i, BY).unwrap_or_default(),
                    at: Timestamp(item::n(i, AT).unwrap_or_default()),
                })
            }));
            match page.last_evaluated_key() {
                Some(k) => start = Some(k.clone()),
                None => return Ok(out),
            }
        }
    }
}
