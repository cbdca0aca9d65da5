//! `/members`: list (paged) and add.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use serde::Deserialize;
use tenant_axum::RequestTx;

use super::body;
use crate::error::ApiError;
use crate::models::Member;
use crate::page::{Page, PageParams};

/// What `POST /members` takes.
#[derive(Debug, Deserialize)]
pub(crate) struct NewMember {
    email: String,
    name: String,
}

/// `GET /members?limit=&after=`.
pub(crate) async fn list(tx: RequestTx, page: PageParams) -> Result<Json<Page<Member>>, ApiError> {
    let scoped = Member::scoped(tx.get().await?);
    Ok(Json(page.fetch(scoped).await?))
}

/// `POST /members`: 409 when the email is already a member.
pub(crate) async fn create(
    tx: RequestTx,
    new: Result<Json<NewMember>, JsonRejection>,
) -> Result<(StatusCode, Json<Member>), ApiError> {
    let new = body(new)?;
    ApiError::check_text("email", &new.email, 320)?;
    ApiError::check_text("name", &new.name, 200)?;
    let tx = tx.get().await?;
    let row = Member {
        id: 0,
        tenant_id: tx.tenant(),
        email: new.email,
        name: new.name,
    };
    Ok((
        StatusCode::CREATED,
        Json(Member::scoped(tx).insert(&row).await?),
    ))
}
