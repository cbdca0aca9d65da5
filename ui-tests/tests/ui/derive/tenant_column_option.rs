// Every row belongs to exactly one tenant: the tenant column is not optional.
use tenant_runtime::{TenantId, TenantScoped};

#[derive(TenantScoped)]
#[tenant_table(name = "projects")]
pub struct Project {
    pub id: i64,
    pub tenant_id: Option<TenantId>,
    pub name: String,
}

fn main() {}
