//! HTTP statuses and JSON bodies for what can go wrong.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tenant_runtime::Error;

/// An error a handler returns; each kind has its own status and a JSON
/// body `{"error": <code>, "message": <text>}`.
#[derive(Debug)]
pub enum ApiError {
    /// No `x-tenant-id` header.
    MissingTenant,
    /// A header that is not a tenant id.
    MalformedTenant(String),
    /// From the library.
    Tenant(Error),
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError::Tenant(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, message) = match self {
            ApiError::MissingTenant => (
                StatusCode::BAD_REQUEST,
                "missing_tenant",
                "send the tenant id in the x-tenant-id header".to_owned(),
            ),
            ApiError::MalformedTenant(detail) => {
                (StatusCode::BAD_REQUEST, "malformed_tenant", detail)
            }
            ApiError::Tenant(e) => {
                let (status, code) = match &e {
                    Error::TenantNotFound { .. } | Error::TenantDeleted { .. } => {
                        (StatusCode::NOT_FOUND, "unknown_tenant")
                    }
                    Error::UniqueViolation { .. } => (StatusCode::CONFLICT, "duplicate"),
                    Error::CrossTenantWrite { .. } => (StatusCode::FORBIDDEN, "cross_tenant_write"),
                    Error::RowNotFound { .. } => (StatusCode::NOT_FOUND, "not_found"),
                    Error::DatabaseUnavailable(_) | Error::PoolTimedOut { .. } => {
                        (StatusCode::SERVICE_UNAVAILABLE, "database_unavailable")
                    }
                    _ => {
                        tracing::error!(error = %e, "request failed");
                        (StatusCode::INTERNAL_SERVER_ERROR, "internal")
                    }
                };
                let message = if status == StatusCode::INTERNAL_SERVER_ERROR {
                    "internal error".to_owned()
                } else {
                    e.to_string()
                };
                (status, code, message)
            }
        };
        (status, Json(json!({ "error": code, "message": message }))).into_response()
    }
}
