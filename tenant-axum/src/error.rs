//! [`TenantError`]: everything the layer and extractors refuse, each with
//! its HTTP status and a stable code.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::directory::DirectoryError;
use crate::jwt::JwtError;
use crate::resolve::ResolveError;
use crate::runtime::{self, RuntimeError, RuntimeFailure, TenantId};
use crate::tenant_ref::TenantRef;

/// Seconds a client is told to wait (`Retry-After`) after a 503.
pub const RETRY_AFTER_SECS: u32 = 2;

/// Why a request was refused. As a response it is a status and a JSON
/// body `{"error": {"code": "...", "message": "..."}}`:
///
/// | status | codes |
/// | --- | --- |
/// | 400 | `missing_tenant`, `malformed_tenant`, `tenant_conflict`, `tenant_rejected` |
/// | 401 | `missing_token`, `token_*` (one per [`JwtError`]), `token_tenant_claim` |
/// | 403 | `not_a_member`, `role_required`, `membership_change_refused`, `cross_tenant_write` |
/// | 404 | `tenant_not_found`, `tenant_deleted`, `not_found` |
/// | 409 | `unique_violation` (with `columns`), `still_referenced`, `last_owner`, `invitation_refused` (with `reason`) |
/// | 422 | `reference_missing` |
/// | 500 | `directory_failed`, `commit_failed`, `transaction_in_use`, `layer_missing`, `internal` |
/// | 503 | `database_unavailable`, `keys_unavailable` (with `Retry-After`) |
///
/// Handlers can return it too: `?` on a tenant-runtime error maps the
/// library's own kinds (an unknown or deleted tenant 404, a duplicate 409
/// naming the columns, a reference to a missing row 422, a row still
/// referenced 409, a missing row 404, an unreachable database 503); any
/// other runtime error becomes a 500 whose detail is logged, not sent. To
/// answer differently, convert into an error type of your own first and
/// match on the runtime error there (examples/saas/src/error.rs does).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TenantError {
    /// The request names its tenant wrongly, or not at all.
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    /// The bearer token was refused.
    #[error(transparent)]
    Token(#[from] JwtError),
    /// The authenticated user is not a member of the request's tenant.
    #[error("user {user} is not a member of tenant {tenant}; switch to one of your organisations")]
    MembershipRefused {
        /// The request's tenant.
        tenant: TenantId,
        /// The user (`sub`).
        user: String,
    },
    /// The member's role is below what the route needs.
    #[error("this needs the {needed} role in the organisation; yours is {role}")]
    RoleRequired {
        /// The least role the route takes.
        needed: &'static str,
        /// The member's.
        role: &'static str,
    },
    /// No tenant has this id or slug.
    #[error("no tenant has {tenant}")]
    TenantNotFound {
        /// What the request named.
        tenant: TenantRef,
    },
    /// The tenant is soft-deleted.
    #[error("the tenant with {tenant} is deleted")]
    TenantDeleted {
        /// What the request named.
        tenant: TenantRef,
    },
    /// The database is down or its pool is exhausted: retry later.
    #[error("the database is unavailable; retry in a moment")]
    DatabaseUnavailable {
        /// What failed (logged, not sent).
        reason: String,
    },
    /// The tenants directory failed for another reason.
    #[error("looking the tenant up failed")]
    DirectoryFailed {
        /// What failed (logged, not sent).
        reason: String,
    },
    /// The handler succeeded but its transaction did not commit: its
    /// writes are lost.
    #[error("the request's changes could not be saved (commit failed)")]
    CommitFailed {
        /// What failed (logged, not sent).
        reason: String,
    },
    /// A handler kept the request transaction alive past its response (a
    /// spawned task, a streaming body), so it could not be committed; it
    /// rolls back when the last holder drops it.
    #[error("the request transaction was still in use when the response was ready")]
    TransactionInUse,
    /// An extractor was used on a route without [`TenantLayer`](crate::TenantLayer).
    #[error("{extractor} needs TenantLayer on this route: add .layer(tenant_layer) to the router")]
    LayerMissing {
        /// The extractor.
        extractor: &'static str,
    },
    /// A unique index refused the write.
    #[error("{}", if .columns.is_empty() { "a row with the same values already exists".to_owned() } else { format!("a row with the same {} already exists", .columns.join(", ")) })]
    Duplicate {
        /// The columns whose values are taken (the tenant column left
        /// out), when a model declares the unique set.
        columns: Vec<String>,
    },
    /// A reference names a row that does not exist in this tenant.
    #[error("the request refers to a row that does not exist")]
    ReferenceMissing,
    /// The row is still referenced by others and cannot be deleted.
    #[error("other rows still refer to this one: delete or change them first")]
    StillReferenced,
    /// No row with that key in this tenant.
    #[error("no such row")]
    NotFound,
    /// A write named another tenant's row or moved a row to one.
    #[error("a row of another tenant cannot be written here")]
    CrossTenantWrite,
    /// tenant-members: the change would leave the tenant without an owner.
    #[error("the organisation would have no owner left: make another member owner first")]
    LastOwner,
    /// tenant-members: the acting user's role may not make this change.
    #[error("this change needs the {needed} role in the organisation")]
    ChangeRefused {
        /// The least role that may make it.
        needed: String,
    },
    /// tenant-members: the invitation was refused, for `reason` (a code).
    #[error("invitation refused: {reason}")]
    InvitationRefused {
        /// Why (`unknown`, `used`, `expired`, `not_yours`, ...).
        reason: &'static str,
    },
    /// Any other runtime error a handler passed on with `?`.
    #[error("internal error")]
    Internal {
        /// What failed (logged, not sent).
        reason: String,
    },
}

