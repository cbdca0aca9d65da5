//! Benchmark: the cost of tenant isolation, as ratios measured in one run.
//!
//! ```sh
//! DATABASE_URL=<a role that can create databases and roles> cargo bench -p tenant-tests --bench scoped_list
//! ```
//!
//! (BENCHMARKS.md has the exact command used for the figures there.)
//!
//! It creates (and drops) a database `tenant_bench` with 1000 tenants x
//! 1000 projects, then compares, per request, on one connection each:
//!
//! - scoped: `pool.begin(tenant)`, `Project::scoped(&tx).page(50, 0)`, commit;
//! - by hand: `pool.begin()`, the same statement written by hand
//!   (`WHERE tenant_id = $1 ORDER BY id LIMIT $2 OFFSET $3`), commit, as a
//!   role without RLS: what an application without this library runs;
//! - by hand in a TenantTx: that statement inside a tenant transaction,
//!   which splits the library's own overhead from the database's;
//! - by hand with `LIMIT 50` written into the text, for reference: a
//!   constant limit lets PostgreSQL reuse one generic plan.
//!
//! Variants run interleaved in rounds, so machine noise hits all of them;
//! each ratio is the median of the per-round ratios. Round trips are
//! counted by a proxy that counts the server's ReadyForQuery messages. It
//! also measures bulk inserts that take the tenant from a column DEFAULT
//! against a BEFORE INSERT trigger, and a policy-only count(*) under this
//! crate's policy against @usebetterdev/tenant's text-cast one.

use std::str::FromStr;
use std::time::{Duration, Instant};

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgSslMode};
use sqlx::{ConnectOptions, Executor};
use tenant_runtime::{TenantId, TenantPool, ddl, registry};
use tenant_tests::Project;
use tenant_tests::setup::{self, APP_ROLE, SYSTEM_ROLE};
use tenant_tests::wire::RoundTripProxy;

const DATABASE: &str = "tenant_bench";
const TENANTS: i64 = 1000;
const ROWS_PER_TENANT: i64 = 1000;
const ROUNDS: usize = 15;
const PER_ROUND: usize = 200;
/// What `Project::scoped(&tx).page(50, 0)` runs, written by hand.
const LIST_SQL: &str =
    "SELECT id, tenant_id, name FROM projects WHERE tenant_id = $1 ORDER BY id LIMIT $2 OFFSET $3";
/// The same with the limit written into the text.
const LIST_SQL_LITERAL: &str =
    "SELECT id, tenant_id, name FROM projects WHERE tenant_id = $1 ORDER BY id LIMIT 50";

type BoxError = Box<dyn std::error::Error>;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), BoxError> {
    let url = std::env::var("DATABASE_URL")
        .map_err(|_| "set DATABASE_URL to a role that can create databases and roles")?;
    let admin_opts = PgConnectOptions::from_str(&url)?.disable_statement_logging();
    let admin = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(admin_opts.clone())
        .await?;
    admin
        .execute(format!("DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)").as_str())
        .await?;
    admin
        .execute(format!("CREATE DATABASE {DATABASE}").as_str())
        .await?;
    let opts = admin_opts.database(DATABASE);
    let owner = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(opts.clone())
        .await?;
    let result = run(&owner, &opts).await;
    owner.close().await;
    admin
        .execute(format!("DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)").as_str())
        .await?;
    result
}

async fn run(owner: &PgPool, opts: &PgConnectOptions) -> Result<(), BoxError> {
    tenant_tests::link();
    let started = Instant::now();
    setup::ensure_roles(owner).await?;
    owner
        .execute(ddl::emit(registry::tables()?).as_str())
        .await?;
    setup::grant(owner).await?;
    load(owner).await?;
    eprintln!(
        "loaded {} rows in {:.1?}",
        TENANTS * ROWS_PER_TENANT,
        started.elapsed()
    );
    let tenants: Vec<TenantId> = sqlx::query_scalar("SELECT id FROM tenants ORDER BY id")
        .fetch_all(owner)
        .await?;

    let connect = |role: &str| opts.clone().username(role);
    let app = TenantPool::new(
        PgPoolOptions::new()
            .max_connections(1)
            .connect_with(connect(APP_ROLE))
            .await?,
    )
    .await?;
    let plain = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(connect(SYSTEM_ROLE))
        .await?;

    let list = latencies(&app, &plain, &tenants).await?;
    let trips = round_trips(opts, &tenants).await?;
    let inserts = bulk_insert(owner).await?;
    let counts = policy_count(owner, &tenants).await?;

    println!("{}", report(&list, trips, &inserts, &counts));
    Ok(())
}

