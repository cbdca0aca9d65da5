// A table has one row type; a generic model would be many.
use tenant_runtime::{TenantId, TenantScoped};

#[derive(TenantScoped)]
#[tenant_table(name = "projects")]
pub struct Project<T> {
    pub id: i64,
    pub tenant_id: TenantId,
    pub data: T,
}

fn main() {}
