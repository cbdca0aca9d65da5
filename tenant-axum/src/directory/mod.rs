//! The tenants directory: slug and id to tenant, with a bounded TTL cache.
//!
//! [`TenantDirectory`] is the lookup; [`PgDirectory`] reads
//! `public.tenants` as the application role; [`CachedDirectory`] puts a
//! cache in front of any directory; [`MemoryDirectory`] is a fixed list
//! for tests and single-tenant set-ups.

mod cache;
mod memory;
mod pg;

use std::future::Future;
use std::pin::Pin;

pub use cache::CachedDirectory;
pub use memory::MemoryDirectory;
pub use pg::PgDirectory;

use crate::runtime::TenantId;
use crate::tenant_ref::Slug;

/// A tenant as the directory knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantRecord {
    /// `tenants.id`.
    pub id: TenantId,
    /// `tenants.slug`.
    pub slug: String,
    /// Whether the tenant is soft-deleted (`deleted_at` is set).
    pub deleted: bool,
}

/// Why a lookup failed (not "no such tenant", which is `Ok(None)`).
///
/// It holds text rather than the sqlx error so that one failed lookup can
/// be handed to every request that waited on it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DirectoryError {
    /// The database could not be reached, or its pool gave up waiting.
    #[error("the tenants directory is unavailable: {0}")]
    Unavailable(String),
    /// The query failed for another reason (permissions, schema).
    #[error("reading public.tenants failed: {0}; check that the application role may SELECT it")]
    Query(String),
    /// A custom directory's own failure.
    #[error("the tenants directory failed: {0}")]
    Other(String),
}

/// Looks tenants up by slug and by id.
///
/// Implement it to read tenants from somewhere else (a service, a config
/// file). Deleted tenants are returned with `deleted: true`, unknown ones
/// as `None`: the layer answers both with a 404, each with its own code.
pub trait TenantDirectory: Send + Sync + 'static {
    /// The tenant with this slug.
    fn by_slug(
        &self,
        slug: &Slug,
    ) -> impl Future<Output = Result<Option<TenantRecord>, DirectoryError>> + Send;

    /// The tenant with this id.
    fn by_id(
        &self,
        id: TenantId,
    ) -> impl Future<Output = Result<Option<TenantRecord>, DirectoryError>> + Send;
}

pub(crate) type BoxLookup<'a> =
    Pin<Box<dyn Future<Output = Result<Option<TenantRecord>, DirectoryError>> + Send + 'a>>;

/// [`TenantDirectory`] made object-safe, so the layer is not generic.
pub(crate) trait DynDirectory: Send + Sync {
    fn by_slug_boxed<'a>(&'a self, slug: &'a Slug) -> BoxLookup<'a>;
    fn by_id_boxed(&self, id: TenantId) -> BoxLookup<'_>;
}

impl<D: TenantDirectory> DynDirectory for D {
    fn by_slug_boxed<'a>(&'a self, slug: &'a Slug) -> BoxLookup<'a> {
        Box::pin(self.by_slug(slug))
    }

    fn by_id_boxed(&self, id: TenantId) -> BoxLookup<'_> {
        Box::pin(self.by_id(id))
    }
}
