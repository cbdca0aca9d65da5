//! The database side: the committed migrations, and the one place that
//! opens the application role's pool.

use std::str::FromStr as _;

use sqlx::Connection as _;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use tenant_runtime::TenantPool;

use crate::config::StartError;

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

/// The application role's pool: every `TenantPool` of the example, its
/// tests and its benchmark is opened here.
pub async fn tenant_pool(
    app: PgConnectOptions,
    max_connections: usize,
) -> Result<TenantPool, StartError> {
    TenantPool::options()
        .max_connections(max_connections)
        .connect_with(app)
        .await
        .map_err(StartError::Pool)
}
