//! [`Pool`]: connections for one [mode](super::mode) of transaction.

use std::marker::PhantomData;
use std::str::FromStr as _;
use std::sync::OnceLock;
use std::time::Duration;

use deadpool::Runtime;
use deadpool::managed::{self, PoolError, TimeoutType, Timeouts};
use sqlx::postgres::{PgConnectOptions, PgConnection};
use tracing::Instrument as _;

use super::context::ContextKey;
use super::mechanism::ContextMechanism;
use super::mode::{GlobalMode, Mode, SystemMode, TenantMode};
use super::roles::Expect;
use super::session::{BoxFuture, Lease, Manager, simple_query};
use super::transaction::Tx;
use crate::error::{Error, Result};
use crate::model::registry;
use crate::tenant_id::TenantId;
use crate::user_id::UserId;

/// Connections for tenant transactions, logged in as the application role.
pub type TenantPool = Pool<TenantMode>;

/// Connections for cross-tenant work, logged in as the system role.
pub type SystemPool = Pool<SystemMode>;

/// A pool of connections that only ever hands one out inside a
/// transaction of its mode ([`TenantPool`] or [`SystemPool`]).
///
/// Cheap to clone: clones share the connections. A connection goes back to
/// the pool only after its transaction ended cleanly; otherwise it is
/// closed, so nothing a transaction left behind reaches the next one.
pub struct Pool<M: Mode> {
    inner: managed::Pool<Manager>,
    acquire_timeout: Duration,
    mode: PhantomData<fn() -> M>,
}

impl<M: Mode> Clone for Pool<M> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            acquire_timeout: self.acquire_timeout,
            mode: PhantomData,
        }
    }
}

impl<M: Mode> std::fmt::Debug for Pool<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let status = self.inner.status();
        f.debug_struct("Pool")
            .field("mode", &std::any::type_name::<M>())
            .field("size", &status.size)
            .field("idle", &status.available)
            .field("max", &status.max_size)
            .finish()
    }
}

/// How a [`Pool`] is sized and timed; `TenantPool::options()` starts one.
#[derive(Debug, Clone)]
pub struct PoolOptions<M: Mode> {
    key: Option<ContextKey>,
    pooler: bool,
    max_connections: usize,
    acquire_timeout: Duration,
    connect_timeout: Duration,
    idle_timeout: Option<Duration>,
    max_lifetime: Option<Duration>,
    mode: PhantomData<fn() -> M>,
}

impl<M: Mode> Default for PoolOptions<M> {
    /// 10 connections; 30 s to acquire one; 10 s to connect; idle
    /// connections closed after 10 minutes, every connection after 30.
    fn default() -> Self {
        Self {
            key: None,
            pooler: false,
            max_connections: 10,
            acquire_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            idle_timeout: Some(Duration::from_secs(10 * 60)),
            max_lifetime: Some(Duration::from_secs(30 * 60)),
            mode: PhantomData,
        }
    }
}

impl<M: Mode> PoolOptions<M> {
    /// The defaults (see [`Default`]).
    pub fn new() -> Self {
        Self::default()
    }

    /// At most this many connections (at least 1).
    pub fn max_connections(mut self, n: usize) -> Self {
        self.max_connections = n.max(1);
        self
    }

    /// How long `begin` waits for a free connection before
    /// [`Error::PoolTimedOut`].
    pub fn acquire_timeout(mut self, timeout: Duration) -> Self {
        self.acquire_timeout = timeout;
        self
    }

    /// How long opening a connection may take.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Close connections idle for longer than this (`None`: never).
    pub fn idle_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// Close connections older than this (`None`: never).
    pub fn max_lifetime(mut self, lifetime: Option<Duration>) -> Self {
        self.max_lifetime = lifetime;
        self
    }

    /// The pool's connections go through a transaction pooler (PgBouncer
    /// in transaction mode, or any pooler that may run a connection's
    /// transactions on different backends): tenants are entered with
    /// bound tokens ([`ContextMechanism::Bound`]), and no statement is
    /// cached on a connection, so none is looked for on another backend:
    /// the library's own are unnamed, and sqlx prepares yours (through
    /// `tx.conn()`) inside the transaction that runs them. Run the pooler
    /// with a reset query (PgBouncer: `server_reset_query = DISCARD ALL`,
    /// `server_reset_query_always = 1`; SECURITY.md says why).
    pub fn transaction_pooler(mut self, pooler: bool) -> Self {
        self.pooler = pooler;
        self
    }

