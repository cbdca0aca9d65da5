// Valid use of the API: the calls the api cases get wrong, done right.
use tenant_runtime::{
    Error, Scoped, SystemPool, SystemTx, TenantId, TenantPool, TenantScoped, TenantTx,
};

#[derive(Debug, Clone, sqlx::FromRow, TenantScoped)]
#[tenant_table(name = "projects", unique(tenant_id, name))]
pub struct Project {
    #[tenant(primary_key, generated)]
    pub id: i64,
    pub tenant_id: TenantId,
    pub name: String,
}

async fn scoped_in_a_tenant_tx(pool: &TenantPool, tenant: TenantId) -> Result<(), Error> {
    let tx = pool.begin(tenant).await?;
    let projects = Project::scoped(&tx);
    let all = projects.all().await?;
    let _ = Project::scoped(&tx).count().await?;
    drop(all);
    // Raw SQL runs in the same tenant transaction, under row-level security.
    let _ = Project::scoped(&tx)
        .raw("SELECT * FROM projects WHERE name = $1")
        .bind("apollo")
        .fetch_all()
        .await?;
    // Raw sqlx on the connection needs the transaction mutably: the
    // handles above are no longer in use, so this compiles.
    let mut tx = tx;
    sqlx::query("SELECT 1").execute(tx.conn()).await?;
    // The handle's last use is above, so the transaction can be consumed.
    tx.commit().await
}

async fn with_tenant(pool: &TenantPool, tenant: TenantId) -> Result<i64, Error> {
    pool.with_tenant(tenant, async |tx| {
        let n = Project::scoped(tx).count().await?;
        sqlx::query("SELECT 1").execute(tx.conn()).await?;
        Ok(n)
    })
    .await
}

// Tables that are not tenant tables, as the application role.
async fn global(pool: &TenantPool) -> Result<(), Error> {
    let mut tx = pool.begin_global().await?;
    sqlx::query("SELECT 1").execute(tx.conn()).await?;
    tx.commit().await
}

// A handle may be returned as long as it borrows a transaction that lives on.
fn handle(tx: &TenantTx) -> Scoped<'_, Project> {
    Project::scoped(tx)
}

async fn system(pool: &SystemPool) -> Result<(), Error> {
    let tx: SystemTx = pool.begin().await?;
    let _ = Project::system(&tx).count().await?;
    tx.commit().await
}

fn main() {
    let _ = scoped_in_a_tenant_tx;
    let _ = with_tenant;
    let _ = handle;
    let _ = system;
    let _ = global;
}