/// 1000 tenants, 1000 projects each, loaded by the owner (no RLS applies to
/// the DATABASE_URL superuser), vacuumed so index-only scans are possible.
async fn load(owner: &PgPool) -> Result<(), BoxError> {
    owner
        .execute(
            format!(
                "INSERT INTO tenants (name, slug) SELECT 'Tenant ' || g, 'tenant-' || g FROM generate_series(1, {TENANTS}) g;
                 INSERT INTO projects (tenant_id, name) SELECT t.id, 'project ' || g FROM tenants t, generate_series(1, {ROWS_PER_TENANT}) g;"
            )
            .as_str(),
        )
        .await?;
    owner.execute("VACUUM ANALYZE tenants").await?;
    owner.execute("VACUUM ANALYZE projects").await?;
    Ok(())
}

/// Mean latency of each variant per round.
#[derive(Default)]
struct Latencies {
    scoped: Vec<Duration>,
    by_hand: Vec<Duration>,
    by_hand_in_tenant_tx: Vec<Duration>,
    by_hand_literal: Vec<Duration>,
}

async fn scoped(app: &TenantPool, tenant: TenantId) -> Result<usize, BoxError> {
    let tx = app.begin(tenant).await?;
    let rows = Project::scoped(&tx).page(50, 0).await?;
    tx.commit().await?;
    Ok(rows.len())
}

fn list(
    tenant: TenantId,
) -> sqlx::query::QueryAs<'static, sqlx::Postgres, Project, sqlx::postgres::PgArguments> {
    sqlx::query_as(LIST_SQL)
        .bind(tenant)
        .bind(50_i64)
        .bind(0_i64)
}

async fn by_hand(plain: &PgPool, tenant: TenantId) -> Result<usize, BoxError> {
    let mut tx = plain.begin().await?;
    let rows = list(tenant).fetch_all(&mut *tx).await?;
    tx.commit().await?;
    Ok(rows.len())
}

async fn by_hand_in_tenant_tx(app: &TenantPool, tenant: TenantId) -> Result<usize, BoxError> {
    let tx = app.begin(tenant).await?;
    let rows = list(tenant).fetch_all(&mut *tx.conn().await).await?;
    tx.commit().await?;
    Ok(rows.len())
}

