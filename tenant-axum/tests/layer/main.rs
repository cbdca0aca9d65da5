//! The layer and extractors against a real PostgreSQL, as the application
//! role, with two tenants.

mod common;
mod hostile;
mod job;
mod jwt;
mod span;
mod transaction;

use std::collections::HashMap;

use axum::extract::Query;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tenant_axum::resolve::{HeaderResolver, PathResolver, Resolvers, SubdomainResolver};
use tenant_axum::{
    CachedDirectory, ConfigError, PgDirectory, RequestId, RequestTx, Tenant, TenantError,
    TenantLayer, VerifiedClaims,
};

use common::{Project, TestDb, call, get as get_req, post as post_req};

/// The routes every test uses.
pub(crate) fn routes() -> Router {
    Router::new()
        .route("/projects", get(list).post(create))
        .route("/t/{tenant}/projects", get(list))
        .route("/whoami", get(whoami))
        .route("/untouched", get(untouched))
        .route("/panic", post(panic_after_insert))
}

async fn list(tx: RequestTx) -> Result<Json<Vec<String>>, TenantError> {
    let tx = tx.get().await?;
    let mut names: Vec<String> = Project::scoped(tx)
        .all()
        .await?
        .into_iter()
        .map(|p| p.name)
        .collect();
    names.sort();
    Ok(Json(names))
}

/// Inserts `name`, then answers with `status` (201 by default).
async fn create(
    tx: RequestTx,
    Query(q): Query<HashMap<String, String>>,
) -> Result<StatusCode, TenantError> {
    let row = Project {
        id: 0,
        tenant_id: tx.tenant(),
        name: q.get("name").cloned().unwrap_or_default(),
    };
    Project::scoped(tx.get().await?).insert(&row).await?;
    let status = q.get("status").and_then(|s| s.parse().ok()).unwrap_or(201);
    Ok(StatusCode::from_u16(status).unwrap_or(StatusCode::CREATED))
}

async fn panic_after_insert(tx: RequestTx) -> StatusCode {
    let row = Project {
        id: 0,
        tenant_id: tx.tenant(),
        name: "doomed".into(),
    };
    let inserted = Project::scoped(tx.get().await.expect("begins"))
        .insert(&row)
        .await;
    assert!(inserted.is_ok(), "the insert itself works");
    panic!("handler bug after a write");
}

async fn whoami(
    tenant: Tenant,
    claims: Option<VerifiedClaims>,
    id: RequestId,
) -> Json<serde_json::Value> {
    Json(json!({
        "id": tenant.id.to_string(),
        "slug": tenant.slug,
        "source": tenant.source.to_string(),
        "sub": claims.as_ref().and_then(|c| c.sub()),
        "request_id": id.as_str(),
    }))
}

/// Takes the transaction but never uses it.
async fn untouched(tx: RequestTx) -> String {
    format!("begun: {}", tx.is_begun())
}

fn layer(db: &TestDb, resolvers: Resolvers) -> TenantLayer {
    TenantLayer::builder(db.app.clone())
        .resolvers(resolvers)
        .build()
        .expect("valid layer")
}

fn everything() -> Resolvers {
    Resolvers::new()
        .path(PathResolver::default())
        .header(HeaderResolver::default())
        .subdomain(SubdomainResolver::new("app.example.com").unwrap())
}

