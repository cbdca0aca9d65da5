//! Benchmark: where the per-request cost of the unforgeable tenant context
//! goes, one part at a time, as server CPU measured in one run.
//!
//! ```sh
//! DATABASE_URL=<a role that can create databases and roles> cargo bench -p tenant-tests --bench overhead_breakdown
//! ```
//!
//! It creates (and drops) a database `tenant_bench_breakdown` with the
//! emitted DDL and 100 tenants x 1000 projects, and beside today's
//! `tenancy.enter` and `tenancy.context` installs copies of them with one
//! part taken out each (the text of the emitted DDL with that part cut, so
//! the copies follow the real ones), plus empty procedures of the same
//! signature. One connection of the application role opens a tenancy
//! session the way `TenantPool` does and runs every variant on the same
//! backend, request by request in an order rotated each round, so each
//! part's cost is a difference of server CPU (from /proc) in one run.

use sqlx::postgres::{PgConnectOptions, PgPool};
use sqlx::{Connection as _, Executor as _};
use tenant_runtime::{TenantId, TenantPool, ddl, registry};
use tenant_tests::Project;
use tenant_tests::bench::{
    BoxError, Samples, header, interleaved, load_projects, micros, row, with_fresh_database,
};
use tenant_tests::session::RawSession;
use tenant_tests::setup::{self, APP_ROLE};

const DATABASE: &str = "tenant_bench_breakdown";
const ROUNDS: usize = 120;
const PER_ROUND: usize = 100;

/// One cut of an emitted object: the text to find (exactly once) and what
/// stands in for it.
type Cut = (&'static str, &'static str);

/// `tenancy.enter` without the tenant's lookup in the tenants table
/// (what a verified-tenant cache in the pool would save).
const NO_TENANT_LOOKUP: &[Cut] = &[(
    "(SELECT CASE WHEN t.deleted_at IS NULL THEN 1 ELSE 2 END FROM public.tenants t WHERE t.id = p_tenant)",
    "1::smallint",
)];
/// `tenancy.enter` without the check that the session table is the
/// tenancy owner's.
const NO_SESSION_OWNER: &[Cut] = &[(
    "(SELECT c.relowner FROM pg_catalog.pg_class c WHERE c.oid = s.tableoid)\n             = (SELECT n.nspowner FROM pg_catalog.pg_namespace n WHERE n.oid = 'tenancy'::regnamespace)",
    "true",
)];
/// `tenancy.enter` with the session owner check of the release before:
/// the table found again by name and the schema by a scan of pg_namespace.
const OLD_SESSION_OWNER: &[Cut] = &[(
    "(SELECT c.relowner FROM pg_catalog.pg_class c WHERE c.oid = s.tableoid)\n             = (SELECT n.nspowner FROM pg_catalog.pg_namespace n WHERE n.oid = 'tenancy'::regnamespace)",
    "(SELECT c.relowner = n.nspowner FROM pg_catalog.pg_class c, pg_catalog.pg_namespace n\n             WHERE c.oid = pg_catalog.to_regclass('pg_temp.tenancy_session') AND n.nspname = 'tenancy')",
)];
/// `tenancy.enter` without the MAC (the counter is still checked).
const NO_MAC: &[Cut] = &[(
    "OR p_mac IS NULL\n       OR pg_catalog.sha256",
    "OR p_mac IS NULL\n       OR false AND pg_catalog.sha256",
)];
/// `tenancy.enter` running its three PERFORMs with nothing to do: the
/// cost of its writes (the counter, the user, the tenant context).
const NO_WRITES: &[Cut] = &[
    (
        "PERFORM pg_catalog.setval('pg_temp.tenancy_counter', p_counter);",
        "PERFORM pg_catalog.setval('pg_temp.tenancy_counter', p_counter) WHERE false;",
    ),
    (
        "PERFORM pg_catalog.setval('pg_temp.tenancy_user_at', 0);",
        "PERFORM pg_catalog.setval('pg_temp.tenancy_user_at', 0) WHERE false;",
    ),
    (
        "::bigint);\n    IF p_user IS NOT NULL THEN",
        "::bigint) WHERE false;\n    IF p_user IS NOT NULL THEN",
    ),
];
/// `tenancy.context` without the check that the context's sequence is
/// the tenancy owner's.
const VIEW_NO_OWNER: &[Cut] = &[(
    "AND (SELECT c.relowner FROM pg_catalog.pg_class c WHERE c.oid = pg_catalog.to_regclass('pg_temp.tenancy_ctx_at'))\n                 = (SELECT n.nspowner FROM pg_catalog.pg_namespace n WHERE n.oid = 'tenancy'::regnamespace)",
    "",
)];

