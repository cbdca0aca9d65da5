// A scoped handle borrows its transaction: it cannot be used once the
// transaction is committed.
use tenant_runtime::{Error, TenantId, TenantPool, TenantScoped};

#[derive(Debug, Clone, sqlx::FromRow, TenantScoped)]
#[tenant_table(name = "projects")]
pub struct Project {
    pub id: i64,
    pub tenant_id: TenantId,
    pub name: String,
}

async fn list(pool: &TenantPool, tenant: TenantId) -> Result<(), Error> {
    let tx = pool.begin(tenant).await?;
    let projects = Project::scoped(&tx);
    tx.commit().await?;
    let _ = projects.all().await?;
    Ok(())
}

fn main() {
    let _ = list;
}
