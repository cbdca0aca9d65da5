//! Benchmark: what the unforgeable tenant context (SECURITY.md) costs
//! against the unsigned one it replaced, as ratios measured in one run.
//!
//! ```sh
//! DATABASE_URL=<a role that can create databases and roles> cargo bench -p tenant-tests --bench context_cost
//! ```
//!
//! It creates (and drops) a database `tenant_bench_context` with 1000
//! tenants x 1000 projects in two tables with the same rows and indexes:
//!
//! - `projects`, under the emit-rls policy of today: the tenant is read
//!   from `tenancy.context`, which only `TenantPool::begin` can set (a
//!   one-use MAC checked by `tenancy.enter`);
//! - `projects_unsigned`, under the policy before it: the tenant is the
//!   setting `app.current_tenant`, read by `unsigned.current_tenant()`,
//!   set by `CALL unsigned.enter_tenant('<id>'::uuid); BEGIN` (the old
//!   `begin`), which any SQL could also call.
//!
//! Each variant is a request as the application role: begin, one
//! statement (the scoped API's text), commit; the signed ones through one
//! `TenantPool` connection, the unsigned ones on a plain connection. They
//! take turns request by request, over 30 rounds of 100 with the order
//! rotated; a wall ratio is the median of per-round ratios. Server CPU is
//! the backend's, from /proc/<pid>/schedstat. Round trips are counted by a
//! proxy.

use std::time::Instant;

use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgSslMode};
use sqlx::{Connection, Executor};
use tenant_runtime::{TenantId, TenantPool, TenantTable, ddl, registry};
use tenant_tests::Project;
use tenant_tests::bench::{BoxError, Samples, header, interleaved, row, with_fresh_database};
use tenant_tests::setup::{self, APP_ROLE};
use tenant_tests::wire::RoundTripProxy;

const DATABASE: &str = "tenant_bench_context";
const TENANTS: i64 = 1000;
const ROWS_PER_TENANT: i64 = 1000;
const ROUNDS: usize = 30;
const PER_ROUND: usize = 100;

/// The context before this one, as the migration of the previous release
/// installed it (under its own schema name, next to today's).
const UNSIGNED: &str = "
CREATE SCHEMA unsigned;
CREATE FUNCTION unsigned.no_tenant_context(setting text) RETURNS uuid LANGUAGE plpgsql STABLE AS $fn$
BEGIN
    RAISE EXCEPTION 'no tenant context' USING ERRCODE = 'TN001';
END
$fn$;
CREATE FUNCTION unsigned.current_tenant() RETURNS uuid LANGUAGE sql STABLE PARALLEL SAFE AS $fn$
    SELECT CASE
        WHEN length(current_setting('app.current_tenant', true)) = 36
            THEN current_setting('app.current_tenant', true)::uuid
        ELSE unsigned.no_tenant_context(current_setting('app.current_tenant', true))
    END
$fn$;
CREATE PROCEDURE unsigned.enter_tenant(tenant uuid) LANGUAGE plpgsql AS $fn$
DECLARE
    deleted timestamptz;
BEGIN
    SELECT t.deleted_at INTO deleted FROM public.tenants AS t WHERE t.id = tenant;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'tenant not found' USING ERRCODE = 'TN002';
    END IF;
    IF deleted IS NOT NULL THEN
        RAISE EXCEPTION 'tenant deleted' USING ERRCODE = 'TN004';
    END IF;
    PERFORM set_config('app.current_tenant', tenant::text, true);
END
$fn$;
GRANT USAGE ON SCHEMA unsigned TO PUBLIC;
CREATE TABLE projects_unsigned (LIKE projects INCLUDING ALL);
ALTER TABLE projects_unsigned ENABLE ROW LEVEL SECURITY;
ALTER TABLE projects_unsigned FORCE ROW LEVEL SECURITY;
CREATE POLICY rls_tenant_projects_unsigned ON projects_unsigned
    USING (tenant_id = (SELECT unsigned.current_tenant()))
    WITH CHECK (tenant_id = (SELECT unsigned.current_tenant()));
";

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), BoxError> {
    with_fresh_database(DATABASE, async |owner, opts| run(&owner, &opts).await).await
}

