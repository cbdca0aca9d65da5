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
//! - by hand (the baseline): `pool.begin()`, `SELECT .. WHERE tenant_id =
//!   $1 ORDER BY id LIMIT 50`, commit, as a role without RLS: what an
//!   application without this library runs;
//! - scoped: `pool.begin(tenant)`, `Project::scoped(&tx).page(50, 0)`, commit;
//! - the scoped statement's text run by hand inside a TenantTx, which
//!   splits the library's own cost from the database's;
//! - by hand with a bare `LIMIT $2 OFFSET $3`, for reference: PostgreSQL
//!   plans that again on every execution.
//!
//! Variants run interleaved in many short rounds, so machine noise hits all
//! of them alike; a ratio is the median of the per-round ratios. Besides
//! wall time it reads the server backend's CPU time from /proc (the server
//! must run on this machine for that column), which the scheduling noise of
//! a shared machine disturbs much less. Round trips are counted by a proxy
//! that counts the server's ReadyForQuery messages. It also measures bulk
//! inserts that take the tenant from a column DEFAULT against a BEFORE
//! INSERT trigger, and a policy-only count(*) under this crate's policy
//! against @usebetterdev/tenant's text-cast one.

use std::time::{Duration, Instant};

use sqlx::Executor;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgSslMode};
use tenant_runtime::{TenantId, TenantPool, ddl, registry};
use tenant_tests::Project;
use tenant_tests::bench::{
    BoxError, Samples, cpu_time, header, load_projects, micros, ratio, row, with_fresh_database,
};
use tenant_tests::setup::{self, APP_ROLE, SYSTEM_ROLE};
use tenant_tests::wire::RoundTripProxy;

const DATABASE: &str = "tenant_bench";
const TENANTS: i64 = 1000;
const ROWS_PER_TENANT: i64 = 1000;
const ROUNDS: usize = 40;
const PER_ROUND: usize = 100;
/// Listing 50 rows of a tenant, written by hand.
const LIST_SQL: &str =
    "SELECT id, tenant_id, name FROM projects WHERE tenant_id = $1 ORDER BY id LIMIT 50";
/// The same with the page bound as bare parameters.
const LIST_SQL_BARE_LIMIT: &str =
    "SELECT id, tenant_id, name FROM projects WHERE tenant_id = $1 ORDER BY id LIMIT $2 OFFSET $3";

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), BoxError> {
    with_fresh_database(DATABASE, async |owner, opts| run(&owner, &opts).await).await
}

/// The context key installed in the benchmark's database.
static KEY: std::sync::OnceLock<tenant_runtime::tx::ContextKey> = std::sync::OnceLock::new();

/// A tenant pool of one connection, with the database's context key.
async fn tenant_pool(opts: PgConnectOptions) -> Result<TenantPool, BoxError> {
    let key = KEY
        .get()
        .ok_or("the context key is installed first")?
        .clone();
    Ok(TenantPool::options()
        .context_key(key)
        .max_connections(1)
        .connect_with(opts)
        .await?)
}

async fn run(owner: &PgPool, opts: &PgConnectOptions) -> Result<(), BoxError> {
    tenant_tests::link();
    let started = Instant::now();
    setup::ensure_roles(owner).await?;
    owner
        .execute(ddl::emit(registry::tables()?).as_str())
        .await?;
    setup::grant(owner).await?;
    let _ = KEY.set(setup::install_key(owner, 1).await?);
    load_projects(owner, TENANTS, ROWS_PER_TENANT).await?;
    eprintln!(
        "loaded {} rows in {:.1?}",
        TENANTS * ROWS_PER_TENANT,
        started.elapsed()
    );
    let tenants: Vec<TenantId> = sqlx::query_scalar("SELECT id FROM tenants ORDER BY id")
        .fetch_all(owner)
        .await?;

    let one_connection = |role: &str| {
        PgPoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .connect_with(opts.clone().username(role))
    };
    let app = tenant_pool(opts.clone().username(APP_ROLE)).await?;
    let plain = one_connection(SYSTEM_ROLE).await?;
    let mut global = app.begin_global().await?;
    let app_pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(global.conn())
        .await?;
    global.commit().await?;
    let pids = Pids {
        app: app_pid,
        plain: backend_pid(&plain).await?,
    };

    let samples = list_requests(&app, &plain, pids, &tenants).await?;
    let trips = round_trips(opts, &tenants).await?;
    let inserts = bulk_insert(owner).await?;
    let counts = policy_count(owner, &tenants).await?;

    println!("{}", report(&samples, trips, &inserts, &counts));
    Ok(())
}

