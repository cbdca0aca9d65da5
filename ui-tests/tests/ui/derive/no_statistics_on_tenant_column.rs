// The tenant column keeps its planner statistics: the policy's filter is
// planned from them, and the policy that uses the column keeps the
// migration from clearing them.
use tenant_runtime::{TenantId, TenantScoped};

#[derive(TenantScoped)]
#[tenant_table(name = "tasks")]
pub struct Task {
    pub id: i64,
    #[tenant(no_statistics)]
    pub tenant_id: TenantId,
    #[tenant(no_statistics)]
    pub title: String,
}

fn main() {}
