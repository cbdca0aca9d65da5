//! The trait `#[derive(TenantScoped)]` implements.

use sqlx::Postgres;
use sqlx::error::BoxDynError;
use sqlx::postgres::PgArguments;
use uuid::Uuid;

use crate::TenantId;
use crate::meta::TableMeta;

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

    /// The tenant this row says it belongs to.
    fn tenant_uuid(&self) -> Uuid;

    /// The primary key.
    fn key(&self) -> &Self::Key;

    /// Binds the values of [`TableSql::insert`](crate::meta::TableSql::insert).
    fn encode_insert(&self, args: &mut PgArguments) -> Result<(), BoxDynError>;

    /// Binds the `SET` values of the `update` statements (key and tenant
    /// are bound by the caller).
    fn encode_update(&self, args: &mut PgArguments) -> Result<(), BoxDynError>;
}

/// The Rust types a tenant column may have.
#[diagnostic::on_unimplemented(
    message = "a tenant column must be `TenantId` or `uuid::Uuid`, not `{Self}`",
    label = "tenant column type"
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