async fn by_hand_literal(plain: &PgPool, tenant: TenantId) -> Result<usize, BoxError> {
    let mut tx = plain.begin().await?;
    let rows: Vec<Project> = sqlx::query_as(LIST_SQL_LITERAL)
        .bind(tenant)
        .fetch_all(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(rows.len())
}

async fn latencies(
    app: &TenantPool,
    plain: &PgPool,
    tenants: &[TenantId],
) -> Result<Latencies, BoxError> {
    let mut out = Latencies::default();
    let mut next = 0usize;
    let mut pick = || {
        next = (next + 7919) % tenants.len(); // a prime stride visits every tenant
        tenants[next]
    };
    // Warm-up: connections, statement caches, buffers.
    for _ in 0..PER_ROUND {
        let t = pick();
        scoped(app, t).await?;
        by_hand(plain, t).await?;
        by_hand_in_tenant_tx(app, t).await?;
        by_hand_literal(plain, t).await?;
    }
    for round in 0..ROUNDS {
        let picks: Vec<TenantId> = (0..PER_ROUND).map(|_| pick()).collect();
        // Rotate which variant goes first.
        for variant in (0..4).map(|i| (i + round) % 4) {
            let start = Instant::now();
            for &t in &picks {
                let n = match variant {
                    0 => scoped(app, t).await?,
                    1 => by_hand(plain, t).await?,
                    2 => by_hand_in_tenant_tx(app, t).await?,
                    _ => by_hand_literal(plain, t).await?,
                };
                assert_eq!(n, 50);
            }
            let mean = start.elapsed() / PER_ROUND as u32;
            match variant {
                0 => out.scoped.push(mean),
                1 => out.by_hand.push(mean),
                2 => out.by_hand_in_tenant_tx.push(mean),
                _ => out.by_hand_literal.push(mean),
            }
        }
    }
    Ok(out)
}

/// Round trips per request for (scoped, by hand), counted on the wire.
async fn round_trips(
    opts: &PgConnectOptions,
    tenants: &[TenantId],
) -> Result<(u64, u64), BoxError> {
    let upstream = tokio::net::lookup_host(format!("{}:{}", opts.get_host(), opts.get_port()))
        .await?
        .next()
        .ok_or("no address for the database host")?;
    let proxy = RoundTripProxy::start(upstream).await?;
    let through = |role: &str| {
        opts.clone()
            .host("127.0.0.1")
            .port(proxy.port())
            .ssl_mode(PgSslMode::Disable)
            .username(role)
    };
    let app = TenantPool::new(
        PgPoolOptions::new()
            .max_connections(1)
            .connect_with(through(APP_ROLE))
            .await?,
    )
    .await?;
    let plain = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(through(SYSTEM_ROLE))
        .await?;
    let settled = async || {
        tokio::time::sleep(Duration::from_millis(100)).await;
        proxy.round_trips()
    };
    for &t in &tenants[..3] {
        scoped(&app, t).await?;
        by_hand(&plain, t).await?;
    }
    let before = settled().await;
    scoped(&app, tenants[4]).await?;
    let scoped_trips = settled().await - before;
    let before = settled().await;
    by_hand(&plain, tenants[4]).await?;
    let by_hand_trips = settled().await - before;
    app.pg_pool().close().await;
    plain.close().await;
    Ok((scoped_trips, by_hand_trips))
}

/// Time to insert 100k rows whose tenant comes from (default, trigger).
async fn bulk_insert(owner: &PgPool) -> Result<(Vec<Duration>, Vec<Duration>), BoxError> {
    owner
        .execute(
            "CREATE TABLE bulk_default (id bigint GENERATED BY DEFAULT AS IDENTITY, tenant_id uuid NOT NULL DEFAULT tenancy.current_tenant(), name text NOT NULL);
             CREATE TABLE bulk_trigger (id bigint GENERATED BY DEFAULT AS IDENTITY, tenant_id uuid, name text NOT NULL);
             -- @usebetterdev/tenant's trigger, as its CLI emits it.
             CREATE FUNCTION set_tenant_id() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN
               IF NEW.tenant_id IS NULL AND current_setting('app.current_tenant', true) IS NOT NULL THEN
                 NEW.tenant_id := current_setting('app.current_tenant', true)::uuid;
               END IF;
               RETURN NEW;
             END $$;
             CREATE TRIGGER set_tenant_id_trigger BEFORE INSERT ON bulk_trigger FOR EACH ROW EXECUTE FUNCTION set_tenant_id();",
        )
        .await?;
    let tenant: TenantId = sqlx::query_scalar("SELECT id FROM tenants LIMIT 1")
        .fetch_one(owner)
        .await?;
    let mut default = vec![];
    let mut trigger = vec![];
    for round in 0..6 {
        for table in if round % 2 == 0 {
            ["bulk_default", "bulk_trigger"]
        } else {
            ["bulk_trigger", "bulk_default"]
        } {
            let mut tx = owner.begin().await?;
            sqlx::query("SELECT set_config('app.current_tenant', $1, true)")
                .bind(tenant.to_string())
                .execute(&mut *tx)
                .await?;
            let start = Instant::now();
            tx.execute(format!("INSERT INTO {table} (name) SELECT 'row ' || g FROM generate_series(1, 100000) g").as_str())
                .await?;
            let took = start.elapsed();
            tx.rollback().await?;
            if round > 0 {
                if table == "bulk_default" {
                    default.push(took)
                } else {
                    trigger.push(took)
                }
            }
        }
    }
    Ok((default, trigger))
}

/// A policy-only `count(*)` of one tenant under (this crate's policy,
/// @usebetterdev/tenant's), on the same 1M-row table.
async fn policy_count(
    owner: &PgPool,
    tenants: &[TenantId],
) -> Result<(Vec<Duration>, Vec<Duration>), BoxError> {
    owner
        .execute(
            format!(
                "CREATE TABLE projects_text_cast AS SELECT * FROM projects;
                 CREATE INDEX ON projects_text_cast (tenant_id);
                 ALTER TABLE projects_text_cast ENABLE ROW LEVEL SECURITY;
                 ALTER TABLE projects_text_cast FORCE ROW LEVEL SECURITY;
                 CREATE POLICY rls_tenant_projects_text_cast ON projects_text_cast FOR ALL
                   USING ((tenant_id)::text = current_setting('app.current_tenant', true) OR current_setting('app.bypass_rls', true) = 'true');
                 GRANT SELECT ON projects_text_cast TO {APP_ROLE};"
            )
            .as_str(),
        )
        .await?;
    owner.execute("VACUUM ANALYZE projects_text_cast").await?;
    let app_opts = owner.connect_options().as_ref().clone().username(APP_ROLE);
    let app = TenantPool::new(
        PgPoolOptions::new()
            .max_connections(1)
            .connect_with(app_opts)
            .await?,
    )
    .await?;
    let (mut ours, mut text_cast) = (vec![], vec![]);
    for (i, &t) in tenants.iter().take(8).enumerate() {
        let order = if i % 2 == 0 {
            ["projects", "projects_text_cast"]
        } else {
            ["projects_text_cast", "projects"]
        };
        for table in order {
            let tx = app.begin(t).await?;
            let start = Instant::now();
            let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
                .fetch_one(&mut *tx.conn().await)
                .await?;
            let took = start.elapsed();
            assert_eq!(n, ROWS_PER_TENANT);
            tx.commit().await?;
            if i > 0 {
                if table == "projects" {
                    ours.push(took)
                } else {
                    text_cast.push(took)
                }
            }
        }
    }
    app.pg_pool().close().await;
    Ok((ours, text_cast))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn ratios(num: &[Duration], den: &[Duration]) -> Vec<f64> {
    num.iter()
        .zip(den)
        .map(|(a, b)| a.as_secs_f64() / b.as_secs_f64())
        .collect()
}

fn micros(v: &[Duration]) -> f64 {
    median(v.iter().map(|d| d.as_secs_f64() * 1e6).collect())
}

fn report(
    list: &Latencies,
    trips: (u64, u64),
    inserts: &(Vec<Duration>, Vec<Duration>),
    counts: &(Vec<Duration>, Vec<Duration>),
) -> String {
    let spread = |r: &[f64]| {
        let lo = r.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = r.iter().copied().fold(0.0, f64::max);
        format!("{lo:.3} to {hi:.3}")
    };
    let scoped_vs_hand = ratios(&list.scoped, &list.by_hand);
    let tx_vs_hand = ratios(&list.by_hand_in_tenant_tx, &list.by_hand);
    let scoped_vs_tx = ratios(&list.scoped, &list.by_hand_in_tenant_tx);
    let literal_vs_hand = ratios(&list.by_hand_literal, &list.by_hand);
    let trig = ratios(&inserts.1, &inserts.0);
    let cast = ratios(&counts.1, &counts.0);
    format!(
        "| measurement | median | ratio (median of rounds) | ratio range |\n\
         | --- | --- | --- | --- |\n\
         | list 50 rows, scoped (begin + page + commit) | {:.0} µs | {:.3}x by hand | {} |\n\
         | list 50 rows, by hand, plain transaction, no RLS | {:.0} µs | 1.000x | |\n\
         | list 50 rows, by hand inside a TenantTx (RLS on) | {:.0} µs | {:.3}x by hand | {} |\n\
         | scoped vs by hand inside a TenantTx (library overhead) | | {:.3}x | {} |\n\
         | list 50 rows, by hand, `LIMIT 50` in the text, no RLS | {:.0} µs | {:.3}x by hand | {} |\n\
         | round trips per request, scoped / by hand | {} / {} | | |\n\
         | bulk insert 100k rows, tenant from column DEFAULT | {:.1} ms | 1.000x | |\n\
         | bulk insert 100k rows, tenant from BEFORE INSERT trigger | {:.1} ms | {:.3}x DEFAULT | {} |\n\
         | count(*) of one tenant, this crate's policy (uuid, initPlan) | {:.2} ms | 1.000x | |\n\
         | count(*) of one tenant, @usebetterdev/tenant's policy (text cast) | {:.2} ms | {:.0}x ours | {} |\n",
        micros(&list.scoped),
        median(scoped_vs_hand.clone()),
        spread(&scoped_vs_hand),
        micros(&list.by_hand),
        micros(&list.by_hand_in_tenant_tx),
        median(tx_vs_hand.clone()),
        spread(&tx_vs_hand),
        median(scoped_vs_tx.clone()),
        spread(&scoped_vs_tx),
        micros(&list.by_hand_literal),
        median(literal_vs_hand.clone()),
        spread(&literal_vs_hand),
        trips.0,
        trips.1,
        micros(&inserts.0) / 1e3,
        micros(&inserts.1) / 1e3,
        median(trig.clone()),
        spread(&trig),
        micros(&counts.0) / 1e3,
        micros(&counts.1) / 1e3,
        median(cast.clone()),
        spread(&cast),
    )
}
