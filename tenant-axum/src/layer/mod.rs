//! [`TenantLayer`]: resolves each request's tenant before the handler.

mod request_id;
mod service;

pub use request_id::{InvalidRequestId, REQUEST_ID_HEADER, RequestId};
pub use service::TenantService;

use std::sync::Arc;

use tower::Layer;

use crate::config::ConfigError;
use crate::directory::{CachedDirectory, DynDirectory, PgDirectory, TenantDirectory};
use crate::jwt::JwtVerifier;
use crate::resolve::{ResolveError, Resolvers};
use crate::runtime::TenantPool;

/// A tower layer that, for every request:
///
/// 1. opens a tracing span `request` with the request id (from a
///    well-formed `x-request-id`, else a new one, echoed in the response)
///    and, once known, the tenant id;
/// 2. verifies the bearer token when a [`JwtVerifier`] is set (a bad token
///    is a 401 whether or not the tenant comes from it) and puts its
///    [`VerifiedClaims`](crate::VerifiedClaims) in the request;
/// 3. asks the [`Resolvers`] in their fixed order, looks the tenant up in
///    the directory (404 if unknown or deleted) and puts the [`Tenant`](crate::Tenant)
///    and a lazy [`RequestTx`](crate::RequestTx) in the request;
/// 4. after the handler, commits the transaction if it was begun and the
///    status is 2xx/3xx, else rolls it back.
///
/// Every refusal is a [`TenantError`](crate::TenantError) response.
///
/// ```no_run
/// use axum::{Router, routing::get};
/// use tenant_axum::resolve::{HeaderResolver, PathResolver, Resolvers};
/// use tenant_axum::{Tenant, TenantLayer};
///
/// # async fn demo(pool: tenant_runtime::TenantPool) -> Result<(), tenant_axum::ConfigError> {
/// let layer = TenantLayer::builder(pool)
///     .resolvers(Resolvers::new().path(PathResolver::default()).header(HeaderResolver::default()))
///     .build()?;
/// let app: Router = Router::new()
///     .route("/t/{tenant}/whoami", get(|t: Tenant| async move { t.slug }))
///     .layer(layer);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct TenantLayer {
    shared: Arc<Shared>,
}

pub(crate) struct Shared {
    pub(crate) pool: TenantPool,
    pub(crate) directory: Arc<dyn DynDirectory>,
    pub(crate) resolvers: Resolvers,
    pub(crate) jwt: Option<JwtVerifier>,
    pub(crate) require_token: bool,
    pub(crate) require_tenant: bool,
}

impl std::fmt::Debug for TenantLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantLayer")
            .field("resolvers", &self.shared.resolvers)
            .field("jwt", &self.shared.jwt)
            .field("require_token", &self.shared.require_token)
            .field("require_tenant", &self.shared.require_tenant)
            .finish_non_exhaustive()
    }
}

impl TenantLayer {
    /// Starts a layer for tenant transactions from `pool`.
    pub fn builder(pool: TenantPool) -> TenantLayerBuilder {
        TenantLayerBuilder {
            pool,
            directory: None,
            resolvers: Resolvers::new(),
            jwt: None,
            require_token: false,
            require_tenant: true,
        }
    }
}

impl<S> Layer<S> for TenantLayer {
    type Service = TenantService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TenantService::new(inner, self.shared.clone())
    }
}

/// Configures a [`TenantLayer`]; [`build`](Self::build) checks the set-up.
#[must_use]
pub struct TenantLayerBuilder {
    pool: TenantPool,
    directory: Option<Arc<dyn DynDirectory>>,
    resolvers: Resolvers,
    jwt: Option<JwtVerifier>,
    require_token: bool,
    require_tenant: bool,
}

impl std::fmt::Debug for TenantLayerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantLayerBuilder")
            .field("resolvers", &self.resolvers)
            .finish_non_exhaustive()
    }
}

impl TenantLayerBuilder {
    /// Where tenants are looked up. Default: a [`CachedDirectory`] over a
    /// [`PgDirectory`] on the pool; pass your own to keep a handle for
    /// invalidation (`CachedDirectory` is cheap to clone).
    pub fn directory(mut self, directory: impl TenantDirectory) -> Self {
        self.directory = Some(Arc::new(directory));
        self
    }

    /// The resolvers (see [`Resolvers`] for their order).
    pub fn resolvers(mut self, resolvers: Resolvers) -> Self {
        self.resolvers = resolvers;
        self
    }

    /// Verifies bearer tokens with `verifier`.
    pub fn jwt(mut self, verifier: JwtVerifier) -> Self {
        self.jwt = Some(verifier);
        self
    }

    /// Refuses requests without a bearer token (401 `missing_token`).
    /// Default: a token is optional, but verified when present.
    pub fn require_token(mut self, require: bool) -> Self {
        self.require_token = require;
        self
    }

    /// Whether a request that names no tenant is refused (400
    /// `missing_tenant`, the default) or passed on without one.
    pub fn require_tenant(mut self, require: bool) -> Self {
        self.require_tenant = require;
        self
    }

    /// Checks the configuration and builds the layer.
    pub fn build(self) -> Result<TenantLayer, ConfigError> {
        if self.resolvers.is_empty() {
            return Err(ConfigError::NoResolvers);
        }
        if self.resolvers.reads_claims() && self.jwt.is_none() {
            return Err(ConfigError::ClaimWithoutVerifier);
        }
        let directory = match self.directory {
            Some(d) => d,
            None => Arc::new(CachedDirectory::new(PgDirectory::from_tenant_pool(
                &self.pool,
            ))),
        };
        Ok(TenantLayer {
            shared: Arc::new(Shared {
                pool: self.pool,
                directory,
                resolvers: self.resolvers,
                jwt: self.jwt,
                require_token: self.require_token,
                require_tenant: self.require_tenant,
            }),
        })
    }
}

/// Put in every request the layer saw, so extractors can tell "no layer"
/// (a wiring mistake) from "no tenant" (the client's).
#[derive(Clone)]
pub(crate) struct LayerInstalled {
    shared: Arc<Shared>,
}

impl LayerInstalled {
    pub(crate) fn no_tenant(&self) -> ResolveError {
        self.shared.resolvers.no_tenant()
    }
}
