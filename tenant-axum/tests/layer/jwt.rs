//! Tokens through the layer: the claim resolver, refusals, and how the
//! claim combines with caller-chosen resolvers.

use axum::http::StatusCode;
use jsonwebtoken::{EncodingKey, Header, encode};
use serde_json::json;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tenant_axum::resolve::{ClaimResolver, HeaderResolver, Mode, Resolvers};
use tenant_axum::{JwtKeys, JwtVerifier, TenantLayer};

use super::common::{TestDb, call, get as get_req};
use super::routes;

const SECRET: &[u8] = b"an HS256 secret of 32 bytes or more";

fn token(claims: serde_json::Value) -> String {
    let key = EncodingKey::from_secret(SECRET).unwrap();
    format!(
        "Bearer {}",
        encode(&Header::default(), &claims, &key).unwrap()
    )
}

fn exp() -> u64 {
    jsonwebtoken::get_current_timestamp() + 600
}

fn app(db: &TestDb, mode: Mode, require_token: bool) -> axum::Router {
    let verifier = JwtVerifier::new(JwtKeys::hs256(SECRET).unwrap()).audience(["api"]);
    let layer = TenantLayer::builder(db.app.clone())
        .jwt(verifier)
        .require_token(require_token)
        .resolvers(
            Resolvers::new()
                .header(HeaderResolver::default())
                .jwt_claim(ClaimResolver::new("org"))
                .mode(mode),
        )
        .build()
        .unwrap();
    routes().layer(layer)
}

#[sqlx::test]
async fn the_verified_claim_names_the_tenant_and_sub_reaches_handlers(
    _: PgPoolOptions,
    opts: PgConnectOptions,
) {
    let db = TestDb::new(opts).await;
    let app = app(&db, Mode::FirstMatch, false);
    let bearer = token(json!({"sub": "user-7", "org": db.slug(1), "aud": "api", "exp": exp()}));
    let who = call(&app, get_req("/whoami", &[("authorization", &bearer)])).await;
    assert_eq!(who.status, StatusCode::OK, "{}", who.json);
    assert_eq!(
        (who.json["slug"].as_str(), who.json["source"].as_str()),
        (Some("globex"), Some("jwt"))
    );
    assert_eq!(who.json["sub"], "user-7");
    // The claim wins over a header that names another tenant.
    let both = [
        ("authorization", bearer.as_str()),
        ("x-tenant-id", db.slug(0)),
    ];
    let who = call(&app, get_req("/whoami", &both)).await;
    assert_eq!(who.json["slug"], "globex");
    db.close().await;
}

#[sqlx::test]
async fn all_agree_mode_refuses_a_header_that_contradicts_the_token(
    _: PgPoolOptions,
    opts: PgConnectOptions,
) {
    let db = TestDb::new(opts).await;
    let app = app(&db, Mode::AllAgree, false);
    let id = db.id(1).to_string();
    let bearer = token(json!({"org": id, "aud": "api", "exp": exp()}));
    // The same tenant, by id in the token and by slug in the header: agree.
    let same = call(
        &app,
        get_req(
            "/whoami",
            &[("authorization", &bearer), ("x-tenant-id", db.slug(1))],
        ),
    )
    .await;
    assert_eq!(same.status, StatusCode::OK, "{}", same.json);
    let other = call(
        &app,
        get_req(
            "/whoami",
            &[("authorization", &bearer), ("x-tenant-id", db.slug(0))],
        ),
    )
    .await;
    assert_eq!(
        (other.status, other.code()),
        (StatusCode::BAD_REQUEST, "tenant_conflict")
    );
    db.close().await;
}

#[sqlx::test]
async fn bad_tokens_are_401_even_when_the_tenant_comes_from_elsewhere(
    _: PgPoolOptions,
    opts: PgConnectOptions,
) {
    let db = TestDb::new(opts).await;
    let app = app(&db, Mode::FirstMatch, false);
    let expired = token(json!({"org": "globex", "aud": "api", "exp": 1_000}));
    let wrong_aud = token(json!({"org": "globex", "aud": "other", "exp": exp()}));
    let number = token(json!({"org": 5, "aud": "api", "exp": exp()}));
    let cases = [
        (expired.as_str(), "token_expired"),
        (wrong_aud.as_str(), "token_wrong_audience"),
        ("Bearer abc", "token_malformed"),
        ("Bearer a.b.c", "token_bad_base64"),
        (number.as_str(), "token_tenant_claim"),
    ];
    for (authorization, code) in cases {
        let headers = [
            ("authorization", authorization),
            ("x-tenant-id", db.slug(0)),
        ];
        let got = call(&app, get_req("/whoami", &headers)).await;
        assert_eq!(
            (got.status, got.code()),
            (StatusCode::UNAUTHORIZED, code),
            "{authorization}"
        );
        assert!(
            got.headers["www-authenticate"]
                .to_str()
                .unwrap()
                .starts_with("Bearer")
        );
    }
    // Without a token the header still works, since tokens are optional here.
    let no_token = call(&app, get_req("/whoami", &[("x-tenant-id", db.slug(0))])).await;
    assert_eq!(no_token.status, StatusCode::OK);
    let required = app_required(&db);
    let got = call(
        &required,
        get_req("/whoami", &[("x-tenant-id", db.slug(0))]),
    )
    .await;
    assert_eq!(
        (got.status, got.code()),
        (StatusCode::UNAUTHORIZED, "missing_token")
    );
    let basic = [("authorization", "Basic dTpw"), ("x-tenant-id", db.slug(0))];
    let got = call(&required, get_req("/whoami", &basic)).await;
    assert_eq!(got.code(), "missing_token");
    db.close().await;
}

fn app_required(db: &TestDb) -> axum::Router {
    app(db, Mode::FirstMatch, true)
}
