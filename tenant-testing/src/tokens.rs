//! [`TestTokens`]: JWTs that an app's own [`JwtVerifier`] accepts.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Map, Value};
use tenant_axum::{JwtError, JwtVerifier, VerifiedClaims};
use tenant_runtime::{TenantId, UserId};

/// The key tokens are signed with: the secret the app's verifier was
/// built with (`JwtKeys::hs256`), or the private half of its public key.
#[derive(Clone)]
pub struct SigningKey {
    key: EncodingKey,
    alg: Algorithm,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({:?})", self.alg)
    }
}

/// Why tokens cannot be minted for a verifier.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// The key could not be read.
    #[error("the {what} cannot sign: {reason}")]
    InvalidKey {
        /// Which key.
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// The app's verifier refuses what this key signs: another secret,
    /// another key pair, an algorithm it does not accept.
    #[error("the app's verifier refuses tokens signed with this key: {0}")]
    Refused(#[source] JwtError),
}

impl SigningKey {
    /// An HS256 shared secret: the one given to `JwtKeys::hs256`.
    pub fn hs256(secret: impl AsRef<[u8]>) -> Result<Self, TokenError> {
        Self::new(
            EncodingKey::from_secret(secret.as_ref()),
            Algorithm::HS256,
            "HS256 secret",
        )
    }

    /// An RSA private key (PEM) for RS256.
    pub fn rs256_pem(pem: &[u8]) -> Result<Self, TokenError> {
        Self::new(
            EncodingKey::from_rsa_pem(pem),
            Algorithm::RS256,
            "RS256 private key",
        )
    }

    /// A P-256 private key (PEM, PKCS#8) for ES256.
    pub fn es256_pem(pem: &[u8]) -> Result<Self, TokenError> {
        Self::new(
            EncodingKey::from_ec_pem(pem),
            Algorithm::ES256,
            "ES256 private key",
        )
    }

    fn new(
        key: jsonwebtoken::errors::Result<EncodingKey>,
        alg: Algorithm,
        what: &'static str,
    ) -> Result<Self, TokenError> {
        key.map(|key| Self { key, alg })
            .map_err(|e| TokenError::InvalidKey {
                what,
                reason: e.to_string(),
            })
    }
}

/// Mints bearer tokens the app's own [`JwtVerifier`] accepts, for tests
/// of a service behind tenant-axum's layer: `iss` and `aud` are the first
/// the verifier accepts, `exp` ten minutes ahead, `sub` the user, and the
/// tenant in the claim the app's `ClaimResolver` reads (`tenant_id`
/// unless [`tenant_claim`](Self::tenant_claim) says otherwise).
///
/// [`new`](Self::new) signs one token and has the verifier check it, so a
/// key or algorithm that does not match fails there, with the verifier's
/// reason, not as a 401 in the middle of a test.
///
/// ```
/// use tenant_axum::{JwtKeys, JwtVerifier};
/// use tenant_runtime::{TenantId, UserId};
/// use tenant_testing::{SigningKey, TestTokens};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// const SECRET: &str = "test-secret-test-secret-test-secret!";
/// // The app's verifier, built as the app builds it:
/// let verifier = JwtVerifier::new(JwtKeys::hs256(SECRET)?).audience(["api"]).issuer(["https://auth.example.com/"]);
///
/// let tokens = TestTokens::new(&verifier, SigningKey::hs256(SECRET)?).await?;
/// let tenant: TenantId = "1c9e8b57-4a3b-4b5e-9d0f-1f2e3d4c5b6a".parse()?;
/// let user = UserId::new_v4();
/// let token = tokens.mint(tenant, user);
/// let claims = verifier.verify(&token).await?;
/// assert_eq!(claims.user(), Some(user));
/// assert_eq!(claims.str("tenant_id"), Some(tenant.to_string().as_str()));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct TestTokens {
    verifier: JwtVerifier,
    key: SigningKey,
    issuer: Option<String>,
    audience: Option<String>,
    tenant_claim: String,
    lifetime: Duration,
    kid: Option<String>,
}

