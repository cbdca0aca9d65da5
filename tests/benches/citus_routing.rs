//! Benchmark (BENCHMARKS.md, "Citus"): the same single-tenant request on
//! one node and through a Citus coordinator (routed to one worker), each
//! against the same request without isolation, and a system-role query
//! over every shard.
//!
//! ```sh
//! TENANT_CITUS_URL=<coordinator, superuser> TENANT_SINGLE_URL=<a plain server, superuser> \
//!     cargo bench -p tenant-tests --bench citus_routing
//! ```
//!
//! It shares the Citus test's models, roles and set-up (`tests/citus.rs`,
//! included by path).

#[allow(dead_code, unused_imports, unreachable_pub)]
#[path = "../tests/citus.rs"]
mod citus;

use std::str::FromStr as _;

use citus::{APP, OWNER, SYSTEM, apply_roles, clean_slate, pool_as};
use sqlx::Executor as _;
use sqlx::postgres::{PgConnectOptions, PgPool};
use tenant_runtime::ddl;
use tenant_runtime::tx::ContextKey;
use tenant_runtime::{TenantId, TenantPool};

/// Makes the three tables and their roles from scratch on the server of
/// `opts` (a superuser's), in the Citus form or the single-node one, with
/// a fresh context key (on every node, on Citus).
async fn prepare(opts: &PgConnectOptions, citus: bool) -> (PgPool, ContextKey) {
    let (admin, ordered, roles) = clean_slate(opts).await;
    let sql = if citus {
        ddl::emit_citus(&ordered).unwrap()
    } else {
        ddl::emit(&ordered)
    };
    let owner = pool_as(opts, OWNER).await;
    let mut tx = owner.begin().await.unwrap();
    tx.execute(sql.as_str()).await.unwrap();
    tx.commit().await.unwrap();
    apply_roles(&admin, &roles, &ordered).await;
    owner
        .execute("DELETE FROM tenancy.context_keys")
        .await
        .unwrap();
    let key = ContextKey::generate(1);
    sqlx::query("INSERT INTO tenancy.context_keys (key_id, key) VALUES ($1, $2)")
        .bind(key.id())
        .bind(key.expose_bytes())
        .execute(&owner)
        .await
        .unwrap();
    if citus {
        owner
            .execute("SELECT tenancy.citus_sync_keys()")
            .await
            .unwrap();
    }
    (admin, key)
}

