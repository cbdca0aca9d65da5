// unique(email) would let one tenant's email block every other tenant's.
use tenant_runtime::{TenantId, TenantScoped};

#[derive(TenantScoped)]
#[tenant_table(name = "users", unique(email))]
pub struct User {
    pub id: i64,
    pub tenant_id: TenantId,
    pub email: String,
}

fn main() {}