/// The statement of each request kind: the scoped API's text, on the
/// table of the context measured.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Statement {
    None,
    Point,
    List,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Context {
    /// `TenantPool::begin`, the scoped API, commit.
    Signed,
    /// The same, with the statement run through `tx.conn()`: hand-written
    /// SQL, so the transaction ends with the session reset.
    SignedRaw,
    /// The old begin message, the statement by hand, COMMIT.
    Unsigned,
}

const VARIANTS: [(Context, Statement); 8] = [
    (Context::Unsigned, Statement::Point),
    (Context::Signed, Statement::Point),
    (Context::SignedRaw, Statement::Point),
    (Context::Unsigned, Statement::List),
    (Context::Signed, Statement::List),
    (Context::SignedRaw, Statement::List),
    (Context::Unsigned, Statement::None),
    (Context::Signed, Statement::None),
];

struct Clients {
    signed: TenantPool,
    unsigned: PgConnection,
}

/// The scoped API's SQL text on the unsigned table.
fn unsigned_sql(sql: &str) -> String {
    let table = <Project as TenantTable>::META.quoted_name();
    assert!(sql.contains(&table), "{sql}");
    sql.replace(&table, "public.projects_unsigned")
}

/// One request; returns the rows it read.
async fn request(
    clients: &mut Clients,
    (context, statement): (Context, Statement),
    (tenant, id): (TenantId, i64),
) -> Result<usize, BoxError> {
    let sql = &<Project as TenantTable>::META.sql.scoped;
    Ok(match context {
        Context::Signed => {
            let tx = clients.signed.begin(tenant).await?;
            let n = match statement {
                Statement::None => 0,
                Statement::Point => usize::from(Project::scoped(&tx).find(&id).await?.is_some()),
                Statement::List => Project::scoped(&tx).page(50, 0).await?.len(),
            };
            tx.commit().await?;
            n
        }
        Context::SignedRaw => {
            let mut tx = clients.signed.begin(tenant).await?;
            let n = match statement {
                Statement::None => 0,
                Statement::Point => sqlx::query_as::<_, Project>(sql.find)
                    .bind(tenant)
                    .bind(id)
                    .fetch_optional(tx.conn())
                    .await?
                    .map_or(0, |_| 1),
                Statement::List => sqlx::query_as::<_, Project>(sql.page)
                    .bind(tenant)
                    .bind(50_i64)
                    .bind(0_i64)
                    .fetch_all(tx.conn())
                    .await?
                    .len(),
            };
            tx.commit().await?;
            n
        }
        Context::Unsigned => {
            let conn = &mut clients.unsigned;
            let begin = format!("CALL unsigned.enter_tenant('{tenant}'::uuid); BEGIN");
            conn.execute(sqlx::raw_sql(&begin)).await?;
            let n = match statement {
                Statement::None => 0,
                Statement::Point => sqlx::query_as::<_, Project>(&unsigned_sql(sql.find))
                    .bind(tenant)
                    .bind(id)
                    .fetch_optional(&mut *conn)
                    .await?
                    .map_or(0, |_| 1),
                Statement::List => sqlx::query_as::<_, Project>(&unsigned_sql(sql.page))
                    .bind(tenant)
                    .bind(50_i64)
                    .bind(0_i64)
                    .fetch_all(&mut *conn)
                    .await?
                    .len(),
            };
            conn.execute("COMMIT").await?;
            n
        }
    })
}

