//! A 100k-row bulk insert through a tenant transaction (the tenant column
//! filled by its DEFAULT, every row checked by the policy's WITH CHECK),
//! against the same insert into an identical table (same indexes, same
//! foreign key to tenants) without row-level security, the tenant given
//! explicitly, as a role without RLS: rounds
//! alternate, each insert rolled back so both tables stay the same size.
//!
//! ```sh
//! DATABASE_URL=<a role that can create databases and roles> cargo bench -p tenant-tests --bench bulk_insert
//! ```

use std::time::{Duration, Instant};

use sqlx::Executor as _;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use tenant_runtime::{TenantId, TenantPool, ddl, registry};
use tenant_tests::bench::{BoxError, micros, ratio, with_fresh_database};
use tenant_tests::setup::{self, APP_ROLE, SYSTEM_ROLE};

const ROWS: i64 = 100_000;
const ROUNDS: usize = 10;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), BoxError> {
    with_fresh_database("tenant_bench_bulk", async |owner, opts| {
        run(&owner, &opts).await
    })
    .await
}

async fn run(owner: &PgPool, opts: &PgConnectOptions) -> Result<(), BoxError> {
    tenant_tests::link();
    let ddl = format!(
        // The same keys and the same foreign key to tenants: what differs
        // is row-level security and the tenant column's DEFAULT.
        "{}\nCREATE TABLE projects_plain (LIKE projects INCLUDING INDEXES INCLUDING IDENTITY);\n\
         ALTER TABLE projects_plain ADD FOREIGN KEY (tenant_id) REFERENCES tenants (id);",
        ddl::emit(registry::tables()?)
    );
    let key = setup::install(owner, &ddl).await?;
    owner
        .execute("INSERT INTO tenants (name, slug) VALUES ('Acme', 'acme')")
        .await?;
    let tenant: TenantId = sqlx::query_scalar("SELECT id FROM tenants")
        .fetch_one(owner)
        .await?;
    let app = TenantPool::options()
        .context_key(key)
        .max_connections(1)
        .connect_with(opts.clone().username(APP_ROLE))
        .await?;
    let plain = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(opts.clone().username(SYSTEM_ROLE))
        .await?;
    let fill =
        format!("INSERT INTO projects (name) SELECT 'row ' || g FROM generate_series(1, {ROWS}) g");
    let by_hand = format!(
        "INSERT INTO projects_plain (tenant_id, name) SELECT $1, 'row ' || g FROM generate_series(1, {ROWS}) g"
    );
    let (mut tenant_times, mut plain_times) = (Vec::<Duration>::new(), Vec::<Duration>::new());
    for round in 0..ROUNDS + 1 {
        for tenant_first in [round % 2 == 0, round % 2 == 1] {
            if tenant_first {
                let mut tx = app.begin(tenant).await?;
                let start = Instant::now();
                let done = tx.conn().execute(fill.as_str()).await?;
                let took = start.elapsed();
                assert_eq!(done.rows_affected(), ROWS as u64);
                tx.rollback().await?;
                if round > 0 {
                    tenant_times.push(took);
                }
            } else {
                let mut tx = plain.begin().await?;
                let start = Instant::now();
                let done = sqlx::query(&by_hand).bind(tenant).execute(&mut *tx).await?;
                let took = start.elapsed();
                assert_eq!(done.rows_affected(), ROWS as u64);
                tx.rollback().await?;
                if round > 0 {
                    plain_times.push(took);
                }
            }
        }
    }
    app.close();
    plain.close().await;
    println!(
        "| 100k-row insert | median | throughput vs plain, median (range) |\n| --- | --- | --- |\n\
         | plain table (same keys and foreign key), no RLS, tenant given | {:.1} ms | 1.000x |\n\
         | tenant table through `TenantPool::begin`, tenant from the DEFAULT, WITH CHECK per row | {:.1} ms | {} |",
        micros(&plain_times) / 1000.0,
        micros(&tenant_times) / 1000.0,
        ratio(&plain_times, &tenant_times),
    );
    Ok(())
}
