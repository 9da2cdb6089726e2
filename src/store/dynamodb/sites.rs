//! Which sites have reports, per day, without a scan: one small item per site and day
//! (`SITES#{day}`, sort key the site), written when the stream counts a site's reports of that
//! day (once per function instance: each remembers what it registered), expired with the
//! reports. The dashboard's front page reads the window's days, then each site's aggregates.

use std::collections::{BTreeSet, HashSet};
use std::sync::Mutex;

use aws_sdk_dynamodb::types::AttributeValue;

use super::DynamoStore;
use super::item::{self, PK, SK, TTL};
use crate::report::Timestamp;
use crate::store::{MAX_SITES, SiteSummary, StoreError, TopQuery};

/// Sites and days this process registered already.
#[derive(Debug, Default)]
pub(super) struct Registered(Mutex<HashSet<(String, String)>>);

/// Registrations remembered at most (then forgotten: registering again is harmless).
const MAX_REMEMBERED: usize = 10_000;

/// Sites whose counts are read for the front page, at most: past it the busiest cannot be told
/// without reading more, and the list says so by its length.
const MAX_SITES_READ: usize = 4 * MAX_SITES;

fn registry_pk(day: &str) -> String {
    format!("SITES#{day}")
}

impl DynamoStore {
    /// Registers that `site` has reports that occurred on `day` (`YYYY-MM-DD`, the day its
    /// aggregates are kept under); `received` sets when the registration expires.
    pub(super) async fn register_site(
        &self,
        site: &str,
        day: &str,
        received: Timestamp,
    ) -> Result<(), StoreError> {
        let key = (site.to_owned(), day.to_owned());
        if self
            .registered
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&key)
        {
            return Ok(());
        }
        self.client
            .update_item()
            .table_name(&self.settings.table)
            .key(PK, AttributeValue::S(registry_pk(day)))
            .key(SK, AttributeValue::S(site.to_owned()))
            .update_expression("SET #exp = :exp")
            .expression_attribute_names("#exp", TTL)
            .expression_attribute_values(
                ":exp",
                AttributeValue::N(item::expiry(received, self.settings.retention_days).to_string()),
            )
            .send()
            .await
            .map_err(StoreError::backend)?;
        let mut registered = self.registered.0.lock().unwrap_or_else(|p| p.into_inner());
        if registered.len() >= MAX_REMEMBERED {
            registered.clear();
        }
        registered.insert(key);
        Ok(())
    }

    /// The sites with reports since `since`, busiest first, their figures from the aggregates.
    pub(super) async fn read_sites(
        &self,
        since: Timestamp,
    ) -> Result<Vec<SiteSummary>, StoreError> {
        let mut names = BTreeSet::new();
        for day in crate::store::days_between(since, Timestamp::now()) {
            if names.len() >= MAX_SITES_READ {
                break;
            }
            // Every site sorts after "!" (a key condition cannot hold an empty string).
            let registered = self
                .query_partition(None, registry_pk(&day), "!", usize::MAX, &[], true)
                .await?;
            let room = MAX_SITES_READ - names.len();
            names.extend(
                registered
                    .iter()
                    .filter_map(|it| item::s(it, SK))
                    .take(room),
            );
        }
        let mut sites = Vec::with_capacity(names.len());
        for site in names {
            let groups = self
                .read_top(&TopQuery {
                    site: site.clone(),
                    report_type: None,
                    since,
                    limit: usize::MAX,
                    classification: None,
                })
                .await?;
            if let Some(last_seen) = groups.iter().map(|g| g.last_seen).max() {
                sites.push(SiteSummary {
                    site,
                    reports: groups.iter().map(|g| g.count).sum(),
                    problems: groups.len() as u64,
                    last_seen,
                });
            }
        }
        sites.sort_by(|a, b| b.reports.cmp(&a.reports).then_with(|| a.site.cmp(&b.site)));
        sites.truncate(MAX_SITES);
        Ok(sites)
    }
}
