//! [`System`]: one model's rows across every tenant, for admin jobs.

use std::marker::PhantomData;

use super::filter::{Filter, Order};
use super::run::{self as query, Args, RawQuery, Row};
use super::scoped::not_found;
use super::select::Query;
use crate::error::Result;
use crate::model::TenantTable;
use crate::tenant_id::TenantId;
use crate::tx::{SystemMode, SystemTx};

/// Cross-tenant queries on `T`, made by the generated `T::system(&system_tx)`.
/// Rows still never change tenant: the DDL's trigger refuses that for
/// every role.
pub struct System<'tx, T> {
    tx: &'tx SystemTx,
    row: PhantomData<fn() -> T>,
}

impl<'tx, T: TenantTable> System<'tx, T> {
    /// Used by the generated `system`.
    #[doc(hidden)]
    pub fn new(tx: &'tx SystemTx) -> Self {
        Self {
            tx,
            row: PhantomData,
        }
    }

    /// Every tenant's rows that meet `condition`: a [`Query`] (ordered by
    /// tenant, then key, after any order given).
    pub fn filter(&self, condition: Filter<'_, T>) -> Query<'tx, T, SystemMode> {
        Query::new(self.tx, None).filter(condition)
    }

    /// Every tenant's rows in `order`: a [`Query`].
    pub fn order_by(&self, order: Order<T>) -> Query<'tx, T, SystemMode> {
        Query::new(self.tx, None).order_by(order)
    }
}

impl<'tx, T: TenantTable + Row> System<'tx, T> {
    /// Every row of every tenant, by tenant then key.
    pub async fn all(&self) -> Result<Vec<T>> {
        query::fetch_all(self.tx, T::META.sql.system.all, Args::new()).await
    }

    /// Up to `limit` rows by tenant then key, skipping `offset`.
    pub async fn page(&self, limit: u32, offset: u64) -> Result<Vec<T>> {
        let args = Args::new()
            .bind(i64::from(limit))
            .bind(i64::try_from(offset).unwrap_or(i64::MAX));
        query::fetch_all(self.tx, T::META.sql.system.page, args).await
    }

    /// Up to `limit` rows after `(tenant, key)`, by tenant then key.
    pub async fn after(&self, tenant: TenantId, key: &T::Key, limit: u32) -> Result<Vec<T>> {
        let args = Args::new().bind(tenant).bind(key).bind(i64::from(limit));
        query::fetch_all(self.tx, T::META.sql.system.after, args).await
    }

    /// The row with this key, whatever its tenant.
    pub async fn find(&self, key: &T::Key) -> Result<Option<T>> {
        query::fetch_optional(self.tx, T::META.sql.system.find, Args::new().bind(key)).await
    }

    /// How many rows all tenants have.
    pub async fn count(&self) -> Result<i64> {
        query::fetch_count(self.tx, T::META.sql.system.count, Args::new()).await
    }

    /// Inserts `row` for the tenant its tenant column names.
    pub async fn insert(&self, row: &T) -> Result<T> {
        let args = Args::new().with(|a| row.encode_insert(a));
        let stored = query::fetch_optional(self.tx, T::META.sql.insert, args).await?;
        stored.ok_or_else(|| not_found::<T>())
    }

    /// Updates the row with `row`'s key (never its tenant).
    pub async fn update(&self, row: &T) -> Result<T> {
        let args = Args::new().with(|a| row.encode_update(a)).bind(row.key());
        let stored = query::fetch_optional(self.tx, T::META.sql.system.update, args).await?;
        stored.ok_or_else(|| not_found::<T>())
    }

    /// Deletes the row with this key; `false` when there is none.
    pub async fn delete(&self, key: &T::Key) -> Result<bool> {
        Ok(query::execute(self.tx, T::META.sql.system.delete, Args::new().bind(key)).await? > 0)
    }

    /// A hand-written statement returning `T` rows, across tenants.
    pub fn raw<'q>(&self, sql: &'q str) -> RawQuery<'tx, 'q, T, SystemMode> {
        RawQuery::new(self.tx, sql)
    }
}
