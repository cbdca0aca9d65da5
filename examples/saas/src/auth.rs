//! Tokens: HS256 with a shared secret, verified by tenant-axum's
//! [`JwtVerifier`]; [`mint`] signs development tokens.

use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{EncodingKey, Header};
use serde::Serialize;
use tenant_axum::{ConfigError, JwtKeys, JwtVerifier};
use tenant_runtime::TenantId;

/// The `iss` the service issues and accepts.
pub const ISSUER: &str = "tenant-saas-example";
/// The `aud` the service issues and accepts.
pub const AUDIENCE: &str = "saas-api";
/// The claim that names the tenant.
pub const TENANT_CLAIM: &str = "tenant_id";

/// The verifier for the service's tokens: signature, `exp`, `iss`, `aud`.
pub fn verifier(secret: &str) -> Result<JwtVerifier, ConfigError> {
    Ok(JwtVerifier::new(JwtKeys::hs256(secret)?)
        .audience([AUDIENCE])
        .issuer([ISSUER]))
}

#[derive(Serialize)]
struct Claims<'a> {
    sub: &'a str,
    tenant_id: &'a str,
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
    mint_claim(secret, &tenant.to_string(), user, expires_in)
}

/// Like [`mint`], with any text as the tenant claim (tests use it to send
/// a malformed one).
pub fn mint_claim(
    secret: &str,
    tenant_claim: &str,
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
