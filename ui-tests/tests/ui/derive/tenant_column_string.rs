// The tenant column must hold a tenant id, not any text.
use tenant_runtime::TenantScoped;

#[derive(TenantScoped)]
#[tenant_table(name = "projects")]
pub struct Project {
    pub id: i64,
    pub tenant_id: String,
    pub name: String,
}

fn main() {}
