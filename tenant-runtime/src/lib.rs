#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod admin;
mod error;
mod tenant_id;
mod user_id;
mod uuid_sql;

pub mod ddl;
pub mod model;
pub mod query;
pub mod sqlstate;
pub mod tx;

pub use admin::{
    FirstOwner, MakeOwner, OwnerMaker, PurgeOptions, PurgeReport, Tenant, TenantUpdate, Tenants,
    owner_makers, slug_from_name,
};
pub use error::{Error, InvitationRefusal, PurgeRefusal, Result};
pub use model::{TenantColumn, TenantTable, meta, registry};
pub use query::{
    Column, Compare, Filter, NoColumns, Order, Query, RawQuery, Row, Scoped, System, TenantScoped,
    Value,
};
pub use tenant_id::{ParseTenantIdError, TenantId};
pub use tenant_macros::TenantScoped;
pub use tx::{
    ContextMechanism, GlobalMode, GlobalTx, Pool, PoolOptions, PoolStatus, SystemMode, SystemPool,
    SystemScope, SystemTx, TenantMode, TenantPool, TenantScope, TenantTx, Tx, TxConnection,
};
pub use user_id::UserId;

/// What the generated code names; not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use inventory;
    pub use sqlx::Arguments;
    pub use sqlx::error::BoxDynError;
    pub use sqlx::postgres::PgArguments;
    pub use uuid::Uuid;

    pub use crate::model::TenantColumn;
    pub use crate::model::registry::Registration;
    pub use crate::query::{Args, Finders, NoFinders, find_by};

    use crate::model::meta::{TableMeta, TableSql};

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