/// `tenancy.context` with the owner check of the release before.
const VIEW_OLD_OWNER: &[Cut] = &[(
    "AND (SELECT c.relowner FROM pg_catalog.pg_class c WHERE c.oid = pg_catalog.to_regclass('pg_temp.tenancy_ctx_at'))\n                 = (SELECT n.nspowner FROM pg_catalog.pg_namespace n WHERE n.oid = 'tenancy'::regnamespace)",
    "AND EXISTS (SELECT 1 FROM pg_catalog.pg_class c, pg_catalog.pg_namespace n\n                          WHERE c.oid = pg_catalog.to_regclass('pg_temp.tenancy_ctx_at')\n                            AND n.nspname = 'tenancy' AND c.relowner = n.nspowner)",
)];

/// Empty procedures with `enter`'s signature: what a CALL costs before
/// its body does anything, invoked and as SECURITY DEFINER.
const EMPTY: &str = "
CREATE PROCEDURE breakdown.empty_invoker(p_tenant uuid, p_user uuid, p_counter bigint, p_mac text, INOUT p_out text)
    LANGUAGE plpgsql AS $fn$ BEGIN END $fn$;
CREATE PROCEDURE breakdown.empty_definer(p_tenant uuid, p_user uuid, p_counter bigint, p_mac text, INOUT p_out text)
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$ BEGIN END $fn$;
";

