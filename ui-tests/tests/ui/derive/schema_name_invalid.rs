// The schema is held to the same rule as the table name.
use tenant_runtime::{TenantId, TenantScoped};

#[derive(TenantScoped)]
#[tenant_table(name = "users", schema = "app-data")]
pub struct User {
    pub id: i64,
    pub tenant_id: TenantId,
}

fn main() {}
