// A misspelt key in #[tenant(..)]: darling suggests the right one.
use tenant_runtime::{TenantId, TenantScoped};

#[derive(TenantScoped)]
#[tenant_table(name = "users")]
pub struct User {
    #[tenant(primary_ky)]
    pub user_id: i64,
    pub tenant_id: TenantId,
}

fn main() {}
