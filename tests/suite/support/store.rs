//! Stores for tests: a temporary embedded store, and a store that fails on purpose.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use lookout::report::Report;
use lookout::store::embedded::EmbeddedStore;
use lookout::store::{GroupSummary, PutError, RecentQuery, ReportStore, StoreError, TopQuery};

/// A temporary embedded store that lives as long as the value.
pub struct TempStore {
    pub store: Arc<EmbeddedStore>,
    _dir: tempfile::TempDir,
}

impl TempStore {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
        Self { store, _dir: dir }
    }

    /// The store's folder (`--data` for the command line).
    pub fn path(&self) -> &std::path::Path {
        self._dir.path()
    }
}

/// How a [`FaultyStore`] misbehaves.
#[derive(Clone, Copy, Debug)]
pub enum Fault {
    /// Every put fails.
    Down,
    /// The first `n` puts fail.
    FailFirst(u32),
    /// Every put fails for the second half of its batch (the first half is stored).
    HalfBatch,
    /// Every put hangs.
    Hang,
}

/// A store that wraps a real one and fails as told.
pub struct FaultyStore {
    pub inner: Arc<EmbeddedStore>,
    pub fault: Fault,
    pub calls: AtomicU32,
}

impl FaultyStore {
    pub fn new(inner: Arc<EmbeddedStore>, fault: Fault) -> Self {
        Self {
            inner,
            fault,
            calls: AtomicU32::new(0),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("injected fault")]
struct Injected;

#[async_trait]
impl ReportStore for FaultyStore {
    async fn put(&self, reports: &[Report]) -> Result<(), PutError> {
        let call = self.calls.fetch_add(1, Ordering::SeqCst);
        match self.fault {
            Fault::Down => Err(PutError::all(reports.len(), StoreError::backend(Injected))),
            Fault::FailFirst(n) if call < n => {
                Err(PutError::all(reports.len(), StoreError::backend(Injected)))
            }
            Fault::FailFirst(_) => self.inner.put(reports).await,
            Fault::HalfBatch => {
                let half = reports.len() / 2;
                self.inner.put(&reports[..half]).await?;
                Err(PutError {
                    unwritten: (half..reports.len()).collect(),
                    source: StoreError::backend(Injected),
                })
            }
            Fault::Hang => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Ok(())
            }
        }
    }

    async fn recent(&self, q: &RecentQuery) -> Result<Vec<Report>, StoreError> {
        self.inner.recent(q).await
    }

    async fn top(&self, q: &TopQuery) -> Result<Vec<GroupSummary>, StoreError> {
        self.inner.top(q).await
    }

    async fn day_key(&self, day: &str) -> Result<lookout::report::visitor::DayKey, StoreError> {
        self.inner.day_key(day).await
    }

    async fn sites(
        &self,
        since: lookout::report::Timestamp,
    ) -> Result<Vec<lookout::store::SiteSummary>, StoreError> {
        self.inner.sites(since).await
    }

    async fn stored(&self, reports: &[Report]) -> Result<Vec<bool>, StoreError> {
        self.inner.stored(reports).await
    }
}
