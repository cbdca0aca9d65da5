// A typo in unique(..) is caught, with the column it probably meant.
use tenant_runtime::{TenantId, TenantScoped};

#[derive(TenantScoped)]
#[tenant_table(name = "users", unique(tenant_id, emial))]
pub struct User {
    pub id: i64,
    pub tenant_id: TenantId,
    pub email: String,
}

fn main() {}
