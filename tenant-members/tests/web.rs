//! `Member` and `RequireRole` behind tenant-axum's layer, the tenant and
//! the user from a verified HS256 token, as the application role.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use jsonwebtoken::{EncodingKey, Header, encode};
use serde_json::{Value, json};
use tenant_axum::resolve::{ClaimResolver, Resolvers};
use tenant_axum::{JwtKeys, JwtVerifier, TenantLayer};
use tenant_members::{Member, Permissions, RequireRole, Role, min};
use tower::ServiceExt as _;

use common::{World, user};

const SECRET: &[u8] = b"an HS256 secret of 32 bytes or more";

fn app(w: &World) -> Router {
    let layer = TenantLayer::builder(w.app.clone())
        .jwt(JwtVerifier::new(JwtKeys::hs256(SECRET).unwrap()))
        .require_token(true)
        .resolvers(Resolvers::new().jwt_claim(ClaimResolver::new("org")))
        .build()
        .unwrap();
    Router::new()
        .route("/me", get(async |m: Member| Json(json!({"role": m.role}))))
        .route(
            "/refund",
            get(async |m: Member| {
                let permissions = Permissions::standard().grant(Role::Admin, "invoices.refund");
                m.require(&permissions, "invoices.refund")
                    .map(|()| Json(json!({"refunded": true})))
            }),
        )
        .route(
            "/admin",
            get(async |a: RequireRole<min::Admin>| Json(json!({"role": a.member.role}))),
        )
        .layer(layer)
}

fn bearer(sub: &str, org: impl std::fmt::Display) -> String {
    let exp = jsonwebtoken::get_current_timestamp() + 600;
    let claims = json!({"sub": sub, "org": org.to_string(), "exp": exp});
    let token = encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(SECRET).unwrap(),
    )
    .unwrap();
    format!("Bearer {token}")
}

async fn call(app: &Router, path: &str, bearer: &str) -> (StatusCode, Value) {
    let request = Request::get(path)
        .header("authorization", bearer)
        .body(Body::empty())
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn code(answer: &(StatusCode, Value)) -> (StatusCode, &str) {
    (answer.0, answer.1["error"]["code"].as_str().unwrap_or(""))
}

#[tokio::test]
async fn members_pass_by_role_and_everyone_else_gets_403() {
    let w = World::new().await;
    let app = app(&w);
    let (acme, globex) = (w.tenants[0], w.tenants[1]);

    let ada = bearer(&w.ada.to_string(), acme);
    assert_eq!(
        call(&app, "/me", &ada).await,
        (StatusCode::OK, json!({"role": "owner"}))
    );
    assert_eq!(call(&app, "/admin", &ada).await.0, StatusCode::OK);

    let cy = bearer(&w.cy.to_string(), acme);
    assert_eq!(
        call(&app, "/me", &cy).await,
        (StatusCode::OK, json!({"role": "member"}))
    );
    assert_eq!(
        code(&call(&app, "/admin", &cy).await),
        (StatusCode::FORBIDDEN, "role_required")
    );
    // The application's own permission, granted from admin up.
    assert_eq!(
        call(&app, "/refund", &ada).await,
        (StatusCode::OK, json!({"refunded": true}))
    );
    let refused = call(&app, "/refund", &cy).await;
    assert_eq!(code(&refused), (StatusCode::FORBIDDEN, "role_required"));
    assert!(
        refused.1["error"]["message"]
            .as_str()
            .unwrap()
            .contains("admin"),
        "{}",
        refused.1
    );

    // Not a member, a member of the other tenant only, no user id.
    let stranger = bearer(&user().to_string(), acme);
    assert_eq!(
        code(&call(&app, "/me", &stranger).await),
        (StatusCode::FORBIDDEN, "not_a_member")
    );
    let dan_in_acme = bearer(&w.dan.to_string(), acme);
    assert_eq!(
        code(&call(&app, "/me", &dan_in_acme).await),
        (StatusCode::FORBIDDEN, "not_a_member")
    );
    let ada_in_globex = bearer(&w.ada.to_string(), globex);
    assert_eq!(
        code(&call(&app, "/me", &ada_in_globex).await),
        (StatusCode::FORBIDDEN, "not_a_member")
    );
    let no_user = bearer("ada@example.com", acme);
    assert_eq!(
        code(&call(&app, "/me", &no_user).await),
        (StatusCode::FORBIDDEN, "not_a_member")
    );

    // Removed: the same, still valid, token is refused on the next request.
    w.remove(w.bob, w.cy).await.unwrap();
    assert_eq!(
        code(&call(&app, "/me", &cy).await),
        (StatusCode::FORBIDDEN, "not_a_member")
    );
}
