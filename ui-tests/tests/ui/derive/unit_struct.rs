// A unit struct has no columns at all.
use tenant_runtime::TenantScoped;

#[derive(TenantScoped)]
#[tenant_table(name = "projects")]
pub struct Project;

fn main() {}
