//! `/projects/{project}/tasks`: list (paged) and create.

use axum::Json;
use axum::extract::Path;
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::http::StatusCode;
use serde::Deserialize;
use tenant_axum::RequestTx;

use super::projects::{MAX_TITLE, find, insert_task};
use super::{ProjectPath, body, project_id};
use crate::error::ApiError;
use crate::models::Task;
use crate::page::{Page, PageParams};

/// A project's tasks after an id. No tenant filter here: row-level
/// security adds it, as it does to any statement in a tenant transaction.
const TASKS_OF_PROJECT: &str = "SELECT id, tenant_id, project_id, title, done FROM tasks \
     WHERE project_id = $1 AND id > $2 ORDER BY id LIMIT $3";

/// What `POST /projects/{project}/tasks` takes.
#[derive(Debug, Deserialize)]
pub(crate) struct NewTask {
    title: String,
}

/// `GET /projects/{project}/tasks?limit=&after=`.
pub(crate) async fn list(
    tx: RequestTx,
    path: Result<Path<ProjectPath>, PathRejection>,
    page: PageParams,
) -> Result<Json<Page<Task>>, ApiError> {
    let project = project_id(path)?;
    let tx = tx.get().await?;
    find(tx, project).await?;
    let rows = Task::scoped(tx)
        .raw(TASKS_OF_PROJECT)
        .bind(project)
        .bind(page.after.unwrap_or(i64::MIN))
        .bind(i64::from(page.limit))
        .fetch_all()
        .await?;
    Ok(Json(Page::new(rows, page, |t| t.id)))
}

/// `POST /projects/{project}/tasks`.
pub(crate) async fn create(
    tx: RequestTx,
    path: Result<Path<ProjectPath>, PathRejection>,
    new: Result<Json<NewTask>, JsonRejection>,
) -> Result<(StatusCode, Json<Task>), ApiError> {
    let project = project_id(path)?;
    let new = body(new)?;
    ApiError::check_text("title", &new.title, MAX_TITLE)?;
    let tx = tx.get().await?;
    find(tx, project).await?;
    Ok((
        StatusCode::CREATED,
        Json(insert_task(tx, project, new.title).await?),
    ))
}
