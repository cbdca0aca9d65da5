// A misspelt key in #[tenant_table(..)]: darling suggests the right one.
use tenant_runtime::{TenantId, TenantScoped};

#[derive(TenantScoped)]
#[tenant_table(name = "users", uniqe(tenant_id, email))]
pub struct User {
    pub id: i64,
    pub tenant_id: TenantId,
    pub email: String,
}

fn main() {}
