// with_tenant commits when the closure returns: a handle cannot leave it.
use tenant_runtime::{Error, TenantId, TenantPool, TenantScoped};

#[derive(Debug, Clone, sqlx::FromRow, TenantScoped)]
#[tenant_table(name = "projects")]
pub struct Project {
    pub id: i64,
    pub tenant_id: TenantId,
    pub name: String,
}

async fn projects(pool: &TenantPool, tenant: TenantId) -> Result<(), Error> {
    let handle = pool
        .with_tenant(tenant, async |tx| Ok::<_, Error>(Project::scoped(tx)))
        .await?;
    let _ = handle.all().await?;
    Ok(())
}

fn main() {
    let _ = projects;
}
