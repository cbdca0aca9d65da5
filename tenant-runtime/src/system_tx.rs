//! [`SystemPool`] and [`SystemTx`]: cross-tenant work as a separate role.
//!
//! The system pool logs in as its own role, one created `WITH BYPASSRLS`
//! that the application role is not a member of. Nothing the application
//! role runs, injected SQL included, can switch to it: `SET ROLE` needs
//! membership, and there is no setting that turns the policies off.

use sqlx::postgres::{PgConnectOptions, PgPool};

use crate::conn::{Conn, TxCell, finish};
use crate::error::{Error, Result};
use crate::roles::{self, RoleCheck};

/// A connection pool for admin jobs, tenant management and purges, logged
/// in as the system role.
#[derive(Debug, Clone)]
pub struct SystemPool {
    pool: PgPool,
}

impl SystemPool {
    /// Connects to `url` and checks the role (see [`SystemPool::new`]).
    pub async fn connect(url: &str) -> Result<Self> {
        let pool = PgPool::connect(url).await.map_err(Error::from)?;
        Self::new(pool).await
    }

    /// Connects with options (and checks the role like [`SystemPool::new`]).
    pub async fn connect_with(options: PgConnectOptions) -> Result<Self> {
        let pool = PgPool::connect_with(options).await.map_err(Error::from)?;
        Self::new(pool).await
    }

    /// Wraps a pool after checking that its role bypasses row-level
    /// security; otherwise cross-tenant reads would silently see nothing
    /// and fail with [`Error::SystemRoleLacksBypass`] here instead.
    pub async fn new(pool: PgPool) -> Result<Self> {
        match roles::check(&pool).await? {
            RoleCheck {
                bypasses_rls: true, ..
            } => Ok(Self { pool }),
            RoleCheck { role, .. } => Err(Error::SystemRoleLacksBypass { role }),
        }
    }

    /// Begins a cross-tenant transaction.
    pub async fn begin(&self) -> Result<SystemTx> {
        let tx = self.pool.begin().await.map_err(Error::from)?;
        Ok(SystemTx {
            tx: TxCell::new(tx),
        })
    }

    /// Runs `f` in a system transaction: commits on `Ok`, rolls back on
    /// `Err` or panic.
    pub async fn with_system<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: AsyncFnOnce(&SystemTx) -> Result<T, E>,
        E: From<Error>,
    {
        let tx = self.begin().await?;
        let outcome = f(&tx).await;
        finish(tx.tx, outcome).await
    }

    /// The underlying pool.
    pub fn pg_pool(&self) -> &PgPool {
        &self.pool
    }
}

/// A transaction that sees every tenant: made only by [`SystemPool::begin`].
#[derive(Debug)]
pub struct SystemTx {
    pub(crate) tx: TxCell,
}

impl SystemTx {
    /// Commits.
    pub async fn commit(self) -> Result<()> {
        self.tx.commit().await
    }

    /// Rolls back. Dropping the transaction does the same.
    pub async fn rollback(self) -> Result<()> {
        self.tx.rollback().await
    }

    /// The connection, for raw sqlx queries across tenants.
    pub async fn conn(&self) -> Conn<'_> {
        self.tx.lock().await
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::SystemTx {}
}

/// What `Model::system` accepts: only a [`SystemTx`].
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a system transaction",
    label = "expected a `&SystemTx` here",
    note = "cross-tenant work runs as the system role: `system_pool.begin().await?` gives a `SystemTx`",
    note = "for one tenant's rows use `Model::scoped(&tenant_tx)`"
)]
pub trait SystemScope: sealed::Sealed {
    /// The transaction.
    fn system_tx(&self) -> &SystemTx;
}

impl SystemScope for SystemTx {
    fn system_tx(&self) -> &SystemTx {
        self
    }
}