    /// Connects to `url` (see [`PoolOptions::connect_with`]).
    pub async fn connect(self, url: &str) -> Result<Pool<M>> {
        let options = PgConnectOptions::from_str(url).map_err(Error::from)?;
        self.connect_with(options).await
    }

    /// Builds the pool and opens one connection at once, so a wrong URL,
    /// an unreachable server or a role of the wrong kind fails here, at
    /// start-up, rather than on the first request: a [`TenantPool`]
    /// refuses a superuser or `BYPASSRLS` role
    /// ([`Error::RoleBypassesRls`]), a role that may create temporary
    /// tables ([`Error::RoleCanCreateTemp`]) and a context key the database
    /// does not hold ([`Error::ContextKeyRejected`]); a [`SystemPool`] a
    /// role without `BYPASSRLS` ([`Error::SystemRoleLacksBypass`]). A
    /// tenant pool also checks the registered models (two models for one
    /// table, a `references` no model maps).
    pub async fn connect_with(self, options: PgConnectOptions) -> Result<Pool<M>> {
        // Behind a transaction pooler a cached statement would be looked
        // for on another backend: sqlx then prepares every statement in
        // the transaction that runs it (the pooler's reset query drops it).
        let options = if self.pooler {
            options.statement_cache_capacity(0)
        } else {
            options
        };
        let (expect, key) = if M::SYSTEM {
            (Expect::BypassesRls, None)
        } else {
            registry::tables()?;
            let key = match self.key {
                Some(key) => key,
                None => key_from_env()?,
            };
            (Expect::RlsApplies, Some(key))
        };
        let manager = Manager {
            options,
            expect,
            key,
            pooler: self.pooler,
            idle_timeout: self.idle_timeout,
            max_lifetime: self.max_lifetime,
            mechanism: OnceLock::new(),
        };
        let inner = managed::Pool::builder(manager)
            .max_size(self.max_connections)
            .timeouts(Timeouts {
                wait: Some(self.acquire_timeout),
                create: Some(self.connect_timeout),
                recycle: Some(self.connect_timeout),
            })
            .runtime(Runtime::Tokio1)
            .build()
            .expect("a runtime is set, so the pool builds");
        let pool = Pool {
            inner,
            acquire_timeout: self.acquire_timeout,
            mode: PhantomData,
        };
        pool.lease().await?.release();
        if let Some(mechanism) = pool.mechanism() {
            tracing::info!(%mechanism, pooler = self.pooler, "tenant pool connected");
        }
        Ok(pool)
    }
}

/// The environment variable a tenant pool reads its context key from
/// when [`PoolOptions::context_key`] gave none: `<key id>:<hex key>`.
/// Read from the process environment only: the library reads no `.env`
/// file (the command line does); a service that keeps the key in one
/// loads it first (`dotenvy::dotenv()`).
pub const CONTEXT_KEY_ENV: &str = "TENANT_CONTEXT_KEY";

fn key_from_env() -> Result<ContextKey> {
    let spec = std::env::var(CONTEXT_KEY_ENV).map_err(|_| Error::ContextKeyMissing)?;
    spec.parse().map_err(Error::InvalidContextKey)
}

impl PoolOptions<TenantMode> {
    /// The key this pool proves it holds when it opens a connection (see
    /// [`ContextKey`]); without one, the pool reads [`CONTEXT_KEY_ENV`].
    pub fn context_key(mut self, key: ContextKey) -> Self {
        self.key = Some(key);
        self
    }
}

impl<M: Mode> Pool<M> {
    /// Options to build a pool with.
    pub fn options() -> PoolOptions<M> {
        PoolOptions::new()
    }

    /// Connects to `url` with the default options.
    pub async fn connect(url: &str) -> Result<Self> {
        PoolOptions::new().connect(url).await
    }

    /// Connects with `options` and the default pool options.
    pub async fn connect_with(options: PgConnectOptions) -> Result<Self> {
        PoolOptions::new().connect_with(options).await
    }

    /// Closes the pool: idle connections now, busy ones when their
    /// transaction ends; `begin` then fails with [`Error::PoolClosed`].
    pub fn close(&self) {
        self.inner.close();
    }

    /// How many connections are open, and how many of them are idle.
    pub fn status(&self) -> PoolStatus {
        let s = self.inner.status();
        PoolStatus {
            open: s.size,
            idle: s.available,
            max: s.max_size,
        }
    }

    /// How a tenant pool's connections enter tenants: the strongest
    /// mechanism the database offers where the pool runs, chosen when its
    /// first connection opened (and logged then). `None` for a system pool.
    pub fn mechanism(&self) -> Option<ContextMechanism> {
        self.inner.manager().mechanism.get().copied()
    }

