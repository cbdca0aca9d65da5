// index(..) names columns of this struct; an unrelated name lists the real ones.
use tenant_runtime::{TenantId, TenantScoped};

#[derive(TenantScoped)]
#[tenant_table(name = "users", index(tenant_id, created_at))]
pub struct User {
    pub id: i64,
    pub tenant_id: TenantId,
    pub email: String,
}

fn main() {}
