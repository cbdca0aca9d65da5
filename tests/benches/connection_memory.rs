//! Memory of one pooled connection's backend: a tenant pool's (tenancy
//! session, temp table and sequences, cached plans of the generated
//! statements) against a plain sqlx connection that ran the same point
//! lookups by hand, each after 200 requests over 100 tenants. Read from
//! `/proc/<pid>/smaps_rollup` (the server must run on this machine).
//!
//! ```sh
//! DATABASE_URL=<a role that can create databases and roles> cargo bench -p tenant-tests --bench connection_memory
//! ```

use sqlx::Executor as _;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use tenant_runtime::{TenantId, ddl, registry};
use tenant_tests::Project;
use tenant_tests::bench::{BoxError, one_connection_tenant_pool, with_fresh_database};
use tenant_tests::setup::{self, SYSTEM_ROLE};

const REQUESTS: usize = 200;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), BoxError> {
    with_fresh_database("tenant_bench_memory", async |owner, opts| {
        run(&owner, &opts).await
    })
    .await
}

/// (Rss, Pss) of a backend in KiB.
fn memory(pid: i32) -> Option<(u64, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    let field = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
    };
    Some((field("Rss:")?, field("Pss:")?))
}

async fn run(owner: &PgPool, opts: &PgConnectOptions) -> Result<(), BoxError> {
    tenant_tests::link();
    let key = setup::install(owner, &ddl::emit(registry::tables()?)).await?;
    owner
        .execute(
            "INSERT INTO tenants (name, slug) SELECT 'Tenant ' || g, 'tenant-' || g FROM generate_series(1, 100) g;
             INSERT INTO projects (tenant_id, name) SELECT t.id, 'project ' || g FROM tenants t, generate_series(1, 10) g;",
        )
        .await?;
    let targets: Vec<(TenantId, i64)> = sqlx::query_as(
        "SELECT DISTINCT ON (tenant_id) tenant_id, id FROM projects ORDER BY tenant_id, id",
    )
    .fetch_all(owner)
    .await?;
    let (tenant_pool, tenant_pid) = one_connection_tenant_pool(opts, key).await?;
    let plain = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(opts.clone().username(SYSTEM_ROLE))
        .await?;
    let plain_pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&plain)
        .await?;
    for i in 0..REQUESTS {
        let (tenant, id) = targets[i % targets.len()];
        let tx = tenant_pool.begin(tenant).await?;
        assert!(Project::scoped(&tx).find(&id).await?.is_some());
        tx.commit().await?;
        let mut tx = plain.begin().await?;
        let found: Option<(i64,)> =
            sqlx::query_as("SELECT id FROM projects WHERE tenant_id = $1 AND id = $2")
                .bind(tenant)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
        assert!(found.is_some());
        tx.commit().await?;
    }
    let (t_rss, t_pss) = memory(tenant_pid).ok_or("no /proc for the server backend")?;
    let (p_rss, p_pss) = memory(plain_pid).ok_or("no /proc for the server backend")?;
    tenant_pool.close();
    plain.close().await;
    println!(
        "| backend after {REQUESTS} point lookups | Rss | Pss | Pss vs plain |\n| --- | --- | --- | --- |\n\
         | plain sqlx connection, by hand, no RLS | {p_rss} KiB | {p_pss} KiB | 1.000x |\n\
         | tenant pool connection (tenancy session, generated statements) | {t_rss} KiB | {t_pss} KiB | {:.3}x |",
        t_pss as f64 / p_pss as f64
    );
    Ok(())
}