impl TenantError {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            TenantError::Resolve(e) => match e {
                ResolveError::ClaimNotString { .. } | ResolveError::InvalidClaim { .. } => {
                    StatusCode::UNAUTHORIZED
                }
                _ => StatusCode::BAD_REQUEST,
            },
            TenantError::Token(JwtError::KeysUnavailable { .. }) => StatusCode::SERVICE_UNAVAILABLE,
            TenantError::Token(_) => StatusCode::UNAUTHORIZED,
            TenantError::MembershipRefused { .. } | TenantError::RoleRequired { .. } => {
                StatusCode::FORBIDDEN
            }
            TenantError::TenantNotFound { .. } | TenantError::TenantDeleted { .. } => {
                StatusCode::NOT_FOUND
            }
            TenantError::Duplicate { .. }
            | TenantError::StillReferenced
            | TenantError::LastOwner
            | TenantError::InvitationRefused { .. } => StatusCode::CONFLICT,
            TenantError::ReferenceMissing => StatusCode::UNPROCESSABLE_ENTITY,
            TenantError::NotFound => StatusCode::NOT_FOUND,
            TenantError::CrossTenantWrite | TenantError::ChangeRefused { .. } => {
                StatusCode::FORBIDDEN
            }
            TenantError::DatabaseUnavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            TenantError::DirectoryFailed { .. }
            | TenantError::CommitFailed { .. }
            | TenantError::TransactionInUse
            | TenantError::LayerMissing { .. }
            | TenantError::Internal { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable machine-readable code (the body's `error.code`).
    pub fn code(&self) -> &'static str {
        match self {
            TenantError::Resolve(e) => match e {
                ResolveError::NoTenant { .. } => "missing_tenant",
                ResolveError::Conflict { .. } => "tenant_conflict",
                ResolveError::ClaimNotString { .. } | ResolveError::InvalidClaim { .. } => {
                    "token_tenant_claim"
                }
                ResolveError::Custom { .. } => "tenant_rejected",
                _ => "malformed_tenant",
            },
            TenantError::Token(e) => e.code(),
            TenantError::MembershipRefused { .. } => "not_a_member",
            TenantError::RoleRequired { .. } => "role_required",
            TenantError::TenantNotFound { .. } => "tenant_not_found",
            TenantError::TenantDeleted { .. } => "tenant_deleted",
            TenantError::Duplicate { .. } => "unique_violation",
            TenantError::ReferenceMissing => "reference_missing",
            TenantError::StillReferenced => "still_referenced",
            TenantError::NotFound => "not_found",
            TenantError::CrossTenantWrite => "cross_tenant_write",
            TenantError::LastOwner => "last_owner",
            TenantError::ChangeRefused { .. } => "membership_change_refused",
            TenantError::InvitationRefused { .. } => "invitation_refused",
            TenantError::DatabaseUnavailable { .. } => "database_unavailable",
            TenantError::DirectoryFailed { .. } => "directory_failed",
            TenantError::CommitFailed { .. } => "commit_failed",
            TenantError::TransactionInUse => "transaction_in_use",
            TenantError::LayerMissing { .. } => "layer_missing",
            TenantError::Internal { .. } => "internal",
        }
    }

    /// The body's `error.message`: what was wrong and what to do. Server
    /// faults get the generic text; their detail goes to the log.
    pub fn message(&self) -> String {
        self.to_string()
    }
}

#[derive(Serialize)]
struct Body<'a> {
    error: Detail<'a>,
}

#[derive(Serialize)]
struct Detail<'a> {
    code: &'a str,
    message: String,
    /// `unique_violation`: the columns whose values are taken.
    #[serde(skip_serializing_if = "Option::is_none")]
    columns: Option<&'a [String]>,
    /// `invitation_refused`: why.
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
}

