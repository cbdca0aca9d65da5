//! A small SaaS service on tenant-runtime, tenant-axum and tenant-members:
//! sign-up, organisations (tenants) with members, roles and invitations,
//! projects and tasks; each request's tenant taken from a verified JWT or
//! the `/t/{tenant}/..` path, the user's membership there checked in the
//! request's own tenant transaction.
//!
//! See the README for the walk-through; [`serve`] is what `cargo run -p
//! tenant-saas-example -- serve` runs, and the tests start the same thing
//! on an ephemeral port.

#![forbid(unsafe_code)]

pub mod app;
pub mod auth;
pub mod config;
pub mod db;
pub mod error;
pub mod models;
pub mod page;
mod routes;

pub use app::router;
pub use config::{Config, StartError};
pub use error::ApiError;

/// Migrates the database as the owner, connects as the application role
/// and serves the API on `listener` until the process is stopped.
pub async fn serve(config: &Config, listener: tokio::net::TcpListener) -> Result<(), StartError> {
    db::migrate(db::options(&config.owner_url, config::OWNER_DATABASE_URL)?).await?;
    let app_role = db::options(&config.database_url, config::DATABASE_URL)?;
    let pool = db::tenant_pool(app_role, db::MAX_CONNECTIONS, config.context_key.clone()).await?;
    let system = db::system_pool(db::options(
        &config.system_url,
        config::SYSTEM_DATABASE_URL,
    )?)
    .await?;
    let app = router(pool, system, &config.jwt_secret)?;
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "migrated and connected; listening");
    }
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown())
        .await
        .map_err(StartError::Serve)
}

async fn shutdown() {
    // If the handler cannot be installed, serve until killed.
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}
