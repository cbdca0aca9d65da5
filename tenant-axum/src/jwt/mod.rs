//! JWT verification: signatures always checked, then `exp`, `nbf`, `aud`
//! and `iss`.
//!
//! A [`JwtVerifier`] turns a bearer token into [`VerifiedClaims`] or a
//! [`JwtError`] saying exactly what was wrong. There is no decode-only
//! path: claims are never read from a token whose signature has not been
//! verified with a configured key. Crypto is jsonwebtoken's pure-Rust
//! (RustCrypto) backend.

mod claims;
mod error;
#[cfg(feature = "jwks-url")]
mod jwks_url;
mod keys;
mod token;

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

pub use claims::VerifiedClaims;
pub use error::{JwtError, TokenPart};
pub use jsonwebtoken::Algorithm;
pub use jsonwebtoken::jwk::JwkSet;
#[cfg(feature = "jwks-url")]
pub use jwks_url::JwksUrl;
pub use keys::{JwtKeys, MIN_HMAC_SECRET};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{AlgorithmFamily, Validation};
use serde_json::{Map, Value};

use crate::config::ConfigError;
pub(crate) use crate::resolve::cut;

/// Checks bearer tokens against [`JwtKeys`].
///
/// Defaults: the algorithms the keys imply (HS256, RS256 or ES256 for a
/// fixed key; RS256 and ES256 for a key set), `exp` required, `nbf`
/// checked when present, 60 s of leeway for clock skew, tokens of at most
/// 8 KiB, and no audience or issuer check until you name them, which you
/// should: a token from another service of the same issuer would pass.
///
/// ```
/// use std::time::Duration;
/// use tenant_axum::{JwtKeys, JwtVerifier};
///
/// let verifier = JwtVerifier::new(JwtKeys::hs256(b"0123456789abcdef0123456789abcdef")?)
///     .audience(["projects-api"])
///     .issuer(["https://auth.example.com/"])
///     .leeway(Duration::from_secs(30));
/// # Ok::<(), tenant_axum::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct JwtVerifier {
    inner: Arc<Settings>,
}

#[derive(Clone)]
struct Settings {
    keys: JwtKeys,
    algorithms: Vec<Algorithm>,
    audience: Option<Vec<String>>,
    issuer: Option<Vec<String>>,
    leeway: u64,
    max_len: usize,
}

impl fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.inner;
        f.debug_struct("JwtVerifier")
            .field("keys", &s.keys)
            .field("algorithms", &s.algorithms)
            .field("audience", &s.audience)
            .field("issuer", &s.issuer)
            .field("leeway", &s.leeway)
            .field("max_len", &s.max_len)
            .finish()
    }
}

impl JwtVerifier {
    /// A verifier for `keys`, with the defaults above.
    pub fn new(keys: JwtKeys) -> Self {
        install_crypto_provider();
        Self {
            inner: Arc::new(Settings {
                algorithms: keys.default_algorithms(),
                keys,
                audience: None,
                issuer: None,
                leeway: 60,
                max_len: 8 * 1024,
            }),
        }
    }

    fn with(mut self, f: impl FnOnce(&mut Settings)) -> Self {
        f(Arc::make_mut(&mut self.inner));
        self
    }

    /// Requires `aud` to name one of these audiences.
    pub fn audience<I, S>(self, audiences: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let audiences = audiences.into_iter().map(Into::into).collect();
        self.with(|s| s.audience = Some(audiences))
    }

    /// Requires `iss` to be one of these issuers.
    pub fn issuer<I, S>(self, issuers: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let issuers = issuers.into_iter().map(Into::into).collect();
        self.with(|s| s.issuer = Some(issuers))
    }

    /// Clock skew allowed on `exp` and `nbf` (whole seconds, at most a
    /// day: more would make `exp` meaningless).
    pub fn leeway(self, leeway: Duration) -> Self {
        self.with(|s| s.leeway = leeway.as_secs().min(MAX_LEEWAY))
    }

    /// The longest token read; longer ones are refused before parsing.
    pub fn max_token_len(self, max: usize) -> Self {
        self.with(|s| s.max_len = max)
    }

    /// The algorithms accepted. They must fit the keys: HMAC ones for a
    /// secret, public-key ones for PEM keys and key sets.
    pub fn algorithms(
        self,
        algorithms: impl IntoIterator<Item = Algorithm>,
    ) -> Result<Self, ConfigError> {
        let algorithms: Vec<Algorithm> = algorithms.into_iter().collect();
        if algorithms.is_empty() {
            return Err(ConfigError::NoAlgorithms);
        }
        let hmac = self.inner.keys.is_hmac();
        if let Some(misfit) = algorithms.iter().find(|a| is_hmac(**a) != hmac) {
            return Err(ConfigError::InvalidKey {
                what: self.inner.keys.describe(),
                reason: format!("it cannot verify {misfit:?} tokens"),
            });
        }
        Ok(self.with(|s| s.algorithms = algorithms))
    }

    /// The audiences `aud` must name one of (`None`: not checked). A
    /// token issuer, or tenant-testing's token minter, reads them to make
    /// tokens this verifier accepts.
    pub fn accepted_audiences(&self) -> Option<&[String]> {
        self.inner.audience.as_deref()
    }

    /// The issuers `iss` must be one of (`None`: not checked).
    pub fn accepted_issuers(&self) -> Option<&[String]> {
        self.inner.issuer.as_deref()
    }

