//! [`CachedDirectory`]: a bounded TTL cache in front of a directory.

use std::sync::Arc;
use std::time::Duration;

use moka::future::Cache;

use super::{DirectoryError, TenantDirectory, TenantRecord};
use crate::runtime::TenantId;
use crate::tenant_ref::Slug;

/// Caches lookups of another [`TenantDirectory`], by slug and by id,
/// found or not found, in a bounded cache (moka) whose entries live for a
/// fixed TTL.
///
/// **Staleness.** In this process, code that updates or deletes a tenant
/// calls [`invalidate_id`](Self::invalidate_id) (and
/// [`invalidate_slug`](Self::invalidate_slug) for a slug that was created,
/// renamed or freed) and the next lookup reads the directory again.
/// Another process's change is seen here at most one TTL later (60 s by
/// default): until then a renamed slug may still resolve to its tenant,
/// and a deleted tenant may still resolve. The latter is caught anyway
/// when a request opens its tenant transaction, which checks the tenants
/// table itself and refuses a deleted tenant.
///
/// Lookup errors (database down) are never cached, and concurrent misses
/// of one key share one lookup. Cheap to clone (clones share the cache).
#[derive(Clone)]
pub struct CachedDirectory<D> {
    inner: Arc<D>,
    by_slug: Cache<Slug, Option<TenantRecord>>,
    by_id: Cache<TenantId, Option<TenantRecord>>,
}

impl<D> std::fmt::Debug for CachedDirectory<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedDirectory")
            .field("slugs", &self.by_slug.entry_count())
            .field("ids", &self.by_id.entry_count())
            .finish_non_exhaustive()
    }
}

impl<D: TenantDirectory> CachedDirectory<D> {
    /// A cache of at most 10 000 slugs and 10 000 ids, each kept 60 s.
    pub fn new(inner: D) -> Self {
        Self::with_limits(inner, 10_000, Duration::from_secs(60))
    }

    /// A cache of at most `capacity` slugs and `capacity` ids, each kept
    /// for `ttl` (the staleness bound across processes).
    pub fn with_limits(inner: D, capacity: u64, ttl: Duration) -> Self {
        Self {
            inner: Arc::new(inner),
            by_slug: Cache::builder()
                .max_capacity(capacity)
                .time_to_live(ttl)
                .support_invalidation_closures()
                .build(),
            by_id: Cache::builder()
                .max_capacity(capacity)
                .time_to_live(ttl)
                .support_invalidation_closures()
                .build(),
        }
    }

    /// Forgets everything about tenant `id` (by id and under any slug), so
    /// the next lookup reads the directory. Call it after updating,
    /// deleting or restoring the tenant.
    pub async fn invalidate_id(&self, id: TenantId) {
        self.by_id.invalidate(&id).await;
        let predicate =
            move |_: &Slug, r: &Option<TenantRecord>| r.as_ref().is_some_and(|r| r.id == id);
        if let Err(e) = self.by_slug.invalidate_entries_if(predicate) {
            // Only when support_invalidation_closures was not called.
            tracing::error!(error = %e, "tenant cache invalidation failed");
        }
    }

    /// Forgets what is cached under `slug`, found or not found, and about
    /// the tenant that had it. Call it after a tenant is created with,
    /// renamed to or from, or freed this slug.
    pub async fn invalidate_slug(&self, slug: &Slug) {
        self.by_slug.invalidate(slug).await;
        let owned = slug.as_str().to_owned();
        let predicate = move |_: &TenantId, r: &Option<TenantRecord>| {
            r.as_ref().is_some_and(|r| r.slug == owned)
        };
        if let Err(e) = self.by_id.invalidate_entries_if(predicate) {
            tracing::error!(error = %e, "tenant cache invalidation failed");
        }
    }

    /// The directory behind the cache.
    pub fn inner(&self) -> &D {
        &self.inner
    }
}

impl<D: TenantDirectory> TenantDirectory for CachedDirectory<D> {
    async fn by_slug(&self, slug: &Slug) -> Result<Option<TenantRecord>, DirectoryError> {
        let inner = &self.inner;
        self.by_slug
            .try_get_with_by_ref(slug, async { inner.by_slug(slug).await })
            .await
            .map_err(unshare)
    }

    async fn by_id(&self, id: TenantId) -> Result<Option<TenantRecord>, DirectoryError> {
        let inner = &self.inner;
        self.by_id
            .try_get_with(id, async { inner.by_id(id).await })
            .await
            .map_err(unshare)
    }
}

/// moka hands the one lookup's error to every waiter as an `Arc`.
fn unshare(e: Arc<DirectoryError>) -> DirectoryError {
    Arc::unwrap_or_clone(e)
}

#[cfg(test)]
mod tests;
