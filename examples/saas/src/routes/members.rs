//! The organisation's people: `/members` (list, change a role, remove or
//! leave), `/invitations` (invite, admins only) and
//! `/invitations/accept`. The database enforces every rule (tenant-members'
//! SQL); these handlers only say who acts.

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{Extension, Path};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tenant_axum::RequestTx;
use tenant_members::users::{self, TenantMember};
use tenant_members::{Invitation, Member, RequireRole, Role, min};
use tenant_runtime::UserId;
use time::Duration;

use super::body;
use crate::auth::Accounts;
use crate::error::ApiError;

/// How long an invitation is valid unless the request says otherwise.
const DEFAULT_VALID_HOURS: i64 = 7 * 24;
/// The longest an invitation may be valid.
const MAX_VALID_HOURS: i64 = 30 * 24;

/// `GET /members`: the organisation's members with their roles.
pub(crate) async fn list(_: Member, tx: RequestTx) -> Result<Json<Vec<TenantMember>>, ApiError> {
    Ok(Json(users::tenant_members(tx.get().await?).await?))
}

/// What `PATCH /members/{user}` takes.
#[derive(Debug, Deserialize)]
pub(crate) struct NewRole {
    role: String,
}

/// The `{user}` of the path.
#[derive(Debug, Deserialize)]
pub(crate) struct UserPath {
    user: UserId,
}

fn user_of(path: Result<Path<UserPath>, PathRejection>) -> Result<UserId, ApiError> {
    path.map(|Path(p)| p.user)
        .map_err(|e| ApiError::InvalidPath {
            reason: e.body_text(),
        })
}

fn role_of(text: &str) -> Result<Role, ApiError> {
    text.parse().map_err(|_| ApiError::InvalidBody {
        reason: format!("role must be owner, admin, member or viewer, not {text:?}"),
    })
}

/// `PATCH /members/{user}` (admins): sets a member's role. Only an owner
/// touches the owner role, and the last owner stays one (the database's
/// rules: 403 `role_required`, 409 `last_owner`).
pub(crate) async fn set_role(
    _: RequireRole<min::Admin>,
    tx: RequestTx,
    path: Result<Path<UserPath>, PathRejection>,
    new: Result<Json<NewRole>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let user = user_of(path)?;
    let role = role_of(&body(new)?.role)?;
    let row = tenant_members::set_role(tx.get().await?, user, role)
        .await?
        .ok_or(ApiError::NoSuchMember { user })?;
    Ok(Json(json!({ "user_id": row.user_id, "role": row.role })))
}

/// `DELETE /members/{user}`: an admin removes a member, or anyone leaves
/// (their own id). 204; 409 `last_owner` for the last owner.
pub(crate) async fn remove(
    _: Member,
    tx: RequestTx,
    path: Result<Path<UserPath>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let user = user_of(path)?;
    if tenant_members::remove_member(tx.get().await?, user).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NoSuchMember { user })
    }
}

/// What `POST /invitations` takes.
#[derive(Debug, Deserialize)]
pub(crate) struct NewInvitation {
    email: String,
    role: String,
    valid_hours: Option<i64>,
}

/// What `POST /invitations` answers: the token goes to the invitee (the
/// example hands it back instead of emailing a link).
#[derive(Debug, Serialize)]
pub(crate) struct Invited {
    id: i64,
    email: String,
    role: String,
    #[serde(with = "time::serde::rfc3339")]
    expires_at: time::OffsetDateTime,
    token: String,
}

/// `POST /invitations` (admins; an owner for the owner role): 201 with the
/// token.
pub(crate) async fn invite(
    admin: RequireRole<min::Admin>,
    tx: RequestTx,
    new: Result<Json<NewInvitation>, JsonRejection>,
) -> Result<(StatusCode, Json<Invited>), ApiError> {
    let new = body(new)?;
    ApiError::check_text("email", &new.email, 320)?;
    let role = role_of(&new.role)?;
    let hours = new.valid_hours.unwrap_or(DEFAULT_VALID_HOURS);
    if !(1..=MAX_VALID_HOURS).contains(&hours) {
        return Err(ApiError::InvalidBody {
            reason: format!("valid_hours must be 1 to {MAX_VALID_HOURS}"),
        });
    }
    let (invitation, token) =
        Invitation::new(admin.member.tenant, new.email, role, Duration::hours(hours));
    let row = Invitation::scoped(tx.get().await?)
        .insert(&invitation)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(Invited {
            id: row.id,
            email: row.email,
            role: row.role,
            expires_at: row.expires_at,
            token: token.expose().to_owned(),
        }),
    ))
}

/// What `POST /invitations/accept` takes.
#[derive(Debug, Deserialize)]
pub(crate) struct Acceptance {
    token: String,
}

/// `POST /t/{tenant}/invitations/accept` with a token naming no tenant (or
/// this one): the signed-in user, whose email the invitation must be sent
/// to, joins with its role; answers a token for the organisation, so the
/// client switches to it without logging in again.
pub(crate) async fn accept(
    tx: RequestTx,
    Extension(accounts): Extension<Accounts>,
    acceptance: Result<Json<Acceptance>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let token = body(acceptance)?.token;
    let user = tx.user().ok_or(ApiError::UserRequired)?;
    let role = tenant_members::accept_invitation(tx.get().await?, &token).await?;
    let tenant = tx.tenant();
    Ok(Json(json!({
        "tenant_id": tenant,
        "role": role.as_str(),
        "token": accounts.tenant_token(tenant, user)?,
    })))
}
