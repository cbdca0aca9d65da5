// A transaction with no tenant cannot scope queries to one.
use tenant_runtime::{Error, TenantId, TenantPool, TenantScoped};

#[derive(Debug, Clone, sqlx::FromRow, TenantScoped)]
#[tenant_table(name = "projects")]
pub struct Project {
    #[tenant(primary_key, generated)]
    pub id: i64,
    pub tenant_id: TenantId,
    pub name: String,
}

async fn no_tenant(pool: &TenantPool) -> Result<(), Error> {
    let tx = pool.begin_global().await?;
    let _ = Project::scoped(&tx).all().await?;
    tx.commit().await
}

fn main() {
    let _ = no_tenant;
}