#[sqlx::test]
async fn each_resolver_reaches_only_its_tenants_rows(_: PgPoolOptions, opts: PgConnectOptions) {
    let db = TestDb::new(opts).await;
    let app = routes().layer(layer(&db, everything()));
    let (a, b) = (db.id(0).to_string(), db.id(1).to_string());
    let made = call(
        &app,
        post_req("/projects?name=apollo", &[("x-tenant-id", &a)]),
    )
    .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.json);
    call(
        &app,
        post_req("/projects?name=gemini", &[("x-tenant-id", db.slug(1))]),
    )
    .await;

    let by_header = call(&app, get_req("/projects", &[("x-tenant-id", &a)])).await;
    assert_eq!(by_header.json, json!(["apollo"]));
    let by_path = call(&app, get_req(&format!("/t/{}/projects", db.slug(1)), &[])).await;
    assert_eq!(by_path.json, json!(["gemini"]));
    let host = format!("{}.app.example.com:443", db.slug(0).to_uppercase());
    let by_host = call(&app, get_req("/projects", &[("host", &host)])).await;
    assert_eq!(by_host.json, json!(["apollo"]));
    let by_id_host = call(
        &app,
        get_req("/projects", &[("host", &format!("{b}.app.example.com"))]),
    )
    .await;
    assert_eq!(by_id_host.json, json!(["gemini"]));

    let who = call(&app, get_req("/whoami", &[("x-tenant-id", db.slug(0))])).await;
    assert_eq!(who.json["id"], a.as_str());
    assert_eq!(who.json["slug"], "acme-corp");
    assert_eq!(who.json["source"], "header");
    db.close().await;
}

/// Request headers, URI, expected status and code.
type Case<'a> = (Vec<(&'a str, &'a str)>, &'a str, StatusCode, &'a str);

#[sqlx::test]
async fn unknown_deleted_missing_and_malformed_tenants_are_refused(
    _: PgPoolOptions,
    opts: PgConnectOptions,
) {
    let db = TestDb::new(opts).await;
    let app = routes().layer(layer(&db, everything()));
    let stranger = uuid::Uuid::new_v4().to_string();
    let cases: Vec<Case<'_>> = vec![
        (
            vec![],
            "/projects",
            StatusCode::BAD_REQUEST,
            "missing_tenant",
        ),
        (
            vec![("x-tenant-id", "Not A Tenant")],
            "/projects",
            StatusCode::BAD_REQUEST,
            "malformed_tenant",
        ),
        (
            vec![],
            "/t/%2e%2e/projects",
            StatusCode::BAD_REQUEST,
            "malformed_tenant",
        ),
        (
            vec![("host", "a.b.app.example.com")],
            "/projects",
            StatusCode::BAD_REQUEST,
            "malformed_tenant",
        ),
        (
            vec![("x-tenant-id", &stranger)],
            "/projects",
            StatusCode::NOT_FOUND,
            "tenant_not_found",
        ),
        (
            vec![("x-tenant-id", "no-such-slug")],
            "/projects",
            StatusCode::NOT_FOUND,
            "tenant_not_found",
        ),
    ];
    for (headers, uri, status, code) in cases {
        let got = call(&app, get_req(uri, &headers)).await;
        assert_eq!(
            (got.status, got.code()),
            (status, code),
            "{uri} {headers:?}: {}",
            got.json
        );
        let message = got.json["error"]["message"].as_str().unwrap_or("");
        assert!(!message.is_empty(), "{code} has a message");
    }
    let missing = call(&app, get_req("/projects", &[])).await;
    let message = missing.json["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("x-tenant-id") && message.contains("/t/<tenant>"),
        "{message}"
    );

    db.delete_tenant(1).await;
    // A fresh layer: its cache has not seen Globex before it was deleted.
    let app = routes().layer(layer(&db, everything()));
    for name in [db.id(1).to_string(), db.slug(1).to_owned()] {
        let got = call(&app, get_req("/projects", &[("x-tenant-id", &name)])).await;
        assert_eq!(
            (got.status, got.code()),
            (StatusCode::NOT_FOUND, "tenant_deleted")
        );
    }
    db.close().await;
}

