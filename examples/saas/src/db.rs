//! The database side: the committed migrations, and the one place that
//! opens the application role's pool.

use std::str::FromStr as _;

use sqlx::Connection as _;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use tenant_runtime::ddl::Roles;
use tenant_runtime::tx::ContextKey;
use tenant_runtime::{SystemPool, TenantPool, registry};

use crate::config::StartError;

/// The three roles of a deployment, by name.
#[derive(Debug, Clone, Copy)]
pub struct RoleNames<'a> {
    /// Owns the tables, runs the migrations.
    pub owner: &'a str,
    /// What the service's `TenantPool` logs in as.
    pub app: &'a str,
    /// What a `SystemPool` logs in as (BYPASSRLS).
    pub system: &'a str,
}

/// What `saas-tenant roles --apply` does, from code (the benchmark sets
/// its database up with it; the tests use tenant-testing, which gives each
/// test roles of its own): creates the roles if needed and grants on the
/// database `admin` (a superuser's options) points at, with the SQL of
/// `tenant_runtime::ddl::Roles` for the linked models, in one transaction.
pub async fn apply_roles(admin: &PgConnectOptions, roles: RoleNames<'_>) -> Result<(), StartError> {
    let failed = |e: anyhow::Error| StartError::Roles(e);
    let roles = Roles::new(roles.owner, roles.app, roles.system).map_err(|e| failed(e.into()))?;
    let tables = registry::tables().map_err(|e| failed(e.into()))?;
    let mut conn = PgConnection::connect_with(admin)
        .await
        .map_err(|e| failed(e.into()))?;
    let mut tx = conn.begin().await.map_err(|e| failed(e.into()))?;
    sqlx::raw_sql(&roles.sql(tables))
        .execute(&mut *tx)
        .await
        .map_err(|e| failed(e.into()))?;
    tx.commit().await.map_err(|e| failed(e.into()))?;
    // A failed close only means the server already dropped it.
    let _ = conn.close().await;
    Ok(())
}

/// `examples/saas/migrations`: the `emit-rls` output for the models
/// (`saas-tenant emit-rls -o examples/saas/migrations` adds a file when
/// they change).
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// Connections the service's pool keeps at most.
pub const MAX_CONNECTIONS: usize = 8;

/// Parses a PostgreSQL URL; `which` names it in the error.
pub fn options(url: &str, which: &'static str) -> Result<PgConnectOptions, StartError> {
    PgConnectOptions::from_str(url).map_err(|source| StartError::InvalidUrl { which, source })
}

/// Applies the migrations as the owner, on one connection that is closed
/// after.
pub async fn migrate(owner: PgConnectOptions) -> Result<(), StartError> {
    let mut conn = PgConnection::connect_with(&owner)
        .await
        .map_err(StartError::OwnerConnect)?;
    MIGRATOR.run(&mut conn).await.map_err(StartError::Migrate)?;
    // A failed close only means the server already dropped it.
    let _ = conn.close().await;
    Ok(())
}

/// Makes a context key and installs it as the owner, under the next free
/// id: what `saas-tenant context-key new` does, for the benchmark, which
/// needs a key of its own database (tenant-testing installs the tests'). The key goes
/// in as a bind parameter, so its bytes are in no query text.
pub async fn new_context_key(owner: PgConnectOptions) -> Result<ContextKey, StartError> {
    let mut conn = PgConnection::connect_with(&owner)
        .await
        .map_err(StartError::OwnerConnect)?;
    let id: i32 =
        sqlx::query_scalar("SELECT coalesce(max(key_id), 0) + 1 FROM tenancy.context_keys")
            .fetch_one(&mut conn)
            .await
            .map_err(StartError::InstallKey)?;
    let key = ContextKey::generate(id);
    sqlx::query("INSERT INTO tenancy.context_keys (key_id, key) VALUES ($1, $2)")
        .bind(key.id())
        .bind(key.expose_bytes())
        .execute(&mut conn)
        .await
        .map_err(StartError::InstallKey)?;
    // A failed close only means the server already dropped it.
    let _ = conn.close().await;
    Ok(key)
}

/// The application role's pool: every `TenantPool` of the example and its
/// benchmark is opened here (the tests get theirs from tenant-testing),
/// with the context key `key` proves (see SECURITY.md).
pub async fn tenant_pool(
    app: PgConnectOptions,
    max_connections: usize,
    key: ContextKey,
) -> Result<TenantPool, StartError> {
    TenantPool::options()
        .max_connections(max_connections)
        .context_key(key)
        .connect_with(app)
        .await
        .map_err(StartError::Pool)
}

/// The system role's pool (BYPASSRLS), for sign-up: two connections, as
/// it is used for nothing else.
pub async fn system_pool(system: PgConnectOptions) -> Result<SystemPool, StartError> {
    SystemPool::options()
        .max_connections(2)
        .connect_with(system)
        .await
        .map_err(StartError::SystemPool)
}
