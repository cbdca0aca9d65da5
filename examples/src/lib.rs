//! The quick start as an axum service: every request that names a tenant
//! runs in one transaction bound to that tenant, committed when the handler
//! succeeds and rolled back otherwise.
//!
//! ```sh
//! cargo run -p tenant-examples --bin quickstart-emit-rls | psql "$OWNER_URL"
//! APP_DATABASE_URL=postgres://app@localhost/saas cargo run -p tenant-examples --bin axum-quickstart
//! curl -H 'x-tenant-id: <tenant uuid>' localhost:3000/notes
//! ```

#![forbid(unsafe_code)]

mod api_error;
mod tenant_header;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tenant_runtime::{TenantId, TenantPool, TenantScoped};

pub use api_error::ApiError;
pub use tenant_header::{HEADER as TENANT_HEADER, TenantHeader};

/// A note of one tenant; titles are unique within a tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow, TenantScoped)]
#[tenant_table(name = "notes", unique(tenant_id, title))]
pub struct Note {
    /// Numbered by the database.
    #[tenant(primary_key, generated)]
    pub id: i64,
    /// Owner.
    pub tenant_id: TenantId,
    /// Unique within the tenant.
    pub title: String,
    /// Text.
    pub body: String,
}

/// What a client posts to create a note: no id, no tenant (the request
/// says which tenant).
#[derive(Debug, Clone, Deserialize)]
pub struct NewNote {
    /// Title.
    pub title: String,
    /// Text.
    pub body: String,
}

/// The service: `GET /notes` and `POST /notes`, tenant from `x-tenant-id`.
pub fn app(pool: TenantPool) -> Router {
    Router::new()
        .route("/notes", get(list).post(create))
        .with_state(pool)
}

async fn list(
    State(pool): State<TenantPool>,
    TenantHeader(tenant): TenantHeader,
) -> Result<Json<Vec<Note>>, ApiError> {
    let notes = pool
        .with_tenant(tenant, async |tx| Note::scoped(tx).all().await)
        .await?;
    Ok(Json(notes))
}

async fn create(
    State(pool): State<TenantPool>,
    TenantHeader(tenant): TenantHeader,
    Json(new): Json<NewNote>,
) -> Result<(StatusCode, Json<Note>), ApiError> {
    let note = Note {
        id: 0,
        tenant_id: tenant,
        title: new.title,
        body: new.body,
    };
    let stored = pool
        .with_tenant(tenant, async |tx| Note::scoped(tx).insert(&note).await)
        .await?;
    Ok((StatusCode::CREATED, Json(stored)))
}
