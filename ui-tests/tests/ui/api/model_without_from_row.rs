// Reading rows needs sqlx::FromRow on the model.
use tenant_runtime::{TenantId, TenantScoped, TenantTx};

#[derive(Debug, Clone, TenantScoped)]
#[tenant_table(name = "projects")]
pub struct Project {
    pub id: i64,
    pub tenant_id: TenantId,
    pub name: String,
}

async fn list(tx: &TenantTx) {
    let _ = Project::scoped(tx).all().await;
}

fn main() {
    let _ = list;
}
