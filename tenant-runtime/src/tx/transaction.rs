//! [`Tx`]: a transaction of one [mode](super::mode), made only by its
//! [`Pool`](super::Pool).

use std::sync::atomic::{AtomicBool, Ordering};

use sqlx::postgres::PgConnection;
use tokio::sync::{Mutex, MutexGuard};
use tracing::Instrument as _;

use super::mechanism::ContextMechanism;
use super::mode::{GlobalMode, Mode, SystemMode, TenantMode};
use super::session::{BoxFuture, Lease, simple_query};
use crate::error::{Error, Result};
use crate::tenant_id::TenantId;
use crate::user_id::UserId;

/// A transaction bound to one tenant: the only way to reach tenant tables
/// through the generated API (`Model::scoped(&tx)`).
pub type TenantTx = Tx<TenantMode>;

/// A transaction that sees every tenant, as the system role.
pub type SystemTx = Tx<SystemMode>;

/// A transaction of the application role with no tenant.
pub type GlobalTx = Tx<GlobalMode>;

/// A transaction on one pooled connection, of mode `M`.
///
/// Only [`TenantPool::begin`](super::TenantPool::begin) and
/// [`SystemPool::begin`](super::SystemPool::begin) (or their `with_*`
/// forms) make one. It is shared by reference, so several scoped handles
/// can use it at once (their statements run one after another); raw sqlx
/// queries take it by `&mut` through [`Tx::conn`], so a raw borrow and a
/// scoped handle can never be alive together. Dropping it without
/// [`commit`](Self::commit) rolls back: the connection is closed rather
/// than returned to the pool.
#[derive(Debug)]
pub struct Tx<M: Mode> {
    lease: Mutex<Lease>,
    context: M::Context,
    span: tracing::Span,
    /// Hand-written SQL ran in it: its end resets the session first.
    raw: AtomicBool,
    /// A statement of the library failed: PostgreSQL has aborted it.
    failed: AtomicBool,
    /// A [`TxConnection`] holds the connection.
    lent: AtomicBool,
    /// What `tenancy.user_in_tenant` reported at begin.
    user_in_tenant: Option<String>,
}

/// What resets a connection after hand-written SQL, so that nothing of it
/// reaches the next transaction on the connection: session settings (a
/// search_path, a role, a read-only default, `app.*`), cursors `WITH
/// HOLD`, `LISTEN` registrations, session advisory locks, sequence state.
/// `tenancy.leave` then reseeds `random()` from a strong source, and
/// refuses if SQL-level `PREPARE` or `DEALLOCATE` changed the prepared
/// statements the client relies on, or SQL dropped the connection's
/// tenancy session (SECURITY.md lists every kind of state and its test).
const RESET: &str = "CLOSE ALL; UNLISTEN *; SELECT pg_catalog.pg_advisory_unlock_all(); \
                     RESET ALL; RESET ROLE; DISCARD SEQUENCES";

/// How a transaction ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Commit,
    Rollback,
}

impl<M: Mode> Tx<M> {
    pub(crate) fn new(
        lease: Lease,
        context: M::Context,
        span: tracing::Span,
        user_in_tenant: Option<String>,
    ) -> Self {
        Self {
            lease: Mutex::new(lease),
            context,
            span,
            raw: AtomicBool::new(false),
            failed: AtomicBool::new(false),
            lent: AtomicBool::new(false),
            user_in_tenant,
        }
    }

    /// Commits. The transaction is consumed, so nothing can use it after.
    ///
    /// [`Error::TransactionAborted`] when a statement of it failed (the
    /// database has rolled it back, and says nothing when asked to commit);
    /// [`Error::SessionTampered`] when its hand-written SQL changed the
    /// connection's prepared statements (it is rolled back, and the
    /// connection closed).
    pub async fn commit(self) -> Result<()> {
        if self.failed.load(Ordering::Relaxed) {
            self.end(End::Rollback).await?;
            return Err(Error::TransactionAborted);
        }
        self.end(End::Commit).await
    }

    /// Rolls back. Dropping the transaction does the same.
    pub async fn rollback(self) -> Result<()> {
        self.end(End::Rollback).await
    }

    /// One message: the end, with the session reset when hand-written SQL
    /// ran. The connection goes back to the pool only when it succeeded.
    async fn end(self, end: End) -> Result<()> {
        let mut lease = self.lease.into_inner();
        let message = if self.raw.load(Ordering::Relaxed) {
            let session = lease.session();
            let leave = format!(
                "SELECT tenancy.leave({}, {})",
                session
                    .prepared_statements()
                    .map_or("NULL".to_owned(), |n| n.to_string()),
                session.mechanism() == Some(ContextMechanism::Session)
            );
            match end {
                End::Commit => format!("{RESET}; {leave}; COMMIT"),
                End::Rollback => format!("ROLLBACK; {RESET}; {leave}"),
            }
        } else {
            match end {
                End::Commit => "COMMIT".to_owned(),
                End::Rollback => "ROLLBACK".to_owned(),
            }
        };
        simple_query(lease.conn(), &message)
            .instrument(self.span)
            .await
            .map_err(Error::from)?;
        lease.release();
        Ok(())
    }

    /// The transaction's connection, for raw sqlx queries; row-level
    /// security still applies to them:
    /// `sqlx::query("..").fetch_all(tx.conn()).await`.
    ///
    /// It borrows the transaction mutably, so it cannot be held while a
    /// `Model::scoped(&tx)` handle is in use (which would otherwise wait
    /// for the connection forever): the compiler refuses that.
    pub fn conn(&mut self) -> &mut PgConnection {
        self.raw.store(true, Ordering::Relaxed);
        self.lease.get_mut().conn()
    }

