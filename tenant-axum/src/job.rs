//! Background work for one tenant: [`ForTenant`] hands the tenant to a
//! spawned task or a queued job as an explicit value.
//!
//! There is no ambient tenant (no task-local, no global): a job names its
//! tenant in its own data, so a worker cannot run it for the wrong one by
//! accident, and a job that lost its tenant does not compile rather than
//! running with whatever was set last. Each run begins its own tenant
//! transaction, committed when the work returns `Ok` and rolled back on
//! `Err` or panic, so nothing of the request that queued it (which has
//! usually committed and gone) is shared.
//!
//! ```no_run
//! use tenant_axum::{ForTenant, RequestId, RequestTx, Tenant, TenantError};
//! use tenant_runtime::{Error, TenantPool};
//!
//! #[derive(serde::Serialize, serde::Deserialize)]
//! struct Welcome {
//!     email: String,
//! }
//!
//! // In a handler: queue the job (or spawn it, below) with the request's
//! // tenant and id.
//! async fn signup(tenant: Tenant, id: RequestId) -> Result<String, TenantError> {
//!     let job = ForTenant::from_request(&tenant, &id, Welcome { email: "ada@example.com".into() });
//!     Ok(serde_json::to_string(&job).expect("serializable")) // into your queue
//! }
//!
//! // In a worker: its own transaction, for the job's tenant only.
//! async fn work(pool: &TenantPool, queued: &str) -> Result<(), Error> {
//!     let job: ForTenant<Welcome> = serde_json::from_str(queued).expect("a job");
//!     job.run(pool, async |tx, welcome| {
//!         tx.raw::<(i64,)>("SELECT count(*) FROM projects").fetch_one().await?;
//!         tracing::info!(email = %welcome.email, "welcome sent"); // logged with tenant and request_id
//!         Ok(())
//!     })
//!     .await
//! }
//! ```

use std::future::Future;

use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;
use tracing::Instrument as _;

use crate::error::TenantError;
use crate::extract::Tenant;
use crate::layer::RequestId;
use crate::runtime::{self, RuntimeError, TenantId, TenantPool, TenantTx};
use crate::tx::RequestTx;

/// The name of the span every job runs in; its fields are `tenant` and
/// `request_id`, as on the layer's `request` span.
pub const JOB_SPAN: &str = "tenant_job";

/// A piece of work for one tenant: the tenant, the request that asked for
/// it (for the logs), and a payload.
///
/// It is plain data (`Serialize`/`Deserialize` when the payload is), so it
/// can sit in a queue; a tenant id or request id read back from a queue is
/// checked again, as any input is. Run it with [`run`](Self::run) in a
/// worker, or [`spawn`](Self::spawn) it on tokio from a handler.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForTenant<T> {
    tenant: TenantId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    request_id: Option<RequestId>,
    payload: T,
}

impl<T> ForTenant<T> {
    /// Work for `tenant`, not tied to a request (a scheduled job, say).
    pub fn new(tenant: TenantId, payload: T) -> Self {
        Self {
            tenant,
            request_id: None,
            payload,
        }
    }

    /// Work for the request's tenant, logged with the request's id.
    pub fn from_request(tenant: &Tenant, request_id: &RequestId, payload: T) -> Self {
        Self::new(tenant.id, payload).with_request_id(request_id.clone())
    }

    /// Logs the work with `request_id` (the request that asked for it).
    pub fn with_request_id(mut self, request_id: RequestId) -> Self {
        self.request_id = Some(request_id);
        self
    }

    /// The tenant the work is for.
    pub fn tenant(&self) -> TenantId {
        self.tenant
    }

    /// The request that asked for it, if any.
    pub fn request_id(&self) -> Option<&RequestId> {
        self.request_id.as_ref()
    }

    /// The payload.
    pub fn payload(&self) -> &T {
        &self.payload
    }

    /// A new span `tenant_job{tenant, request_id}` for this work, which
    /// follows from the current span (the request that queues it, when
    /// called in a handler).
    pub fn span(&self) -> tracing::Span {
        let span = tracing::info_span!(
            JOB_SPAN,
            tenant = %self.tenant,
            request_id = tracing::field::Empty,
        );
        if let Some(id) = &self.request_id {
            span.record("request_id", tracing::field::display(id));
        }
        span.follows_from(tracing::Span::current());
        span
    }

    /// Runs `f` with the payload in a new transaction for the job's tenant,
    /// from `pool`: commits when `f` returns `Ok`, rolls back when it
    /// returns `Err` or panics. Everything `f` logs carries the job's
    /// tenant and request id.
    ///
    /// An unknown or deleted tenant (deleted since the job was queued, say)
    /// fails before `f` runs, with `Error::TenantNotFound` /
    /// `Error::TenantDeleted` converted into `E`.
    pub async fn run<R, E>(
        self,
        pool: &TenantPool,
        f: impl AsyncFnOnce(&mut TenantTx, T) -> Result<R, E>,
    ) -> Result<R, E>
    where
        E: From<RuntimeError>,
    {
        let span = self.span();
        let Self {
            tenant, payload, ..
        } = self;
        runtime::with_tenant(pool, tenant, async |tx| f(tx, payload).await)
            .instrument(span)
            .await
    }

