// `scoped` exists only on models that derive TenantScoped.
use tenant_runtime::{TenantId, TenantTx};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Project {
    pub id: i64,
    pub tenant_id: TenantId,
    pub name: String,
}

async fn list(tx: &TenantTx) {
    let _ = Project::scoped(tx);
}

fn main() {
    let _ = list;
}
