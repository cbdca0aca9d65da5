//! The per-request transaction: begun lazily, committed on 2xx/3xx,
//! rolled back on anything else and on panic.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use futures_util::FutureExt;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tenant_axum::{MemoryDirectory, RequestTx, TenantLayer, TenantRecord};
use tower::ServiceExt;

use super::common::{Project, TestDb, call, get as get_req, post as post_req};
use super::{everything, layer, routes};

#[sqlx::test]
async fn commits_on_success_and_redirect_rolls_back_otherwise(
    _: PgPoolOptions,
    opts: PgConnectOptions,
) {
    let db = TestDb::new(opts).await;
    let app = routes().layer(layer(&db, everything()));
    let header = [("x-tenant-id", db.slug(0))];
    for (name, status) in [("ok", 200), ("created", 201), ("moved", 303)] {
        let got = call(
            &app,
            post_req(&format!("/projects?name={name}&status={status}"), &header),
        )
        .await;
        assert_eq!(got.status.as_u16(), status);
    }
    for (name, status) in [
        ("bad", 400),
        ("conflict", 409),
        ("broken", 500),
        ("down", 503),
    ] {
        let got = call(
            &app,
            post_req(&format!("/projects?name={name}&status={status}"), &header),
        )
        .await;
        assert_eq!(got.status.as_u16(), status);
    }
    // A handler error (a duplicate name: 409, naming the column) rolls
    // back the earlier insert too.
    let dup = call(&app, post_req("/projects?name=ok", &header)).await;
    assert_eq!(dup.status, StatusCode::CONFLICT);
    assert_eq!(dup.code(), "unique_violation");
    assert_eq!(dup.json["error"]["columns"], serde_json::json!(["name"]));
    assert_eq!(db.projects(0).await, ["created", "moved", "ok"]);
    assert!(
        db.projects(1).await.is_empty(),
        "nothing leaked into the other tenant"
    );
    db.close().await;
}

#[sqlx::test]
async fn a_panicking_handler_rolls_back(_: PgPoolOptions, opts: PgConnectOptions) {
    let db = TestDb::new(opts).await;
    let app = routes().layer(layer(&db, everything()));
    let request = post_req("/panic", &[("x-tenant-id", db.slug(0))]);
    let outcome = std::panic::AssertUnwindSafe(app.clone().oneshot(request))
        .catch_unwind()
        .await;
    assert!(outcome.is_err(), "the panic reached the caller");
    assert!(
        db.projects(0).await.is_empty(),
        "the insert before the panic was rolled back"
    );
    // The pool still works for the next request.
    let next = call(
        &app,
        post_req("/projects?name=after", &[("x-tenant-id", db.slug(0))]),
    )
    .await;
    assert_eq!(next.status, StatusCode::CREATED);
    assert_eq!(db.projects(0).await, ["after"]);
    db.close().await;
}

#[sqlx::test]
async fn handlers_that_never_touch_it_cost_no_transaction(
    _: PgPoolOptions,
    opts: PgConnectOptions,
) {
    let db = TestDb::new(opts).await;
    // Tenants from memory, so that with the pool closed no request can
    // reach the database except by beginning a transaction.
    let directory = MemoryDirectory::new();
    for t in &db.tenants {
        directory.insert(TenantRecord {
            id: t.id,
            slug: t.slug.clone(),
            deleted: false,
        });
    }
    let layer = TenantLayer::builder(db.app.clone())
        .directory(directory)
        .resolvers(everything())
        .build()
        .unwrap();
    let app = routes().layer(layer);
    db.app.close();
    let header = [("x-tenant-id", db.slug(0))];
    let untouched = call(&app, get_req("/untouched", &header)).await;
    assert_eq!(
        (untouched.status, untouched.json.as_str()),
        (StatusCode::OK, Some("begun: false"))
    );
    // The same request through a handler that does use it needs the
    // database, which is down: 503 with Retry-After.
    let used = call(&app, get_req("/projects", &header)).await;
    assert_eq!(
        (used.status, used.code()),
        (StatusCode::SERVICE_UNAVAILABLE, "database_unavailable")
    );
    assert_eq!(used.headers["retry-after"], "2");
    db.close().await;
}

#[sqlx::test]
async fn a_transaction_kept_past_the_response_is_not_committed(
    _: PgPoolOptions,
    opts: PgConnectOptions,
) {
    let db = TestDb::new(opts).await;
    let kept: Arc<Mutex<Vec<RequestTx>>> = Arc::default();
    let stash = kept.clone();
    let app = Router::new()
        .route(
            "/leak",
            get(move |tx: RequestTx| {
                let stash = stash.clone();
                async move {
                    let row = Project {
                        id: 0,
                        tenant_id: tx.tenant(),
                        name: "leaked".into(),
                    };
                    Project::scoped(tx.get().await.unwrap())
                        .insert(&row)
                        .await
                        .unwrap();
                    stash.lock().unwrap().push(tx);
                    StatusCode::OK
                }
            }),
        )
        .layer(layer(&db, everything()));
    let got = call(&app, get_req("/leak", &[("x-tenant-id", db.slug(0))])).await;
    assert_eq!(
        (got.status, got.code()),
        (StatusCode::INTERNAL_SERVER_ERROR, "transaction_in_use")
    );
    kept.lock().unwrap().clear(); // the last holder goes: rolled back
    assert!(db.projects(0).await.is_empty());
    db.close().await;
}

#[sqlx::test]
async fn two_uses_in_one_request_share_one_transaction(_: PgPoolOptions, opts: PgConnectOptions) {
    let db = TestDb::new(opts).await;
    let app = Router::new()
        .route(
            "/twice",
            get(|a: RequestTx, b: RequestTx| async move {
                let row = Project {
                    id: 0,
                    tenant_id: a.tenant(),
                    name: "seen".into(),
                };
                Project::scoped(a.get().await.unwrap())
                    .insert(&row)
                    .await
                    .unwrap();
                // Uncommitted, so visible only inside the same transaction.
                let n = Project::scoped(b.get().await.unwrap())
                    .count()
                    .await
                    .unwrap();
                n.to_string()
            }),
        )
        .layer(layer(&db, everything()));
    let got = call(&app, get_req("/twice", &[("x-tenant-id", db.slug(1))])).await;
    assert_eq!((got.status, got.json.as_i64()), (StatusCode::OK, Some(1)));
    assert_eq!(db.projects(1).await, ["seen"]);
    db.close().await;
}
