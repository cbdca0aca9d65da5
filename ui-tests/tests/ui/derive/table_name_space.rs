// A table name is pasted into DDL and queries: only a plain identifier.
use tenant_runtime::{TenantId, TenantScoped};

#[derive(TenantScoped)]
#[tenant_table(name = "user accounts")]
pub struct User {
    pub id: i64,
    pub tenant_id: TenantId,
}

fn main() {}
