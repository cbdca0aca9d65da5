//! The trait `#[derive(TenantScoped)]` implements, and the types a tenant
//! column may have.

use sqlx::Postgres;
use sqlx::error::BoxDynError;
use sqlx::postgres::PgArguments;
use uuid::Uuid;

use crate::model::meta::TableMeta;
use crate::tenant_id::TenantId;

/// A tenant-owned table: implemented by `#[derive(TenantScoped)]`, never by
/// hand (the metadata and the query text must agree with each other).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a tenant table",
    label = "`{Self}` has no `#[derive(TenantScoped)]`",
    note = "add `#[derive(TenantScoped)]` and `#[tenant_table(name = \"..\")]` to the struct"
)]
pub trait TenantTable: Sized + Send + Sync + Unpin + 'static {
    /// The primary key's Rust type.
    type Key: for<'q> sqlx::Encode<'q, Postgres> + sqlx::Type<Postgres> + Send + Sync + 'static;

    /// Metadata and query text, written by the derive.
    const META: &'static TableMeta;

    /// The `find_by_..` finders of the model's unique constraints, which
    /// [`Scoped`](crate::Scoped) dereferences to (written by the derive).
    type Finders<'tx>: crate::query::Finders<'tx>;

    /// The tenant this row says it belongs to.
    fn tenant_uuid(&self) -> Uuid;

    /// The primary key.
    fn key(&self) -> &Self::Key;

    /// Binds the values of [`TableSql::insert`](crate::model::meta::TableSql::insert).
    fn encode_insert(&self, args: &mut PgArguments) -> Result<(), BoxDynError>;

    /// Binds the `SET` values of the `update` statements (key and tenant
    /// are bound by the caller).
    fn encode_update(&self, args: &mut PgArguments) -> Result<(), BoxDynError>;
}

/// The Rust types a tenant column may have.
#[diagnostic::on_unimplemented(
    message = "a tenant column must be `tenant_runtime::TenantId` or `uuid::Uuid`, not this `{Self}`",
    label = "the tenant column's type does not hold a tenant id",
    note = "declare the tenant column as `tenant_runtime::TenantId` (or `uuid::Uuid`); a type of your own with the same name does not count"
)]
pub trait TenantColumn {
    /// The tenant as a UUID.
    fn tenant_uuid(&self) -> Uuid;
}

impl TenantColumn for TenantId {
    fn tenant_uuid(&self) -> Uuid {
        *self.as_uuid()
    }
}

impl TenantColumn for Uuid {
    fn tenant_uuid(&self) -> Uuid {
        *self
    }
}
