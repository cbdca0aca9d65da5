//! Hostile requests through the whole layer: each gets a 4xx, never a 500
//! (which would mean a panic or an unexpected error path).

use axum::body::Body;
use axum::http::{HeaderValue, Request};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::TestRunner;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use super::common::{TestDb, call};
use super::{everything, layer, routes};

#[sqlx::test]
async fn hostile_requests_get_client_errors(_: PgPoolOptions, opts: PgConnectOptions) {
    let db = TestDb::new(opts).await;
    let app = routes().layer(layer(&db, everything()));
    // Sampled (not shrunk) proptest values, since the calls are async.
    let strategy = (
        "(/t/)?((\\.\\.|%2[fF]|%2e|//|[a-z0-9\\-]{0,12})/?){0,5}",
        proptest::collection::vec(any_byte(), 0..300),
        "[a-zA-Z0-9.\\-:_]{0,70}",
    );
    let mut runner = TestRunner::deterministic();
    for _ in 0..200 {
        let (path, header, host) = strategy.new_tree(&mut runner).unwrap().current();
        let mut builder = Request::builder().uri(format!("/t/{path}"));
        if let Ok(value) = HeaderValue::from_bytes(&header) {
            builder = builder.header("x-tenant-id", value);
        }
        if let Ok(value) = HeaderValue::from_str(&format!("{host}.app.example.com")) {
            builder = builder.header("host", value);
        }
        let Ok(request) = builder.body(Body::empty()) else {
            continue; // not a valid HTTP request: never reaches a server
        };
        let got = call(&app, request).await;
        assert!(
            got.status.is_client_error(),
            "/t/{path} {header:?} {host}: {} {}",
            got.status,
            got.json
        );
    }
    db.close().await;
}

fn any_byte() -> impl Strategy<Value = u8> {
    proptest::num::u8::ANY
}