    /// The signature algorithms accepted.
    pub fn accepted_algorithms(&self) -> &[Algorithm] {
        &self.inner.algorithms
    }

    /// Verifies the token of the `Authorization: Bearer <token>` header
    /// (the scheme case-insensitively), as [`verify`](Self::verify) does;
    /// `None` when there is no such header (other schemes are not this
    /// verifier's business). For routes outside the tenant layer that
    /// still need the caller's token.
    pub async fn verify_bearer(
        &self,
        headers: &axum::http::HeaderMap,
    ) -> Result<Option<VerifiedClaims>, JwtError> {
        match bearer(headers)? {
            Some(token) => self.verify(token).await.map(Some),
            None => Ok(None),
        }
    }

    /// Verifies `token` (the text after `Bearer `): shape and header, the
    /// algorithm against the allow list and the key type, the signature,
    /// then the claims.
    pub async fn verify(&self, token: &str) -> Result<VerifiedClaims, JwtError> {
        let s = &*self.inner;
        let header = token::inspect(token, s.max_len)?;
        let not_allowed = || JwtError::AlgorithmNotAllowed {
            alg: cut(&header.alg, 32),
            allowed: format!("{:?}", s.algorithms),
        };
        let alg: Algorithm = header.alg.parse().map_err(|_| not_allowed())?;
        if is_hmac(alg) != s.keys.is_hmac() {
            return Err(JwtError::KeyConfusion {
                alg: header.alg.clone(),
                key: s.keys.describe(),
            });
        }
        if !s.algorithms.contains(&alg) {
            return Err(not_allowed());
        }
        let key = s.keys.select(alg, header.kid.as_deref()).await?;
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, &key, &self.validation(alg))
            .map_err(|e| from_jsonwebtoken(e, alg))?;
        Ok(VerifiedClaims::new(data.claims, alg, header.kid))
    }

    fn validation(&self, alg: Algorithm) -> Validation {
        let s = &*self.inner;
        let mut v = Validation::new(alg);
        v.leeway = s.leeway;
        v.validate_exp = true;
        v.validate_nbf = true;
        let mut required = vec!["exp"];
        match &s.audience {
            Some(aud) => {
                v.set_audience(aud);
                required.push("aud");
            }
            None => v.validate_aud = false,
        }
        if let Some(iss) = &s.issuer {
            v.iss = Some(iss.iter().cloned().collect::<HashSet<_>>());
            required.push("iss");
        }
        v.set_required_spec_claims(&required);
        v
    }
}

/// The largest leeway accepted, in seconds.
const MAX_LEEWAY: u64 = 24 * 60 * 60;

fn is_hmac(alg: Algorithm) -> bool {
    alg.family() == AlgorithmFamily::Hmac
}

/// jsonwebtoken picks its crypto backend from its features, and finds
/// none when a build enables both (another crate may turn on
/// `aws_lc_rs`); then install the pure-Rust one explicitly.
fn install_crypto_provider() {
    if jsonwebtoken::crypto::CryptoProvider::try_get_default().is_none() {
        // Err means another thread installed one first, which is as good.
        let _ = jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER.install_default();
    }
}

fn from_jsonwebtoken(e: jsonwebtoken::errors::Error, alg: Algorithm) -> JwtError {
    match e.into_kind() {
        ErrorKind::InvalidSignature => JwtError::InvalidSignature,
        ErrorKind::ExpiredSignature => JwtError::Expired,
        ErrorKind::ImmatureSignature => JwtError::NotYetValid,
        ErrorKind::InvalidAudience => JwtError::WrongAudience,
        ErrorKind::InvalidIssuer => JwtError::WrongIssuer,
        ErrorKind::MissingRequiredClaim(claim) => JwtError::MissingClaim { claim },
        ErrorKind::InvalidClaimFormat(claim) => JwtError::InvalidClaim { claim },
        ErrorKind::InvalidAlgorithm => JwtError::KeyConfusion {
            alg: format!("{alg:?}"),
            key: "the selected key".to_owned(),
        },
        ErrorKind::Base64(_) => JwtError::BadBase64 {
            part: TokenPart::Payload,
        },
        ErrorKind::Json(e) => JwtError::BadJson {
            part: TokenPart::Payload,
            reason: e.to_string(),
        },
        ErrorKind::Utf8(e) => JwtError::BadJson {
            part: TokenPart::Payload,
            reason: e.to_string(),
        },
        ErrorKind::InvalidToken => JwtError::BadJson {
            part: TokenPart::Payload,
            reason: "the claims are not valid".to_owned(),
        },
        other => JwtError::UnusableKey {
            reason: format!("{other:?}"),
        },
    }
}

#[cfg(test)]
pub(crate) mod tests;

/// The token of an `Authorization: Bearer <token>` header, if it has one.
fn bearer(headers: &axum::http::HeaderMap) -> Result<Option<&str>, JwtError> {
    let Some(value) = headers.get(axum::http::header::AUTHORIZATION) else {
        return Ok(None);
    };
    let bytes = value.as_bytes();
    match bytes.get(..7) {
        Some(scheme) if scheme.eq_ignore_ascii_case(b"bearer ") => {}
        _ => return Ok(None),
    }
    let token = std::str::from_utf8(&bytes[7..]).map_err(|_| JwtError::BadBase64 {
        part: TokenPart::Header,
    })?;
    Ok(Some(token.trim()))
}