/// Mean, median and 99th percentile of `samples`, in microseconds.
fn summary(samples: &mut [std::time::Duration]) -> (f64, f64, f64) {
    samples.sort_unstable();
    let us = |d: std::time::Duration| d.as_secs_f64() * 1e6;
    let mean = samples.iter().map(|d| us(*d)).sum::<f64>() / samples.len() as f64;
    let at = |q: f64| us(samples[((samples.len() as f64 - 1.0) * q) as usize]);
    (mean, at(0.5), at(0.99))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let (Ok(citus_url), Ok(single_url)) = (
        std::env::var("TENANT_CITUS_URL"),
        std::env::var("TENANT_SINGLE_URL"),
    ) else {
        eprintln!("SKIPPED: TENANT_CITUS_URL or TENANT_SINGLE_URL unset: no figures");
        return;
    };
    const TENANTS: usize = 100;
    const ROWS: i64 = 1000;
    const REQUESTS: usize = 2000;
    for (name, url, citus) in [
        ("one node", single_url, false),
        ("Citus, 2 workers", citus_url, true),
    ] {
        let opts = PgConnectOptions::from_str(&url).unwrap();
        let (admin, key) = prepare(&opts, citus).await;
        let system = pool_as(&opts, SYSTEM).await;
        let tenants: Vec<uuid::Uuid> = sqlx::query_scalar(
            "INSERT INTO public.tenants (name, slug)
             SELECT 'bench ' || g, 'bench-' || g || '-' || gen_random_uuid() FROM generate_series(1, $1) g RETURNING id",
        )
        .bind(TENANTS as i32)
        .fetch_all(&system)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO projects (tenant_id, name)
             SELECT t, 'project ' || g FROM unnest($1::uuid[]) t, generate_series(1, $2) g",
        )
        .bind(&tenants)
        .bind(ROWS)
        .execute(&system)
        .await
        .unwrap();
        admin.execute("ANALYZE projects").await.unwrap();
        let app = TenantPool::options()
            .context_key(key)
            .max_connections(1)
            .connect_with(opts.clone().username(APP))
            .await
            .unwrap();
        let request = async |tenant: uuid::Uuid| {
            let mut tx = app.begin(TenantId::from(tenant)).await.unwrap();
            let page: Vec<(i64, String)> = sqlx::query_as(
                "SELECT id, name FROM projects WHERE tenant_id = $1 ORDER BY id LIMIT 20",
            )
            .bind(tenant)
            .fetch_all(tx.conn())
            .await
            .unwrap();
            assert_eq!(page.len(), 20);
            tx.commit().await.unwrap();
        };
        for t in tenants.iter().take(50) {
            request(*t).await;
        }
        let mut samples = Vec::with_capacity(REQUESTS);
        let started = std::time::Instant::now();
        for i in 0..REQUESTS {
            let at = std::time::Instant::now();
            request(tenants[i % TENANTS]).await;
            samples.push(at.elapsed());
        }
        let total = started.elapsed();
        let (mean, p50, p99) = summary(&mut samples);
        println!(
            "{name}: single-tenant request (begin, first 20 of the tenant's {ROWS} projects, commit; {:?} mechanism): \
             {:.0} req/s, mean {mean:.0} us, p50 {p50:.0} us, p99 {p99:.0} us",
            app.mechanism().unwrap(),
            REQUESTS as f64 / total.as_secs_f64()
        );
        // The same request without isolation: the system role (which
        // bypasses row-level security) in a plain transaction.
        let bare = async |tenant: uuid::Uuid| {
            let mut tx = system.begin().await.unwrap();
            let page: Vec<(i64, String)> = sqlx::query_as(
                "SELECT id, name FROM projects WHERE tenant_id = $1 ORDER BY id LIMIT 20",
            )
            .bind(tenant)
            .fetch_all(&mut *tx)
            .await
            .unwrap();
            assert_eq!(page.len(), 20);
            tx.commit().await.unwrap();
        };
        for t in tenants.iter().take(50) {
            bare(*t).await;
        }
        let mut samples = Vec::with_capacity(REQUESTS);
        let started = std::time::Instant::now();
        for i in 0..REQUESTS {
            let at = std::time::Instant::now();
            bare(tenants[i % TENANTS]).await;
            samples.push(at.elapsed());
        }
        let total = started.elapsed();
        let (mean, p50, p99) = summary(&mut samples);
        println!(
            "{name}: the same request without isolation (system role, plain transaction): \
             {:.0} req/s, mean {mean:.0} us, p50 {p50:.0} us, p99 {p99:.0} us",
            REQUESTS as f64 / total.as_secs_f64()
        );
        let mut samples = Vec::new();
        for _ in 0..50 {
            let at = std::time::Instant::now();
            let groups: Vec<(uuid::Uuid, i64)> =
                sqlx::query_as("SELECT tenant_id, count(*) FROM projects GROUP BY tenant_id")
                    .fetch_all(&system)
                    .await
                    .unwrap();
            assert_eq!(groups.len(), TENANTS);
            samples.push(at.elapsed());
        }
        let (mean, p50, p99) = summary(&mut samples);
        println!(
            "{name}: system role, count per tenant over all {} rows (every shard): mean {mean:.0} us, p50 {p50:.0} us, p99 {p99:.0} us",
            TENANTS as i64 * ROWS
        );
        app.close();
        system.execute("DELETE FROM projects").await.unwrap();
    }
}
