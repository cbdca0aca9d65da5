//! [`Tx`]: a transaction of one [mode](super::mode), made only by its
//! [`Pool`](super::Pool).

use sqlx::postgres::PgConnection;
use tokio::sync::{Mutex, MutexGuard};
use tracing::Instrument as _;

use super::mode::{GlobalMode, Mode, SystemMode, TenantMode};
use super::session::{BoxFuture, Lease, simple_query};
use crate::error::{Error, Result};
use crate::tenant_id::TenantId;

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
}

impl<M: Mode> Tx<M> {
    pub(crate) fn new(lease: Lease, context: M::Context, span: tracing::Span) -> Self {
        Self {
            lease: Mutex::new(lease),
            context,
            span,
        }
    }

    /// Commits. The transaction is consumed, so nothing can use it after.
    pub async fn commit(self) -> Result<()> {
        self.end("COMMIT").await
    }

    /// Rolls back. Dropping the transaction does the same.
    pub async fn rollback(self) -> Result<()> {
        self.end("ROLLBACK").await
    }

    /// The connection goes back to the pool only when the end succeeded.
    async fn end(self, statement: &'static str) -> Result<()> {
        let mut lease = self.lease.into_inner();
        simple_query(lease.conn(), statement)
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
        self.lease.get_mut().conn()
    }

    /// The tracing span every statement of the transaction runs in (with
    /// the tenant, for a tenant transaction). Enter it, or instrument a
    /// future with it, to give your own log lines the same context.
    pub fn span(&self) -> &tracing::Span {
        &self.span
    }

    /// The connection, locked for one statement of a scoped handle.
    pub(crate) async fn lock(&self) -> TxConn<'_> {
        TxConn {
            lease: self.lease.lock().await,
            span: &self.span,
        }
    }
}

impl Tx<TenantMode> {
    /// The tenant this transaction is bound to.
    pub fn tenant(&self) -> TenantId {
        self.context
    }
}

/// The connection of a transaction, locked for one statement.
pub(crate) struct TxConn<'tx> {
    lease: MutexGuard<'tx, Lease>,
    span: &'tx tracing::Span,
}

impl TxConn<'_> {
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
        statement(self.lease.conn())
            .instrument(span)
            .await
            .map_err(Error::from)
    }
}