async fn backend_pid(pool: &PgPool) -> Result<i32, BoxError> {
    Ok(sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(pool)
        .await?)
}

#[derive(Clone, Copy)]
struct Pids {
    app: i32,
    plain: i32,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Variant {
    Scoped,
    ByHand,
    ScopedTextInTenantTx,
    ByHandBareLimit,
    /// `TenantPool::begin` and commit, no statement: the tenant check.
    TenantBeginOnly,
    /// `BEGIN` and commit, no statement.
    PlainBeginOnly,
}

const VARIANTS: [Variant; 6] = [
    Variant::Scoped,
    Variant::ByHand,
    Variant::ScopedTextInTenantTx,
    Variant::ByHandBareLimit,
    Variant::TenantBeginOnly,
    Variant::PlainBeginOnly,
];

fn page_of(
    sql: &'static str,
    tenant: TenantId,
) -> sqlx::query::QueryAs<'static, sqlx::Postgres, Project, sqlx::postgres::PgArguments> {
    sqlx::query_as(sql).bind(tenant).bind(50_i64).bind(0_i64)
}

/// One request of `variant`; returns the rows listed.
async fn request(
    variant: Variant,
    app: &TenantPool,
    plain: &PgPool,
    tenant: TenantId,
) -> Result<usize, BoxError> {
    let rows = match variant {
        Variant::Scoped => {
            let tx = app.begin(tenant).await?;
            let rows = Project::scoped(&tx).page(50, 0).await?;
            tx.commit().await?;
            rows
        }
        Variant::ByHand => {
            let mut tx = plain.begin().await?;
            let rows: Vec<Project> = sqlx::query_as(LIST_SQL)
                .bind(tenant)
                .fetch_all(&mut *tx)
                .await?;
            tx.commit().await?;
            rows
        }
        Variant::ScopedTextInTenantTx => {
            let mut tx = app.begin(tenant).await?;
            let sql = <Project as tenant_runtime::TenantTable>::META
                .sql
                .scoped
                .page;
            let rows = page_of(sql, tenant).fetch_all(tx.conn()).await?;
            tx.commit().await?;
            rows
        }
        Variant::ByHandBareLimit => {
            let mut tx = plain.begin().await?;
            let rows = page_of(LIST_SQL_BARE_LIMIT, tenant)
                .fetch_all(&mut *tx)
                .await?;
            tx.commit().await?;
            rows
        }
        Variant::TenantBeginOnly => {
            app.begin(tenant).await?.commit().await?;
            Vec::new()
        }
        Variant::PlainBeginOnly => {
            plain.begin().await?.commit().await?;
            Vec::new()
        }
    };
    Ok(rows.len())
}