/// How a variant begins its transaction.
#[derive(Clone, Copy)]
enum Begin {
    /// `BEGIN`: no tenant context at all.
    Plain,
    /// `CALL <procedure>(<tenant>, NULL, <counter>, <mac>, NULL); BEGIN`.
    Call(&'static str),
    /// `TenantPool::begin`, the scoped API, `commit`: today's begin with
    /// the library's client side (its own connection and backend).
    Pool,
}

/// The table a variant's point lookup reads (none for begin + commit).
#[derive(Clone, Copy)]
enum Read {
    None,
    Table(&'static str),
}

const VARIANTS: [(&str, Begin, Read); 15] = [
    ("BEGIN + COMMIT (no context)", Begin::Plain, Read::None),
    (
        "CALL of an empty procedure; BEGIN + COMMIT",
        Begin::Call("breakdown.empty_invoker"),
        Read::None,
    ),
    (
        "the same, SECURITY DEFINER with SET search_path",
        Begin::Call("breakdown.empty_definer"),
        Read::None,
    ),
    (
        "`tenancy.enter` without the tenants lookup",
        Begin::Call("breakdown.enter_no_tenant_lookup"),
        Read::None,
    ),
    (
        "`tenancy.enter` without the session owner check",
        Begin::Call("breakdown.enter_no_session_owner"),
        Read::None,
    ),
    (
        "`tenancy.enter` without the MAC",
        Begin::Call("breakdown.enter_no_mac"),
        Read::None,
    ),
    (
        "`tenancy.enter` without its writes",
        Begin::Call("breakdown.enter_no_writes"),
        Read::None,
    ),
    (
        "`tenancy.enter` (today's begin) + COMMIT",
        Begin::Call("tenancy.enter"),
        Read::None,
    ),
    (
        "enter, point lookup under a policy of `true`, COMMIT",
        Begin::Call("tenancy.enter"),
        Read::Table("breakdown.projects_true"),
    ),
    (
        "enter, point lookup under `tenancy.context` without its owner check, COMMIT",
        Begin::Call("tenancy.enter"),
        Read::Table("breakdown.projects_no_owner"),
    ),
    (
        "enter, point lookup under `tenancy.context` (today's policy), COMMIT",
        Begin::Call("tenancy.enter"),
        Read::Table("public.projects"),
    ),
    (
        "`tenancy.enter` of the release before (owner check by name) + COMMIT",
        Begin::Call("breakdown.enter_old_owner"),
        Read::None,
    ),
    (
        "enter, point lookup under `tenancy.context` of the release before, COMMIT",
        Begin::Call("tenancy.enter"),
        Read::Table("breakdown.projects_old_owner"),
    ),
    (
        "BEGIN, the point lookup by hand on a copy without RLS, COMMIT",
        Begin::Plain,
        Read::Table("breakdown.projects_plain"),
    ),
    (
        "`TenantPool::begin`, `Project::scoped(&tx).find`, `commit`",
        Begin::Pool,
        Read::Table("public.projects"),
    ),
];

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), BoxError> {
    with_fresh_database(DATABASE, async |owner, opts| run(&owner, &opts).await).await
}

/// The `CREATE` statement of `object` in the emitted DDL, renamed to
/// `renamed` and with `cuts` applied; panics when the DDL no longer holds
/// the text a cut names, so the copies cannot drift from the real objects.
fn cut(ddl: &str, object: &str, end: &str, renamed: &str, cuts: &[Cut]) -> String {
    let start = ddl
        .find(object)
        .unwrap_or_else(|| panic!("no `{object}` in the DDL"));
    let len = ddl[start..]
        .find(end)
        .unwrap_or_else(|| panic!("no end of `{object}`"))
        + end.len();
    let mut text =
        ddl[start..start + len].replacen(object.rsplit(' ').next().unwrap_or(object), renamed, 1);
    for (from, to) in cuts {
        assert_eq!(
            text.matches(from).count(),
            1,
            "`{from}` not once in `{object}`"
        );
        text = text.replacen(from, to, 1);
    }
    text
}

/// The breakdown schema: the cut copies and the tables whose policies read them.
fn breakdown_sql(ddl: &str) -> String {
    let enter = |name: &str, cuts| {
        cut(
            ddl,
            "CREATE OR REPLACE PROCEDURE tenancy.enter(",
            "$fn$;",
            &format!("breakdown.{name}("),
            cuts,
        )
    };
    let view = |name: &str, cuts| {
        cut(
            ddl,
            "CREATE OR REPLACE VIEW tenancy.context",
            "AS tenant;",
            &format!("breakdown.{name}"),
            cuts,
        )
    };
    let mut sql =
        String::from("CREATE SCHEMA breakdown;\nGRANT USAGE ON SCHEMA breakdown TO PUBLIC;\n");
    sql += EMPTY;
    sql += &enter("enter_no_tenant_lookup", NO_TENANT_LOOKUP);
    sql += "\n";
    sql += &enter("enter_no_session_owner", NO_SESSION_OWNER);
    sql += "\n";
    sql += &enter("enter_no_mac", NO_MAC);
    sql += "\n";
    sql += &enter("enter_no_writes", NO_WRITES);
    sql += "\n";
    sql += &enter("enter_old_owner", OLD_SESSION_OWNER);
    sql += "\n";
    sql += &view("context_no_owner", VIEW_NO_OWNER);
    sql += "\n";
    sql += &view("context_old_owner", VIEW_OLD_OWNER);
    sql += "\nGRANT EXECUTE ON ALL PROCEDURES IN SCHEMA breakdown TO PUBLIC;
GRANT SELECT ON ALL TABLES IN SCHEMA breakdown TO PUBLIC;\n";
    for (table, using) in [
        ("projects_true", "true"),
        (
            "projects_no_owner",
            "tenant_id = (SELECT c.tenant FROM breakdown.context_no_owner c)",
        ),
        (
            "projects_old_owner",
            "tenant_id = (SELECT c.tenant FROM breakdown.context_old_owner c)",
        ),
        ("projects_plain", ""),
    ] {
        let rls = if using.is_empty() {
            String::new()
        } else {
            format!(
                "ALTER TABLE breakdown.{table} ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY p ON breakdown.{table} USING ({using});\n"
            )
        };
        sql += &format!(
            "CREATE TABLE breakdown.{table} (LIKE public.projects INCLUDING ALL);
INSERT INTO breakdown.{table} SELECT * FROM public.projects;
{rls}GRANT SELECT ON breakdown.{table} TO PUBLIC;
ANALYZE breakdown.{table};\n"
        );
    }
    sql
}

/// The hand-driven session every variant but the last runs on, and the
/// pool the last one runs through.
struct Session {
    raw: RawSession,
    pool: TenantPool,
}

impl Session {
    async fn open(
        opts: &PgConnectOptions,
        key: &tenant_runtime::tx::ContextKey,
    ) -> Result<Self, BoxError> {
        let app = opts.clone().username(APP_ROLE);
        let raw = RawSession::open(&app, key).await?;
        let pool = TenantPool::options()
            .context_key(key.clone())
            .max_connections(1)
            .connect_with(app)
            .await?;
        Ok(Self { raw, pool })
    }

    /// The begin message of a tenant-only token, addressed to `procedure`.
    fn begin(&mut self, procedure: &str, tenant: TenantId) -> String {
        let (counter, mac) = self.raw.token(tenant);
        format!(
            "CALL {procedure}('{tenant}'::uuid, NULL::uuid, {counter}::int8, '{mac}'::text, NULL::text); BEGIN"
        )
    }

