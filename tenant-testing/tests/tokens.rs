//! `TestTokens` (feature `axum`): tokens the app's own verifier accepts,
//! through tenant-axum's layer to a handler on the test database.

#![cfg(feature = "axum")]

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use axum::routing::get;
use axum::{Json, Router};
use tenant_axum::resolve::{ClaimResolver, Resolvers};
use tenant_axum::{JwtError, JwtKeys, JwtVerifier, RequestTx, TenantError, TenantLayer};
use tenant_runtime::{TenantId, TenantScoped, UserId};
use tenant_testing::{SigningKey, TestDb, TestTokens, TokenError};
use tower::ServiceExt as _;

const SECRET: &str = "test-secret-test-secret-test-secret!";
const RSA_PRIVATE: &[u8] = include_bytes!("../../tenant-axum/tests/keys/rsa_private.pem");
const RSA_PUBLIC: &[u8] = include_bytes!("../../tenant-axum/tests/keys/rsa_public.pem");
const RSA2_PRIVATE: &[u8] = include_bytes!("../../tenant-axum/tests/keys/rsa2_private.pem");

/// A tenant table of the test binary.
#[derive(Debug, Clone, PartialEq, serde::Serialize, sqlx::FromRow, TenantScoped)]
#[tenant_table(name = "notes")]
pub struct Note {
    /// Numbered by the database.
    #[tenant(primary_key, generated)]
    pub id: i64,
    /// The tenant.
    pub tenant_id: TenantId,
    /// Its title.
    pub title: String,
}

/// The app's verifier, as an app would build it.
fn verifier() -> JwtVerifier {
    JwtVerifier::new(JwtKeys::hs256(SECRET).unwrap())
        .audience(["notes-api"])
        .issuer(["https://auth.example.com/"])
}

fn user() -> UserId {
    UserId::new_v4()
}

#[tokio::test]
async fn tokens_carry_what_the_verifier_checks() {
    let tokens = TestTokens::new(&verifier(), SigningKey::hs256(SECRET).unwrap())
        .await
        .unwrap();
    let tenant: TenantId = uuid::Uuid::new_v4().into();
    let who = user();
    let claims = verifier().verify(&tokens.mint(tenant, who)).await.unwrap();
    assert_eq!(claims.user(), Some(who));
    assert_eq!(claims.iss(), Some("https://auth.example.com/"));
    assert_eq!(claims.str("aud"), Some("notes-api"));
    assert_eq!(claims.str("tenant_id"), Some(tenant.to_string().as_str()));

    let no_tenant = verifier().verify(&tokens.mint_user(who)).await.unwrap();
    assert_eq!(no_tenant.get("tenant_id"), None);

    let expired = verifier().verify(&tokens.mint_expired(tenant, who)).await;
    assert!(matches!(expired, Err(JwtError::Expired)), "{expired:?}");

    let org = tokens.clone().tenant_claim("org");
    let claims = verifier().verify(&org.mint(tenant, who)).await.unwrap();
    assert_eq!(claims.str("org"), Some(tenant.to_string().as_str()));

    let mut custom = tokens.claims(Some(tenant), "not-a-user");
    custom.insert("tenant_id".to_owned(), "Not A Tenant!".into());
    let claims = tokens.verify(&tokens.sign(&custom)).await.unwrap();
    assert_eq!(claims.user(), None);
    assert_eq!(claims.str("tenant_id"), Some("Not A Tenant!"));
}

#[tokio::test]
async fn a_key_the_verifier_refuses_fails_at_once() {
    let wrong = SigningKey::hs256("another-secret-another-secret-123").unwrap();
    let got = TestTokens::new(&verifier(), wrong).await;
    assert!(
        matches!(got, Err(TokenError::Refused(JwtError::InvalidSignature))),
        "{got:?}"
    );
    let rs = SigningKey::rs256_pem(RSA_PRIVATE).unwrap();
    assert!(matches!(
        TestTokens::new(&verifier(), rs).await,
        Err(TokenError::Refused(_))
    ));
    assert!(matches!(
        SigningKey::es256_pem(b"not a pem"),
        Err(TokenError::InvalidKey { .. })
    ));

    // A key pair: the private half signs what the public half verifies,
    // and only that one.
    let public = JwtVerifier::new(JwtKeys::rs256_pem(RSA_PUBLIC).unwrap());
    let tokens = TestTokens::new(&public, SigningKey::rs256_pem(RSA_PRIVATE).unwrap())
        .await
        .unwrap();
    assert!(public.verify(&tokens.mint_user(user())).await.is_ok());
    let other = SigningKey::rs256_pem(RSA2_PRIVATE).unwrap();
    assert!(TestTokens::new(&public, other).await.is_err());
}

async fn list(tx: RequestTx) -> Result<Json<Vec<Note>>, TenantError> {
    Ok(Json(Note::scoped(tx.get().await?).all().await?))
}

async fn get_notes(app: &Router, token: &str) -> (StatusCode, serde_json::Value) {
    let request = Request::get("/notes")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, serde_json::from_slice(&body).unwrap())
}

#[tokio::test]
async fn a_token_for_one_tenant_reaches_only_its_rows() {
    let db = TestDb::create().await.unwrap();
    let [a, b] = db.tenant_ids();
    let tx = db.app().begin(a).await.unwrap();
    let a_note = Note {
        id: 0,
        tenant_id: a,
        title: "a's".to_owned(),
    };
    Note::scoped(&tx).insert(&a_note).await.unwrap();
    tx.commit().await.unwrap();

    let layer = TenantLayer::builder(db.app().clone())
        .jwt(verifier())
        .require_token(true)
        .resolvers(Resolvers::new().jwt_claim(ClaimResolver::new("tenant_id")))
        .build()
        .unwrap();
    let app = Router::new().route("/notes", get(list)).layer(layer);
    let tokens = TestTokens::new(&verifier(), SigningKey::hs256(SECRET).unwrap())
        .await
        .unwrap();

    let (status, body) = get_notes(&app, &tokens.mint(a, user())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body.as_array().map(Vec::len), Some(1), "{body}");
    assert_eq!(body[0]["title"], "a's");

    let (status, body) = get_notes(&app, &tokens.mint(b, user())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, serde_json::json!([]));

    let (status, body) = get_notes(&app, &tokens.mint_expired(a, user())).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    drop(app);
    db.close().await.unwrap();
}
