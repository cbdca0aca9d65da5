//! Benchmark: what each tenant context mechanism costs a request, against
//! the same hand-written query in a plain transaction on the same backend,
//! as wall time and server CPU measured in one run.
//!
//! ```sh
//! DATABASE_URL=<a role that can create databases and roles> cargo bench -p tenant-tests --bench context_overhead
//! ```
//!
//! It creates (and drops) two databases with the emitted DDL and 100
//! tenants x 1000 projects, plus `projects_plain`, the same rows without
//! row-level security: `tenant_bench_overhead_ext` with the tenant_context
//! extension (the extension and bound-token mechanisms) and
//! `tenant_bench_overhead_sql` without (the SQL session). On one
//! application-role connection per database, every variant runs request by
//! request in an order rotated each round (which CPU a backend sits on
//! moves both wall time and server CPU on this VM, so every ratio is
//! taken on one backend, and only variants on the same backend take turns). The begin
//! messages are the library's own, driven by hand; the last rows run the
//! whole library (`TenantPool::begin`, `Project::scoped(&tx)`, `commit`),
//! each pool on a backend of its own, against a plain sqlx pool's
//! hand-written transaction on another.

use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::{Connection as _, Executor as _};
use tenant_runtime::tx::{ContextKey, ContextMechanism};
use tenant_runtime::{TenantId, TenantPool, ddl, registry};
use tenant_tests::Project;
use tenant_tests::bench::{BoxError, Samples, header, interleaved_n, load_projects, row};
use tenant_tests::session::{RawExtension, RawSession, begin_bound};
use tenant_tests::setup::{self, APP_ROLE};

const ROUNDS: usize = 60;
const PER_ROUND: usize = 100;