    /// Spawns the work on tokio, in the job's span (tenant and request id
    /// of the request that spawned it), and returns its handle.
    ///
    /// `f` gets the job's transaction as a [`RequestTx`]: begun on its
    /// first [`get`](RequestTx::get), for the job's tenant, and committed
    /// when the future `f` returns resolves to `Ok`; rolled back on `Err`
    /// or panic (the handle then reports the panic). If the commit fails
    /// the task's result is that error, so a job is never reported done
    /// with its writes lost. Keep the `RequestTx` inside the future: a
    /// clone that outlives it makes the job fail with `transaction_in_use`
    /// and roll back.
    ///
    /// Unlike [`run`](Self::run), `f` is a closure that returns a future
    /// (`move |tx, payload| async move { .. }`): tokio needs the task to be
    /// `Send`, and that cannot be required of an async closure's future.
    ///
    /// ```no_run
    /// # use tenant_axum::{ForTenant, RequestTx, TenantError};
    /// # async fn demo(job: ForTenant<String>, pool: tenant_runtime::TenantPool) {
    /// let handle = job.spawn(pool, move |tx: RequestTx, name: String| async move {
    ///     let tx = tx.get().await?;
    ///     tx.raw::<(i64,)>("SELECT count(*) FROM projects").fetch_one().await?;
    ///     Ok::<_, TenantError>(name)
    /// });
    /// # let _ = handle.await; }
    /// ```
    pub fn spawn<F, Fut, R, E>(self, pool: TenantPool, f: F) -> JoinHandle<Result<R, E>>
    where
        F: FnOnce(RequestTx, T) -> Fut,
        Fut: Future<Output = Result<R, E>> + Send + 'static,
        R: Send + 'static,
        E: From<TenantError> + Send + 'static,
    {
        self.spawn_inner(pool, f)
    }

    /// [`spawn`](Self::spawn)s the work once `request`'s transaction has
    /// committed, and never if it rolls back: the job then sees every
    /// write of the handler that queued it. This is the way to start a job
    /// from a handler ([`RequestTx::after_commit`]); what the job returns
    /// goes to `done`, with its error logged when it fails.
    ///
    /// ```no_run
    /// use tenant_axum::{ForTenant, RequestId, RequestTx, Tenant, TenantError};
    /// use tenant_runtime::TenantPool;
    ///
    /// async fn signup(tx: RequestTx, tenant: Tenant, id: RequestId, pool: TenantPool) -> Result<&'static str, TenantError> {
    ///     // .. the handler's writes, through tx.get().await? ..
    ///     ForTenant::from_request(&tenant, &id, "ada@example.com".to_owned()).spawn_after_commit(
    ///         &tx,
    ///         pool,
    ///         move |job: RequestTx, email: String| async move {
    ///             let _sees_the_handlers_rows = job.get().await?;
    ///             tracing::info!(%email, "welcome sent");
    ///             Ok::<_, TenantError>(())
    ///         },
    ///         |_outcome| {},
    ///     );
    ///     Ok("signed up")
    /// }
    /// ```
    pub fn spawn_after_commit<F, Fut, R, E>(
        self,
        request: &RequestTx,
        pool: TenantPool,
        f: F,
        done: impl FnOnce(Result<R, E>) + Send + 'static,
    ) where
        T: Send + 'static,
        F: FnOnce(RequestTx, T) -> Fut + Send + 'static,
        Fut: Future<Output = Result<R, E>> + Send + 'static,
        R: Send + 'static,
        E: From<TenantError> + std::fmt::Display + Send + 'static,
    {
        request.after_commit(async move {
            let outcome = match self.spawn_inner(pool, f).await {
                Ok(outcome) => outcome,
                Err(join) => {
                    tracing::error!(error = %join, "job after commit panicked");
                    return;
                }
            };
            if let Err(e) = &outcome {
                tracing::warn!(error = %e, "job after commit failed");
            }
            done(outcome);
        });
    }

    fn spawn_inner<F, Fut, R, E>(self, pool: TenantPool, f: F) -> JoinHandle<Result<R, E>>
    where
        F: FnOnce(RequestTx, T) -> Fut,
        Fut: Future<Output = Result<R, E>> + Send + 'static,
        R: Send + 'static,
        E: From<TenantError> + Send + 'static,
    {
        let span = self.span();
        let tx = RequestTx::new(pool, self.tenant, None);
        let work = f(tx.clone(), self.payload);
        tokio::spawn(
            async move {
                let outcome = work.await;
                let ended = tx.end(outcome.is_ok()).await;
                match (outcome, ended) {
                    (Ok(value), Ok(())) => Ok(value),
                    (Ok(_), Err(e)) => Err(E::from(e)),
                    (Err(e), _) => Err(e),
                }
            }
            .instrument(span),
        )
    }
}
