//! A 50-row list as the table grows: 1,000,000 and 10,000,000 projects
//! (100 tenants, so 10,000 and 100,000 each), in two databases,
//! interleaved request by request. Each size runs the list through
//! tenant-runtime (`begin`, `Project::scoped(&tx).page(50, 0)`, commit,
//! as the application role under RLS) and by hand (`pool.begin()`,
//! `SELECT .. WHERE tenant_id = $1 ORDER BY id LIMIT 50`, commit, as the
//! system role, which bypasses RLS). Loading 10M rows takes a few minutes
//! and about 1.5 GB of disk.
//!
//! ```sh
//! DATABASE_URL=<a role that can create databases and roles> cargo bench -p tenant-tests --bench list_scale
//! ```

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use tenant_runtime::{TenantId, TenantPool, ddl, registry};
use tenant_tests::Project;
use tenant_tests::bench::{
    BoxError, header, interleaved, load_projects, one_connection_tenant_pool, row,
    with_fresh_database,
};
use tenant_tests::setup;

const SIZES: [i64; 2] = [1_000_000, 10_000_000];
const TENANTS: i64 = 100;
const ROUNDS: usize = 30;
const PER_ROUND: usize = 50;
const HAND_SQL: &str =
    "SELECT id, tenant_id, name FROM projects WHERE tenant_id = $1 ORDER BY id LIMIT 50";

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), BoxError> {
    with_fresh_database("tenant_bench_list_1m", async |a, a_opts| {
        with_fresh_database("tenant_bench_list_10m", async |b, b_opts| {
            run([(a, a_opts), (b, b_opts)]).await
        })
        .await
    })
    .await
}

/// One database: the tenant pool and the hand-written one, each of one
/// connection, with their backends.
struct Side {
    pool: TenantPool,
    pool_pid: i32,
    hand: PgPool,
    hand_pid: i32,
    tenants: Vec<TenantId>,
}

async fn prepare(owner: &PgPool, opts: &PgConnectOptions, rows: i64) -> Result<Side, BoxError> {
    let key = setup::install(owner, &ddl::emit(registry::tables()?)).await?;
    let per_tenant = rows / TENANTS;
    let started = std::time::Instant::now();
    load_projects(owner, TENANTS, per_tenant).await?;
    eprintln!("loaded {rows} rows in {:.0?}", started.elapsed());
    let tenants: Vec<TenantId> = sqlx::query_scalar("SELECT id FROM tenants ORDER BY id")
        .fetch_all(owner)
        .await?;
    let (pool, pool_pid) = one_connection_tenant_pool(opts, key).await?;
    let hand = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(opts.clone().username(setup::SYSTEM_ROLE))
        .await?;
    let hand_pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&hand)
        .await?;
    Ok(Side {
        pool,
        pool_pid,
        hand,
        hand_pid,
        tenants,
    })
}

async fn scoped(side: &Side, tenant: TenantId) -> Result<usize, BoxError> {
    let tx = side.pool.begin(tenant).await?;
    let rows = Project::scoped(&tx).page(50, 0).await?.len();
    tx.commit().await?;
    Ok(rows)
}

async fn by_hand(side: &Side, tenant: TenantId) -> Result<usize, BoxError> {
    let mut tx = side.hand.begin().await?;
    let rows: Vec<(i64, TenantId, String)> = sqlx::query_as(HAND_SQL)
        .bind(tenant)
        .fetch_all(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(rows.len())
}

/// Variant `v`: side `v / 2`, scoped when even.
async fn request(sides: &[Side], v: usize, tenant_n: usize) -> Result<usize, BoxError> {
    let side = &sides[v / 2];
    let tenant = side.tenants[tenant_n % side.tenants.len()];
    if v.is_multiple_of(2) {
        scoped(side, tenant).await
    } else {
        by_hand(side, tenant).await
    }
}

async fn run(dbs: [(PgPool, PgConnectOptions); 2]) -> Result<(), BoxError> {
    tenant_tests::link();
    let mut sides = Vec::new();
    for ((owner, opts), rows) in dbs.iter().zip(SIZES) {
        sides.push(prepare(owner, opts, rows).await?);
    }
    let pid = |v: usize| {
        let side = &sides[v / 2];
        if v.is_multiple_of(2) {
            side.pool_pid
        } else {
            side.hand_pid
        }
    };
    // Warm both sides' caches over every tenant.
    for n in 0..(2 * TENANTS as usize) {
        for v in 0..4 {
            assert_eq!(request(&sides, v, n).await?, 50);
        }
    }
    let mut n = 0usize;
    let pick = || {
        n = n.wrapping_add(37);
        n
    };
    let samples = interleaved::<4, _, BoxError>((ROUNDS, PER_ROUND), pick, pid, async |v, n| {
        assert_eq!(request(&sides, v, n).await?, 50);
        Ok(())
    })
    .await?;
    for side in &sides {
        side.pool.close();
        side.hand.close().await;
    }
    let mut out = header("50-row list request, by table size");
    out.push_str(&row("1M rows, by hand", &samples[1], None));
    out.push_str(&row(
        "1M rows, tenant-runtime",
        &samples[0],
        Some(&samples[1]),
    ));
    out.push_str(&row("10M rows, by hand", &samples[3], Some(&samples[1])));
    out.push_str(&row(
        "10M rows, tenant-runtime",
        &samples[2],
        Some(&samples[3]),
    ));
    out.push_str(&row(
        "10M vs 1M rows, tenant-runtime",
        &samples[2],
        Some(&samples[0]),
    ));
    println!("{out}");
    Ok(())
}
