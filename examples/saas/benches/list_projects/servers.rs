//! The services under test, each on its own ephemeral port: the example's
//! router (token, resolver, layer, RequestTx, scoped page), the same
//! handler written by hand with no isolation (one statement, and in a
//! transaction), and, to split the difference, the handler on
//! tenant-runtime without the adapter.

use std::net::SocketAddr;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use sqlx::PgPool;
use tenant_runtime::{TenantId, TenantPool, TenantTx, UserId};
use tenant_saas_example::models::Project;
use tenant_saas_example::page::{DEFAULT_LIMIT, Page, PageParams};

use crate::BoxError;

/// The secret the benchmark's tokens are signed with.
pub(crate) const SECRET: &str = "bench-secret-bench-secret-bench-secret";

/// The header the hand-written service takes the tenant from, unchecked.
pub(crate) const TENANT_HEADER: &str = "x-tenant-id";

/// What an application without this library runs: a plain sqlx pool, as a
/// role that bypasses row-level security, and the tenant filter by hand.
const LIST_BY_HAND: &str =
    "SELECT id, tenant_id, name FROM projects WHERE tenant_id = $1 ORDER BY id LIMIT 50";

/// Serves `router` on an ephemeral port of 127.0.0.1.
pub(crate) async fn serve(router: Router) -> Result<SocketAddr, BoxError> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, router).await });
    Ok(addr)
}

/// The example service, as `serve` builds it.
pub(crate) fn adapter(
    pool: TenantPool,
    system: tenant_runtime::SystemPool,
) -> Result<Router, BoxError> {
    Ok(tenant_saas_example::router(pool, system, SECRET)?)
}

/// `GET /projects` on tenant-runtime without the adapter: the tenant from
/// a header, unchecked, then `begin`, the scoped page, `commit`. Compared
/// with [`adapter`], it leaves the adapter's own cost (token, resolvers,
/// directory, layer, `RequestTx`); compared with [`by_hand`], the
/// database's (tenant check, policy, transaction).
pub(crate) fn runtime_by_hand(pool: TenantPool) -> Router {
    Router::new()
        .route("/projects", get(list_in_tenant_tx))
        .with_state(pool)
}

async fn list_in_tenant_tx(
    State(pool): State<TenantPool>,
    headers: HeaderMap,
) -> Result<Json<Page<Project>>, StatusCode> {
    let tx = pool.begin(tenant(&headers)?).await.map_err(unavailable)?;
    first_page_in(tx).await
}

/// The first page in `tx`, committed.
async fn first_page_in(tx: TenantTx) -> Result<Json<Page<Project>>, StatusCode> {
    let rows = Project::scoped(&tx)
        .page(DEFAULT_LIMIT, 0)
        .await
        .map_err(unavailable)?;
    tx.commit().await.map_err(unavailable)?;
    Ok(Json(first_page(rows)))
}

fn unavailable(_: tenant_runtime::Error) -> StatusCode {
    StatusCode::SERVICE_UNAVAILABLE
}

/// [`runtime_by_hand`] acting for the tenant's member (`begin_as`, the
/// user the adapter's token names: setup gives it the tenant's id), so
/// the membership role is read at begin as in the adapter. Compared with
/// [`adapter`], it leaves the adapter's own cost without the membership.
pub(crate) fn runtime_as_member(pool: TenantPool) -> Router {
    Router::new()
        .route("/projects", get(list_as_member))
        .with_state(pool)
}

async fn list_as_member(
    State(pool): State<TenantPool>,
    headers: HeaderMap,
) -> Result<Json<Page<Project>>, StatusCode> {
    let tenant = tenant(&headers)?;
    let member = UserId::new(*tenant.as_uuid());
    let tx = pool.begin_as(tenant, member).await.map_err(unavailable)?;
    if tx.user_in_tenant().is_none() {
        return Err(StatusCode::FORBIDDEN);
    }
    first_page_in(tx).await
}

fn tenant(headers: &HeaderMap) -> Result<TenantId, StatusCode> {
    headers
        .get(TENANT_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .ok_or(StatusCode::BAD_REQUEST)
}

fn first_page(rows: Vec<Project>) -> Page<Project> {
    let page = PageParams {
        limit: DEFAULT_LIMIT,
        after: None,
    };
    Page::new(rows, page, |p| p.id)
}

/// `GET /projects` by hand: the tenant from a header, no token, no check.
pub(crate) fn by_hand(pool: PgPool) -> Router {
    Router::new()
        .route("/projects", get(list_by_hand))
        .with_state(pool)
}

async fn list_by_hand(
    State(pool): State<PgPool>,
    headers: HeaderMap,
) -> Result<Json<Page<Project>>, StatusCode> {
    let rows: Vec<Project> = sqlx::query_as(LIST_BY_HAND)
        .bind(tenant(&headers)?)
        .fetch_all(&pool)
        .await
        .map_err(|_| StatusCode::SERVICE_UNAVAILABLE)?;
    Ok(Json(first_page(rows)))
}

/// `GET /projects` by hand like [`by_hand`], in a transaction of its own
/// (`BEGIN`, the query, `COMMIT`): the round trips a tenant transaction
/// has too, without isolation.
pub(crate) fn by_hand_in_a_transaction(pool: PgPool) -> Router {
    Router::new()
        .route("/projects", get(list_by_hand_in_a_transaction))
        .with_state(pool)
}

async fn list_by_hand_in_a_transaction(
    State(pool): State<PgPool>,
    headers: HeaderMap,
) -> Result<Json<Page<Project>>, StatusCode> {
    let unavailable = |_| StatusCode::SERVICE_UNAVAILABLE;
    let mut tx = pool.begin().await.map_err(unavailable)?;
    let rows: Vec<Project> = sqlx::query_as(LIST_BY_HAND)
        .bind(tenant(&headers)?)
        .fetch_all(&mut *tx)
        .await
        .map_err(unavailable)?;
    tx.commit().await.map_err(unavailable)?;
    Ok(Json(first_page(rows)))
}
