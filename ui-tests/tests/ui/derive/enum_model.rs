// An enum is not a table row.
use tenant_runtime::TenantScoped;

#[derive(TenantScoped)]
#[tenant_table(name = "statuses")]
pub enum Status {
    Open,
    Closed,
}

fn main() {}
