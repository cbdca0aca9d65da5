// commit() consumes the transaction: nothing can run in it afterwards.
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
    tx.commit().await?;
    let _ = Project::scoped(&tx).all().await?;
    Ok(())
}

fn main() {
    let _ = list;
}
