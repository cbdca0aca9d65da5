#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod conn;
mod error;
mod purge;
mod query;
mod roles;
mod scoped;
mod system;
mod system_tx;
mod table;
mod tenant_id;
mod tenant_tx;
mod tenants;

#[cfg(feature = "cli")]
pub mod cli;
pub mod ddl;
pub mod meta;
pub mod registry;
pub mod sqlstate;

/// The workspace README's quick start, compiled as a doctest so it cannot
/// drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

pub use conn::Conn;
pub use error::{Error, Result};
pub use purge::{PurgeOptions, PurgeReport};
pub use query::{RawQuery, Row};
pub use scoped::Scoped;
pub use system::System;
pub use system_tx::{SystemPool, SystemScope, SystemTx};
pub use table::{TenantColumn, TenantScoped, TenantTable};
pub use tenant_id::{ParseTenantIdError, TenantId};
pub use tenant_macros::TenantScoped;
pub use tenant_tx::{TenantPool, TenantScope, TenantTx};
pub use tenants::{Tenant, TenantUpdate, Tenants, slug_from_name};

/// What the generated code names; not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use inventory;
    pub use sqlx::Arguments;
    pub use sqlx::error::BoxDynError;
    pub use sqlx::postgres::PgArguments;
    pub use uuid::Uuid;

    pub use crate::table::TenantColumn;

    use crate::meta::{TableMeta, TableSql};

    /// The metadata of a model whose attributes did not validate; only
    /// ever named by code that fails to compile.
    pub const INVALID_TABLE: TableMeta = TableMeta {
        model: "",
        schema: "",
        name: "",
        tenant_column: "",
        primary_key: "",
        columns: &[],
        uniques: &[],
        indexes: &[],
        sql: TableSql::NONE,
    };
}
