// The table name is never guessed from the struct name.
use tenant_runtime::{TenantId, TenantScoped};

#[derive(TenantScoped)]
pub struct User {
    pub id: i64,
    pub tenant_id: TenantId,
}

fn main() {}
