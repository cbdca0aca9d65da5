// A plain connection carries no tenant either.
use sqlx::PgConnection;
use tenant_runtime::{TenantId, TenantScoped};

#[derive(Debug, Clone, sqlx::FromRow, TenantScoped)]
#[tenant_table(name = "projects")]
pub struct Project {
    pub id: i64,
    pub tenant_id: TenantId,
    pub name: String,
}

async fn list(conn: &mut PgConnection) {
    let _ = Project::scoped(conn);
}

fn main() {
    let _ = list;
}
