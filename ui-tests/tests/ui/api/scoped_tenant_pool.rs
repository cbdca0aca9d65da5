// A TenantPool is where tenant transactions come from, not one itself.
use tenant_runtime::{TenantId, TenantPool, TenantScoped};

#[derive(Debug, Clone, sqlx::FromRow, TenantScoped)]
#[tenant_table(name = "projects")]
pub struct Project {
    pub id: i64,
    pub tenant_id: TenantId,
    pub name: String,
}

async fn list(pool: &TenantPool) {
    let _ = Project::scoped(pool);
}

fn main() {
    let _ = list;
}
