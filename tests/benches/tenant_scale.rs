//! Per-request cost as the number of tenants grows: a point lookup
//! (`begin`, `Project::scoped(&tx).find`, commit) in three databases of
//! 10, 1,000 and 100,000 tenants (10 projects each), interleaved request
//! by request, as the application role.
//!
//! ```sh
//! DATABASE_URL=<a role that can create databases and roles> cargo bench -p tenant-tests --bench tenant_scale
//! ```

use sqlx::postgres::{PgConnectOptions, PgPool};
use tenant_runtime::{TenantId, TenantPool, ddl, registry};
use tenant_tests::Project;
use tenant_tests::bench::{
    BoxError, header, interleaved, load_projects, one_connection_tenant_pool, row,
    with_fresh_database,
};
use tenant_tests::setup;

const SIZES: [i64; 3] = [10, 1_000, 100_000];
const ROWS_PER_TENANT: i64 = 10;
const ROUNDS: usize = 30;
const PER_ROUND: usize = 100;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), BoxError> {
    with_fresh_database("tenant_bench_scale_a", async |a, a_opts| {
        with_fresh_database("tenant_bench_scale_b", async |b, b_opts| {
            with_fresh_database("tenant_bench_scale_c", async |c, c_opts| {
                run([(a, a_opts), (b, b_opts), (c, c_opts)]).await
            })
            .await
        })
        .await
    })
    .await
}

/// One database's pool, backend and targets.
struct Side {
    pool: TenantPool,
    pid: i32,
    targets: Vec<(TenantId, i64)>,
}

async fn prepare(owner: &PgPool, opts: &PgConnectOptions, tenants: i64) -> Result<Side, BoxError> {
    let key = setup::install(owner, &ddl::emit(registry::tables()?)).await?;
    load_projects(owner, tenants, ROWS_PER_TENANT).await?;
    let targets: Vec<(TenantId, i64)> = sqlx::query_as(
        "SELECT DISTINCT ON (tenant_id) tenant_id, id FROM projects ORDER BY tenant_id, id DESC",
    )
    .fetch_all(owner)
    .await?;
    let (pool, pid) = one_connection_tenant_pool(opts, key).await?;
    Ok(Side { pool, pid, targets })
}

async fn request(side: &Side, (tenant, id): (TenantId, i64)) -> Result<bool, BoxError> {
    let tx = side.pool.begin(tenant).await?;
    let found = Project::scoped(&tx).find(&id).await?.is_some();
    tx.commit().await?;
    Ok(found)
}

async fn run(dbs: [(PgPool, PgConnectOptions); 3]) -> Result<(), BoxError> {
    tenant_tests::link();
    let mut sides = Vec::new();
    for ((owner, opts), tenants) in dbs.iter().zip(SIZES) {
        sides.push(prepare(owner, opts, tenants).await?);
    }
    let mut next = 0usize;
    let pick = || {
        next = next.wrapping_add(7919);
        next
    };
    let samples = interleaved::<3, _, BoxError>(
        (ROUNDS, PER_ROUND),
        pick,
        |index| sides[index].pid,
        async |index, n| {
            let side = &sides[index];
            assert!(request(side, side.targets[n % side.targets.len()]).await?);
            Ok(())
        },
    )
    .await?;
    for side in &sides {
        side.pool.close();
    }
    let mut out = header("point lookup request, by number of tenants");
    for (i, tenants) in SIZES.iter().enumerate() {
        let base = if i == 0 { None } else { Some(&samples[0]) };
        out.push_str(&row(&format!("{tenants} tenants"), &samples[i], base));
    }
    println!("{out}");
    Ok(())
}
