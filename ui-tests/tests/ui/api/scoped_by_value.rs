// `scoped` borrows the transaction; handing it over by value is refused.
use tenant_runtime::{TenantId, TenantPool, TenantScoped};

#[derive(Debug, Clone, sqlx::FromRow, TenantScoped)]
#[tenant_table(name = "projects")]
pub struct Project {
    pub id: i64,
    pub tenant_id: TenantId,
    pub name: String,
}

async fn list(pool: &TenantPool, tenant: TenantId) -> Result<(), tenant_runtime::Error> {
    let tx = pool.begin(tenant).await?;
    let _ = Project::scoped(tx);
    Ok(())
}

fn main() {
    let _ = list;
}
