// global_unique(..) that includes the tenant column is not global at all.
use tenant_runtime::{TenantId, TenantScoped};

#[derive(TenantScoped)]
#[tenant_table(name = "users", global_unique(tenant_id, email))]
pub struct User {
    pub id: i64,
    pub tenant_id: TenantId,
    pub email: String,
}

fn main() {}
