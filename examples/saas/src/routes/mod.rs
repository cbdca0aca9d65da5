//! The endpoints. Each takes the request's [`RequestTx`](tenant_axum::RequestTx):
//! the layer commits it when the handler answers 2xx and rolls it back
//! otherwise, so a handler that fails halfway leaves nothing behind.

mod members;
mod projects;
mod tasks;

use axum::Json;
use axum::Router;
use axum::extract::Path;
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::routing::get;
use serde::Deserialize;

use crate::error::ApiError;

/// The API's routes, without the tenant layer.
pub(crate) fn api() -> Router {
    Router::new()
        .route("/projects", get(projects::list).post(projects::create))
        .route("/projects/{project}", get(projects::get))
        .route(
            "/projects/{project}/tasks",
            get(tasks::list).post(tasks::create),
        )
        .route("/members", get(members::list).post(members::create))
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
