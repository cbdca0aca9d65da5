//! The example service against a real database, as the application role.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::Value;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tenant_examples::{Note, TENANT_HEADER, app};
use tenant_runtime::registry::Ordered;
use tenant_runtime::{SystemPool, TenantId, TenantPool, TenantTable, ddl};
use tenant_tests::setup::{self, APP_ROLE, SYSTEM_ROLE};
use tower::ServiceExt;

async fn call(
    pool: &TenantPool,
    method: &str,
    tenant: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = Request::builder().method(method).uri("/notes");
    if let Some(t) = tenant {
        req = req.header(TENANT_HEADER, t);
    }
    let req = match body {
        Some(b) => req
            .header("content-type", "application/json")
            .body(Body::from(b.to_string())),
        None => req.body(Body::empty()),
    }
    .unwrap();
    let res = app(pool.clone()).oneshot(req).await.unwrap();
    let status = res.status();
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, serde_json::from_slice(&bytes).unwrap())
}

#[sqlx::test]
async fn each_request_sees_only_its_tenants_notes(_: PgPoolOptions, opts: PgConnectOptions) {
    let owner = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(opts.clone())
        .await
        .unwrap();
    let key = setup::install(&owner, &ddl::emit(&Ordered::new([Note::META]).unwrap()))
        .await
        .unwrap();
    let system = SystemPool::connect_with(opts.clone().username(SYSTEM_ROLE))
        .await
        .unwrap();
    let sys = system.begin().await.unwrap();
    let a = sys.tenants().create("Acme").await.unwrap().id.to_string();
    let b = sys.tenants().create("Globex").await.unwrap().id.to_string();
    sys.commit().await.unwrap();
    let pool = TenantPool::options()
        .context_key(key)
        .connect_with(opts.clone().username(APP_ROLE))
        .await
        .unwrap();

    let note = serde_json::json!({ "title": "plan", "body": "world domination" });
    let (status, created) = call(&pool, "POST", Some(&a), Some(note.clone())).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["tenant_id"], a);

    let (status, listed) = call(&pool, "GET", Some(&a), None).await;
    assert_eq!(
        (status, listed.as_array().unwrap().len()),
        (StatusCode::OK, 1)
    );
    let (status, listed) = call(&pool, "GET", Some(&b), None).await;
    assert_eq!((status, listed), (StatusCode::OK, serde_json::json!([])));

    let (status, body) = call(&pool, "POST", Some(&a), Some(note.clone())).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::CONFLICT, Some("duplicate"))
    );
    let (status, body) = call(&pool, "GET", None, None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("missing_tenant"))
    );
    let (status, body) = call(&pool, "GET", Some("acme"), None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("malformed_tenant"))
    );
    let stranger = TenantId::from(uuid::Uuid::new_v4()).to_string();
    let (status, body) = call(&pool, "GET", Some(&stranger), None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("unknown_tenant"))
    );

    pool.close();
    system.close();
    owner.close().await;
}
