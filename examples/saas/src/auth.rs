//! Tokens: HS256 with a shared secret, verified by tenant-axum's
//! [`JwtVerifier`]; [`mint`] and [`mint_user`] sign them. `sub` is the
//! user's id (a UUID: the layer signs it into the request's transaction);
//! `tenant_id`, when present, names the organisation the token acts in.
//! A token without one (from sign-up, for switching) reaches the API only
//! under `/t/{tenant}/..`, where membership is checked like any other.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use jsonwebtoken::{EncodingKey, Header};
use serde::Serialize;
use tenant_axum::{ConfigError, JwtError, JwtKeys, JwtVerifier, TenantError};
use tenant_runtime::{SystemPool, TenantId, TenantPool, UserId};

/// The `iss` the service issues and accepts.
pub const ISSUER: &str = "tenant-saas-example";
/// The `aud` the service issues and accepts.
pub const AUDIENCE: &str = "saas-api";
/// The claim that names the tenant.
pub const TENANT_CLAIM: &str = "tenant_id";
/// How long the tokens the service issues last, in seconds.
pub const TOKEN_LIFETIME: i64 = 3600;

/// The verifier for the service's tokens: signature, `exp`, `iss`, `aud`.
pub fn verifier(secret: &str) -> Result<JwtVerifier, ConfigError> {
    Ok(JwtVerifier::new(JwtKeys::hs256(secret)?)
        .audience([AUDIENCE])
        .issuer([ISSUER]))
}

#[derive(Serialize)]
struct Claims<'a> {
    sub: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    tenant_id: Option<&'a str>,
    iss: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
}

/// A token for `user` acting in `tenant`, expiring `expires_in` seconds
/// from now (negative: already expired, to see a 401).
pub fn mint(
    secret: &str,
    tenant: TenantId,
    user: &str,
    expires_in: i64,
) -> Result<String, jsonwebtoken::errors::Error> {
    sign(secret, Some(&tenant.to_string()), user, expires_in)
}

/// A token for `user` that names no tenant: for `/me/organisations`,
/// `/switch` and `/t/{tenant}/..` (accepting an invitation).
pub fn mint_user(
    secret: &str,
    user: UserId,
    expires_in: i64,
) -> Result<String, jsonwebtoken::errors::Error> {
    sign(secret, None, &user.to_string(), expires_in)
}

fn sign(
    secret: &str,
    tenant_claim: Option<&str>,
    user: &str,
    expires_in: i64,
) -> Result<String, jsonwebtoken::errors::Error> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let claims = Claims {
        sub: user,
        tenant_id: tenant_claim,
        iss: ISSUER,
        aud: AUDIENCE,
        iat: now,
        exp: now.saturating_add(expires_in),
    };
    let key = EncodingKey::from_secret(secret.as_bytes())?;
    jsonwebtoken::encode(&Header::default(), &claims, &key)
}

/// What the routes outside the tenant layer (sign-up, the organisation
/// list, switching) and the ones that issue tokens share.
#[derive(Clone)]
pub struct Accounts {
    /// The application role's pool.
    pub app: TenantPool,
    /// The system role's pool: sign-up only.
    pub system: SystemPool,
    secret: Arc<str>,
    verifier: Arc<JwtVerifier>,
}

impl Accounts {
    /// The accounts side of the service, signing with `secret`.
    pub fn new(app: TenantPool, system: SystemPool, secret: &str) -> Result<Self, ConfigError> {
        Ok(Self {
            app,
            system,
            secret: secret.into(),
            verifier: Arc::new(verifier(secret)?),
        })
    }

    /// A token for `user` in `tenant`.
    pub fn tenant_token(&self, tenant: TenantId, user: UserId) -> Result<String, TenantError> {
        mint(&self.secret, tenant, &user.to_string(), TOKEN_LIFETIME).map_err(signing_failed)
    }

    /// A token for `user` that names no tenant.
    pub fn user_token(&self, user: UserId) -> Result<String, TenantError> {
        mint_user(&self.secret, user, TOKEN_LIFETIME).map_err(signing_failed)
    }
}

fn signing_failed(e: jsonwebtoken::errors::Error) -> TenantError {
    TenantError::Internal {
        reason: format!("signing a token failed: {e}"),
    }
}

/// The verified user of a request outside the tenant layer: a valid bearer
/// token whose `sub` is a user id, else 401.
#[derive(Debug, Clone, Copy)]
pub struct SignedIn(pub UserId);

impl FromRequestParts<Accounts> for SignedIn {
    type Rejection = TenantError;

    async fn from_request_parts(
        parts: &mut Parts,
        accounts: &Accounts,
    ) -> Result<Self, Self::Rejection> {
        let claims = accounts
            .verifier
            .verify_bearer(&parts.headers)
            .await?
            .ok_or(JwtError::MissingToken)?;
        let user = claims.user().ok_or_else(|| JwtError::InvalidClaim {
            claim: "sub".to_owned(),
        })?;
        Ok(SignedIn(user))
    }
}
