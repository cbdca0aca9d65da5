// A plain sqlx transaction was begun without setting the tenant.
use sqlx::{PgPool, Postgres, Transaction};
use tenant_runtime::{TenantId, TenantScoped};

#[derive(Debug, Clone, sqlx::FromRow, TenantScoped)]
#[tenant_table(name = "projects")]
pub struct Project {
    pub id: i64,
    pub tenant_id: TenantId,
    pub name: String,
}

async fn list(pool: &PgPool) -> Result<(), sqlx::Error> {
    let tx: Transaction<'static, Postgres> = pool.begin().await?;
    let _ = Project::scoped(&tx);
    tx.commit().await
}

fn main() {
    let _ = list;
}
