// A scoped handle cannot outlive its transaction: returning one whose
// transaction is dropped (rolled back) at the end of the function is refused.
use tenant_runtime::{Error, Scoped, TenantId, TenantPool, TenantScoped};

#[derive(Debug, Clone, sqlx::FromRow, TenantScoped)]
#[tenant_table(name = "projects")]
pub struct Project {
    pub id: i64,
    pub tenant_id: TenantId,
    pub name: String,
}

async fn projects(pool: &TenantPool, tenant: TenantId) -> Result<Scoped<'_, Project>, Error> {
    let tx = pool.begin(tenant).await?;
    Ok(Project::scoped(&tx))
}

fn main() {
    let _ = projects;
}
