//! Keyset paging: `?limit=N&after=ID`, answered with the rows and the
//! `after` of the next page.

use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use serde::{Deserialize, Serialize};
use tenant_runtime::{Row, Scoped, TenantTable};

use crate::error::ApiError;

/// Rows per page unless `limit` says otherwise.
pub const DEFAULT_LIMIT: u32 = 50;
/// The largest `limit`.
pub const MAX_LIMIT: u32 = 100;

/// A page asked for: up to `limit` rows with an id above `after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageParams {
    /// 1 to [`MAX_LIMIT`].
    pub limit: u32,
    /// The last id of the previous page; `None` for the first page.
    pub after: Option<i64>,
}

#[derive(Deserialize)]
struct RawPage {
    limit: Option<u32>,
    after: Option<i64>,
}

impl<S: Send + Sync> FromRequestParts<S> for PageParams {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let Query(raw) =
            Query::<RawPage>::try_from_uri(&parts.uri).map_err(|e| ApiError::InvalidPage {
                reason: format!(
                    "{}; use ?limit=1..{MAX_LIMIT}&after=<last id>",
                    e.body_text()
                ),
            })?;
        let limit = raw.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ApiError::InvalidPage {
                reason: format!("limit must be 1 to {MAX_LIMIT}, not {limit}"),
            });
        }
        Ok(Self {
            limit,
            after: raw.after,
        })
    }
}

impl PageParams {
    /// The page of `scoped`'s rows: key order, after [`after`](Self::after)
    /// when given.
    pub async fn fetch<T>(self, scoped: Scoped<'_, T>) -> Result<Page<T>, tenant_runtime::Error>
    where
        T: TenantTable<Key = i64> + Row,
    {
        let rows = match self.after {
            None => scoped.page(self.limit, 0).await?,
            Some(after) => scoped.after(&after, self.limit).await?,
        };
        Ok(Page::new(rows, self, |row| *row.key()))
    }
}

/// One page of rows.
#[derive(Debug, Clone, Serialize)]
pub struct Page<T> {
    /// The rows, in id order.
    pub items: Vec<T>,
    /// Pass as `after` for the next page; `null` on the last one.
    pub next_after: Option<i64>,
}

impl<T> Page<T> {
    /// A page of `items`, asked for with `params`; `id` reads a row's key.
    pub fn new(items: Vec<T>, params: PageParams, id: impl Fn(&T) -> i64) -> Self {
        let full = items.len() == params.limit as usize;
        let next_after = if full { items.last().map(id) } else { None };
        Self { items, next_after }
    }
}
