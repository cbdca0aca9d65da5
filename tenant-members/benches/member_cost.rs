//! What the membership check costs a request: a 50-row list through
//! `begin_as` with and without the `Member` extractor's statement, and
//! with plain `begin` (no user), interleaved request by request on one
//! connection, as the application role.
//!
//! ```sh
//! DATABASE_URL=<a role that can create databases and roles> cargo bench -p tenant-members --bench member_cost
//! ```

use sqlx::Executor as _;
use sqlx::postgres::{PgConnectOptions, PgPool};
use tenant_runtime::{TenantId, TenantPool, TenantScoped, UserId, ddl, registry};
use tenant_test_support::bench::{
    BoxError, header, interleaved, one_connection_tenant_pool, row, with_fresh_database,
};
use tenant_test_support::setup;

/// The listed table (the benchmark links no other crate's models).
#[derive(Debug, sqlx::FromRow, TenantScoped)]
#[tenant_table(name = "projects", unique(tenant_id, name))]
struct Project {
    #[tenant(primary_key, generated)]
    id: i64,
    tenant_id: TenantId,
    name: String,
}

const DATABASE: &str = "tenant_bench_members";
const TENANTS: i64 = 100;
const ROWS_PER_TENANT: i64 = 1000;
const ROUNDS: usize = 30;
const PER_ROUND: usize = 100;

#[derive(Clone, Copy)]
enum Variant {
    /// `begin`, `page(50, 0)`, commit: no user.
    Plain,
    /// `begin_as`, `page(50, 0)`, commit.
    AsUser,
    /// `begin_as`, the membership statement, `page(50, 0)`, commit.
    Member,
}

const VARIANTS: [Variant; 3] = [Variant::Plain, Variant::AsUser, Variant::Member];

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), BoxError> {
    with_fresh_database(DATABASE, async |owner, opts| run(&owner, &opts).await).await
}

async fn run(owner: &PgPool, opts: &PgConnectOptions) -> Result<(), BoxError> {
    tenant_members::link();
    let key = setup::install(owner, &ddl::emit(registry::tables()?)).await?;
    owner
        .execute(
            format!(
                "INSERT INTO tenants (name, slug) SELECT 'Tenant ' || g, 'tenant-' || g FROM generate_series(1, {TENANTS}) g;
                 INSERT INTO projects (tenant_id, name) SELECT t.id, 'project ' || g FROM tenants t, generate_series(1, {ROWS_PER_TENANT}) g;
                 INSERT INTO memberships (tenant_id, user_id, role) SELECT t.id, gen_random_uuid(), 'member' FROM tenants t"
            )
            .as_str(),
        )
        .await?;
    for table in ["tenants", "projects", "memberships"] {
        owner
            .execute(format!("VACUUM ANALYZE {table}").as_str())
            .await?;
    }
    let members: Vec<(TenantId, uuid::Uuid)> =
        sqlx::query_as("SELECT tenant_id, user_id FROM memberships ORDER BY tenant_id")
            .fetch_all(owner)
            .await?;
    let (pool, pid) = one_connection_tenant_pool(opts, key).await?;

    let mut next = 0usize;
    let pick = || {
        next = (next + 37) % members.len();
        let (tenant, user) = members[next];
        (tenant, UserId::new(user))
    };
    let samples = interleaved::<{ VARIANTS.len() }, _, BoxError>(
        (ROUNDS, PER_ROUND),
        pick,
        |_| pid,
        async |index, target| {
            let rows = request(&pool, VARIANTS[index], target).await?;
            assert_eq!(rows, 50);
            Ok(())
        },
    )
    .await?;
    pool.close();
    let [plain, as_user, member] = &samples;
    let mut out = header("50-row list request as the application role");
    out.push_str(&row(
        "`begin`, `page(50, 0)`, commit (no user)",
        plain,
        None,
    ));
    out.push_str(&row(
        "`begin_as`, `page(50, 0)`, commit",
        as_user,
        Some(plain),
    ));
    out.push_str(&row(
        "`begin_as`, `role_of_current_user` (what `Member` runs), `page(50, 0)`, commit",
        member,
        Some(plain),
    ));
    out.push_str(&row(
        "the role check's share (vs `begin_as` without it)",
        member,
        Some(as_user),
    ));
    println!("{out}");
    Ok(())
}

/// One request; the rows it listed.
async fn request(
    pool: &TenantPool,
    v: Variant,
    (tenant, user): (TenantId, UserId),
) -> Result<usize, BoxError> {
    let tx = match v {
        Variant::Plain => pool.begin(tenant).await?,
        Variant::AsUser | Variant::Member => pool.begin_as(tenant, user).await?,
    };
    if let Variant::Member = v {
        let role = tenant_members::role_of_current_user(&tx).await?;
        assert!(role.is_some(), "the user is a member");
    }
    let rows = Project::scoped(&tx).page(50, 0).await?.len();
    tx.commit().await?;
    Ok(rows)
}
