//! The tenants API: create, read, update, soft delete, restore.
//!
//! It runs in a [`SystemTx`], because only the system role may write the
//! tenants table.

use serde::{Deserialize, Serialize};
use sqlx::postgres::PgRow;
use sqlx::{FromRow, Row as _};
use time::OffsetDateTime;

use crate::error::{Error, Result};
use crate::query::{self, Args};
use crate::tenant_id::TenantId;
use crate::tx::{SystemTx, TenantPool};

/// A row of the tenants table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tenant {
    /// The tenant's id.
    pub id: TenantId,
    /// Display name.
    pub name: String,
    /// URL-safe unique name (`acme-corp`).
    pub slug: String,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it was soft-deleted; `None` while active.
    #[serde(with = "time::serde::rfc3339::option")]
    pub deleted_at: Option<OffsetDateTime>,
    /// When its purge began; from then on it cannot be restored.
    #[serde(with = "time::serde::rfc3339::option")]
    pub purge_started_at: Option<OffsetDateTime>,
}

impl<'r> FromRow<'r, PgRow> for Tenant {
    fn from_row(row: &'r PgRow) -> sqlx::Result<Self> {
        Ok(Self {
            id: row.try_get("id")?,
            name: row.try_get("name")?,
            slug: row.try_get("slug")?,
            created_at: row.try_get("created_at")?,
            deleted_at: row.try_get("deleted_at")?,
            purge_started_at: row.try_get("purge_started_at")?,
        })
    }
}

/// Changes to a tenant; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantUpdate {
    /// New display name.
    pub name: Option<String>,
    /// New slug (checked like [`Tenants::create_with_slug`]'s).
    pub slug: Option<String>,
}

/// The tenants columns every statement returns, as a literal for `concat!`.
macro_rules! columns {
    () => {
        "id, name, slug, created_at, deleted_at, purge_started_at"
    };
}

const INSERT: &str = concat!(
    "INSERT INTO public.tenants (name, slug) VALUES ($1, $2) ON CONFLICT (slug) DO NOTHING RETURNING ",
    columns!()
);
const GET: &str = concat!("SELECT ", columns!(), " FROM public.tenants WHERE id = $1");
const GET_BY_SLUG: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM public.tenants WHERE slug = $1"
);
const LIST: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM public.tenants WHERE deleted_at IS NULL ORDER BY created_at, id LIMIT $1 OFFSET $2"
);
const COUNT: &str = "SELECT count(*) FROM public.tenants WHERE deleted_at IS NULL";
const UPDATE: &str = concat!(
    "UPDATE public.tenants SET name = coalesce($2, name), slug = coalesce($3, slug) WHERE id = $1 RETURNING ",
    columns!()
);
// coalesce keeps the first deletion time when deleted twice.
const DELETE: &str = concat!(
    "UPDATE public.tenants SET deleted_at = coalesce(deleted_at, now()) WHERE id = $1 RETURNING ",
    columns!()
);
// A tenant whose purge has begun has lost rows already: it stays deleted.
const RESTORE: &str = concat!(
    "UPDATE public.tenants SET deleted_at = NULL WHERE id = $1 AND purge_started_at IS NULL RETURNING ",
    columns!()
);

/// How many `-2`, `-3`, .. suffixes `create` tries before giving up.
const MAX_SLUG_SUFFIX: u32 = 1000;

/// Tenant management in a system transaction: `system_tx.tenants()`.
pub struct Tenants<'tx> {
    tx: &'tx SystemTx,
}

impl SystemTx {
    /// The tenants API in this transaction.
    pub fn tenants(&self) -> Tenants<'_> {
        Tenants { tx: self }
    }
}