#[sqlx::test]
async fn a_deleted_tenant_is_refused_even_while_the_cache_says_otherwise(
    _: PgPoolOptions,
    opts: PgConnectOptions,
) {
    let db = TestDb::new(opts).await;
    let directory = CachedDirectory::new(PgDirectory::from_tenant_pool(&db.app));
    let layer = TenantLayer::builder(db.app.clone())
        .directory(directory.clone())
        .resolvers(everything())
        .build()
        .unwrap();
    let app = routes().layer(layer);
    let header = [("x-tenant-id", db.slug(1))];
    assert_eq!(
        call(&app, get_req("/projects", &header)).await.status,
        StatusCode::OK
    );
    // Deleted by another process: the cache still has it as live, but the
    // transaction's own check refuses it.
    db.delete_tenant(1).await;
    let stale = call(&app, get_req("/projects", &header)).await;
    assert_eq!(
        (stale.status, stale.code()),
        (StatusCode::NOT_FOUND, "tenant_deleted")
    );
    // Told in-process, the cache refuses it before any transaction.
    directory.invalidate_id(db.id(1)).await;
    let fresh = call(&app, get_req("/untouched", &header)).await;
    assert_eq!(
        (fresh.status, fresh.code()),
        (StatusCode::NOT_FOUND, "tenant_deleted")
    );
    db.close().await;
}

#[sqlx::test]
async fn request_ids_are_kept_when_well_formed_and_echoed(
    _: PgPoolOptions,
    opts: PgConnectOptions,
) {
    let db = TestDb::new(opts).await;
    let app = routes().layer(layer(&db, everything()));
    let header = ("x-tenant-id", db.slug(0));
    let kept = call(
        &app,
        get_req("/whoami", &[header, ("x-request-id", "req-123")]),
    )
    .await;
    assert_eq!(kept.json["request_id"], "req-123");
    assert_eq!(kept.headers["x-request-id"], "req-123");
    let replaced = call(
        &app,
        get_req("/whoami", &[header, ("x-request-id", "<evil id>")]),
    )
    .await;
    let id = replaced.json["request_id"].as_str().unwrap().to_owned();
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");
    assert_eq!(replaced.headers["x-request-id"], id.as_str());
    // Refusals carry it too.
    let refused = call(&app, get_req("/projects", &[("x-request-id", "req-9")])).await;
    assert_eq!(
        (refused.status, &refused.headers["x-request-id"]),
        (StatusCode::BAD_REQUEST, &"req-9".parse().unwrap())
    );
    db.close().await;
}

#[sqlx::test]
async fn optional_tenant_routes_pass_without_one(_: PgPoolOptions, opts: PgConnectOptions) {
    let db = TestDb::new(opts).await;
    let layer = TenantLayer::builder(db.app.clone())
        .resolvers(everything())
        .require_tenant(false)
        .build()
        .unwrap();
    let app = Router::new()
        .route(
            "/maybe",
            get(|t: Option<Tenant>| async move { t.map(|t| t.slug).unwrap_or_default() }),
        )
        .merge(routes())
        .layer(layer);
    let none = call(&app, get_req("/maybe", &[])).await;
    assert_eq!(
        (none.status, none.json),
        (StatusCode::OK, serde_json::Value::Null)
    );
    let some = call(&app, get_req("/maybe", &[("x-tenant-id", db.slug(0))])).await;
    assert_eq!(some.json, json!("acme-corp"));
    // A route that needs the tenant still refuses, with the client's error.
    let needs = call(&app, get_req("/whoami", &[])).await;
    assert_eq!(
        (needs.status, needs.code()),
        (StatusCode::BAD_REQUEST, "missing_tenant")
    );
    db.close().await;
}

#[tokio::test]
async fn extractors_without_the_layer_say_so() {
    let app = routes();
    let got = call(&app, get_req("/whoami", &[])).await;
    assert_eq!(
        (got.status, got.code()),
        (StatusCode::INTERNAL_SERVER_ERROR, "layer_missing")
    );
    assert!(
        got.json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("TenantLayer")
    );
}

#[sqlx::test]
async fn the_builder_refuses_layers_that_could_never_work(
    _: PgPoolOptions,
    opts: PgConnectOptions,
) {
    let db = TestDb::new(opts).await;
    let none = TenantLayer::builder(db.app.clone()).build();
    assert!(matches!(none, Err(ConfigError::NoResolvers)));
    let claim = TenantLayer::builder(db.app.clone())
        .resolvers(Resolvers::new().jwt_claim(tenant_axum::resolve::ClaimResolver::default()))
        .build();
    assert!(matches!(claim, Err(ConfigError::ClaimWithoutVerifier)));
    db.close().await;
}
