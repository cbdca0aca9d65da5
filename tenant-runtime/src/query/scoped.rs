//! [`Scoped`]: one model's rows of the transaction's tenant.

use std::marker::PhantomData;
use std::ops::Deref;

use super::filter::{Filter, Order};
use super::finders::Finders;
use super::run::{self as query, Args, RawQuery, Row};
use super::select::Query;
use crate::error::{Error, Result};
use crate::model::TenantTable;
use crate::tenant_id::TenantId;
use crate::tx::{TenantMode, TenantTx};

/// Queries on the rows of `T` that belong to the transaction's tenant.
/// Made by the generated `T::scoped(&tenant_tx)`.
///
/// Every statement filters by the tenant itself (`WHERE tenant_id = $1`)
/// and runs inside the tenant transaction, where the row-level security
/// policy filters again: a missing policy does not leak, and a raw query
/// through [`raw`](Self::raw) is still isolated.
///
/// Beyond the key: [`filter`](Self::filter) and [`order_by`](Self::order_by)
/// start a [`Query`] on typed columns (`Model::EMAIL.eq(..)`), and each
/// unique constraint of the model gives a finder, reached through `Deref`:
/// `unique(tenant_id, email)` gives `find_by_email(..)`, `unique(tenant_id,
/// clinic_id, code)` gives `find_by_clinic_id_and_code(.., ..)`.
pub struct Scoped<'tx, T: TenantTable> {
    tx: &'tx TenantTx,
    finders: T::Finders<'tx>,
    row: PhantomData<fn() -> T>,
}

impl<'tx, T: TenantTable> Deref for Scoped<'tx, T> {
    type Target = T::Finders<'tx>;

    fn deref(&self) -> &Self::Target {
        &self.finders
    }
}

impl<'tx, T: TenantTable> Scoped<'tx, T> {
    /// Used by the generated `scoped`.
    #[doc(hidden)]
    pub fn new(tx: &'tx TenantTx) -> Self {
        Self {
            tx,
            finders: T::Finders::new(tx),
            row: PhantomData,
        }
    }

    /// The tenant's rows that meet `condition`: a [`Query`] to narrow
    /// further, order, page, then fetch, count or delete.
    pub fn filter(&self, condition: Filter<'_, T>) -> Query<'tx, T, TenantMode> {
        Query::new(self.tx, Some(self.tx.tenant())).filter(condition)
    }

    /// The tenant's rows in `order`: a [`Query`].
    pub fn order_by(&self, order: Order<T>) -> Query<'tx, T, TenantMode> {
        Query::new(self.tx, Some(self.tx.tenant())).order_by(order)
    }

    /// The tenant the rows belong to.
    pub fn tenant(&self) -> TenantId {
        self.tx.tenant()
    }

    fn tenant_args(&self) -> Args {
        Args::new().bind(self.tx.tenant())
    }

    /// Refuses a row that names another tenant, instead of silently
    /// writing it under the transaction's tenant.
    fn check_tenant(&self, row: &T) -> Result<()> {
        let own = self.tx.tenant();
        let theirs = TenantId::from_uuid(row.tenant_uuid());
        if theirs == own {
            return Ok(());
        }
        Err(Error::CrossTenantWrite {
            table: T::META.qualified_name(),
            expected: Some(own),
            found: Some(theirs),
        })
    }
}

impl<'tx, T: TenantTable + Row> Scoped<'tx, T> {
    /// Every row of the tenant, in key order.
    pub async fn all(&self) -> Result<Vec<T>> {
        query::fetch_all(self.tx, T::META.sql.scoped.all, self.tenant_args()).await
    }

    /// Up to `limit` rows in key order, skipping `offset`.
    pub async fn page(&self, limit: u32, offset: u64) -> Result<Vec<T>> {
        let args = self
            .tenant_args()
            .bind(i64::from(limit))
            .bind(i64::try_from(offset).unwrap_or(i64::MAX));
        query::fetch_all(self.tx, T::META.sql.scoped.page, args).await
    }

    /// Up to `limit` rows with a key greater than `key`, in key order
    /// (keyset paging: pass the last key of the previous page).
    pub async fn after(&self, key: &T::Key, limit: u32) -> Result<Vec<T>> {
        let args = self.tenant_args().bind(key).bind(i64::from(limit));
        query::fetch_all(self.tx, T::META.sql.scoped.after, args).await
    }

    /// The row with this key, if the tenant has it.
    pub async fn find(&self, key: &T::Key) -> Result<Option<T>> {
        let args = self.tenant_args().bind(key);
        query::fetch_optional(self.tx, T::META.sql.scoped.find, args).await
    }

    /// How many rows the tenant has.
    pub async fn count(&self) -> Result<i64> {
        query::fetch_count(self.tx, T::META.sql.scoped.count, self.tenant_args()).await
    }

    /// Inserts `row` and returns it as stored (generated columns filled).
    /// Its tenant column must be the transaction's tenant, else
    /// [`Error::CrossTenantWrite`].
    pub async fn insert(&self, row: &T) -> Result<T> {
        self.check_tenant(row)?;
        let args = Args::new().with(|a| row.encode_insert(a));
        let stored = query::fetch_optional(self.tx, T::META.sql.insert, args).await?;
        stored.ok_or_else(|| not_found::<T>())
    }

    /// Updates the row with `row`'s key and returns it as stored;
    /// [`Error::RowNotFound`] when the tenant has no such row.
    pub async fn update(&self, row: &T) -> Result<T> {
        self.check_tenant(row)?;
        let args = Args::new()
            .with(|a| row.encode_update(a))
            .bind(self.tx.tenant())
            .bind(row.key());
        let stored = query::fetch_optional(self.tx, T::META.sql.scoped.update, args).await?;
        stored.ok_or_else(|| not_found::<T>())
    }

    /// Deletes the row with this key; `false` when the tenant has none.
    pub async fn delete(&self, key: &T::Key) -> Result<bool> {
        let args = self.tenant_args().bind(key);
        Ok(query::execute(self.tx, T::META.sql.scoped.delete, args).await? > 0)
    }

    /// A hand-written statement returning `T` rows, run in the tenant
    /// transaction (row-level security still applies).
    pub fn raw<'q>(&self, sql: &'q str) -> RawQuery<'tx, 'q, T, TenantMode> {
        RawQuery::new(self.tx, sql)
    }
}

pub(crate) fn not_found<T: TenantTable>() -> Error {
    Error::RowNotFound {
        table: T::META.qualified_name(),
    }
}
