//! Outside any tenant: `/signup` (the system role makes the user, the
//! organisation and its owner), `/me/organisations` (the switcher's list,
//! as the application role with no tenant) and `/switch` (a token for
//! another of the user's organisations).

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use tenant_members::{Membership, MyTenant, Role, users};
use tenant_runtime::UserId;

use super::body;
use crate::auth::{Accounts, SignedIn};
use crate::error::ApiError;

/// What `POST /signup` takes.
#[derive(Debug, Deserialize)]
pub(crate) struct SignUp {
    email: String,
    name: String,
    organisation: String,
}

/// `POST /signup`: a new user, a new organisation, and the user its owner,
/// in one system transaction; answers both tokens. In a real service this
/// runs after the identity provider verified the email: `users.email` is
/// what invitations are matched against.
pub(crate) async fn sign_up(
    State(accounts): State<Accounts>,
    new: Result<Json<SignUp>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let new = body(new)?;
    ApiError::check_text("email", &new.email, 320)?;
    ApiError::check_text("name", &new.name, 200)?;
    ApiError::check_text("organisation", &new.organisation, 200)?;
    let tx = accounts.system.begin().await?;
    let user = users::create_user(&tx, UserId::new_v4(), &new.email, &new.name).await?;
    let tenant = tx.tenants().create(&new.organisation).await?;
    Membership::system(&tx)
        .insert(&Membership::new(tenant.id, user.id, Role::Owner))
        .await?;
    tx.commit().await?;
    let id = user.id;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "user": user,
            "tenant": { "id": tenant.id, "slug": tenant.slug, "name": tenant.name },
            "token": accounts.tenant_token(tenant.id, id)?,
            "user_token": accounts.user_token(id)?,
        })),
    ))
}

async fn organisations_of(accounts: &Accounts, user: UserId) -> Result<Vec<MyTenant>, ApiError> {
    let tx = accounts.app.begin_global_as(user).await?;
    let mine = tenant_members::my_tenants(&tx).await?;
    tx.commit().await?;
    Ok(mine)
}

/// `GET /me/organisations`: the signed-in user's organisations and roles.
pub(crate) async fn organisations(
    State(accounts): State<Accounts>,
    SignedIn(user): SignedIn,
) -> Result<Json<Vec<MyTenant>>, ApiError> {
    Ok(Json(organisations_of(&accounts, user).await?))
}

/// What `POST /switch` takes: an organisation's id or slug.
#[derive(Debug, Deserialize)]
pub(crate) struct Switch {
    tenant: String,
}

/// `POST /switch`: a token for one of the user's organisations, without
/// logging in again; 403 `not_a_member` for any other.
pub(crate) async fn switch(
    State(accounts): State<Accounts>,
    SignedIn(user): SignedIn,
    to: Result<Json<Switch>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let to = body(to)?.tenant;
    let mine = organisations_of(&accounts, user).await?;
    let found = mine
        .into_iter()
        .find(|t| t.slug == to || t.tenant_id.to_string() == to)
        .ok_or(ApiError::NotYourOrganisation { tenant: to })?;
    Ok(Json(json!({
        "tenant_id": found.tenant_id,
        "slug": found.slug,
        "role": found.role,
        "token": accounts.tenant_token(found.tenant_id, user)?,
    })))
}