impl IntoResponse for TenantError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error = ?self, code = self.code(), "request failed");
        } else {
            tracing::debug!(error = %self, code = self.code(), "request refused");
        }
        let body = Body {
            error: Detail {
                code: self.code(),
                message: self.message(),
                columns: match &self {
                    TenantError::Duplicate { columns } if !columns.is_empty() => Some(columns),
                    _ => None,
                },
                reason: match &self {
                    TenantError::InvitationRefused { reason } => Some(reason),
                    _ => None,
                },
            },
        };
        let mut response = (status, Json(body)).into_response();
        let headers = response.headers_mut();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
        }
        if status == StatusCode::UNAUTHORIZED {
            // RFC 6750 3.1: tell the client which scheme, and that the
            // token (not the request) is what failed.
            let value = match &self {
                TenantError::Token(JwtError::MissingToken) => "Bearer",
                _ => "Bearer error=\"invalid_token\"",
            };
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(value));
        }
        response
    }
}

impl From<DirectoryError> for TenantError {
    fn from(e: DirectoryError) -> Self {
        match e {
            DirectoryError::Unavailable(reason) => TenantError::DatabaseUnavailable { reason },
            other => TenantError::DirectoryFailed {
                reason: other.to_string(),
            },
        }
    }
}

/// sqlx's own errors, from queries run on [`TenantTx::connection`]
/// (`sqlx::query!` in a handler): mapped as the library's statements' are
/// (a duplicate 409, a missing reference 422, ..), and `fetch_one` finding
/// no row is a 404.
///
/// [`TenantTx::connection`]: tenant_runtime::Tx::connection
impl From<sqlx::Error> for TenantError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::RowNotFound => TenantError::NotFound,
            other => RuntimeError::from(other).into(),
        }
    }
}

