// A tenant table without a tenant column: nothing to scope rows by.
use tenant_runtime::TenantScoped;

#[derive(TenantScoped)]
#[tenant_table(name = "projects")]
pub struct Project {
    pub id: i64,
    pub name: String,
}

fn main() {}
