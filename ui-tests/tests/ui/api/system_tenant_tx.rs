// Cross-tenant access needs the system role; a tenant transaction is not it.
use tenant_runtime::{TenantId, TenantScoped, TenantTx};

#[derive(Debug, Clone, sqlx::FromRow, TenantScoped)]
#[tenant_table(name = "projects")]
pub struct Project {
    pub id: i64,
    pub tenant_id: TenantId,
    pub name: String,
}

async fn list_all(tx: &TenantTx) {
    let _ = Project::system(tx);
}

fn main() {
    let _ = list_all;
}
