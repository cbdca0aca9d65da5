//! [`RequestTx`]: the request's tenant transaction, begun on first use
//! and finished by the layer once the handler has answered.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use tokio::sync::OnceCell;
use tracing::Instrument as _;

use crate::error::TenantError;
use crate::runtime::{self, TenantId, TenantPool, TenantTx, UserId};

/// The request's tenant transaction, as an extractor.
///
/// Nothing happens until [`get`](Self::get): a handler that takes a
/// `RequestTx` and never calls it costs no transaction and no round
/// trip. The first `get` begins the transaction for the request's tenant
/// (one round trip); later calls, in the same handler or in another
/// extractor, share it. When the handler has answered, the layer commits
/// if the status is 2xx or 3xx and rolls back otherwise; a panic drops the
/// transaction, which rolls it back. A failed commit replaces the
/// response with a 503 or 500, so a success is never reported for writes
/// that were lost.
///
/// ```no_run
/// use axum::Json;
/// use tenant_axum::{RequestTx, TenantError};
/// # use tenant_runtime::TenantScoped;
/// # #[derive(Debug, Clone, serde::Serialize, sqlx::FromRow, TenantScoped)]
/// # #[tenant_table(name = "projects")]
/// # struct Project { #[tenant(primary_key, generated)] id: i64, tenant_id: tenant_runtime::TenantId, name: String }
///
/// async fn list(tx: RequestTx) -> Result<Json<Vec<Project>>, TenantError> {
///     let tx = tx.get().await?;
///     Ok(Json(Project::scoped(tx).all().await?))
/// }
/// ```
#[derive(Debug, Clone)]
pub struct RequestTx {
    slot: Arc<TxSlot>,
}

pub(crate) struct TxSlot {
    pool: TenantPool,
    tenant: TenantId,
    user: Option<UserId>,
    tx: OnceCell<TenantTx>,
    /// Work to spawn once the transaction committed ([`RequestTx::after_commit`]).
    after_commit: Mutex<Vec<AfterCommit>>,
}

/// A task queued with [`RequestTx::after_commit`], and the span it was
/// queued in.
type AfterCommit = (Pin<Box<dyn Future<Output = ()> + Send>>, tracing::Span);

impl std::fmt::Debug for TxSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TxSlot")
            .field("tenant", &self.tenant)
            .field("user", &self.user)
            .field("begun", &self.tx.initialized())
            .field(
                "after_commit",
                &self.after_commit.lock().map_or(0, |queued| queued.len()),
            )
            .finish_non_exhaustive()
    }
}

impl RequestTx {
    /// The transaction, begun now if this is the first use.
    pub async fn get(&self) -> Result<&TenantTx, TenantError> {
        let slot = &*self.slot;
        slot.tx
            .get_or_try_init(|| async {
                let tx = runtime::begin(&slot.pool, slot.tenant, slot.user).await?;
                tracing::debug!("request transaction begun");
                Ok::<_, TenantError>(tx)
            })
            .await
    }

    /// The tenant it is (or will be) bound to.
    pub fn tenant(&self) -> TenantId {
        self.slot.tenant
    }

    /// The user it acts for: the verified token's `sub` when that is a
    /// UUID (the database then knows it as `tenancy.current_user_id()`,
    /// signed like the tenant), else none.
    pub fn user(&self) -> Option<UserId> {
        self.slot.user
    }

    /// Whether [`get`](Self::get) has begun it.
    pub fn is_begun(&self) -> bool {
        self.slot.tx.initialized()
    }

    /// Runs `task` once the request's transaction has committed, spawned
    /// on tokio in the current span; never when it rolls back (an error
    /// status, a panic, a failed commit). When the transaction was never
    /// begun, once the handler answered with a 2xx or 3xx.
    ///
    /// This is how a handler hands work to a background task that must see
    /// the handler's writes: a task spawned from the handler itself runs
    /// while the transaction is still open, and reads the database as it
    /// was before the request. [`ForTenant::spawn_after_commit`](crate::ForTenant::spawn_after_commit)
    /// queues a job this way.
    ///
    /// ```no_run
    /// use tenant_axum::{RequestTx, TenantError};
    ///
    /// async fn create(tx: RequestTx) -> Result<&'static str, TenantError> {
    ///     tx.get().await?.raw::<(i64,)>("SELECT 1::int8").fetch_one().await?;
    ///     tx.after_commit(async { tracing::info!("committed: now tell the world") });
    ///     Ok("created")
    /// }
    /// ```
    pub fn after_commit(&self, task: impl Future<Output = ()> + Send + 'static) {
        let queued = (Box::pin(task) as Pin<Box<_>>, tracing::Span::current());
        self.slot
            .after_commit
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(queued);
    }

    pub(crate) fn new(pool: TenantPool, tenant: TenantId, user: Option<UserId>) -> Self {
        Self {
            slot: Arc::new(TxSlot {
                pool,
                tenant,
                user,
                tx: OnceCell::new(),
                after_commit: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Commits or rolls back after the handler answered with `response`.
    pub(crate) async fn finish(self, response: Response) -> Response {
        let status = response.status();
        match self
            .end(status.is_success() || status.is_redirection())
            .await
        {
            Ok(()) => response,
            Err(e) => e.into_response(),
        }
    }

    /// Commits (`commit`) or rolls back the transaction, if it was begun.
    /// Fails when another clone still holds it (it then rolls back when the
    /// last one goes), or when the commit fails.
    pub(crate) async fn end(self, commit: bool) -> Result<(), TenantError> {
        let queued = std::mem::take(
            &mut *self
                .slot
                .after_commit
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        let slot = match Arc::try_unwrap(self.slot) {
            Ok(slot) => slot,
            Err(shared) if !shared.tx.initialized() => {
                // Never begun: nothing to commit.
                if commit {
                    spawn_all(queued);
                }
                return Ok(());
            }
            Err(_) => return Err(TenantError::TransactionInUse),
        };
        let Some(tx) = slot.tx.into_inner() else {
            if commit {
                spawn_all(queued);
            }
            return Ok(());
        };
        if commit {
            runtime::commit(tx)
                .await
                .map_err(|e| commit_failed(TenantError::from(e)))?;
            tracing::debug!("request transaction committed");
            spawn_all(queued);
        } else {
            if let Err(e) = runtime::rollback(tx).await {
                // The connection is discarded; the outcome stands.
                tracing::warn!(error = %e, "rolling the request transaction back failed");
            }
            tracing::debug!("request transaction rolled back");
        }
        Ok(())
    }
}

/// Spawns the tasks queued with [`RequestTx::after_commit`], each in the
/// span it was queued in.
fn spawn_all(queued: Vec<AfterCommit>) {
    for (task, span) in queued {
        tokio::spawn(task.instrument(span));
    }
}

/// A failed commit: 503 when the database went away, else 500.
fn commit_failed(e: TenantError) -> TenantError {
    match e {
        TenantError::DatabaseUnavailable { .. } => e,
        other => TenantError::CommitFailed {
            reason: format!("{other:?}"),
        },
    }
}

impl<S: Send + Sync> FromRequestParts<S> for RequestTx {
    type Rejection = TenantError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<RequestTx>()
            .cloned()
            .ok_or_else(|| crate::extract::absent(parts, "RequestTx"))
    }
}