impl Tenants<'_> {
    /// Creates a tenant, deriving its slug from `name` (`"Acme Corp"` gives
    /// `acme-corp`, or `acme-corp-2` when that is taken).
    pub async fn create(&self, name: &str) -> Result<Tenant> {
        let base = slug_from_name(name)?;
        for n in 1..=MAX_SLUG_SUFFIX {
            let slug = if n == 1 {
                base.clone()
            } else {
                format!("{base}-{n}")
            };
            if let Some(tenant) = self.insert(name, &slug).await? {
                return Ok(tenant);
            }
        }
        Err(Error::SlugTaken { slug: base })
    }

    /// Creates a tenant with this slug; [`Error::SlugTaken`] if another
    /// tenant has it.
    pub async fn create_with_slug(&self, name: &str, slug: &str) -> Result<Tenant> {
        check_slug(slug)?;
        self.insert(name, slug)
            .await?
            .ok_or_else(|| Error::SlugTaken {
                slug: slug.to_owned(),
            })
    }

    /// `ON CONFLICT DO NOTHING` rather than catching the unique violation:
    /// a failed statement would abort the whole system transaction.
    async fn insert(&self, name: &str, slug: &str) -> Result<Option<Tenant>> {
        let args = Args::new().bind(name).bind(slug);
        query::fetch_optional(self.tx, INSERT, args).await
    }

    /// The tenant with this id, deleted or not.
    pub async fn get(&self, id: TenantId) -> Result<Option<Tenant>> {
        query::fetch_optional(self.tx, GET, Args::new().bind(id)).await
    }

    /// The tenant with this slug, deleted or not.
    pub async fn get_by_slug(&self, slug: &str) -> Result<Option<Tenant>> {
        query::fetch_optional(self.tx, GET_BY_SLUG, Args::new().bind(slug)).await
    }

    /// Active tenants, oldest first: up to `limit`, skipping `offset`.
    pub async fn list(&self, limit: u32, offset: u64) -> Result<Vec<Tenant>> {
        let args = Args::new()
            .bind(i64::from(limit))
            .bind(i64::try_from(offset).unwrap_or(i64::MAX));
        query::fetch_all(self.tx, LIST, args).await
    }

    /// How many active tenants there are.
    pub async fn count(&self) -> Result<i64> {
        query::fetch_count(self.tx, COUNT, Args::new()).await
    }

    /// Renames a tenant or changes its slug.
    pub async fn update(&self, id: TenantId, change: TenantUpdate) -> Result<Tenant> {
        if let Some(slug) = &change.slug {
            check_slug(slug)?;
        }
        let args = Args::new()
            .bind(id)
            .bind(change.name)
            .bind(change.slug.clone());
        match query::fetch_optional(self.tx, UPDATE, args).await {
            Ok(Some(t)) => Ok(t),
            Ok(None) => Err(Error::TenantNotFound { tenant: id }),
            Err(Error::UniqueViolation { .. }) => Err(Error::SlugTaken {
                slug: change.slug.unwrap_or_default(),
            }),
            Err(e) => Err(e),
        }
    }

    /// Soft-deletes a tenant: it can no longer begin a tenant transaction,
    /// and its rows stay until [`SystemPool::purge_tenant`](crate::SystemPool::purge_tenant)
    /// removes them after the grace period.
    pub async fn delete(&self, id: TenantId) -> Result<Tenant> {
        query::fetch_optional(self.tx, DELETE, Args::new().bind(id))
            .await?
            .ok_or(Error::TenantNotFound { tenant: id })
    }

    /// Undoes a soft delete; [`Error::TenantPurging`] once a purge of the
    /// tenant has begun (some of its rows are gone).
    pub async fn restore(&self, id: TenantId) -> Result<Tenant> {
        if let Some(restored) =
            query::fetch_optional(self.tx, RESTORE, Args::new().bind(id)).await?
        {
            return Ok(restored);
        }
        match self.get(id).await? {
            Some(t) if t.purge_started_at.is_some() => Err(Error::TenantPurging { tenant: id }),
            Some(t) => Ok(t),
            None => Err(Error::TenantNotFound { tenant: id }),
        }
    }
}

impl TenantPool {
    /// The tenant with this slug, deleted or not, read as the application
    /// role outside any transaction (the tenants table is readable for
    /// resolution): for mapping a request's slug to its id. One round trip.
    pub async fn tenant_by_slug(&self, slug: &str) -> Result<Option<Tenant>> {
        let slug = slug.to_owned();
        self.statement(|c, persistent| {
            Box::pin(
                sqlx::query_as(GET_BY_SLUG)
                    .bind(slug)
                    .persistent(persistent)
                    .fetch_optional(c),
            )
        })
        .await
    }

    /// The tenant with this id, deleted or not, read like
    /// [`tenant_by_slug`](Self::tenant_by_slug).
    pub async fn tenant_by_id(&self, id: TenantId) -> Result<Option<Tenant>> {
        self.statement(|c, persistent| {
            Box::pin(
                sqlx::query_as(GET)
                    .bind(id)
                    .persistent(persistent)
                    .fetch_optional(c),
            )
        })
        .await
    }
}

/// The slug `create` derives from a name.
pub fn slug_from_name(name: &str) -> Result<String> {
    let slug = slug::slugify(name);
    if slug.is_empty() {
        return Err(Error::InvalidTenantName {
            name: name.to_owned(),
        });
    }
    Ok(slug)
}

fn check_slug(slug: &str) -> Result<()> {
    let ok = !slug.is_empty()
        && slug.len() <= 100
        && slug.split('-').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        });
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidSlug {
            slug: slug.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_from_names() {
        assert_eq!(slug_from_name("Acme Corp").unwrap(), "acme-corp");
        assert_eq!(slug_from_name("  Café  Zürich!! ").unwrap(), "cafe-zurich");
        assert!(matches!(
            slug_from_name("!!!"),
            Err(Error::InvalidTenantName { .. })
        ));
    }

    #[test]
    fn explicit_slugs_are_checked() {
        assert!(check_slug("acme-2").is_ok());
        for bad in ["", "Acme", "acme--corp", "-acme", "acme_corp", "acme corp"] {
            assert!(check_slug(bad).is_err(), "{bad:?}");
        }
    }
}