async fn run(owner: &PgPool, opts: &PgConnectOptions) -> Result<(), BoxError> {
    tenant_tests::link();
    let started = Instant::now();
    let ddl = format!("{}\n{UNSIGNED}", ddl::emit(registry::tables()?));
    let key = setup::install(owner, &ddl).await?;
    owner
        .execute(
            format!(
                "INSERT INTO tenants (name, slug) SELECT 'Tenant ' || g, 'tenant-' || g FROM generate_series(1, {TENANTS}) g;
                 INSERT INTO projects (tenant_id, name) SELECT t.id, 'project ' || g FROM tenants t, generate_series(1, {ROWS_PER_TENANT}) g;
                 INSERT INTO projects_unsigned SELECT * FROM projects;"
            )
            .as_str(),
        )
        .await?;
    for table in ["tenants", "projects", "projects_unsigned"] {
        owner
            .execute(format!("VACUUM ANALYZE {table}").as_str())
            .await?;
    }
    eprintln!(
        "loaded {} rows twice in {:.1?}",
        TENANTS * ROWS_PER_TENANT,
        started.elapsed()
    );
    // One project of each tenant, somewhere in its rows.
    let targets: Vec<(TenantId, i64)> = sqlx::query_as(
        "SELECT DISTINCT ON (tenant_id) tenant_id, id FROM projects WHERE id % 997 = 3 ORDER BY tenant_id, id",
    )
    .fetch_all(owner)
    .await?;

    let app = opts.clone().username(APP_ROLE);
    let signed = TenantPool::options()
        .context_key(key.clone())
        .max_connections(1)
        .connect_with(app.clone())
        .await?;
    let unsigned = PgConnection::connect_with(&app).await?;
    let mut clients = Clients { signed, unsigned };
    let mut global = clients.signed.begin_global().await?;
    let signed_pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(global.conn())
        .await?;
    global.commit().await?;
    let unsigned_pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut clients.unsigned)
        .await?;

    let mut next = 0usize;
    let pick = || {
        next = (next + 7919) % targets.len(); // a prime stride visits every tenant
        targets[next]
    };
    let backend = |index: usize| {
        if VARIANTS[index].0 == Context::Unsigned {
            unsigned_pid
        } else {
            signed_pid
        }
    };
    let samples = interleaved::<{ VARIANTS.len() }, _, BoxError>(
        (ROUNDS, PER_ROUND),
        pick,
        backend,
        async |index, target| {
            let variant = VARIANTS[index];
            let expected = match variant.1 {
                Statement::None => 0,
                Statement::Point => 1,
                Statement::List => 50,
            };
            assert_eq!(request(&mut clients, variant, target).await?, expected);
            Ok(())
        },
    )
    .await?;
    clients.signed.close();
    clients.unsigned.close().await?;

    let trips = round_trips(opts, &key, targets[0]).await?;
    println!("{}", report(&samples, trips));
    Ok(())
}

/// Round trips of one point request, (signed, unsigned), counted on the wire.
async fn round_trips(
    opts: &PgConnectOptions,
    key: &tenant_runtime::tx::ContextKey,
    target: (TenantId, i64),
) -> Result<(u64, u64), BoxError> {
    let upstream = tokio::net::lookup_host(format!("{}:{}", opts.get_host(), opts.get_port()))
        .await?
        .next()
        .ok_or("no address for the database host")?;
    let proxy = RoundTripProxy::start(upstream).await?;
    let through = opts
        .clone()
        .host("127.0.0.1")
        .port(proxy.port())
        .ssl_mode(PgSslMode::Disable)
        .username(APP_ROLE);
    let mut clients = Clients {
        signed: TenantPool::options()
            .context_key(key.clone())
            .max_connections(1)
            .connect_with(through.clone())
            .await?,
        unsigned: PgConnection::connect_with(&through).await?,
    };
    let mut count = async |context| -> Result<u64, BoxError> {
        request(&mut clients, (context, Statement::Point), target).await?;
        let before = proxy.round_trips();
        request(&mut clients, (context, Statement::Point), target).await?;
        Ok(proxy.round_trips() - before)
    };
    let signed = count(Context::Signed).await?;
    let unsigned = count(Context::Unsigned).await?;
    clients.signed.close();
    clients.unsigned.close().await?;
    Ok((signed, unsigned))
}

fn report(s: &[Samples; VARIANTS.len()], trips: (u64, u64)) -> String {
    let [
        u_point,
        s_point,
        r_point,
        u_list,
        s_list,
        r_list,
        u_begin,
        s_begin,
    ] = s;
    let mut out = header("request (begin, statement, commit) as the application role");
    out += &row("point lookup, unsigned context (before)", u_point, None);
    out += &row(
        "point lookup, signed context (`Project::scoped(&tx).find`)",
        s_point,
        Some(u_point),
    );
    out += &row(
        "point lookup, signed, the same SQL through `tx.conn()` (reset at commit)",
        r_point,
        Some(u_point),
    );
    out += &row("50-row list, unsigned context (before)", u_list, None);
    out += &row(
        "50-row list, signed context (`page(50, 0)`)",
        s_list,
        Some(u_list),
    );
    out += &row(
        "50-row list, signed, the same SQL through `tx.conn()` (reset at commit)",
        r_list,
        Some(u_list),
    );
    out += &row("begin + commit alone, unsigned", u_begin, None);
    out += &row("begin + commit alone, signed", s_begin, Some(u_begin));
    out += &format!(
        "\nRound trips per point request: signed {}, unsigned {}.\n",
        trips.0, trips.1
    );
    out
}
