//! The endpoints. Each takes the request's [`RequestTx`](tenant_axum::RequestTx):
//! the layer commits it when the handler answers 2xx and rolls it back
//! otherwise, so a handler that fails halfway leaves nothing behind.

mod accounts;
mod members;
mod projects;
mod tasks;

use axum::Json;
use axum::Router;
use axum::extract::Path;
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::routing::{get, patch, post};
use serde::Deserialize;

use crate::auth::Accounts;
use crate::error::ApiError;

/// The organisation's API, without the tenant layer. Every route but
/// accepting an invitation needs a member of the request's tenant (the
/// `Member` extractor as a route layer: 403 `not_a_member`, checked on
/// every request, so a removed member is refused on their next one).
pub(crate) fn api(accounts: Accounts) -> Router {
    Router::new()
        .route("/projects", get(projects::list).post(projects::create))
        .route("/projects/{project}", get(projects::get))
        .route(
            "/projects/{project}/tasks",
            get(tasks::list).post(tasks::create),
        )
        .route("/members", get(members::list))
        .route(
            "/members/{user}",
            patch(members::set_role).delete(members::remove),
        )
        .route("/invitations", post(members::invite))
        .route_layer(axum::middleware::from_extractor::<tenant_members::Member>())
        .route("/invitations/accept", post(members::accept))
        .layer(axum::Extension(accounts))
}

/// The routes outside any tenant.
pub(crate) fn accounts(accounts: Accounts) -> Router {
    Router::new()
        .route("/signup", post(accounts::sign_up))
        .route("/me/organisations", get(accounts::organisations))
        .route("/switch", post(accounts::switch))
        .with_state(accounts)
}

/// A JSON body, or `invalid_body` (400) saying what is wrong with it.
pub(crate) fn body<T>(body: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    body.map(|Json(value)| value)
        .map_err(|e| ApiError::InvalidBody {
            reason: e.body_text(),
        })
}

/// `{project}` of the path (by name: under `/t/{tenant}` there are two).
#[derive(Debug, Deserialize)]
pub(crate) struct ProjectPath {
    project: i64,
}

/// The project id of the path, or `invalid_path` (400).
pub(crate) fn project_id(path: Result<Path<ProjectPath>, PathRejection>) -> Result<i64, ApiError> {
    path.map(|Path(p)| p.project)
        .map_err(|e| ApiError::InvalidPath {
            reason: e.body_text(),
        })
}