impl From<RuntimeError> for TenantError {
    fn from(e: RuntimeError) -> Self {
        match runtime::classify(&e) {
            RuntimeFailure::NotFound(id) => TenantError::TenantNotFound {
                tenant: TenantRef::Id(id),
            },
            RuntimeFailure::Deleted(id) => TenantError::TenantDeleted {
                tenant: TenantRef::Id(id),
            },
            RuntimeFailure::Unavailable => TenantError::DatabaseUnavailable {
                reason: e.to_string(),
            },
            RuntimeFailure::Unique(columns) => TenantError::Duplicate { columns },
            RuntimeFailure::ReferenceMissing => TenantError::ReferenceMissing,
            RuntimeFailure::StillReferenced => TenantError::StillReferenced,
            RuntimeFailure::RowNotFound => TenantError::NotFound,
            RuntimeFailure::CrossTenantWrite => TenantError::CrossTenantWrite,
            RuntimeFailure::LastOwner => TenantError::LastOwner,
            RuntimeFailure::ChangeRefused(needed) => TenantError::ChangeRefused { needed },
            RuntimeFailure::InvitationRefused(reason) => TenantError::InvitationRefused { reason },
            RuntimeFailure::Other => TenantError::Internal {
                reason: e.to_string(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tenant_ref::{Resolved, Slug, Source};

    async fn body(e: TenantError) -> (StatusCode, axum::http::HeaderMap, serde_json::Value) {
        let response = e.into_response();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .expect("body");
        (
            status,
            headers,
            serde_json::from_slice(&bytes).expect("json"),
        )
    }

    fn id() -> TenantId {
        TenantId::parse("3f333df6-90a4-4fda-8dd3-9485d27cee36").unwrap()
    }

    #[tokio::test]
    async fn a_duplicate_names_its_columns_and_not_its_values() {
        let e = TenantError::from(tenant_runtime::Error::UniqueViolation {
            table: "public.users".into(),
            constraint: "users_tenant_id_email_key".into(),
            columns: vec!["email".into()],
        });
        let (status, _, json) = body(e).await;
        assert_eq!(status, 409);
        assert_eq!(json["error"]["code"], "unique_violation");
        assert_eq!(json["error"]["columns"], serde_json::json!(["email"]));
        assert_eq!(
            json["error"]["message"],
            "a row with the same email already exists"
        );
    }

    #[tokio::test]
    async fn each_error_has_its_status_code_and_body() {
        let slug = TenantRef::Slug(Slug::parse("acme").unwrap());
        let resolved = |source| {
            Box::new(Resolved {
                tenant: slug.clone(),
                source,
            })
        };
        let cases: Vec<(TenantError, u16, &str)> = vec![
            (
                ResolveError::NoTenant {
                    expected: "x".into(),
                }
                .into(),
                400,
                "missing_tenant",
            ),
            (
                ResolveError::DotSegment {
                    segment: "..".into(),
                }
                .into(),
                400,
                "malformed_tenant",
            ),
            (
                ResolveError::Conflict {
                    first: resolved(Source::Jwt),
                    second: resolved(Source::Header),
                }
                .into(),
                400,
                "tenant_conflict",
            ),
            (
                ResolveError::custom("k", "no").into(),
                400,
                "tenant_rejected",
            ),
            (
                ResolveError::ClaimNotString {
                    claim: "org".into(),
                }
                .into(),
                401,
                "token_tenant_claim",
            ),
            (JwtError::MissingToken.into(), 401, "missing_token"),
            (JwtError::Expired.into(), 401, "token_expired"),
            (
                JwtError::KeysUnavailable {
                    reason: "down".into(),
                }
                .into(),
                503,
                "keys_unavailable",
            ),
            (
                TenantError::MembershipRefused {
                    tenant: id(),
                    user: "u1".into(),
                },
                403,
                "not_a_member",
            ),
            (
                TenantError::TenantNotFound {
                    tenant: slug.clone(),
                },
                404,
                "tenant_not_found",
            ),
            (
                TenantError::TenantDeleted {
                    tenant: slug.clone(),
                },
                404,
                "tenant_deleted",
            ),
            (
                TenantError::DatabaseUnavailable {
                    reason: "secret detail".into(),
                },
                503,
                "database_unavailable",
            ),
            (
                TenantError::DirectoryFailed {
                    reason: "secret detail".into(),
                },
                500,
                "directory_failed",
            ),
            (
                TenantError::CommitFailed {
                    reason: "secret detail".into(),
                },
                500,
                "commit_failed",
            ),
            (TenantError::TransactionInUse, 500, "transaction_in_use"),
            (
                TenantError::LayerMissing {
                    extractor: "Tenant",
                },
                500,
                "layer_missing",
            ),
            (
                TenantError::Internal {
                    reason: "secret detail".into(),
                },
                500,
                "internal",
            ),
        ];
        for (error, status, code) in cases {
            let message = error.to_string();
            let (got_status, headers, json) = body(error).await;
            assert_eq!(got_status.as_u16(), status, "{code}");
            assert_eq!(json["error"]["code"], code);
            assert_eq!(json["error"]["message"], message.as_str());
            assert!(
                !message.contains("secret detail"),
                "{code} leaks its detail"
            );
            assert_eq!(
                headers.contains_key(header::RETRY_AFTER),
                status == 503,
                "{code}: Retry-After only on 503"
            );
            assert_eq!(
                headers.contains_key(header::WWW_AUTHENTICATE),
                status == 401,
                "{code}"
            );
        }
    }

    #[test]
    fn runtime_errors_map_by_kind() {
        use tenant_runtime::Error;
        let e = TenantError::from(Error::TenantNotFound { tenant: id() });
        assert_eq!(e.code(), "tenant_not_found");
        let e = TenantError::from(Error::TenantDeleted { tenant: id() });
        assert_eq!(e.code(), "tenant_deleted");
        let e = TenantError::from(Error::DatabaseUnavailable(sqlx::Error::PoolTimedOut));
        assert_eq!(
            (e.code(), e.status().as_u16()),
            ("database_unavailable", 503)
        );
        let kinds: Vec<(Error, &str, u16)> = vec![
            (
                Error::RowNotFound {
                    table: "public.projects".into(),
                },
                "not_found",
                404,
            ),
            (
                Error::UniqueViolation {
                    table: "public.users".into(),
                    constraint: "users_tenant_id_email_key".into(),
                    columns: vec!["email".into()],
                },
                "unique_violation",
                409,
            ),
            (
                Error::ReferenceMissing {
                    table: "public.tasks".into(),
                    constraint: "tasks_fkey".into(),
                },
                "reference_missing",
                422,
            ),
            (
                Error::StillReferenced {
                    table: "public.tasks".into(),
                    constraint: "tasks_fkey".into(),
                },
                "still_referenced",
                409,
            ),
            (Error::LastOwner { tenant: id() }, "last_owner", 409),
            (Error::SessionTampered, "internal", 500),
        ];
        for (runtime, code, status) in kinds {
            let e = TenantError::from(runtime);
            assert_eq!((e.code(), e.status().as_u16()), (code, status));
        }
        let e = TenantError::from(DirectoryError::Unavailable("x".into()));
        assert_eq!(e.code(), "database_unavailable");
        let e = TenantError::from(DirectoryError::Query("x".into()));
        assert_eq!(e.code(), "directory_failed");
    }
}
