//! [`ApiError`]: every refusal of the API, as a status and the JSON body
//! tenant-axum uses, `{"error": {"code": "...", "message": "..."}}`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tenant_axum::TenantError;
use tenant_runtime::InvitationRefusal;

/// Why a request failed. Tenant, token and database failures are
/// tenant-axum's [`TenantError`] (400, 401, 403, 404, 503); the rest are
/// the API's own.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// Resolving the tenant, the token or the database failed.
    #[error(transparent)]
    Tenant(#[from] TenantError),
    /// `limit` or `after` is not a valid page.
    #[error("invalid page: {reason}")]
    InvalidPage {
        /// What is wrong.
        reason: String,
    },
    /// The request body is not the JSON the endpoint takes.
    #[error("invalid request body: {reason}")]
    InvalidBody {
        /// What the parser said.
        reason: String,
    },
    /// A path segment is not what the route takes (`/projects/abc`).
    #[error("invalid path: {reason}")]
    InvalidPath {
        /// What the parser said.
        reason: String,
    },
    /// A name or title is empty or too long.
    #[error("{field} must be 1 to {max} characters long")]
    InvalidText {
        /// Which field (`name`, `tasks[2]`, ..).
        field: String,
        /// The limit.
        max: usize,
    },
    /// The tenant has no project with this id.
    #[error("this organisation has no project {id}")]
    ProjectNotFound {
        /// The id asked for.
        id: i64,
    },
    /// The organisation has no member with this user id.
    #[error("user {user} is not a member of this organisation")]
    NoSuchMember {
        /// The id asked for.
        user: tenant_runtime::UserId,
    },
    /// The token names no user (its `sub` is not a user id).
    #[error("this needs a signed-in user: a token whose sub is your user id")]
    UserRequired,
    /// `/switch` to an organisation the user is no member of.
    #[error("you are not a member of {tenant}: GET /me/organisations lists yours")]
    NotYourOrganisation {
        /// What the request named.
        tenant: String,
    },
    /// The change would leave the organisation without an owner.
    #[error("the organisation would have no owner left: make another member owner first")]
    LastOwner,
    /// The acting member's role may not make this membership change.
    #[error("this change needs the {needed} role in the organisation")]
    ChangeRefused {
        /// The least role that may.
        needed: String,
    },
    /// The invitation cannot be accepted (or made).
    #[error("{0}")]
    Invitation(tenant_runtime::InvitationRefusal),
    /// The name is taken within the tenant.
    #[error("{what} already exists in this organisation: choose another")]
    Taken {
        /// What (`a project with this name`, `a member with this email`).
        what: &'static str,
    },
}

impl ApiError {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Tenant(e) => e.status(),
            ApiError::InvalidPage { .. }
            | ApiError::InvalidBody { .. }
            | ApiError::InvalidPath { .. }
            | ApiError::InvalidText { .. } => StatusCode::BAD_REQUEST,
            ApiError::ProjectNotFound { .. } | ApiError::NoSuchMember { .. } => {
                StatusCode::NOT_FOUND
            }
            ApiError::Taken { .. } | ApiError::LastOwner => StatusCode::CONFLICT,
            ApiError::UserRequired => StatusCode::UNAUTHORIZED,
            ApiError::NotYourOrganisation { .. } | ApiError::ChangeRefused { .. } => {
                StatusCode::FORBIDDEN
            }
            ApiError::Invitation(reason) => match reason {
                InvitationRefusal::Unknown => StatusCode::NOT_FOUND,
                InvitationRefusal::Used | InvitationRefusal::AlreadyMember => StatusCode::CONFLICT,
                InvitationRefusal::Expired => StatusCode::GONE,
                InvitationRefusal::NotYours => StatusCode::FORBIDDEN,
                InvitationRefusal::NoUser => StatusCode::UNAUTHORIZED,
                _ => StatusCode::BAD_REQUEST,
            },
        }
    }

    /// The stable code in the body.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Tenant(e) => e.code(),
            ApiError::InvalidPage { .. } => "invalid_page",
            ApiError::InvalidBody { .. } => "invalid_body",
            ApiError::InvalidPath { .. } => "invalid_path",
            ApiError::InvalidText { .. } => "invalid_text",
            ApiError::ProjectNotFound { .. } => "project_not_found",
            ApiError::Taken { .. } => "taken",
            ApiError::NoSuchMember { .. } => "no_such_member",
            ApiError::UserRequired => "user_required",
            ApiError::NotYourOrganisation { .. } => "not_a_member",
            ApiError::LastOwner => "last_owner",
            ApiError::ChangeRefused { .. } => "role_required",
            ApiError::Invitation(reason) => match reason {
                InvitationRefusal::Unknown => "invitation_unknown",
                InvitationRefusal::Used => "invitation_used",
                InvitationRefusal::Expired => "invitation_expired",
                InvitationRefusal::NotYours => "invitation_not_yours",
                InvitationRefusal::AlreadyMember => "already_member",
                InvitationRefusal::NoUser => "user_required",
                _ => "invitation_refused",
            },
        }
    }

    /// Checks that `text` has 1 to `max` characters.
    pub fn check_text(field: impl Into<String>, text: &str, max: usize) -> Result<(), ApiError> {
        let len = text.trim().chars().count();
        if len == 0 || text.chars().count() > max {
            return Err(ApiError::InvalidText {
                field: field.into(),
                max,
            });
        }
        Ok(())
    }
}

/// Unique violations and the membership rules are the client's (409,
/// 403, ..); every other runtime error is sorted by tenant-axum (404
/// unknown tenant, 503 database down, else 500 with the detail logged).
impl From<tenant_runtime::Error> for ApiError {
    fn from(e: tenant_runtime::Error) -> Self {
        use tenant_runtime::Error;
        match e {
            Error::UniqueViolation { ref table, .. } => ApiError::Taken {
                what: if table.ends_with("users") {
                    "a user with this email"
                } else {
                    "a project with this name"
                },
            },
            Error::LastOwner { .. } => ApiError::LastOwner,
            Error::MembershipChangeRefused { needed } => ApiError::ChangeRefused { needed },
            Error::InvitationRefused { reason } => ApiError::Invitation(reason),
            other => ApiError::Tenant(TenantError::from(other)),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Tenant(e) = self {
            if e.status().is_server_error() {
                tracing::error!(error = ?e, "request failed");
            }
            return e.into_response();
        }
        let body = json!({ "error": { "code": self.code(), "message": self.to_string() } });
        (self.status(), Json(body)).into_response()
    }
}
