//! [`RequestTx`]: the request's tenant transaction, begun on first use
//! and finished by the layer once the handler has answered.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use tokio::sync::OnceCell;

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

#[derive(Debug)]
pub(crate) struct TxSlot {
    pool: TenantPool,
    tenant: TenantId,
    user: Option<UserId>,
    tx: OnceCell<TenantTx>,
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

    pub(crate) fn new(pool: TenantPool, tenant: TenantId, user: Option<UserId>) -> Self {
        Self {
            slot: Arc::new(TxSlot {
                pool,
                tenant,
                user,
                tx: OnceCell::new(),
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
        let slot = match Arc::try_unwrap(self.slot) {
            Ok(slot) => slot,
            Err(shared) if !shared.tx.initialized() => return Ok(()), // never begun
            Err(_) => return Err(TenantError::TransactionInUse),
        };
        let Some(tx) = slot.tx.into_inner() else {
            return Ok(());
        };
        if commit {
            runtime::commit(tx)
                .await
                .map_err(|e| commit_failed(TenantError::from(e)))?;
            tracing::debug!("request transaction committed");
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