    async fn lease(&self) -> Result<Lease> {
        match self.inner.get().await {
            Ok(object) => Ok(Lease::new(object)),
            Err(PoolError::Backend(e)) => Err(e),
            Err(PoolError::Timeout(TimeoutType::Wait)) => Err(Error::PoolTimedOut {
                waited: self.acquire_timeout,
            }),
            Err(PoolError::Timeout(_)) => Err(Error::DatabaseUnavailable(sqlx::Error::Io(
                std::io::Error::new(std::io::ErrorKind::TimedOut, "connecting timed out"),
            ))),
            Err(PoolError::Closed) => Err(Error::PoolClosed),
            Err(other) => Err(Error::DatabaseUnavailable(sqlx::Error::Protocol(
                other.to_string(),
            ))),
        }
    }

    /// Runs one statement of the library's own outside any transaction
    /// (autocommit; behind a transaction pooler in a transaction of its
    /// own), for reads that need no tenant, such as resolving a slug. `run`
    /// is told whether it may use a named statement. The connection goes
    /// back to the pool unless it broke.
    pub(crate) async fn statement<R>(
        &self,
        run: impl for<'c> FnOnce(&'c mut PgConnection, bool) -> BoxFuture<'c, sqlx::Result<R>>,
    ) -> Result<R> {
        let mut lease = self.lease().await?;
        if !lease.session().persistent_statements() {
            // Behind a transaction pooler an unnamed statement's two round
            // trips may land on two backends, unless a transaction pins them.
            simple_query(lease.conn(), "BEGIN").await?;
            let value = run(lease.conn(), false).await?;
            simple_query(lease.conn(), "COMMIT").await?;
            lease.release();
            return Ok(value);
        }
        match run(lease.conn(), true).await {
            Ok(value) => {
                lease.release();
                Ok(value)
            }
            Err(sqlx::Error::Database(db)) => {
                // A failed autocommit statement leaves the connection idle.
                lease.release();
                Err(Error::from(sqlx::Error::Database(db)))
            }
            Err(e) => Err(Error::from(e)),
        }
    }

    /// Begins a transaction on a pooled connection, entering `tenant` and
    /// `user` on a tenant pool's (SECURITY.md: every begin ends entered,
    /// or refused cleanly, or with its connection closed). A connection
    /// that cannot begin for any other reason (the server terminated it
    /// while it sat idle, SQL dropped its session, a cancel or a timeout
    /// hit the begin) is closed and, unless it was new, replaced once:
    /// nothing has run on it yet, so the retry is safe.
    async fn start<T: Mode>(
        &self,
        context: T::Context,
        tenant: Option<TenantId>,
        user: Option<UserId>,
        span: tracing::Span,
    ) -> Result<Tx<T>> {
        let mut retried = false;
        loop {
            let mut lease = self.lease().await?;
            let failure = match lease
                .session()
                .begin(tenant, user)
                .instrument(span.clone())
                .await
            {
                Ok(user_in_tenant) => return Ok(Tx::new(lease, context, span, user_in_tenant)),
                Err(failure) => failure,
            };
            if failure.reusable {
                lease.release();
                return Err(failure.error);
            }
            let fresh = lease.is_fresh();
            // Dropping the lease closes the connection.
            drop(lease);
            if retried || fresh {
                return Err(failure.error);
            }
            tracing::debug!(error = %failure.error, "replacing a pooled connection that cannot begin");
            retried = true;
        }
    }

    /// Runs `f` in `tx`: commits when it returns `Ok`, rolls back when it
    /// returns `Err` or panics (a panic drops the transaction, which closes
    /// its connection, which rolls back).
    async fn run<T: Mode, R, E, F>(mut tx: Tx<T>, f: F) -> Result<R, E>
    where
        F: AsyncFnOnce(&mut Tx<T>) -> Result<R, E>,
        E: From<Error>,
    {
        let span = tx.span().clone();
        match f(&mut tx).instrument(span).await {
            Ok(value) => {
                tx.commit().await?;
                Ok(value)
            }
            Err(e) => {
                if let Err(rollback) = tx.rollback().await {
                    tracing::warn!(error = %rollback, "rollback after error failed");
                }
                Err(e)
            }
        }
    }
}

/// Connection counts of a [`Pool`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStatus {
    /// Open connections, busy or idle.
    pub open: usize,
    /// Idle connections, ready for the next transaction.
    pub idle: usize,
    /// The most there may be.
    pub max: usize,
}

