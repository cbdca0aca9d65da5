//! [`TenantService`]: what [`TenantLayer`](super::TenantLayer) wraps
//! around the routes.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::http::Request;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use tower::Service;
use tracing::Instrument;

use super::{LayerInstalled, REQUEST_ID_HEADER, RequestId, Shared};
use crate::directory::TenantRecord;
use crate::error::TenantError;
use crate::extract::Tenant;
use crate::jwt::{JwtError, VerifiedClaims};
use crate::resolve::{RequestHead, ResolveError};
use crate::tenant_ref::{Resolved, TenantRef};
use crate::tx::RequestTx;

/// The service [`TenantLayer`](super::TenantLayer) makes; see there.
#[derive(Clone)]
pub struct TenantService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> std::fmt::Debug for TenantService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantService").finish_non_exhaustive()
    }
}

impl<S> TenantService<S> {
    pub(crate) fn new(inner: S, shared: Arc<Shared>) -> Self {
        Self { inner, shared }
    }
}

impl<S, B> Service<Request<B>> for TenantService<S>
where
    S: Service<Request<B>, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        // The clone that was polled ready is the one that must be called.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let shared = self.shared.clone();
        let (mut parts, body) = request.into_parts();
        let request_id = RequestId::from_headers(&parts.headers);
        let span = tracing::info_span!(
            "request",
            request_id = %request_id,
            method = %parts.method,
            path = %parts.uri.path(),
            tenant = tracing::field::Empty,
            tenant_source = tracing::field::Empty,
        );
        Box::pin(
            async move {
                parts.extensions.insert(request_id.clone());
                parts.extensions.insert(LayerInstalled {
                    shared: shared.clone(),
                });
                let tx = match prepare(&shared, &mut parts).await {
                    Ok(tx) => tx,
                    Err(e) => return Ok(stamp(e.into_response(), &request_id)),
                };
                let response = inner.call(Request::from_parts(parts, body)).await?;
                let response = match tx {
                    Some(tx) => tx.finish(response).await,
                    None => response,
                };
                Ok(stamp(response, &request_id))
            }
            .instrument(span),
        )
    }
}

/// Verifies the token, resolves and looks up the tenant, and puts what it
/// found in the request; the transaction handle it returns is finished
/// after the handler.
async fn prepare(shared: &Shared, parts: &mut Parts) -> Result<Option<RequestTx>, TenantError> {
    let claims = match &shared.jwt {
        None => None,
        Some(verifier) => match verifier.verify_bearer(&parts.headers).await? {
            Some(claims) => Some(claims),
            None if shared.require_token => return Err(JwtError::MissingToken.into()),
            None => None,
        },
    };
    let answers = {
        let head = RequestHead::new(parts, claims.as_ref());
        shared.resolvers.resolve(&head).await?
    };
    let user = claims.as_ref().and_then(VerifiedClaims::user);
    if let Some(claims) = claims {
        parts.extensions.insert(claims);
    }
    let Some(tenant) = agree(shared, answers).await? else {
        if shared.require_tenant {
            return Err(shared.resolvers.no_tenant().into());
        }
        return Ok(None);
    };
    let span = tracing::Span::current();
    span.record("tenant", tracing::field::display(tenant.id));
    span.record("tenant_source", tracing::field::display(tenant.source));
    let tx = RequestTx::new(shared.pool.clone(), tenant.id, user);
    parts.extensions.insert(tenant);
    parts.extensions.insert(tx.clone());
    Ok(Some(tx))
}

/// The first answer's tenant, checked against every other answer (there
/// are others only in all-must-agree mode).
async fn agree(shared: &Shared, answers: Vec<Resolved>) -> Result<Option<Tenant>, TenantError> {
    let mut answers = answers.into_iter();
    let Some(first) = answers.next() else {
        return Ok(None);
    };
    let record = lookup(shared, &first.tenant).await?;
    for other in answers {
        // The record has both id and slug, and slugs are unique, so no
        // second lookup is needed to compare.
        let same = match &other.tenant {
            TenantRef::Id(id) => *id == record.id,
            TenantRef::Slug(slug) => slug.as_str() == record.slug,
        };
        if !same {
            return Err(ResolveError::Conflict {
                first: Box::new(first),
                second: Box::new(other),
            }
            .into());
        }
    }
    Ok(Some(Tenant {
        id: record.id,
        slug: record.slug,
        source: first.source,
    }))
}

async fn lookup(shared: &Shared, tenant: &TenantRef) -> Result<TenantRecord, TenantError> {
    let found = match tenant {
        TenantRef::Id(id) => shared.directory.by_id_boxed(*id).await?,
        TenantRef::Slug(slug) => shared.directory.by_slug_boxed(slug).await?,
    };
    match found {
        None => Err(TenantError::TenantNotFound {
            tenant: tenant.clone(),
        }),
        Some(record) if record.deleted => Err(TenantError::TenantDeleted {
            tenant: tenant.clone(),
        }),
        Some(record) => Ok(record),
    }
}

fn stamp(mut response: Response, id: &RequestId) -> Response {
    response
        .headers_mut()
        .insert(REQUEST_ID_HEADER.clone(), id.header_value());
    response
}
