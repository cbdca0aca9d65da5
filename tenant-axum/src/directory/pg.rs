//! [`PgDirectory`]: `public.tenants`, read as the application role.

use sqlx::PgPool;

use super::{DirectoryError, TenantDirectory, TenantRecord};
use crate::runtime::{self, RuntimeFailure, TenantId, TenantPool};
use crate::tenant_ref::Slug;

const BY_SLUG: &str = "SELECT id, slug, deleted_at IS NOT NULL FROM public.tenants WHERE slug = $1";
const BY_ID: &str = "SELECT id, slug, deleted_at IS NOT NULL FROM public.tenants WHERE id = $1";

/// Reads `public.tenants` outside any tenant transaction. The tenants
/// table is readable by the application role (its RLS policy allows
/// every `SELECT`), so the [`TenantPool`]'s own connections will do.
///
/// Each lookup is one query; put a [`CachedDirectory`](super::CachedDirectory)
/// in front of it.
#[derive(Debug, Clone)]
pub struct PgDirectory {
    source: Source,
}

#[derive(Debug, Clone)]
enum Source {
    Pg(PgPool),
    Tenant(TenantPool),
}

impl PgDirectory {
    /// Reads through `pool` (logged in as the application role).
    pub fn new(pool: PgPool) -> Self {
        Self {
            source: Source::Pg(pool),
        }
    }

    /// Reads through the tenant pool's own connections (one statement,
    /// outside any transaction).
    pub fn from_tenant_pool(pool: &TenantPool) -> Self {
        Self {
            source: Source::Tenant(pool.clone()),
        }
    }

    async fn through_tenant_pool(
        found: Result<Option<(TenantId, String, bool)>, runtime::RuntimeError>,
    ) -> Result<Option<TenantRecord>, DirectoryError> {
        match found {
            Ok(row) => Ok(row.map(|(id, slug, deleted)| TenantRecord { id, slug, deleted })),
            Err(e) => Err(match runtime::classify(&e) {
                RuntimeFailure::Unavailable => DirectoryError::Unavailable(e.to_string()),
                _ => DirectoryError::Query(e.to_string()),
            }),
        }
    }

    async fn fetch<'q, A>(
        &self,
        sql: &'q str,
        arg: A,
    ) -> Result<Option<TenantRecord>, DirectoryError>
    where
        A: 'q + Send + sqlx::Encode<'q, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
    {
        let Source::Pg(pool) = &self.source else {
            unreachable!("fetch is only called for a plain pool")
        };
        let row: Option<(TenantId, String, bool)> = sqlx::query_as(sql)
            .bind(arg)
            .fetch_optional(pool)
            .await
            .map_err(|e| {
                if runtime::sqlx_unavailable(&e) {
                    DirectoryError::Unavailable(e.to_string())
                } else {
                    DirectoryError::Query(e.to_string())
                }
            })?;
        Ok(row.map(|(id, slug, deleted)| TenantRecord { id, slug, deleted }))
    }
}

impl TenantDirectory for PgDirectory {
    async fn by_slug(&self, slug: &Slug) -> Result<Option<TenantRecord>, DirectoryError> {
        match &self.source {
            Source::Pg(_) => self.fetch(BY_SLUG, slug.as_str().to_owned()).await,
            Source::Tenant(pool) => {
                Self::through_tenant_pool(runtime::tenant_by_slug(pool, slug.as_str()).await).await
            }
        }
    }

    async fn by_id(&self, id: TenantId) -> Result<Option<TenantRecord>, DirectoryError> {
        match &self.source {
            Source::Pg(_) => self.fetch(BY_ID, id).await,
            Source::Tenant(pool) => {
                Self::through_tenant_pool(runtime::tenant_by_id(pool, id).await).await
            }
        }
    }
}
