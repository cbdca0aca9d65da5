// A pool is not bound to a tenant: queries through it would see no tenant.
use sqlx::PgPool;
use tenant_runtime::{TenantId, TenantScoped};

#[derive(Debug, Clone, sqlx::FromRow, TenantScoped)]
#[tenant_table(name = "projects")]
pub struct Project {
    pub id: i64,
    pub tenant_id: TenantId,
    pub name: String,
}

async fn list(pool: &PgPool) {
    let _ = Project::scoped(pool);
}

fn main() {
    let _ = list;
}