async fn list_requests(
    app: &TenantPool,
    plain: &PgPool,
    pids: Pids,
    tenants: &[TenantId],
) -> Result<[Samples; 6], BoxError> {
    let mut out: [Samples; 6] = Default::default();
    let mut next = 0usize;
    let mut pick = || {
        next = (next + 7919) % tenants.len(); // a prime stride visits every tenant
        tenants[next]
    };
    // Warm-up: connections, statement caches, buffers.
    for _ in 0..PER_ROUND {
        let t = pick();
        for v in VARIANTS {
            request(v, app, plain, t).await?;
        }
    }
    for round in 0..ROUNDS {
        let picks: Vec<TenantId> = (0..PER_ROUND).map(|_| pick()).collect();
        // Rotate which variant goes first.
        for i in 0..VARIANTS.len() {
            let index = (i + round) % VARIANTS.len();
            let variant = VARIANTS[index];
            let pid = if matches!(
                variant,
                Variant::ByHand | Variant::ByHandBareLimit | Variant::PlainBeginOnly
            ) {
                pids.plain
            } else {
                pids.app
            };
            let cpu_before = cpu_time(pid);
            let start = Instant::now();
            let expected = match variant {
                Variant::TenantBeginOnly | Variant::PlainBeginOnly => 0,
                _ => 50,
            };
            for &t in &picks {
                assert_eq!(request(variant, app, plain, t).await?, expected);
            }
            out[index].add_round(
                start.elapsed(),
                PER_ROUND as u32,
                (cpu_before, cpu_time(pid)),
            );
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
    let app = tenant_pool(through(APP_ROLE)).await?;
    let plain = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(through(SYSTEM_ROLE))
        .await?;
    // Waits until both connections are back in their pools (after sqlx's
    // release ping), so that ping is counted with the request it ends.
    let settled = async || {
        while app.status().idle < 1 || plain.num_idle() < 1 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        proxy.round_trips()
    };
    for &t in &tenants[..3] {
        request(Variant::Scoped, &app, &plain, t).await?;
        request(Variant::ByHand, &app, &plain, t).await?;
    }
    let before = settled().await;
    request(Variant::Scoped, &app, &plain, tenants[4]).await?;
    let scoped_trips = settled().await - before;
    let before = settled().await;
    request(Variant::ByHand, &app, &plain, tenants[4]).await?;
    let by_hand_trips = settled().await - before;
    app.close();
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
    for round in 0..8 {
        let order = if round % 2 == 0 {
            ["bulk_default", "bulk_trigger"]
        } else {
            ["bulk_trigger", "bulk_default"]
        };
        for table in order {
            let mut tx = owner.begin().await?;
            sqlx::query("SELECT set_config('app.current_tenant', $1, true)")
                .bind(tenant.to_string())
                .execute(&mut *tx)
                .await?;
            let start = Instant::now();
            tx.execute(
                format!(
                    "INSERT INTO {table} (name) SELECT 'row ' || g FROM generate_series(1, 100000) g"
                )
                .as_str(),
            )
            .await?;
            let took = start.elapsed();
            tx.rollback().await?;
            if round == 0 {
                continue; // warm-up
            }
            if table == "bulk_default" {
                default.push(took);
            } else {
                trigger.push(took);
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
    let app = tenant_pool(app_opts).await?;
    let (mut ours, mut text_cast) = (vec![], vec![]);
    for (i, &t) in tenants.iter().take(8).enumerate() {
        let order = if i % 2 == 0 {
            ["projects", "projects_text_cast"]
        } else {
            ["projects_text_cast", "projects"]
        };
        for table in order {
            let mut tx = app.begin(t).await?;
            let start = Instant::now();
            let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
                .fetch_one(tx.conn())
                .await?;
            let took = start.elapsed();
            assert_eq!(n, ROWS_PER_TENANT);
            tx.commit().await?;
            if i == 0 {
                continue; // warm-up
            }
            if table == "projects" {
                ours.push(took);
            } else {
                text_cast.push(took);
            }
        }
    }
    app.close();
    Ok((ours, text_cast))
}

fn report(
    list: &[Samples; 6],
    trips: (u64, u64),
    inserts: &(Vec<Duration>, Vec<Duration>),
    counts: &(Vec<Duration>, Vec<Duration>),
) -> String {
    let [scoped, by_hand, in_tx, bare, tenant_begin, plain_begin] = list;
    let mut out = header("list 50 rows of one tenant");
    out += &row(
        "by hand: `LIMIT 50`, plain transaction, no RLS (baseline)",
        by_hand,
        None,
    );
    out += &row(
        "scoped: `begin`, `page(50, 0)`, `commit`",
        scoped,
        Some(by_hand),
    );
    out += &row(
        "the scoped statement by hand inside a TenantTx (RLS on)",
        in_tx,
        Some(by_hand),
    );
    out += &format!(
        "| scoped vs its own statement by hand in a TenantTx (the library's own cost) | | {} | | {} |\n",
        ratio(&scoped.wall, &in_tx.wall),
        scoped.cpu_ratio(in_tx)
    );
    out += &row(
        "by hand: bare `LIMIT $2 OFFSET $3`, no RLS (replanned every time)",
        bare,
        Some(by_hand),
    );
    out += &row("`BEGIN` + `COMMIT` alone, plain", plain_begin, None);
    out += &row(
        "`TenantPool::begin` + `commit` alone (tenant check and setting)",
        tenant_begin,
        Some(plain_begin),
    );
    out += &format!(
        "\nRound trips per request (begin, query, commit, and sqlx's ping when the connection returns to the pool): scoped {}, by hand {}.\n\n",
        trips.0, trips.1
    );
    out += "| other measurement | median | ratio, median (range) |\n| --- | --- | --- |\n";
    out += &format!(
        "| bulk insert 100k rows, tenant from column DEFAULT `tenancy.current_tenant()` | {:.1} ms | 1.000x |\n",
        micros(&inserts.0) / 1e3
    );
    out += &format!(
        "| bulk insert 100k rows, tenant from a BEFORE INSERT trigger (@usebetterdev/tenant's) | {:.1} ms | {} |\n",
        micros(&inserts.1) / 1e3,
        ratio(&inserts.1, &inserts.0)
    );
    out += &format!(
        "| policy-only count(*) of one tenant, this crate's policy | {:.2} ms | 1.000x |\n",
        micros(&counts.0) / 1e3
    );
    out += &format!(
        "| policy-only count(*) of one tenant, @usebetterdev/tenant's text-cast policy | {:.2} ms | {} |\n",
        micros(&counts.1) / 1e3,
        ratio(&counts.1, &counts.0)
    );
    out
}
