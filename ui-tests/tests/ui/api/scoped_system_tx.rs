// A system transaction sees every tenant: it cannot stand in for one tenant.
use tenant_runtime::{SystemTx, TenantId, TenantScoped};

#[derive(Debug, Clone, sqlx::FromRow, TenantScoped)]
#[tenant_table(name = "projects")]
pub struct Project {
    pub id: i64,
    pub tenant_id: TenantId,
    pub name: String,
}

async fn list(tx: &SystemTx) {
    let _ = Project::scoped(tx);
}

fn main() {
    let _ = list;
}
