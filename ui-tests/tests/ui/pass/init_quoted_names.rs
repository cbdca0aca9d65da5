// The skeleton `tenant init` writes for tables whose names need quotes
// (upper case, a space, a `"`): the cli_init integration test checks that
// init writes exactly the text below, and this case proves it compiles.
#![allow(dead_code)]

use tenant_runtime::{TenantId, TenantScoped};

/// A row of `public.Line "Items"`.
#[derive(Debug, Clone, sqlx::FromRow, TenantScoped)]
#[tenant_table(name = "\"Line \"\"Items\"\"\"")]
pub struct LineItems {
    /// `id`: bigint, not null.
    #[tenant(primary_key, generated)]
    pub id: i64,
    /// The tenant this row belongs to.
    pub tenant_id: TenantId,
    /// `orderId`: bigint, not null.
    #[tenant(column = "\"orderId\"", references = "\"Order Items\"")]
    pub order_id: i64,
}

/// A row of `public.Order Items`.
#[derive(Debug, Clone, sqlx::FromRow, TenantScoped)]
#[tenant_table(name = "\"Order Items\"", unique(tenant_id, created_by))]
pub struct OrderItem {
    /// `id`: bigint, not null.
    #[tenant(primary_key, generated)]
    pub id: i64,
    /// The tenant this row belongs to.
    pub tenant_id: TenantId,
    /// `createdBy`: text, not null.
    #[tenant(column = "\"createdBy\"")]
    pub created_by: String,
    /// `with space`: integer.
    #[tenant(column = "\"with space\"")]
    pub with_space: Option<i32>,
    /// `say "hi"`: text.
    #[tenant(column = "\"say \"\"hi\"\"\"")]
    pub say_hi: Option<String>,
}

fn main() {
    assert_eq!(<OrderItem as tenant_runtime::TenantTable>::META.name, "Order Items");
    assert_eq!(<LineItems as tenant_runtime::TenantTable>::META.name, "Line \"Items\"");
}
