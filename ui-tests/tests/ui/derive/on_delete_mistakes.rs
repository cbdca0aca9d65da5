// Every `on_delete` mistake at once, each at its own token: an action that
// does not exist, one without a reference, and `set_null` on a column that
// cannot be NULL.
use tenant_runtime::{TenantId, TenantScoped};

#[derive(Debug, Clone, sqlx::FromRow, TenantScoped)]
#[tenant_table(name = "tasks")]
pub struct Task {
    #[tenant(primary_key, generated)]
    pub id: i64,
    pub tenant_id: TenantId,
    #[tenant(references = "projects", on_delete = "delete")]
    pub project_id: i64,
    #[tenant(on_delete = "cascade")]
    pub parent_id: Option<i64>,
    #[tenant(references = "users", on_delete = "set_null")]
    pub owner_id: i64,
}

fn main() {}
