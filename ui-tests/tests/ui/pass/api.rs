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

// Beyond the key: the finder of `unique(tenant_id, name)`, typed filters,
// a statement for its effect, and sqlx on the connection through `&tx`,
// the future still `Send` (as a handler's must be).
async fn queries(tx: &TenantTx) -> Result<(), Error> {
    let _: Option<Project> = Project::scoped(tx).find_by_name("apollo").await?;
    let name = String::from("gemini");
    let _ = Project::scoped(tx).find_by_name(&name).await?;
    let _: Vec<Project> = Project::scoped(tx)
        .filter(Project::NAME.like("a%"))
        .filter(Project::ID.is_in(&[1, 2, 3]))
        .order_by(Project::NAME.desc())
        .limit(10)
        .all()
        .await?;
    let _: u64 = tx.raw_statement("DELETE FROM projects WHERE name = $1").bind("x").execute().await?;
    let mut conn = tx.connection().await?;
    sqlx::query("SELECT 1").execute(&mut *conn).await?;
    Ok(())
}

fn assert_send<F: std::future::Future + Send>(_: F) {}

fn main() {
    let _ = |tx: &'static TenantTx| assert_send(queries(tx));
    let _ = scoped_in_a_tenant_tx;
    let _ = with_tenant;
    let _ = handle;
    let _ = system;
    let _ = global;
}
