// A raw connection borrowed from the transaction while a scoped handle runs
// a statement on it: this used to compile and then wait forever (the same
// task locked the connection twice). Now `conn` borrows the transaction
// mutably, so the compiler refuses it.
use tenant_runtime::{Error, TenantId, TenantPool, TenantScoped};

#[derive(Debug, Clone, sqlx::FromRow, TenantScoped)]
#[tenant_table(name = "projects")]
pub struct Project {
    #[tenant(primary_key, generated)]
    pub id: i64,
    pub tenant_id: TenantId,
    pub name: String,
}

async fn hangs(pool: &TenantPool, tenant: TenantId) -> Result<(), Error> {
    let mut tx = pool.begin(tenant).await?;
    let conn = tx.conn();
    let _ = Project::scoped(&tx).all().await?;
    sqlx::query("SELECT 1").execute(conn).await?;
    tx.commit().await
}

fn main() {
    let _ = hangs;
}
