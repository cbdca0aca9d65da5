//! `/projects`: list (paged), create (optionally with tasks), get one.

use axum::Json;
use axum::extract::Path;
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use tenant_axum::RequestTx;
use tenant_runtime::TenantTx;

use super::{ProjectPath, body, project_id};
use crate::error::ApiError;
use crate::models::{Project, Task};
use crate::page::{Page, PageParams};

/// The longest project name.
const MAX_NAME: usize = 200;
/// The longest task title.
pub(crate) const MAX_TITLE: usize = 500;

/// What `POST /projects` takes.
#[derive(Debug, Deserialize)]
pub(crate) struct NewProject {
    name: String,
    /// Titles of tasks to create with it.
    #[serde(default)]
    tasks: Vec<String>,
}

/// What `POST /projects` answers.
#[derive(Debug, Serialize)]
pub(crate) struct Created {
    #[serde(flatten)]
    project: Project,
    tasks: Vec<Task>,
}

/// `GET /projects?limit=&after=`: the tenant's projects in id order.
pub(crate) async fn list(tx: RequestTx, page: PageParams) -> Result<Json<Page<Project>>, ApiError> {
    let scoped = Project::scoped(tx.get().await?);
    Ok(Json(page.fetch(scoped).await?))
}

/// `POST /projects`: the project, then its tasks. A bad task title is
/// found after the project is written: the 400 makes the layer roll the
/// project back too.
pub(crate) async fn create(
    tx: RequestTx,
    new: Result<Json<NewProject>, JsonRejection>,
) -> Result<(StatusCode, Json<Created>), ApiError> {
    let new = body(new)?;
    ApiError::check_text("name", &new.name, MAX_NAME)?;
    let tx = tx.get().await?;
    let row = Project {
        id: 0,
        tenant_id: tx.tenant(),
        name: new.name,
    };
    let project = Project::scoped(tx).insert(&row).await?;
    let mut tasks = Vec::with_capacity(new.tasks.len());
    for (i, title) in new.tasks.into_iter().enumerate() {
        ApiError::check_text(format!("tasks[{i}]"), &title, MAX_TITLE)?;
        tasks.push(insert_task(tx, project.id, title).await?);
    }
    Ok((StatusCode::CREATED, Json(Created { project, tasks })))
}

/// `GET /projects/{project}`.
pub(crate) async fn get(
    tx: RequestTx,
    path: Result<Path<ProjectPath>, PathRejection>,
) -> Result<Json<Project>, ApiError> {
    let id = project_id(path)?;
    Ok(Json(find(tx.get().await?, id).await?))
}

/// The tenant's project `id`, or `project_not_found` (another tenant's
/// project is not found either: row-level security hides it).
pub(crate) async fn find(tx: &TenantTx, id: i64) -> Result<Project, ApiError> {
    Project::scoped(tx)
        .find(&id)
        .await?
        .ok_or(ApiError::ProjectNotFound { id })
}

/// Inserts an open task into `project`.
pub(crate) async fn insert_task(
    tx: &TenantTx,
    project: i64,
    title: String,
) -> Result<Task, ApiError> {
    let row = Task {
        id: 0,
        tenant_id: tx.tenant(),
        project_id: project,
        title,
        done: false,
    };
    Ok(Task::scoped(tx).insert(&row).await?)
}