/// The statements, written by hand as `Project::scoped` writes them.
const FIND: &str = "SELECT id, tenant_id, name FROM {table} WHERE tenant_id = $1 AND id = $2";
const PAGE: &str = "SELECT id, tenant_id, name FROM {table} WHERE tenant_id = $1 ORDER BY id LIMIT (SELECT $2::bigint) OFFSET (SELECT $3::bigint)";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Begin {
    Plain,
    Extension,
    Bound,
    Session,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Read {
    Point,
    List,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Backend {
    /// The raw connection to the database with the extension.
    Ext,
    /// The raw connection to the database without it.
    Sql,
    /// A pool of its own.
    Pool(usize),
}

struct Variant {
    name: &'static str,
    begin: Begin,
    read: Read,
    on: Backend,
}

const fn v(name: &'static str, begin: Begin, read: Read, on: Backend) -> Variant {
    Variant {
        name,
        begin,
        read,
        on,
    }
}

const N: usize = 14;
const VARIANTS: [Variant; N] = [
    v(
        "by hand, plain transaction, no RLS (ext db)",
        Begin::Plain,
        Read::Point,
        Backend::Ext,
    ),
    v(
        "extension: one message, token checked natively",
        Begin::Extension,
        Read::Point,
        Backend::Ext,
    ),
    v(
        "bound token: BEGIN + identity, then the token",
        Begin::Bound,
        Read::Point,
        Backend::Ext,
    ),
    v(
        "50 rows by hand, plain transaction (ext db)",
        Begin::Plain,
        Read::List,
        Backend::Ext,
    ),
    v(
        "50 rows, extension",
        Begin::Extension,
        Read::List,
        Backend::Ext,
    ),
    v(
        "50 rows, bound token",
        Begin::Bound,
        Read::List,
        Backend::Ext,
    ),
    v(
        "by hand, plain transaction, no RLS (sql db)",
        Begin::Plain,
        Read::Point,
        Backend::Sql,
    ),
    v(
        "SQL session: CALL tenancy.enter; BEGIN",
        Begin::Session,
        Read::Point,
        Backend::Sql,
    ),
    v(
        "50 rows by hand, plain transaction (sql db)",
        Begin::Plain,
        Read::List,
        Backend::Sql,
    ),
    v(
        "50 rows, SQL session",
        Begin::Session,
        Read::List,
        Backend::Sql,
    ),
    v(
        "sqlx PgPool, by hand, no RLS",
        Begin::Plain,
        Read::Point,
        Backend::Pool(0),
    ),
    v(
        "TenantPool (extension), scoped find",
        Begin::Extension,
        Read::Point,
        Backend::Pool(1),
    ),
    v(
        "TenantPool (SQL session), scoped find",
        Begin::Session,
        Read::Point,
        Backend::Pool(2),
    ),
    v(
        "TenantPool (bound), scoped find",
        Begin::Bound,
        Read::Point,
        Backend::Pool(3),
    ),
];

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), BoxError> {
    tenant_tests::bench::with_fresh_database(
        "tenant_bench_overhead_ext",
        async |ext_owner, ext_opts| {
            tenant_tests::bench::with_fresh_database(
                "tenant_bench_overhead_sql",
                async |sql_owner, sql_opts| run(&ext_owner, &ext_opts, &sql_owner, &sql_opts).await,
            )
            .await
        },
    )
    .await
}

async fn prepare(owner: &PgPool, extension: bool) -> Result<ContextKey, BoxError> {
    tenant_tests::link();
    let key = setup::install(owner, &ddl::emit(registry::tables()?)).await?;
    if extension {
        setup::install_extension(owner).await?;
    } else {
        setup::remove_extension(owner).await?;
    }
    load_projects(owner, 100, 1000).await?;
    owner
        .execute(
            "CREATE TABLE projects_plain (LIKE projects INCLUDING ALL);
             INSERT INTO projects_plain SELECT * FROM projects;
             GRANT SELECT ON projects_plain TO PUBLIC;",
        )
        .await?;
    owner.execute("VACUUM ANALYZE projects_plain").await?;
    Ok(key)
}

struct Rig {
    ext: RawExtension,
    sql: RawSession,
    ext_key: ContextKey,
    plain_pool: PgPool,
    pools: [TenantPool; 3],
    pids: [i32; 6],
}

async fn pid(conn: &mut PgConnection) -> Result<i32, BoxError> {
    Ok(sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(conn)
        .await?)
}

async fn pool_pid(pool: &TenantPool) -> Result<i32, BoxError> {
    let mut tx = pool.begin_global().await?;
    let pid = pid(tx.conn()).await?;
    tx.commit().await?;
    Ok(pid)
}

async fn tenant_pool(
    opts: &PgConnectOptions,
    key: &ContextKey,
    pooler: bool,
    expect: ContextMechanism,
) -> Result<TenantPool, BoxError> {
    let pool = TenantPool::options()
        .context_key(key.clone())
        .transaction_pooler(pooler)
        .max_connections(1)
        .connect_with(opts.clone().username(APP_ROLE))
        .await?;
    assert_eq!(pool.mechanism(), Some(expect));
    Ok(pool)
}

impl Rig {
    async fn request(
        &mut self,
        variant: &Variant,
        (tenant, id): (TenantId, i64),
    ) -> Result<usize, BoxError> {
        let table = if variant.begin == Begin::Plain {
            "projects_plain"
        } else {
            "projects"
        };
        let sql = match variant.read {
            Read::Point => FIND.replace("{table}", table),
            Read::List => PAGE.replace("{table}", table),
        };
        if let Backend::Pool(n) = variant.on {
            if n == 0 {
                let mut tx = self.plain_pool.begin().await?;
                let rows = sqlx::query(&sql)
                    .bind(tenant)
                    .bind(id)
                    .fetch_all(&mut *tx)
                    .await?;
                tx.commit().await?;
                return Ok(rows.len());
            }
            let tx = self.pools[n - 1].begin(tenant).await?;
            let found = Project::scoped(&tx).find(&id).await?;
            tx.commit().await?;
            return Ok(usize::from(found.is_some()));
        }
        let conn = match variant.on {
            Backend::Ext => &mut self.ext.conn,
            _ => &mut self.sql.conn,
        };
        match variant.begin {
            Begin::Plain => {
                conn.execute("BEGIN").await?;
            }
            Begin::Extension => {
                let message = self.ext.begin_message(tenant);
                self.ext.conn.execute(sqlx::raw_sql(&message)).await?;
            }
            Begin::Bound => begin_bound(conn, &self.ext_key, tenant).await?,
            Begin::Session => {
                let (counter, mac) = self.sql.token(tenant);
                let message = format!(
                    "CALL tenancy.enter('{tenant}'::uuid, NULL::uuid, {counter}::int8, '{mac}'::text, NULL::text); BEGIN"
                );
                self.sql.send(&message).await?;
            }
        }
        let conn = match variant.on {
            Backend::Ext => &mut self.ext.conn,
            _ => &mut self.sql.conn,
        };
        let rows = match variant.read {
            Read::Point => {
                sqlx::query(&sql)
                    .bind(tenant)
                    .bind(id)
                    .fetch_all(&mut *conn)
                    .await?
            }
            Read::List => {
                sqlx::query(&sql)
                    .bind(tenant)
                    .bind(50_i64)
                    .bind(0_i64)
                    .fetch_all(&mut *conn)
                    .await?
            }
        };
        conn.execute("COMMIT").await?;
        Ok(rows.len())
    }

    fn pid_of(&self, variant: &Variant) -> i32 {
        match variant.on {
            Backend::Ext => self.pids[0],
            Backend::Sql => self.pids[1],
            Backend::Pool(n) => self.pids[2 + n],
        }
    }
}

async fn run(
    ext_owner: &PgPool,
    ext_opts: &PgConnectOptions,
    sql_owner: &PgPool,
    sql_opts: &PgConnectOptions,
) -> Result<(), BoxError> {
    let ext_key = prepare(ext_owner, true).await?;
    let sql_key = prepare(sql_owner, false).await?;
    let targets: Vec<(TenantId, i64)> = sqlx::query_as(
        "SELECT DISTINCT ON (tenant_id) tenant_id, id FROM projects WHERE id % 97 = 3 ORDER BY tenant_id, id",
    )
    .fetch_all(ext_owner)
    .await?;
    // The same ids in the database without the extension, by slug.
    let sql_targets: Vec<(TenantId, i64)> = sqlx::query_as(
        "SELECT DISTINCT ON (tenant_id) tenant_id, id FROM projects WHERE id % 97 = 3 ORDER BY tenant_id, id",
    )
    .fetch_all(sql_owner)
    .await?;

    let mut ext = RawExtension::open(&ext_opts.clone().username(APP_ROLE), &ext_key).await?;
    let mut sql = RawSession::open(&sql_opts.clone().username(APP_ROLE), &sql_key).await?;
    let plain_pool = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(ext_opts.clone().username(APP_ROLE))
        .await?;
    let pools = [
        tenant_pool(ext_opts, &ext_key, false, ContextMechanism::Extension).await?,
        tenant_pool(sql_opts, &sql_key, false, ContextMechanism::Session).await?,
        tenant_pool(ext_opts, &ext_key, true, ContextMechanism::Bound).await?,
    ];
    let plain_pid = {
        let mut conn = plain_pool.acquire().await?;
        pid(&mut conn).await?
    };
    let pids = [
        pid(&mut ext.conn).await?,
        pid(&mut sql.conn).await?,
        plain_pid,
        pool_pid(&pools[0]).await?,
        pool_pid(&pools[1]).await?,
        pool_pid(&pools[2]).await?,
    ];
    let mut rig = Rig {
        ext,
        sql,
        ext_key,
        plain_pool,
        pools,
        pids,
    };
    // One interleaved run per backend group: a request on a backend that
    // sat idle while another ran costs more, so each ratio compares
    // variants that take turns on the same backend (the pools, each on a
    // backend of its own, take turns with one another).
    let groups: [Vec<usize>; 3] = [(0..6).collect(), (6..10).collect(), (10..N).collect()];
    let mut samples: Vec<Option<Samples>> = (0..N).map(|_| None).collect();
    for group in groups {
        let mut next = 0usize;
        let pick = || {
            next = (next + 37) % targets.len();
            next
        };
        let measured = run_group(&mut rig, &group, pick, &targets, &sql_targets).await?;
        for (index, s) in group.into_iter().zip(measured) {
            samples[index] = Some(s);
        }
    }
    let samples: Vec<Samples> = samples
        .into_iter()
        .map(|s| s.expect("every variant ran"))
        .collect();
    for pool in &rig.pools {
        pool.close();
    }
    rig.plain_pool.close().await;
    rig.ext.conn.close().await?;
    rig.sql.conn.close().await?;
    println!("{}", report(&samples));
    Ok(())
}

/// Runs the variants `group` interleaved, request by request.
async fn run_group(
    rig: &mut Rig,
    group: &[usize],
    pick: impl FnMut() -> usize,
    targets: &[(TenantId, i64)],
    sql_targets: &[(TenantId, i64)],
) -> Result<Vec<Samples>, BoxError> {
    let backends: Vec<i32> = group.iter().map(|&i| rig.pid_of(&VARIANTS[i])).collect();
    let samples = interleaved_n(
        group.len(),
        (ROUNDS, PER_ROUND),
        pick,
        |slot| backends[slot],
        async |slot, at| {
            let variant = &VARIANTS[group[slot]];
            let target = match variant.on {
                Backend::Sql | Backend::Pool(2) => sql_targets[at],
                _ => targets[at],
            };
            let rows = rig.request(variant, target).await?;
            let expected = match variant.read {
                Read::Point => 1,
                Read::List => 50,
            };
            assert_eq!(rows, expected, "{}", variant.name);
            Ok::<_, BoxError>(())
        },
    )
    .await?;
    Ok(samples)
}

/// Each variant against the plain transaction on its own backend (the
/// pools against the plain sqlx pool, on backends of their own).
fn report(s: &[Samples]) -> String {
    let mut out = header("request as the application role");
    for (i, variant) in VARIANTS.iter().enumerate() {
        let base = match (variant.on, variant.read) {
            (Backend::Ext, Read::Point) => 0,
            (Backend::Ext, Read::List) => 3,
            (Backend::Sql, Read::Point) => 6,
            (Backend::Sql, Read::List) => 8,
            (Backend::Pool(_), _) => 10,
        };
        out += &row(variant.name, &s[i], (i != base).then_some(&s[base]));
    }
    out
}
