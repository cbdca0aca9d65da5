// A tuple struct has no field names to map to columns.
use tenant_runtime::{TenantId, TenantScoped};

#[derive(TenantScoped)]
#[tenant_table(name = "projects")]
pub struct Project(i64, TenantId, String);

fn main() {}