impl Pool<TenantMode> {
    /// Begins a transaction for `tenant`, in one round trip (two with
    /// [`ContextMechanism::Bound`]).
    ///
    /// The begin message carries a token only this pool can make: with
    /// the extension, `SET LOCAL tenant_context.token = '<token>'; SET
    /// LOCAL app.current_tenant = '<id>'; BEGIN`, the token a MAC under this
    /// connection's own secret of the tenant and a counter the server
    /// spends on first use, so the text (which `pg_stat_activity` shows)
    /// is worthless to anyone who reads it (SECURITY.md has each
    /// mechanism). The database checks the tenants table and enters the
    /// tenant for this transaction only: SQL run in it cannot switch to
    /// another tenant, and nothing of it is valid in a later transaction.
    /// An unknown or deleted tenant fails with [`Error::TenantNotFound`] /
    /// [`Error::TenantDeleted`] and the connection stays idle; any other
    /// failure closes it.
    pub async fn begin(&self, tenant: TenantId) -> Result<Tx<TenantMode>> {
        let span = tracing::info_span!("tenant_tx", %tenant);
        self.begin_tenant(tenant, None, span).await
    }

    /// Begins a transaction for `tenant` acting for `user`, in the same
    /// one round trip as [`begin`](Self::begin): the user is signed into
    /// the token with the tenant, so SQL in the transaction reads it
    /// (`tenancy.current_user_id()`) and cannot change it. The library
    /// does not look the user up: the caller vouches for it (a verified
    /// token's subject), as it does for the tenant.
    pub async fn begin_as(&self, tenant: TenantId, user: UserId) -> Result<Tx<TenantMode>> {
        let span = tracing::info_span!("tenant_tx", %tenant, %user);
        self.begin_tenant(tenant, Some(user), span).await
    }

    async fn begin_tenant(
        &self,
        tenant: TenantId,
        user: Option<UserId>,
        span: tracing::Span,
    ) -> Result<Tx<TenantMode>> {
        let tx = self
            .start::<TenantMode>((tenant, user), Some(tenant), user, span)
            .await?;
        tracing::debug!(parent: tx.span(), "tenant transaction begun");
        Ok(tx)
    }

    /// Runs `f` in a transaction for `tenant`: commits when it returns
    /// `Ok`, rolls back when it returns `Err` or panics. Everything `f`
    /// logs carries the tenant (it runs in the transaction's span).
    ///
    /// ```no_run
    /// # use tenant_runtime::{TenantPool, TenantId, Error};
    /// # async fn demo(pool: TenantPool, tenant: TenantId) -> Result<(), Error> {
    /// let n: i64 = pool
    ///     .with_tenant(tenant, async |tx| {
    ///         let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM projects")
    ///             .fetch_one(tx.conn())
    ///             .await?;
    ///         Ok::<_, Error>(n)
    ///     })
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn with_tenant<T, E, F>(&self, tenant: TenantId, f: F) -> Result<T, E>
    where
        F: AsyncFnOnce(&mut Tx<TenantMode>) -> Result<T, E>,
        E: From<Error>,
    {
        Self::run(self.begin(tenant).await?, f).await
    }

    /// Begins a transaction as the application role with no tenant: for
    /// tables that are not tenant tables. Tenant tables fail closed in it
    /// ([`Error::NoTenantContext`]), and `Model::scoped` does not accept it.
    pub async fn begin_global(&self) -> Result<Tx<GlobalMode>> {
        self.start::<GlobalMode>(None, None, None, tracing::info_span!("global_tx"))
            .await
    }

    /// Begins a transaction with no tenant acting for `user`: tenant
    /// tables still fail closed, but `tenancy.current_user_id()` is the
    /// user, signed as in [`begin_as`](Self::begin_as), so SQL that may
    /// show a user only their own rows (their organisations, say) can
    /// trust it.
    pub async fn begin_global_as(&self, user: UserId) -> Result<Tx<GlobalMode>> {
        let span = tracing::info_span!("global_tx", %user);
        self.start::<GlobalMode>(Some(user), None, Some(user), span)
            .await
    }
}

impl Pool<SystemMode> {
    /// Begins a cross-tenant transaction.
    pub async fn begin(&self) -> Result<Tx<SystemMode>> {
        self.start::<SystemMode>((), None, None, tracing::info_span!("system_tx"))
            .await
    }

    /// Runs `f` in a system transaction: commits on `Ok`, rolls back on
    /// `Err` or panic.
    pub async fn with_system<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: AsyncFnOnce(&mut Tx<SystemMode>) -> Result<T, E>,
        E: From<Error>,
    {
        Self::run(self.begin().await?, f).await
    }
}