    /// Records that hand-written SQL runs in this transaction.
    pub(crate) fn mark_raw(&self) {
        self.raw.store(true, Ordering::Relaxed);
    }

    /// The tracing span every statement of the transaction runs in (with
    /// the tenant, for a tenant transaction). Enter it, or instrument a
    /// future with it, to give your own log lines the same context.
    pub fn span(&self) -> &tracing::Span {
        &self.span
    }

    /// The transaction's connection through a shared reference, for
    /// sqlx's own queries and its compile-time checked macros where only
    /// `&Tx` is at hand (a handler's `RequestTx::get` gives `&TenantTx`):
    ///
    /// ```no_run
    /// # async fn f(tx: &tenant_runtime::TenantTx) -> Result<(), Box<dyn std::error::Error>> {
    /// let mut conn = tx.connection().await?;
    /// let open: i64 = sqlx::query_scalar("SELECT count(*) FROM tasks WHERE NOT done")
    ///     .fetch_one(&mut *conn) // or sqlx::query!(..).fetch_one(&mut *conn)
    ///     .await?;
    /// drop(conn); // before the transaction's next scoped statement
    /// # Ok(()) }
    /// ```
    ///
    /// Row-level security applies, and the transaction ends with the
    /// session reset, as after [`raw`](Self::raw). While the guard lives
    /// the transaction's other statements (scoped handles, raw queries,
    /// another `connection`) fail with [`Error::ConnectionHeld`] rather
    /// than wait for it forever; if one is running, this waits for it.
    pub async fn connection(&self) -> Result<TxConnection<'_>> {
        let lease = self.lock_lease().await?;
        self.lent.store(true, Ordering::Release);
        self.mark_raw();
        Ok(TxConnection {
            lease,
            lent: &self.lent,
        })
    }

    async fn lock_lease(&self) -> Result<MutexGuard<'_, Lease>> {
        // Held by a guard of this task or another: waiting could be
        // waiting for ourselves.
        if self.lent.load(Ordering::Acquire) {
            return Err(Error::ConnectionHeld);
        }
        Ok(self.lease.lock().await)
    }

    /// The connection, locked for one statement of a scoped handle.
    pub(crate) async fn lock(&self) -> Result<TxConn<'_>> {
        Ok(TxConn {
            lease: self.lock_lease().await?,
            span: &self.span,
            failed: &self.failed,
        })
    }
}

/// A transaction's connection lent out by [`Tx::connection`]: derefs to
/// the `PgConnection`, so `&mut *guard` is a sqlx executor. Dropping it
/// gives the connection back to the transaction.
pub struct TxConnection<'tx> {
    lease: MutexGuard<'tx, Lease>,
    lent: &'tx AtomicBool,
}

impl std::fmt::Debug for TxConnection<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TxConnection").finish_non_exhaustive()
    }
}

impl std::ops::Deref for TxConnection<'_> {
    type Target = PgConnection;

    fn deref(&self) -> &PgConnection {
        self.lease.conn_ref()
    }
}

impl std::ops::DerefMut for TxConnection<'_> {
    fn deref_mut(&mut self) -> &mut PgConnection {
        self.lease.conn()
    }
}

impl Drop for TxConnection<'_> {
    fn drop(&mut self) {
        self.lent.store(false, Ordering::Release);
    }
}

impl Tx<TenantMode> {
    /// The tenant this transaction is bound to.
    pub fn tenant(&self) -> TenantId {
        self.context.0
    }

    /// The user it acts for, when it was begun with
    /// [`TenantPool::begin_as`](super::TenantPool::begin_as).
    pub fn user(&self) -> Option<UserId> {
        self.context.1
    }

    /// What a linked library reported of the acting user in this tenant
    /// as the transaction began (tenant-members: the user's membership
    /// role; `None` for no member), with no statement of its own: the
    /// database's `tenancy.user_in_tenant`, called by `tenancy.enter`.
    /// `None` without a user, or when no library reports anything. It is
    /// the value as of `begin`; a change within the transaction does not
    /// show here.
    pub fn user_in_tenant(&self) -> Option<&str> {
        self.user_in_tenant.as_deref()
    }
}

impl Tx<GlobalMode> {
    /// The user it acts for, when it was begun with
    /// [`TenantPool::begin_global_as`](super::TenantPool::begin_global_as).
    pub fn user(&self) -> Option<UserId> {
        self.context
    }
}

/// The connection of a transaction, locked for one statement.
pub(crate) struct TxConn<'tx> {
    lease: MutexGuard<'tx, Lease>,
    span: &'tx tracing::Span,
    failed: &'tx AtomicBool,
}

impl TxConn<'_> {
    /// Whether statements may be named and cached (not behind a
    /// transaction pooler).
    pub(crate) fn persistent(&mut self) -> bool {
        self.lease.session().persistent_statements()
    }

    /// Runs one statement in the transaction's span.
    ///
    /// The statement comes boxed, so its future is checked for `Send` where
    /// its lifetimes are concrete (an unboxed sqlx future that borrows the
    /// connection makes every caller's future fail that check).
    pub(crate) async fn run<'g, R>(
        &'g mut self,
        statement: impl FnOnce(&'g mut PgConnection) -> BoxFuture<'g, sqlx::Result<R>>,
    ) -> Result<R> {
        let span = self.span.clone();
        let failed = self.failed;
        statement(self.lease.conn())
            .instrument(span)
            .await
            .map_err(|e| {
                if matches!(e, sqlx::Error::Database(_)) {
                    failed.store(true, Ordering::Relaxed);
                }
                Error::from(e)
            })
    }
}