impl TestTokens {
    /// Tokens for `verifier`, signed with `key`; checks that the verifier
    /// accepts one.
    pub async fn new(verifier: &JwtVerifier, key: SigningKey) -> Result<Self, TokenError> {
        let tokens = Self::unchecked(verifier, key);
        tokens.check().await?;
        Ok(tokens)
    }

    /// Like [`new`](Self::new), without the check: for a verifier whose
    /// keys are fetched from a URL no test serves yet.
    pub fn unchecked(verifier: &JwtVerifier, key: SigningKey) -> Self {
        Self {
            issuer: verifier.accepted_issuers().and_then(|i| i.first().cloned()),
            audience: verifier
                .accepted_audiences()
                .and_then(|a| a.first().cloned()),
            verifier: verifier.clone(),
            key,
            tenant_claim: "tenant_id".to_owned(),
            lifetime: Duration::from_secs(600),
            kid: None,
        }
    }

    /// Has the verifier check a token of these settings.
    async fn check(&self) -> Result<(), TokenError> {
        let probe = self.sign(&self.claims(None, "tenant-testing probe"));
        self.verifier
            .verify(&probe)
            .await
            .map(drop)
            .map_err(TokenError::Refused)
    }

    /// The claim that names the tenant (`tenant_id` by default): the one
    /// the app's `ClaimResolver` reads.
    pub fn tenant_claim(mut self, claim: impl Into<String>) -> Self {
        self.tenant_claim = claim.into();
        self
    }

    /// How long tokens are valid (ten minutes by default).
    pub fn lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = lifetime;
        self
    }

    /// The `kid` header, for a verifier with a key set.
    pub fn kid(mut self, kid: impl Into<String>) -> Self {
        self.kid = Some(kid.into());
        self
    }

    /// A token for `user` acting in `tenant`.
    pub fn mint(&self, tenant: TenantId, user: UserId) -> String {
        self.sign(&self.claims(Some(tenant), &user.to_string()))
    }

    /// A token for `user` that names no tenant (sign-in before choosing an
    /// organisation; routes under a path resolver).
    pub fn mint_user(&self, user: UserId) -> String {
        self.sign(&self.claims(None, &user.to_string()))
    }

    /// A token for `user` in `tenant` that expired an hour ago (beyond
    /// any leeway): to see the 401.
    pub fn mint_expired(&self, tenant: TenantId, user: UserId) -> String {
        let mut claims = self.claims(Some(tenant), &user.to_string());
        let past = now().saturating_sub(3600);
        claims.insert("iat".to_owned(), (past - 600).into());
        claims.insert("exp".to_owned(), past.into());
        self.sign(&claims)
    }

    /// The claims [`mint`](Self::mint) would sign, with `sub` any text,
    /// to change before [`sign`](Self::sign): a malformed tenant, a `sub`
    /// that is no user id, a claim of the app's own.
    pub fn claims(&self, tenant: Option<TenantId>, sub: &str) -> Map<String, Value> {
        let now = now();
        let mut claims = Map::new();
        claims.insert("sub".to_owned(), sub.into());
        if let Some(tenant) = tenant {
            claims.insert(self.tenant_claim.clone(), tenant.to_string().into());
        }
        if let Some(iss) = &self.issuer {
            claims.insert("iss".to_owned(), iss.as_str().into());
        }
        if let Some(aud) = &self.audience {
            claims.insert("aud".to_owned(), aud.as_str().into());
        }
        claims.insert("iat".to_owned(), now.into());
        claims.insert(
            "exp".to_owned(),
            now.saturating_add(self.lifetime.as_secs()).into(),
        );
        claims
    }

    /// Signs `claims` as they are.
    pub fn sign(&self, claims: &Map<String, Value>) -> String {
        let mut header = Header::new(self.key.alg);
        header.kid.clone_from(&self.kid);
        jsonwebtoken::encode(&header, claims, &self.key.key)
            .expect("a key that was read signs any JSON claims with its own algorithm")
    }

    /// Verifies `token` with the app's verifier, as the layer would.
    pub async fn verify(&self, token: &str) -> Result<VerifiedClaims, JwtError> {
        self.verifier.verify(token).await
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
