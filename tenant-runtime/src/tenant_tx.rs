//! [`TenantPool`] and [`TenantTx`]: a transaction bound to one tenant.

use sqlx::postgres::{PgConnectOptions, PgPool};

use crate::conn::{Conn, TxCell, finish};
use crate::error::{Error, Result, from_sqlx};
use crate::roles::{self, RoleCheck};
use crate::{TenantId, registry};

/// A connection pool for tenant work, logged in as the application role.
///
/// Cheap to clone (it shares the underlying [`PgPool`]).
#[derive(Debug, Clone)]
pub struct TenantPool {
    pool: PgPool,
}

impl TenantPool {
    /// Connects to `url` and checks the role (see [`TenantPool::new`]).
    pub async fn connect(url: &str) -> Result<Self> {
        let pool = PgPool::connect(url).await.map_err(Error::from)?;
        Self::new(pool).await
    }

    /// Connects with options (and checks the role like [`TenantPool::new`]).
    pub async fn connect_with(options: PgConnectOptions) -> Result<Self> {
        let pool = PgPool::connect_with(options).await.map_err(Error::from)?;
        Self::new(pool).await
    }

    /// Wraps a pool after checking that its role is subject to row-level
    /// security: a superuser or a `BYPASSRLS` role would see every tenant's
    /// rows, so it is refused with [`Error::RoleBypassesRls`].
    ///
    /// It also checks the registered models (two models for one table, a
    /// `references` no model maps), so such a mistake fails at start-up.
    pub async fn new(pool: PgPool) -> Result<Self> {
        registry::tables()?;
        match roles::check(&pool).await? {
            RoleCheck {
                bypasses_rls: false,
                ..
            } => Ok(Self { pool }),
            RoleCheck { role, .. } => Err(Error::RoleBypassesRls { role }),
        }
    }

    /// Begins a transaction for `tenant`, in one round trip.
    ///
    /// Sends `CALL tenancy.enter_tenant('<id>'); BEGIN` as one
    /// simple-query message. `enter_tenant` checks the tenants table and
    /// sets `app.current_tenant` for the transaction (like `SET LOCAL`, so
    /// it is safe behind PgBouncer in transaction mode); an unknown or
    /// deleted tenant fails with [`Error::TenantNotFound`] /
    /// [`Error::TenantDeleted`], and the connection goes back to the pool
    /// idle, because the failed statement rolls back its implicit
    /// transaction before `BEGIN` runs.
    pub async fn begin(&self, tenant: TenantId) -> Result<TenantTx> {
        // TenantId renders as hex digits and dashes only: nothing to escape.
        let sql = format!("CALL tenancy.enter_tenant('{tenant}'); BEGIN");
        let tx = self
            .pool
            .begin_with(sql)
            .await
            .map_err(|e| from_sqlx(e, Some(tenant)))?;
        tracing::debug!(%tenant, "tenant transaction begun");
        Ok(TenantTx {
            tenant,
            tx: TxCell::new(tx),
        })
    }

    /// Runs `f` in a transaction for `tenant`: commits when it returns
    /// `Ok`, rolls back when it returns `Err` or panics.
    ///
    /// ```no_run
    /// # use tenant_runtime::{TenantPool, TenantId, Error};
    /// # async fn demo(pool: TenantPool, tenant: TenantId) -> Result<(), Error> {
    /// let n: i64 = pool
    ///     .with_tenant(tenant, async |tx| {
    ///         let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM projects")
    ///             .fetch_one(&mut *tx.conn().await)
    ///             .await?;
    ///         Ok::<_, Error>(n)
    ///     })
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn with_tenant<T, E, F>(&self, tenant: TenantId, f: F) -> Result<T, E>
    where
        F: AsyncFnOnce(&TenantTx) -> Result<T, E>,
        E: From<Error>,
    {
        let tx = self.begin(tenant).await?;
        let outcome = f(&tx).await;
        finish(tx.tx, outcome).await
    }

    /// The underlying pool, for tables that are not tenant tables. Queries
    /// on tenant tables through it fail with "no tenant context".
    pub fn pg_pool(&self) -> &PgPool {
        &self.pool
    }
}

/// A transaction bound to one tenant: the only way to reach tenant tables
/// through the generated API (`Model::scoped(&tx)`).
///
/// It can only be made by [`TenantPool::begin`] (or `with_tenant`). It is
/// shared by reference, so several scoped handles can use it at once; the
/// statements run one after another on its connection. Dropping it without
/// [`commit`](Self::commit) rolls back.
#[derive(Debug)]
pub struct TenantTx {
    tenant: TenantId,
    pub(crate) tx: TxCell,
}

impl TenantTx {
    /// The tenant this transaction is bound to.
    pub fn tenant(&self) -> TenantId {
        self.tenant
    }

    /// Commits. The transaction is consumed, so nothing can use it after.
    pub async fn commit(self) -> Result<()> {
        self.tx.commit().await
    }

    /// Rolls back. Dropping the transaction does the same.
    pub async fn rollback(self) -> Result<()> {
        self.tx.rollback().await
    }

    /// The transaction's connection, for raw sqlx queries; row-level
    /// security still applies to them:
    /// `sqlx::query("..").fetch_all(&mut *tx.conn().await)`.
    pub async fn conn(&self) -> Conn<'_> {
        self.tx.lock().await
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::TenantTx {}
}

/// What `Model::scoped` accepts: only a [`TenantTx`].
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a tenant transaction, so it cannot scope queries to one tenant",
    label = "expected a `&TenantTx` here",
    note = "begin one for the tenant and pass a reference to it: `let tx = tenant_pool.begin(tenant_id).await?; Model::scoped(&tx)`, or use `tenant_pool.with_tenant(tenant_id, async |tx| ..)`",
    note = "a `TenantPool` wraps a `PgPool`: `TenantPool::new(pg_pool).await?` or `TenantPool::connect(url).await?`",
    note = "for cross-tenant admin work use `Model::system(&system_tx)` with a `SystemTx` from a `SystemPool`"
)]
pub trait TenantScope: sealed::Sealed {
    /// The transaction.
    fn tenant_tx(&self) -> &TenantTx;
}

impl TenantScope for TenantTx {
    fn tenant_tx(&self) -> &TenantTx {
        self
    }
}
