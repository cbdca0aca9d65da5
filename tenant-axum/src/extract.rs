//! Extractors for what the layer put in the request: [`Tenant`],
//! [`VerifiedClaims`], [`RequestId`] (and [`RequestTx`](crate::RequestTx)
//! in its own module).

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::http::request::Parts;

use crate::error::TenantError;
use crate::jwt::{JwtError, VerifiedClaims};
use crate::layer::{LayerInstalled, RequestId};
use crate::runtime::TenantId;
use crate::tenant_ref::Source;

/// The request's tenant, resolved, looked up and known not deleted.
///
/// As an extractor it refuses the request with `missing_tenant` (400) when
/// the layer found none (possible only with
/// [`require_tenant(false)`](crate::TenantLayerBuilder::require_tenant));
/// take `Option<Tenant>` on routes where a tenant is optional.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    /// `tenants.id`.
    pub id: TenantId,
    /// `tenants.slug`.
    pub slug: String,
    /// Which resolver named it.
    pub source: Source,
}

/// The rejection for something the layer did not put in the request:
/// `layer_missing` when there is no layer at all (a wiring mistake).
pub(crate) fn absent(parts: &Parts, extractor: &'static str) -> TenantError {
    match parts.extensions.get::<LayerInstalled>() {
        None => TenantError::LayerMissing { extractor },
        Some(installed) => TenantError::Resolve(installed.no_tenant()),
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Tenant {
    type Rejection = TenantError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Tenant>()
            .cloned()
            .ok_or_else(|| absent(parts, "Tenant"))
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for Tenant {
    type Rejection = TenantError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Option<Self>, Self::Rejection> {
        if parts.extensions.get::<LayerInstalled>().is_none() {
            return Err(TenantError::LayerMissing {
                extractor: "Tenant",
            });
        }
        Ok(parts.extensions.get::<Tenant>().cloned())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for VerifiedClaims {
    type Rejection = TenantError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        if let Some(claims) = parts.extensions.get::<VerifiedClaims>() {
            return Ok(claims.clone());
        }
        match parts.extensions.get::<LayerInstalled>() {
            None => Err(TenantError::LayerMissing {
                extractor: "VerifiedClaims",
            }),
            Some(_) => Err(TenantError::Token(JwtError::MissingToken)),
        }
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for VerifiedClaims {
    type Rejection = TenantError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Option<Self>, Self::Rejection> {
        if parts.extensions.get::<LayerInstalled>().is_none() {
            return Err(TenantError::LayerMissing {
                extractor: "VerifiedClaims",
            });
        }
        Ok(parts.extensions.get::<VerifiedClaims>().cloned())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for RequestId {
    type Rejection = TenantError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<RequestId>()
            .cloned()
            .ok_or(TenantError::LayerMissing {
                extractor: "RequestId",
            })
    }
}