    /// One request of a variant; returns the rows it read.
    async fn request(
        &mut self,
        (_, begin, read): (&str, Begin, Read),
        (tenant, id): (TenantId, i64),
    ) -> Result<usize, BoxError> {
        let message = match begin {
            Begin::Plain => "BEGIN".to_owned(),
            Begin::Call(procedure) => self.begin(procedure, tenant),
            Begin::Pool => {
                let tx = self.pool.begin(tenant).await?;
                let found = Project::scoped(&tx).find(&id).await?;
                tx.commit().await?;
                return Ok(usize::from(found.is_some()));
            }
        };
        self.raw.send(&message).await?;
        let rows = match read {
            Read::None => 0,
            Read::Table(table) => {
                let sql = format!(
                    "SELECT id, tenant_id, name FROM {table} WHERE tenant_id = $1 AND id = $2"
                );
                sqlx::query(&sql)
                    .bind(tenant)
                    .bind(id)
                    .fetch_all(&mut self.raw.conn)
                    .await?
                    .len()
            }
        };
        self.raw.send("COMMIT").await?;
        Ok(rows)
    }
}

async fn run(owner: &PgPool, opts: &PgConnectOptions) -> Result<(), BoxError> {
    tenant_tests::link();
    let ddl = ddl::emit(registry::tables()?);
    let key = setup::install(owner, &ddl).await?;
    load_projects(owner, 100, 1000).await?;
    owner.execute(breakdown_sql(&ddl).as_str()).await?;
    let targets: Vec<(TenantId, i64)> = sqlx::query_as(
        "SELECT DISTINCT ON (tenant_id) tenant_id, id FROM projects WHERE id % 97 = 3 ORDER BY tenant_id, id",
    )
    .fetch_all(owner)
    .await?;

    let mut session = Session::open(opts, &key).await?;
    let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut session.raw.conn)
        .await?;
    let mut global = session.pool.begin_global().await?;
    let pool_pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(global.conn())
        .await?;
    global.commit().await?;
    let mut next = 0usize;
    let pick = || {
        next = (next + 37) % targets.len();
        targets[next]
    };
    let backend = |index: usize| {
        if matches!(VARIANTS[index].1, Begin::Pool) {
            pool_pid
        } else {
            pid
        }
    };
    let samples = interleaved::<{ VARIANTS.len() }, _, BoxError>(
        (ROUNDS, PER_ROUND),
        pick,
        backend,
        async |index, target| {
            let variant = VARIANTS[index];
            let rows = session.request(variant, target).await?;
            let expected = usize::from(matches!(variant.2, Read::Table(_)));
            assert_eq!(rows, expected, "{}", variant.0);
            Ok(())
        },
    )
    .await?;
    session.pool.close();
    session.raw.conn.close().await?;
    println!("{}", report(&samples));
    Ok(())
}

/// The variants against the first (a bare BEGIN + COMMIT), then each part
/// as the difference it makes.
fn report(s: &[Samples; VARIANTS.len()]) -> String {
    let mut out = header("request as the application role, one backend");
    for (i, (name, _, _)) in VARIANTS.iter().enumerate() {
        out += &row(name, &s[i], (i > 0).then_some(&s[0]));
    }
    let us = |i: usize| {
        s[i].server_cpu_per_request()
            .map_or(f64::NAN, |d| d.as_secs_f64() * 1e6)
    };
    let full = 7;
    out += "\n| part | server CPU per request |\n| --- | --- |\n";
    for (part, micros) in [
        (
            "a CALL in the begin message (empty procedure)",
            us(1) - us(0),
        ),
        ("SECURITY DEFINER and SET search_path", us(2) - us(1)),
        ("the body of `tenancy.enter`", us(full) - us(2)),
        ("of which the tenants lookup", us(full) - us(3)),
        ("of which the session owner check", us(full) - us(4)),
        ("of which the MAC", us(full) - us(5)),
        ("of which the writes", us(full) - us(6)),
        ("a point lookup under a policy of `true`", us(8) - us(full)),
        ("`tenancy.context` in the policy", us(10) - us(8)),
        ("of which its owner check", us(10) - us(9)),
        (
            "saved in `tenancy.enter` by the owner check by OID",
            us(11) - us(full),
        ),
        (
            "saved per statement by the view's owner check by OID",
            us(12) - us(10),
        ),
        (
            "a tenant point request over the same lookup by hand",
            us(10) - us(13),
        ),
    ] {
        out += &format!("| {part} | {micros:.1} µs |\n");
    }
    out += &format!(
        "\nThrough `TenantPool` and the scoped API (its own connection, so its own backend) the same request took {:.3}x the wall time of the raw one ({:.0} vs {:.0} µs, medians).\n",
        micros(&s[14].wall) / micros(&s[10].wall),
        micros(&s[14].wall),
        micros(&s[10].wall)
    );
    out += &format!(
        "\nA tenant point request costs {:.3}x the server CPU of the same lookup by hand in a plain transaction.\n",
        us(10) / us(13)
    );
    out
}
