//! The `x-tenant-id` header as an extractor.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use tenant_runtime::TenantId;

use crate::ApiError;

/// The request's tenant, parsed from the `x-tenant-id` header: missing or
/// malformed is a 400 before any database work.
#[derive(Debug, Clone, Copy)]
pub struct TenantHeader(pub TenantId);

/// The header it reads.
pub const HEADER: &str = "x-tenant-id";

impl<S: Send + Sync> FromRequestParts<S> for TenantHeader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let value = parts.headers.get(HEADER).ok_or(ApiError::MissingTenant)?;
        let text = value
            .to_str()
            .map_err(|_| ApiError::MalformedTenant(format!("{value:?}")))?;
        let tenant = text
            .parse()
            .map_err(|e: tenant_runtime::ParseTenantIdError| {
                ApiError::MalformedTenant(e.to_string())
            })?;
        Ok(Self(tenant))
    }
}
