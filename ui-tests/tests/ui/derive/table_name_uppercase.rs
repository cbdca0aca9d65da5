// PostgreSQL folds unquoted names to lowercase; "Users" would name another table.
use tenant_runtime::{TenantId, TenantScoped};

#[derive(TenantScoped)]
#[tenant_table(name = "Users")]
pub struct User {
    pub id: i64,
    pub tenant_id: TenantId,
}

fn main() {}
