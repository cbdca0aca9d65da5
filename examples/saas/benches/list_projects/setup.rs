//! The benchmark's database: created fresh, set up as the README does
//! (roles, migrations by the owner, roles again), loaded with
//! generate_series, dropped at the end.

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions as _, Executor as _};
use tenant_runtime::TenantId;
use tenant_saas_example::db::{self, RoleNames};

use crate::BoxError;

/// The database it creates and drops.
pub(crate) const DATABASE: &str = "tenant_saas_bench";
/// Tenants, and projects per tenant.
pub(crate) const TENANTS: i64 = 1000;
pub(crate) const ROWS_PER_TENANT: i64 = 1000;

/// The roles, named for the benchmark.
pub(crate) const ROLES: RoleNames<'static> = RoleNames {
    owner: "saas_bench_owner",
    app: "saas_bench_app",
    system: "saas_bench_system",
};

/// A connection to the cluster's `postgres` database as `url`'s
/// superuser, to create and drop the benchmark's database.
pub(crate) async fn admin(url: &str) -> Result<(PgPool, PgConnectOptions), BoxError> {
    let opts = db::options(url, "DATABASE_URL")?.disable_statement_logging();
    let admin = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(opts.clone())
        .await?;
    Ok((admin, opts.database(DATABASE)))
}

/// Creates the database, replacing one left by an interrupted run.
pub(crate) async fn create(admin: &PgPool) -> Result<(), BoxError> {
    drop_database(admin).await?;
    admin
        .execute(format!("CREATE DATABASE {DATABASE}").as_str())
        .await?;
    Ok(())
}

/// Drops the database, closing whatever is still connected.
pub(crate) async fn drop_database(admin: &PgPool) -> Result<(), BoxError> {
    admin
        .execute(format!("DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)").as_str())
        .await?;
    Ok(())
}

/// Roles, migrations and 1000 tenants x 1000 projects; the tenants' ids.
pub(crate) async fn prepare(opts: &PgConnectOptions) -> Result<Vec<TenantId>, BoxError> {
    db::apply_roles(opts, ROLES).await?;
    db::migrate(opts.clone().username(ROLES.owner)).await?;
    db::apply_roles(opts, ROLES).await?;
    let superuser = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(opts.clone())
        .await?;
    // As the superuser, which row-level security does not apply to.
    superuser
        .execute(
            format!(
                "INSERT INTO tenants (name, slug) SELECT 'Tenant ' || g, 'tenant-' || g FROM generate_series(1, {TENANTS}) g;
                 INSERT INTO projects (tenant_id, name) SELECT t.id, 'project ' || g FROM tenants t, generate_series(1, {ROWS_PER_TENANT}) g;
                 -- Each tenant's member, the user the adapter's tokens name: its id is the tenant's.
                 INSERT INTO memberships (tenant_id, user_id, role) SELECT t.id, t.id, 'owner' FROM tenants t;"
            )
            .as_str(),
        )
        .await?;
    superuser.execute("VACUUM ANALYZE tenants").await?;
    superuser.execute("VACUUM ANALYZE projects").await?;
    superuser.execute("VACUUM ANALYZE memberships").await?;
    let ids = sqlx::query_scalar("SELECT id FROM tenants ORDER BY slug")
        .fetch_all(&superuser)
        .await?;
    superuser.close().await;
    Ok(ids)
}
