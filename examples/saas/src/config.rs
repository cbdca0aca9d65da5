//! What the service is started with, from the environment, and what can
//! go wrong starting it.

use std::net::SocketAddr;

use tenant_runtime::tx::{ContextKey, ContextKeyError};

/// The environment variable with the application role's URL.
pub const DATABASE_URL: &str = "DATABASE_URL";
/// The environment variable with the system role's URL (BYPASSRLS: sign-up
/// only).
pub const SYSTEM_DATABASE_URL: &str = "SYSTEM_DATABASE_URL";
/// The environment variable with the migration owner's URL.
pub const OWNER_DATABASE_URL: &str = "OWNER_DATABASE_URL";
/// The environment variable with the HS256 secret tokens are signed with.
pub const JWT_SECRET: &str = "SAAS_JWT_SECRET";
/// The environment variable with the context key the application role's
/// pool proves (`saas-tenant context-key new` prints it).
pub const CONTEXT_KEY: &str = tenant_runtime::tx::CONTEXT_KEY_ENV;
/// The environment variable with the address to listen on.
pub const LISTEN: &str = "LISTEN";
/// Where the service listens unless `LISTEN` says otherwise.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:3000";

/// The service's settings.
#[derive(Clone)]
pub struct Config {
    /// The application role (not superuser, no BYPASSRLS, owns nothing).
    pub database_url: String,
    /// The system role (BYPASSRLS), for sign-up: a new user, their
    /// organisation and its first owner.
    pub system_url: String,
    /// The migration owner, which applies `migrations/` at start-up.
    pub owner_url: String,
    /// The HS256 secret (at least 32 bytes).
    pub jwt_secret: String,
    /// The tenant pool's context key.
    pub context_key: ContextKey,
    /// Where to listen.
    pub listen: SocketAddr,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .finish_non_exhaustive() // URLs may hold passwords; the secret is secret
    }
}

impl Config {
    /// Reads `DATABASE_URL`, `SYSTEM_DATABASE_URL`, `OWNER_DATABASE_URL`, `SAAS_JWT_SECRET`,
    /// `TENANT_CONTEXT_KEY` and `LISTEN` (default 127.0.0.1:3000).
    pub fn from_env() -> Result<Self, StartError> {
        let var = |name: &'static str, what: &'static str| {
            std::env::var(name).map_err(|_| StartError::MissingVar { name, what })
        };
        let listen = std::env::var(LISTEN).unwrap_or_else(|_| DEFAULT_LISTEN.to_owned());
        Ok(Self {
            database_url: var(DATABASE_URL, "the application role's URL")?,
            system_url: var(SYSTEM_DATABASE_URL, "the system role's URL")?,
            owner_url: var(OWNER_DATABASE_URL, "the migration owner's URL")?,
            jwt_secret: var(JWT_SECRET, "the HS256 token secret, 32 bytes or more")?,
            context_key: var(
                CONTEXT_KEY,
                "the key `saas-tenant context-key new --admin-url $OWNER_DATABASE_URL` printed",
            )?
            .parse()
            .map_err(StartError::ContextKey)?,
            listen: listen
                .parse()
                .map_err(|_| StartError::InvalidListen { value: listen })?,
        })
    }
}

/// Why the service (or a subcommand) could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// A required environment variable is not set.
    #[error("{name} is not set: set it to {what} (see examples/saas/README.md)")]
    MissingVar {
        /// The variable.
        name: &'static str,
        /// What it should hold.
        what: &'static str,
    },
    /// `TENANT_CONTEXT_KEY` does not parse.
    #[error(
        "TENANT_CONTEXT_KEY is not a context key: set it to the `TENANT_CONTEXT_KEY=<id>:<hex>` line saas-tenant context-key new printed"
    )]
    ContextKey(#[source] ContextKeyError),
    /// Installing a context key failed.
    #[error(
        "installing a context key as the owner failed: apply the migrations first (they create tenancy.context_keys)"
    )]
    InstallKey(#[source] sqlx::Error),
    /// `LISTEN` is not an address.
    #[error("LISTEN={value:?} is not an address: write IP:PORT, e.g. 127.0.0.1:3000")]
    InvalidListen {
        /// What it holds.
        value: String,
    },
    /// A database URL does not parse.
    #[error("{which} is not a PostgreSQL URL: write postgres://ROLE@HOST:PORT/DATABASE")]
    InvalidUrl {
        /// Which URL.
        which: &'static str,
        /// What the parser said.
        #[source]
        source: sqlx::Error,
    },
    /// The migration owner could not connect.
    #[error(
        "the migration owner cannot connect: check OWNER_DATABASE_URL and that the roles exist (saas-tenant roles --apply)"
    )]
    OwnerConnect(#[source] sqlx::Error),
    /// Creating the roles or their grants failed.
    #[error("applying the roles failed (connect as a superuser: BYPASSRLS needs one): {0:#}")]
    Roles(anyhow::Error),
    /// Applying `migrations/` failed.
    #[error(
        "applying the migrations as the owner failed: run saas-tenant roles --apply first, so the owner may create the tables"
    )]
    Migrate(#[source] sqlx::migrate::MigrateError),
    /// The application role's pool could not be opened (an unreachable
    /// server, or a role that bypasses row-level security).
    #[error(
        "the application role's pool cannot be opened: check DATABASE_URL, and that TENANT_CONTEXT_KEY is a key saas-tenant context-key list shows"
    )]
    Pool(#[source] tenant_runtime::Error),
    /// The system role's pool could not be opened.
    #[error(
        "the system role's pool cannot be opened: check SYSTEM_DATABASE_URL (a role with BYPASSRLS, saas-tenant roles --apply makes one)"
    )]
    SystemPool(#[source] tenant_runtime::Error),
    /// The tenant layer's configuration is wrong (a short secret, say).
    #[error("the tenant layer cannot be built")]
    Layer(#[source] tenant_axum::ConfigError),
    /// The listener could not be bound.
    #[error("cannot listen on {addr}: pick a free address with LISTEN")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// Serving stopped with an I/O error.
    #[error("serving failed")]
    Serve(#[source] std::io::Error),
    /// A token could not be signed.
    #[error("signing the token failed")]
    Sign(#[source] jsonwebtoken::errors::Error),
}

impl From<tenant_axum::ConfigError> for StartError {
    fn from(e: tenant_axum::ConfigError) -> Self {
        StartError::Layer(e)
    }
}
