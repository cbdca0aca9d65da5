//! The tenant context mechanisms a test runs under, and how the
//! application role reaches the database in each: the tests that hold for
//! every mechanism run once per [`Mechanism`].

use sqlx::PgPool;
use sqlx::postgres::PgConnectOptions;
use tenant_runtime::tx::{ContextKey, ContextMechanism};
use tenant_runtime::{PoolOptions, TenantMode};

/// Where PgBouncer (transaction mode, in front of `DATABASE_URL`'s
/// server) listens: `scripts/test-services.sh` starts it on 6432.
pub fn pgbouncer_port() -> u16 {
    std::env::var("TENANT_TEST_PGBOUNCER_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(6432)
}

/// How a test's tenant pool enters tenants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    /// Plain SQL, a session of temporary objects per connection.
    Session,
    /// The `tenant_context` extension.
    Extension,
    /// Bound tokens, directly connected.
    Bound,
    /// Bound tokens through PgBouncer in transaction mode.
    PgBouncer,
}

impl Mechanism {
    /// Every one.
    pub const ALL: [Mechanism; 4] = [
        Mechanism::Session,
        Mechanism::Extension,
        Mechanism::Bound,
        Mechanism::PgBouncer,
    ];

    /// What the database needs besides the migration (the extension),
    /// done by `owner` after the migration.
    pub async fn install(self, owner: &PgPool) -> Result<(), sqlx::Error> {
        match self {
            Mechanism::Extension => crate::setup::install_extension(owner).await,
            // What a server without the extension has (the migration
            // creates it where it is available).
            Mechanism::Session => crate::setup::remove_extension(owner).await,
            Mechanism::Bound | Mechanism::PgBouncer => Ok(()),
        }
    }

    /// Whether the pool is told it goes through a transaction pooler.
    pub fn pooler(self) -> bool {
        matches!(self, Mechanism::Bound | Mechanism::PgBouncer)
    }

    /// The mechanism the pool must choose.
    pub fn expected(self) -> ContextMechanism {
        match self {
            Mechanism::Session => ContextMechanism::Session,
            Mechanism::Extension => ContextMechanism::Extension,
            Mechanism::Bound | Mechanism::PgBouncer => ContextMechanism::Bound,
        }
    }

    /// Whether consecutive transactions of a one-connection pool run on
    /// the same backend (not through a transaction pooler).
    pub fn keeps_its_backend(self) -> bool {
        self != Mechanism::PgBouncer
    }

    /// How `role` connects to the database of `direct` (through PgBouncer
    /// for [`Mechanism::PgBouncer`]).
    pub fn connect(self, direct: &PgConnectOptions, role: &str) -> PgConnectOptions {
        let options = direct.clone().username(role);
        match self {
            Mechanism::PgBouncer => options.host("127.0.0.1").port(pgbouncer_port()),
            _ => options,
        }
    }

    /// Tenant pool options with `key`, for this mechanism.
    pub fn pool_options(self, key: ContextKey) -> PoolOptions<TenantMode> {
        PoolOptions::new()
            .context_key(key)
            .transaction_pooler(self.pooler())
    }
}
